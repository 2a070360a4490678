"""Fills what the summaries table lacks from Twilio's Conference Insights REST API (EventBridge Scheduler)."""

from voice_insights.reconcile.handler import make_reconcile_handler

lambda_handler = make_reconcile_handler()
