"""The quality digest: the history lake's day (or week) against the week before, to the alert topic and chat."""

from voice_insights.digest.digest_handler import make_digest_handler

lambda_handler = make_digest_handler()
