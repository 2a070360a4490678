"""From the summaries table's stream to SNS alerts: the alert function."""
