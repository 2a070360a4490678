"""How a stored item keeps its event: one binary attribute, ``payload``, holding the envelope's fields and the
data as sent, as JSON compressed by zlib with a preset dictionary.

Write units are billed per started KB of the item (docs/storage.md): a participant summary is about 2 KB of
JSON, and its field names, not its values, are most of it. A preset dictionary (zlib's ``zdict``) made of
Twilio's three documented samples lets the compressor refer to those names from the first byte, where plain
zlib has to spell each one out once.

The first byte names the codec, so that a later format can be added beside this one. The dictionary file
must never change: every stored item needs it to be read (tests/unit/test_payload.py pins its digest).
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import Any

from voice_insights.domain import json_limits

ZLIB_DICTIONARY_V1 = 1
DICTIONARY_V1 = Path(__file__).with_name("payload_dictionary_v1.json").read_bytes()
# Raw deflate (no zlib header: the codec byte says what this is); level 6 is zlib's default.
_WBITS = -15
_LEVEL = 6
# What ingest lets in (json_limits.EVENT) with room for the envelope: an item stored before those bounds, or a
# damaged or foreign value, is refused before it inflates or parses any further (docs/security.md, Bounds).
MAX_DECODED_BYTES = json_limits.STORED.max_bytes


class UnreadablePayload(ValueError):
    """The bytes are not a payload this code wrote."""


def payload_json(envelope: dict[str, Any], data_json: str) -> str:
    """The payload's JSON text: the envelope's fields, then ``data`` as it is (already JSON text), last."""
    head = json.dumps(envelope, separators=(",", ":"), ensure_ascii=False)
    return f'{head[:-1]},"data":{data_json}}}' if envelope else f'{{"data":{data_json}}}'


def encode(text: str) -> bytes:
    compressor = zlib.compressobj(_LEVEL, zlib.DEFLATED, _WBITS, zdict=DICTIONARY_V1)
    return bytes((ZLIB_DICTIONARY_V1,)) + compressor.compress(text.encode()) + compressor.flush()


def decode(blob: bytes) -> dict[str, Any]:
    """The payload as a dict; raises UnreadablePayload for bytes this code did not write."""
    if not blob or blob[0] != ZLIB_DICTIONARY_V1:
        raise UnreadablePayload(f"unknown payload codec {blob[:1].hex() or 'none'}")
    decompressor = zlib.decompressobj(_WBITS, zdict=DICTIONARY_V1)
    try:
        text = decompressor.decompress(blob[1:], MAX_DECODED_BYTES)
    except zlib.error as error:
        raise UnreadablePayload(f"the payload does not inflate: {error}") from None
    if decompressor.unconsumed_tail or not decompressor.eof:
        raise UnreadablePayload(f"the payload is truncated or inflates beyond {MAX_DECODED_BYTES:,} bytes")
    payload = read_json(text)
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), dict):
        raise UnreadablePayload("the payload holds no data object")
    return payload


def read_json(text: bytes | str) -> Any:
    """Stored JSON text, checked against json_limits.STORED before it is parsed; raises UnreadablePayload when it
    is not JSON or holds more."""
    too_much = json_limits.over_limits(text, json_limits.STORED)
    if too_much is not None:
        raise UnreadablePayload(f"the stored event {too_much} (stored before the bounds of docs/security.md?)")
    try:
        return json.loads(text)
    except ValueError as error:
        raise UnreadablePayload(f"the payload is not JSON: {error}") from None
    except RecursionError:
        raise UnreadablePayload("the payload is nested too deeply") from None


def gunzip(blob: bytes) -> bytes:
    """The gzip of the format before the payload, inflated to at most MAX_DECODED_BYTES (else UnreadablePayload)."""
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)  # 16 +: a gzip header and trailer
    try:
        text = decompressor.decompress(blob, MAX_DECODED_BYTES)
    except zlib.error as error:
        raise UnreadablePayload(f"the data does not inflate: {error}") from None
    if decompressor.unconsumed_tail or not decompressor.eof:
        raise UnreadablePayload(f"the data is truncated or inflates beyond {MAX_DECODED_BYTES:,} bytes")
    return text
