"""Stores `com.twilio.voice.insights.conference-participant-summary.complete` events (Kinesis and webhook)."""

from voice_insights.handler import make_handler
from voice_insights.routes import PARTICIPANT_SUMMARY_COMPLETE

lambda_handler = make_handler(PARTICIPANT_SUMMARY_COMPLETE)
