"""From a Kinesis record or a webhook request to a settled outcome per event: the processing functions."""
