"""Takes every Kinesis record no processor's filter takes: sink test events, unknown types, non-JSON records."""

from voice_insights.handler import make_handler
from voice_insights.routes import UNROUTED

lambda_handler = make_handler(UNROUTED)
