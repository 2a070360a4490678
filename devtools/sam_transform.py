"""template.yaml as CloudFormation receives it: SAM's transform (aws-sam-translator, offline) of the packaged template.

The local stack and the template tests read the transformed template, not the source one, because what AWS enforces
(the integrations' URIs, the permissions, the roles SAM writes for each function) only exists after the transform.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from devtools.cfn import REGION, load_template

ROOT = Path(__file__).resolve().parents[1]
# aws-sam-translator lives with the SAM CLI (its own venv): it pins versions the application does not take.
SAM_PYTHON = ROOT / ".venv-sam" / "bin" / "python"
_TRANSFORM = """
import json, sys
from samtranslator.translator.transform import transform

class NoManagedPolicyNames:  # SAM asks IAM for managed policy ARNs only to resolve one named by its short name
    def load(self):
        return {}

request = json.load(sys.stdin)
json.dump(transform(request["template"], request["parameters"], NoManagedPolicyNames()), sys.stdout)
"""


class TransformFailed(RuntimeError):
    """SAM's transform refused the template (its message says why), or the SAM CLI's environment is missing."""


def packaged(template: dict[str, Any]) -> dict[str, Any]:
    """The template as `sam deploy` hands it to CloudFormation: code and layer folders uploaded to S3."""
    template = copy.deepcopy(template)
    for logical_id, resource in template["Resources"].items():
        uri = {"AWS::Serverless::Function": "CodeUri", "AWS::Serverless::LayerVersion": "ContentUri"}.get(
            resource["Type"]
        )
        if uri:
            resource["Properties"][uri] = f"s3://deployment-bucket/{logical_id}.zip"
    return template


def transform(template: dict[str, Any], parameters: dict[str, Any] | None = None) -> dict[str, Any]:
    """SAM's transform of ``template`` (already loaded, e.g. by ``devtools.cfn.load_template``), packaged first.

    ``parameters``: parameter values SAM may resolve while transforming (it resolves few: e.g. ``AutoPublishAlias``).
    """
    if not SAM_PYTHON.exists():
        raise TransformFailed(f"{SAM_PYTHON} is missing: run make setup (it installs the SAM CLI)")
    request = json.dumps({"template": packaged(template), "parameters": parameters or {}})
    with tempfile.TemporaryDirectory() as home:  # no ~/.aws of the user's; the region is all SAM needs
        env = {"PATH": os.environ.get("PATH", ""), "HOME": home, "AWS_DEFAULT_REGION": REGION,
               "AWS_EC2_METADATA_DISABLED": "true"}  # fmt: skip
        out = subprocess.run(  # noqa: S603 - the SAM CLI's own interpreter, on a fixed script
            [str(SAM_PYTHON), "-c", _TRANSFORM], input=request, capture_output=True, text=True, env=env,
            timeout=300, check=False,
        )  # fmt: skip
    if out.returncode != 0:
        raise TransformFailed(out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "transform failed")
    transformed: dict[str, Any] = json.loads(out.stdout)
    return transformed


_CACHE: dict[str, dict[str, Any]] = {}


def transformed_template(path: Path = ROOT / "template.yaml") -> dict[str, Any]:
    """The transformed ``path`` (default: the project's template.yaml), computed once per content in a process."""
    key = hashlib.sha256(path.read_bytes()).hexdigest()
    if key not in _CACHE:
        _CACHE[key] = transform(load_template(path))
    return copy.deepcopy(_CACHE[key])
