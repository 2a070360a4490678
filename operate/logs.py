"""An operator command's stdout is its answer alone: the layer's Powertools log lines go to stderr instead."""

from __future__ import annotations

import logging
import sys

from voice_insights.runtime.observability import logger


class _CurrentStderr:
    """Whatever sys.stderr is when a line is written (a caller may replace it, as pytest's capture does)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def to_stderr() -> None:
    """Send the Powertools logger's stream handlers (stdout by default: Lambda reads both) to stderr."""
    for handler in logging.getLogger(logger.name).handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(_CurrentStderr())  # type: ignore[arg-type]
