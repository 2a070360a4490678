"""Commands that act on a deployed stack (or on the local one, with --endpoint-url): connect Twilio, replay what
was given up, backfill and reconcile from Twilio's REST API, and the quality report. devtools/ is the local stack."""
