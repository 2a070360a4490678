"""The read API: stored summaries by conference, account and time, call and quality issue (docs/read.md)."""

from voice_insights.read.read_api import handle
from voice_insights.runtime.observability import logger, tracer

# Neither the response (summaries with whole phone numbers) nor an error goes to X-Ray as metadata.
lambda_handler = tracer.capture_lambda_handler(
    logger.inject_lambda_context(handle), capture_response=False, capture_error=False
)
