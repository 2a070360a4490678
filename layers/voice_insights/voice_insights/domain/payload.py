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

ZLIB_DICTIONARY_V1 = 1
DICTIONARY_V1 = Path(__file__).with_name("payload_dictionary_v1.json").read_bytes()
# Raw deflate (no zlib header: the codec byte says what this is); level 6 is zlib's default.
_WBITS = -15
_LEVEL = 6
# Nothing this project writes is larger (a Kinesis record is at most 1 MB, a webhook body WebhookMaxBodyBytes);
# a limit keeps a damaged or foreign value from inflating without end.
MAX_DECODED_BYTES = 16 * 1024 * 1024


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
        raise UnreadablePayload("the payload is truncated or inflates beyond the limit")
    try:
        payload = json.loads(text)
    except ValueError as error:
        raise UnreadablePayload(f"the payload is not JSON: {error}") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), dict):
        raise UnreadablePayload("the payload holds no data object")
    return payload
