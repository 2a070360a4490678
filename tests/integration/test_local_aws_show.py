"""Given the resources `make up` creates (named as CloudFormation names them) or no endpoint at all, when
`make local-aws-show` looks, then it lists what they hold, or says in one line where to point it: never a
ResourceNotFoundException traceback."""

from __future__ import annotations

import pytest

from devtools import sam_local
from devtools.loopback import free_port
from tests.integration.conftest import LocalStack


def test_it_reads_the_resources_make_up_creates(stack: LocalStack, capsys: pytest.CaptureFixture[str]) -> None:
    stack.dynamodb.put_item(TableName=stack.table_name, Item={"pk": {"S": "CONF#CF1"}, "sk": {"S": "SUMMARY"}})
    assert sam_local.show(stack.endpoint_url) == 0
    out = capsys.readouterr().out
    assert "1 item(s) in the summaries table:\n  CONF#CF1 SUMMARY" in out


def test_an_endpoint_that_is_down_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert sam_local.show(f"http://127.0.0.1:{free_port()}") == 2
    printed = capsys.readouterr()
    assert printed.out == "" and printed.err.count("\n") == 1 and "is make up or make local-aws running" in printed.err
