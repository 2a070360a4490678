"""Logger, metrics and tracer shared by every function (Powertools; configured by POWERTOOLS_* variables)."""

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

# The shape of every Lambda handler in this project.
Handler = Callable[[dict[str, Any], LambdaContext], Any]

logger = Logger()
metrics = Metrics()
tracer = Tracer()
