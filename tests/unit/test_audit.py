"""Given pip-audit's JSON report, when `make audit` (scripts/audit.py) reads it, then a known vulnerability fails,
a run that audited nothing says SKIPPED (and passes: CI without access stays green) instead of "No known
vulnerabilities", skipped packages are named, and a clean full audit says so."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("audit_script", ROOT / "scripts" / "audit.py")
assert _spec is not None and _spec.loader is not None
audit = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(audit)


def skipped(name: str, version: str) -> dict[str, str]:
    # what pip-audit 2.10 writes for each package where PyPI's JSON API cannot be reached (as on this machine)
    return {"name": name, "skip_reason": f"Dependency not found on PyPI and could not be audited: {name} ({version})"}


NOTHING_AUDITED = {
    "dependencies": [
        skipped("aws-lambda-powertools", "3.37.0"),
        skipped("pydantic", "2.14.3"),
        skipped("boto3", "1.44.5"),
    ],
    "fixes": [],
}
CLEAN = {
    "dependencies": [
        {"name": "pydantic", "version": "2.14.3", "vulns": []},
        {"name": "boto3", "version": "1.44.5", "vulns": []},
    ],
    "fixes": [],
}
VULNERABLE = {
    "dependencies": [
        {"name": "pydantic", "version": "2.14.3", "vulns": []},
        {
            "name": "jinja2",
            "version": "3.1.4",
            "vulns": [
                {
                    "id": "GHSA-q2x7-8rv6-6q7h",
                    "fix_versions": ["3.1.5"],
                    "aliases": ["CVE-2024-56201"],
                    "description": "…",
                }
            ],
        },
        skipped("boto3", "1.44.5"),
    ],
    "fixes": [],
}


def test_a_run_that_audited_nothing_says_skipped_not_no_known_vulnerabilities() -> None:
    status, lines = audit.verdict(NOTHING_AUDITED)

    assert status == 0
    assert lines[0].startswith("SKIPPED: pip-audit could not audit any of the 3 packages: Dependency not found")
    assert not any("no known vulnerabilities" in line.lower() for line in lines)


def test_a_known_vulnerability_fails_even_with_packages_skipped() -> None:
    status, lines = audit.verdict(VULNERABLE)

    assert status == 1
    assert lines[0] == "FAILED: 1 known vulnerabilities in 1 of 2 audited packages:"
    assert lines[1] == "  jinja2 3.1.4: GHSA-q2x7-8rv6-6q7h (CVE-2024-56201), fixed in 3.1.5"
    assert lines[-1].startswith("SKIPPED: 1 packages could not be audited (boto3)")


def test_a_full_clean_audit_says_so() -> None:
    assert audit.verdict(CLEAN) == (0, ["no known vulnerabilities in the 2 packages audited"])


def test_main_runs_the_command_with_json_output_and_reads_its_report(capsys: Any) -> None:
    # a stand-in for pip-audit: prints the report it is given, exits as pip-audit does (1 on a vulnerability)
    def pip_audit(report: dict[str, Any], status: int) -> list[str]:
        asked_for_json = "assert sys.argv[1:] == ['--format', 'json']"
        code = f"import sys; {asked_for_json}; print({json.dumps(report)!r}); sys.exit({status})"
        return [sys.executable, "-c", code]

    assert audit.main(pip_audit(NOTHING_AUDITED, 0)) == 0
    assert capsys.readouterr().out.startswith("SKIPPED:")
    assert audit.main(pip_audit(VULNERABLE, 1)) == 1
    assert capsys.readouterr().out.startswith("FAILED:")


def test_pip_audit_failing_without_a_report_fails_with_its_output(capsys: Any) -> None:
    command = [sys.executable, "-c", "import sys; print('ERROR: cannot resolve', file=sys.stderr); sys.exit(1)"]

    assert audit.main(command) == 1
    assert "ERROR: cannot resolve" in capsys.readouterr().err
