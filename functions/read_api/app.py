"""The read API: stored summaries by conference, account and time, call and quality issue (docs/read.md)."""

from voice_insights.observability import logger, tracer
from voice_insights.read_api import handle

lambda_handler = tracer.capture_lambda_handler(logger.inject_lambda_context(handle))
