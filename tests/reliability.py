"""Sizes of the reliability tests: small in the default test run (CI stays fast), full in
``make reliability`` (RELIABILITY=full), which is where the issue's figures (10,000 inputs, 50,000 events) come from."""

from __future__ import annotations

import os


def full_run() -> bool:
    return os.environ.get("RELIABILITY", "") == "full"


def scaled(default: int, full: int) -> int:
    return full if full_run() else default
