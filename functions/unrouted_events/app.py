"""Takes every Kinesis record no processor's filter takes: sink test events, unknown types, non-JSON records."""

from voice_insights.ingest.handler import make_handler
from voice_insights.ingest.routes import UNROUTED

lambda_handler = make_handler(UNROUTED)
