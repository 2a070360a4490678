"""Stores `com.twilio.voice.insights.conference-summary.partial` events (Kinesis and webhook)."""

from voice_insights.ingest.handler import make_handler
from voice_insights.ingest.routes import CONFERENCE_SUMMARY_PARTIAL

lambda_handler = make_handler(CONFERENCE_SUMMARY_PARTIAL)
