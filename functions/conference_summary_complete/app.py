"""Stores `com.twilio.voice.insights.conference-summary.complete` events (Kinesis and webhook)."""

from voice_insights.handler import make_handler
from voice_insights.routes import CONFERENCE_SUMMARY_COMPLETE

lambda_handler = make_handler(CONFERENCE_SUMMARY_COMPLETE)
