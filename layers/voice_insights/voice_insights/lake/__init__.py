"""The history lake's writer: the summaries table's stream in, a row per stored version out to Firehose."""
