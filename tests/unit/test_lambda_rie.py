"""Given a function in the template, when the emulator for it is made, then it gets the memory the template
gives it (its own MemorySize, else Globals', parameters resolved, else Lambda's default of 128 MB)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from devtools.cfn import load_template
from devtools.lambda_rie import built_function

ROOT = Path(__file__).resolve().parents[2]


def template(globals_memory: Any = None, own_memory: Any = None) -> dict[str, Any]:
    globals_ = {"Handler": "app.lambda_handler"} | ({"MemorySize": globals_memory} if globals_memory else {})
    own = {"CodeUri": "functions/x"} | ({"MemorySize": own_memory} if own_memory else {})
    return {
        "Parameters": {"FunctionMemorySize": {"Type": "Number", "Default": 1024}},
        "Globals": {"Function": globals_},
        "Resources": {"Fn": {"Type": "AWS::Serverless::Function", "Properties": own}},
    }


def memory_mb(template: dict[str, Any], logical_id: str = "Fn", parameters: dict[str, Any] | None = None) -> int:
    return built_function(logical_id, {}, template, parameters).memory_mb


def test_every_function_of_the_template_gets_the_templates_1024_mb() -> None:
    source = load_template(ROOT / "template.yaml")
    functions = [k for k, v in source["Resources"].items() if v["Type"] == "AWS::Serverless::Function"]

    assert functions
    assert {name: memory_mb(source, name) for name in functions} == dict.fromkeys(functions, 1024)


def test_memory_follows_the_function_then_globals_then_lambdas_default() -> None:
    assert memory_mb(template(globals_memory=512, own_memory=2048)) == 2048
    assert memory_mb(template(globals_memory=512)) == 512
    assert memory_mb(template()) == 128


def test_a_memory_parameter_is_resolved_and_can_be_overridden() -> None:
    assert memory_mb(template(globals_memory={"Ref": "FunctionMemorySize"})) == 1024
    assert (
        memory_mb(template(globals_memory={"Ref": "FunctionMemorySize"}), parameters={"FunctionMemorySize": 256}) == 256
    )
