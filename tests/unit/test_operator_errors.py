"""Given an operator command run without AWS settings, or against an AWS endpoint that is down, then it answers one
line on stderr saying what to do, exit status 2, and never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from botocore.exceptions import NoRegionError

from devtools.loopback import free_port
from operate import aws_access, replay


@pytest.fixture
def no_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("AWS_DEFAULT_REGION", "AWS_REGION", "AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_ACCESS_KEY_ID",
                 "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/failures"


@pytest.mark.usefixtures("no_aws")
def test_replay_without_aws_settings_says_what_to_set(capsys: pytest.CaptureFixture[str]) -> None:
    assert replay.main(["--queue-url", QUEUE]) == 2
    printed = capsys.readouterr()
    assert printed.out == ""
    assert printed.err.count("\n") == 1 and "Set AWS_DEFAULT_REGION" in printed.err


@pytest.mark.usefixtures("no_aws")
def test_replay_against_an_endpoint_that_is_down_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    assert replay.main(["--queue-url", f"{down}/123456789012/failures", "--endpoint-url", down]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is the endpoint up?" in err


@pytest.mark.usefixtures("no_aws")
def test_a_local_endpoint_needs_no_aws_configuration_and_a_remote_one_gets_none_invented() -> None:
    local = aws_access.client("sqs", "http://127.0.0.1:4566")
    assert local.meta.region_name == aws_access.LOCAL_REGION
    with pytest.raises(NoRegionError):  # only loopback gets the local stack's defaults
        aws_access.client("sqs", "https://sqs.example.com")
