"""Given the README and the pages of docs/, when a reader follows a relative link, then it lands: every relative
Markdown link (and image) points to a file that exists, every `#anchor` into a Markdown page names one of its
headings as GitHub spells them, and the README stays a front door of at most 350 lines whose module table names
every module of the layer package."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PACKAGE = ROOT / "layers" / "voice_insights" / "voice_insights"

FENCE = re.compile(r"^\s*(```|~~~)")
CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1")
# [text](target) or ![alt](target), the target up to a space (a title may follow) or the closing parenthesis
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")


def prose_lines(text: str) -> list[str]:
    """The lines of a Markdown page outside fenced code blocks."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def github_anchor(heading: str) -> str:
    """GitHub's anchor for a heading: its text as rendered, lowercase, punctuation removed, spaces to '-'."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link shows its text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML shows nothing of its tags
    text = text.replace("`", "").replace("*", "")
    text = re.sub(r"[^\w\- ]", "", text.lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for line in prose_lines(page.read_text()):
        match = HEADING.match(line)
        if not match:
            continue
        anchor = github_anchor(match.group(2))
        count = seen.get(anchor, 0)
        seen[anchor] = count + 1
        found.add(anchor if count == 0 else f"{anchor}-{count}")
    return found


def relative_links(page: Path) -> list[str]:
    targets = []
    for line in prose_lines(page.read_text()):
        for target in LINK.findall(CODE_SPAN.sub("", line)):
            if not re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):  # https:, mailto:, …
                targets.append(target)
    return targets


LINKS = [(page, target) for page in PAGES for target in relative_links(page)]


@pytest.mark.parametrize(("page", "target"), LINKS, ids=[f"{p.relative_to(ROOT)}->{t}" for p, t in LINKS])
def test_every_relative_link_lands_on_a_file_and_a_heading(page: Path, target: str) -> None:
    path, _, anchor = target.partition("#")
    destination = (page.parent / unquote(path)).resolve() if path else page

    assert destination.exists(), f"{page.relative_to(ROOT)}: {target} names no file"
    if anchor and destination.suffix == ".md":
        assert anchor in anchors(destination), f"{page.relative_to(ROOT)}: {target} names no heading there"


def test_the_pages_have_relative_links_to_check() -> None:
    assert len(LINKS) >= 20


def test_the_readme_is_a_front_door_of_at_most_350_lines() -> None:
    assert len((ROOT / "README.md").read_text().splitlines()) <= 350


def test_the_readme_links_every_page_of_docs() -> None:
    readme = set(relative_links(ROOT / "README.md"))
    linked = {target.partition("#")[0] for target in readme}

    assert [page.name for page in sorted((ROOT / "docs").glob("*.md")) if f"docs/{page.name}" not in linked] == []


def test_the_readme_module_table_names_every_module_of_the_layer_package() -> None:
    readme = (ROOT / "README.md").read_text()
    table = [line for line in readme.splitlines() if line.startswith("| `") and ".py`" in line.split("|")[1]]
    named = {name for line in table for name in re.findall(r"`([\w/]+\.py)`", line.split("|")[1])}
    modules = {path.relative_to(PACKAGE).as_posix() for path in PACKAGE.rglob("*.py") if path.name != "__init__.py"}

    assert named == modules


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("Try one function with `sam local invoke`", "try-one-function-with-sam-local-invoke"),
        ("Chat: Slack and Microsoft Teams", "chat-slack-and-microsoft-teams"),
        ("Filling holes: backfill and reconcile", "filling-holes-backfill-and-reconcile"),
        ("1. DynamoDB Streams: after a cancelled write", "1-dynamodb-streams-after-a-cancelled-write"),
        ("Ordering: one item, the stream wins", "ordering-one-item-the-stream-wins"),
        ("`ByIssueMonth` (sparse)", "byissuemonth-sparse"),
        ("What 1,000 events cost", "what-1000-events-cost"),
    ],
)
def test_anchors_are_spelt_as_github_spells_them(heading: str, anchor: str) -> None:
    assert github_anchor(heading) == anchor
