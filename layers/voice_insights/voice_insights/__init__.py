"""Shared code of the Voice Insights event processors (deployed as a Lambda layer)."""
