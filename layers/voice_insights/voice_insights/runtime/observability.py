"""Logger, metrics and tracer shared by every function (Powertools; configured by POWERTOOLS_* variables)."""

import json
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

# The shape of every Lambda handler in this project.
Handler = Callable[[dict[str, Any], LambdaContext], Any]


def utf8_json(value: Any) -> str:
    """Compact JSON, non-ASCII kept as is, unless a string holds a lone surrogate (the JSON text
    ``"\\ud800"`` decodes to one): UTF-8 cannot encode it, so that JSON is escaped to ASCII, which
    reads back to the same text. Used for log lines (a line stdout cannot write is lost) and for
    the rejected records."""
    text = json.dumps(value, default=str, separators=(",", ":"), ensure_ascii=False)
    try:
        text.encode()
    except UnicodeEncodeError:
        return json.dumps(value, default=str, separators=(",", ":"))
    return text


logger = Logger(json_serializer=utf8_json)
metrics = Metrics()
# Trace the AWS SDK only: X-Ray's default (patch_all) would also import and patch requests and sqlite3, unused here.
tracer = Tracer(patch_modules=["botocore"])
