"""The quality digest: the history lake asked, a digest to the alert topic and chat (docs/alerts.md, The digest)."""
