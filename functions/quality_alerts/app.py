"""Publishes an SNS alert when a stored summary gains a quality issue (summaries table stream)."""

from voice_insights.alerts.alert_handler import make_alert_handler

lambda_handler = make_alert_handler()
