"""Given the template's dashboard, when scripts/dashboard.py draws it, then the picture in docs is that dashboard."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("dashboard_script", ROOT / "scripts" / "dashboard.py")
assert _spec is not None and _spec.loader is not None
dashboard = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(dashboard)


def test_the_picture_in_docs_is_drawn_from_the_templates_dashboard() -> None:
    assert dashboard.main(["--check"]) == 0, "docs/dashboard.svg is stale: run .venv/bin/python scripts/dashboard.py"


def test_every_widget_is_drawn_with_its_title_and_every_series_in_its_legend() -> None:
    body = dashboard.dashboard_body()
    drawn = dashboard.render(body)
    for widget in body["widgets"]:
        if widget["type"] == "metric":
            assert f">{widget['properties']['title']}<".replace("&", "&amp;") in drawn
            for label in dashboard.series(widget):
                assert label[:48] in drawn
        if widget["type"] == "alarm":
            assert all(arn.rsplit(":", 1)[-1] in drawn for arn in widget["properties"]["alarms"])


def test_a_search_is_drawn_as_one_line_per_function_it_finds() -> None:
    stored = next(w for w in dashboard.dashboard_body()["widgets"] if w["properties"].get("title") == "Events stored")
    assert dashboard.series(stored) == [
        f"EventsStored {name}" for name in dashboard.SEARCHED_FUNCTIONS["function,service"]
    ]


def test_make_up_prints_where_the_deployed_stacks_dashboard_is_in_the_form_of_the_stacks_output() -> None:
    from devtools.cfn import load_template
    from devtools.local import deployed_dashboard_url

    output = load_template(ROOT / "template.yaml")["Outputs"]["DashboardUrl"]["Value"]["Fn::Sub"]
    expected = output.replace("${AWS::Region}", "<region>").replace(
        "${Dashboard}", "voice-insights-events-voice-insights"
    )
    assert deployed_dashboard_url() == expected  # samconfig.toml's stack, no region configured
