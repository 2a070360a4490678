"""Writes every summary version the table stores to the history lake (summaries table stream → Firehose)."""

from voice_insights.lake.lake_handler import make_lake_handler

lambda_handler = make_lake_handler()
