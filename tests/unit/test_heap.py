"""Given a handler wrapped to pause the cycle collector, the collector always runs again after it."""

from __future__ import annotations

import gc

import pytest

from voice_insights.runtime.heap import without_cycle_collection


def test_the_collector_is_paused_during_the_call_and_resumed_after_a_failure() -> None:
    seen = []

    @without_cycle_collection
    def failing() -> None:
        seen.append(gc.isenabled())
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        failing()
    assert seen == [False]
    assert gc.isenabled()


def test_a_collector_paused_by_the_caller_stays_paused() -> None:
    gc.disable()
    try:
        assert without_cycle_collection(gc.isenabled)() is False
        assert not gc.isenabled()
    finally:
        gc.enable()
