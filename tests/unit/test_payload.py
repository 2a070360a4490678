"""Given the stored payload's codec, when events are encoded and bytes decoded, then what was written reads back
and anything else is refused with a reason (never inflated without end)."""

from __future__ import annotations

import hashlib
import json
import zlib

import pytest

from voice_insights.domain import payload


def test_the_dictionary_never_changes() -> None:
    # Every stored item needs this exact dictionary to be read: a new one needs a new codec byte beside it.
    assert hashlib.sha256(payload.DICTIONARY_V1).hexdigest() == (
        "d4337924da7d32187def6c66ccd3d0a8ead292767363b327affe18de44ef4291"
    )


def test_an_envelope_and_data_read_back_whole() -> None:
    data = {"conference_sid": "CF1", "ünïcode": "☎", "deep": [1, 2.5, None, {"x": True}]}
    text = payload.payload_json({"id": "EZ1", "type": "t", "time": None}, json.dumps(data))
    assert payload.decode(payload.encode(text)) == {"id": "EZ1", "type": "t", "time": None, "data": data}
    assert payload.decode(payload.encode(payload.payload_json({}, "{}"))) == {"data": {}}


@pytest.mark.parametrize(
    ("blob", "reason"),
    [
        (b"", "unknown payload codec none"),
        (b"\x02abc", "unknown payload codec 02"),
        (b"\x01not deflate", "does not inflate"),
        (payload.encode('{"data":{}}')[:-3], "truncated"),
        (payload.encode('["data"]'), "no data object"),
        (payload.encode('{"data":"text"}'), "no data object"),
        (payload.encode("not json"), "not JSON"),
    ],
)
def test_bytes_this_code_did_not_write_are_refused_with_a_reason(blob: bytes, reason: str) -> None:
    with pytest.raises(payload.UnreadablePayload, match=reason):
        payload.decode(blob)


def test_a_payload_that_inflates_beyond_the_limit_is_refused() -> None:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15, zdict=payload.DICTIONARY_V1)
    bomb = bytes((payload.ZLIB_DICTIONARY_V1,)) + compressor.compress(b" " * (payload.MAX_DECODED_BYTES + 1))
    bomb += compressor.flush()
    assert len(bomb) < 64 * 1024
    with pytest.raises(payload.UnreadablePayload, match="inflates beyond 524,288 bytes"):
        payload.decode(bomb)
