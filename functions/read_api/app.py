"""The read API: stored summaries by conference, account and time, call and quality issue (docs/read.md)."""

from voice_insights.read.read_api import handle
from voice_insights.runtime.observability import logger, tracer

lambda_handler = tracer.capture_lambda_handler(logger.inject_lambda_context(handle))
