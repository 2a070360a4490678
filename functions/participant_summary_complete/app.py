"""Stores `com.twilio.voice.insights.conference-participant-summary.complete` events (Kinesis and webhook)."""

from voice_insights.ingest.handler import make_handler
from voice_insights.ingest.routes import PARTICIPANT_SUMMARY_COMPLETE

lambda_handler = make_handler(PARTICIPANT_SUMMARY_COMPLETE)
