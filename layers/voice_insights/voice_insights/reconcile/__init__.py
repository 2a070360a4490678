"""Reconcile: what Twilio's Conference Insights REST API has that the summaries table lacks, filled through the
ingest pipeline (docs/backfill.md). Used by `make backfill`/`make reconcile` (operate/backfill.py) and by the
scheduled ReconcileFunction (handler.py)."""
