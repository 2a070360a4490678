"""What one event may hold: its size, how many JSON values it has, how deep they nest (docs/security.md, "Bounds").

Checked on the raw text before anything parses it, with a few passes of C code over the bytes (counts, a
translation, replacements) and no Python object per value: a signed event of 5 MB of ``[]`` costs milliseconds to
refuse, where parsing it would build 1.7 million lists. The counts are conservative: commas, colons and brackets
inside strings count too, so a count can only be too high, never too low, and Twilio's events are far below
every bound (the largest documented sample: 2.7 KB, about 250 values and keys, nested 8 deep).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Limits:
    max_bytes: int  # the JSON text in UTF-8
    max_values: int  # JSON values and object keys, counted as commas and colons plus one
    max_depth: int | None  # arrays and objects inside one another, the outermost counted (None: the parser's)


# One event: about 95 times the largest documented sample (2.7 KB compact); room for a day-long conference's
# lists (250 participants' SIDs, a timestamp per hold or mute), and a fifth of a Kinesis record's 1 MB.
EVENT = Limits(max_bytes=256 * 1024, max_values=20_000, max_depth=32)
# A webhook body (at most WebhookMaxBodyBytes) holds up to WebhookMaxEvents events: 1,000 of the largest
# documented sample are about 250,000 values and keys; a body over 1,000,000 is refused before it is parsed.
WEBHOOK_BODY = Limits(max_bytes=6 * 1024 * 1024, max_values=1_000_000, max_depth=33)  # EVENT and the array
# What the catch-all function parses of an event over EVENT to learn whether a routed function's filter took it:
# a Kinesis record is at most 1 MB; nesting is left to the parser (Python's json, as the local stand-in for Lambda's
# filter reads it: about 10,000 deep before it raises RecursionError).
KINESIS_RECORD = Limits(max_bytes=1024 * 1024, max_values=1_000_000, max_depth=None)
# A stored event read back (its payload): what ingest let in, with room for the envelope, never more, so an
# item stored before these bounds cannot make a reader inflate or parse without end.
STORED = Limits(max_bytes=2 * EVENT.max_bytes, max_values=2 * EVENT.max_values, max_depth=33)

_BRACKETS = bytes.maketrans(b"{}", b"[]")
_NOT_BRACKETS = bytes(byte for byte in range(256) if byte not in b"[]{}")


def over_limits(text: bytes | str, limits: Limits) -> str | None:
    """Why ``text`` is more than ``limits`` allow ("is … bytes, more than …", "holds …"), or None when within them.
    Costs a few passes over the bytes whatever they hold (``text`` itself is at most the caller's size limit)."""
    if len(text) > limits.max_bytes:  # characters: at least as many bytes
        return f"is {len(text):,} characters, more than the {limits.max_bytes:,} bytes allowed"
    data = text.encode(errors="surrogatepass") if isinstance(text, str) else text
    if len(data) > limits.max_bytes:
        return f"is {len(data):,} bytes, more than the {limits.max_bytes:,} allowed"
    values = data.count(b",") + data.count(b":") + 1
    if values > limits.max_values:
        return f"holds more than {limits.max_values:,} values and keys ({values:,})"
    if limits.max_depth is not None and _deeper_than(data, limits.max_depth):
        return f"is nested more than {limits.max_depth} deep"
    return None


def value_over_limits(value: Any, limits: Limits) -> str | None:
    """``over_limits`` for a JSON value already parsed (an event of a webhook body, a backfilled one), measured on
    its compact JSON text, the text stored. Its cost is bounded by what was parsed: a webhook body is checked
    against WEBHOOK_BODY before it is (a walk in Python over each value would cost more than the JSON encoder)."""
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    except RecursionError:
        return f"is nested more than {limits.max_depth} deep"
    return over_limits(text, limits)


def _deeper_than(data: bytes, max_depth: int) -> bool:
    """Whether brackets nest more than ``max_depth`` deep: each pass removes every innermost pair (``[]`` once
    ``{}`` reads as ``[]``), one level; unbalanced brackets are not JSON, which the parser then says."""
    brackets = data.translate(_BRACKETS, _NOT_BRACKETS)
    too_deep = b"[" * (max_depth + 1)  # so many opened in a row: deeper, found in one search
    for _ in range(max_depth):
        if too_deep in brackets:
            return True
        shorter = brackets.replace(b"[]", b"")
        if len(shorter) == len(brackets):
            return False
        brackets = shorter
    return b"[]" in brackets
