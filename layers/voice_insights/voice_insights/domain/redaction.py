"""Text safety for free text that came in an event: phone numbers masked, controls neutralised.

Used wherever event text leaves the stored record (``data`` stays whole): the quality rules' issue
titles and details, the flat attributes people read, the alerts and the alert function's log lines.

Phone numbers. Applications put callers' numbers in labels and conference names, so any text that
looks like one keeps only its last four digits, every other digit becomes ``*`` (separators, ``+``
and the rest of the text stay): 7 to 15 digits (ITU-T E.164: a number has at most 15 digits; 7 is
a local number without its area code), unbroken or in groups separated by one space, ``.``, ``-``
or ``/``, with parentheses around a group, led by ``+``, by a word glued to it (``agent4155551234``)
or by a URI scheme (``sip:+14155551234@…``, ``tel:``), followed by a word glued to it
(``4155551234mobile``, ``+14155551234ext``) or an extension (``x22``). Left alone: Twilio SIDs and
other hex ids (their hex letters come between digits), UUIDs, dates and times, IPv4 addresses (every
octet 0-255), fewer than 7 digits (durations, extensions, short codes) and an unbroken run longer than
15 digits (an id, not E.164).

Controls. Line breaks, tabs and other controls (C0, DEL, C1, the Unicode line and paragraph
separators), bidirectional overrides that reorder what a reader sees, and lone surrogates are
replaced: the ones that break or space a line by a space, the others by U+FFFD, visibly.
"""

from __future__ import annotations

import re
from typing import Final

MIN_DIGITS: Final = 7  # a local number without its area code
MAX_DIGITS: Final = 15  # ITU-T E.164: at most 15 digits
KEEP_LAST: Final = 4

# A quick pre-check before the full pattern: the processors mask a few attributes of every event.
_SEVEN_DIGITS: Final = re.compile(r"\d(?:\D*\d){6}")

_HEX: Final = "[0-9a-fA-F]"
# A dotted quad whose every octet is 0-255, written without a leading zero, is taken for an IPv4 address (10.123.45.67
# stays whole): a number grouped so is rarer in event text than an address; 495.123.45.67 and 02.123.45.67 are masked.
_OCTET: Final = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_KEEP: Final = (  # tokens whose digits are not a phone number
    rf"[A-Z]{{2}}{_HEX}{{32}}(?![^\W_])"  # a Twilio SID (CA…, CF…, AC…: two letters, 32 hex)
    rf"|{_HEX}{{8}}(?:-{_HEX}{{4}}){{3}}-{_HEX}{{12}}(?![^\W_])"  # a UUID
    r"|(?:"  # a date (2023-10-01, with its ISO 8601 time if any; 2023/10/01, 01/10/2023, 10.31.2023)
    r"\d{4}(?P<ymd>[-./])[01]?\d(?P=ymd)[0-3]?\d"
    r"(?:[T ][0-2]\d:[0-5]\d(?::[0-6]\d(?:[.,]\d+)?)?(?:Z|[+-][0-2]\d(?::?\d\d)?)?)?"
    r"|[0-3]?\d(?P<dmy>[-./])[0-3]?\d(?P=dmy)(?:19|20)\d\d"
    r")(?!\d)"
    rf"|{_OCTET}(?:\.{_OCTET}){{3}}(?!\.?\d)"  # an IPv4 address
)
_GROUP: Final = rf"\d{{1,{MAX_DIGITS}}}"  # longer runs of digits are ids, not numbers
_NUMBER: Final = (
    r"[^\W\d_]*"  # letters glued to the number, if any
    rf"(?P<number>[+(]*{_GROUP}(?:(?: ?[./-] ?| |\) ?| ?\(){_GROUP})*)(?!\d)"  # digit groups, one separator apart
    # Letters glued after it (4155551234mobile) if no digit follows them in the word, or an extension's x or ext
    # (x22, ext. 22): where digits come again after letters, as in a hex id (…1234567890abcdef12…), it is no number.
    r"(?=[^\W\d_]*(?![^\W_])|(?i:x|ext)\.? ?\d)"
)
# Only where a word starts (not after a letter or digit), so that a SID's digits are never a candidate.
_CANDIDATE: Final = re.compile(rf"(?<![^\W_])(?:{_KEEP}|{_NUMBER})")

# Controls that break or space a line become a space, the rest U+FFFD (a reader sees something was there).
_LINE_AND_SPACE_CONTROLS: Final = "\t\n\v\f\r\x1c\x1d\x1e\x1f\x85\u2028\u2029"
_CONTROLS: Final = re.compile(
    "[\x00-\x1f\x7f-\x9f"  # C0, DEL, C1
    "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"  # bidirectional marks, embeddings, overrides, isolates
    "\u2028\u2029\ud800-\udfff\ufffe\uffff]"  # line/paragraph separators, lone surrogates, non-characters
)
# A scheme (RFC 3986: a letter, then letters, digits, + . -) before ://, read from where its run of such characters
# starts and possessively, so a long run without one (a.a.a.…) is read once, not once per letter.
_URL_SCHEME: Final = re.compile(r"(?<![A-Za-z0-9+.-])([A-Za-z][A-Za-z0-9+.-]*+):(?=//)")
# A host name as mail clients and chat apps link it: labels joined by a dot (or a dot IDNA reads as one: U+3002,
# U+FF0E, U+FF61), the last a top-level domain (2+ letters, or punycode xn--…). No list of top-level domains: new ones
# (.zip, .mov) come every year. Numbers and versions (5.5, v1.2.3, 1.2.3-beta, 10.0.0.1) end in a digit, so they stay
# whole; abbreviations (e.g., U.S.) end in one letter. Possessive: each dotted word is read once (linear time).
_DOT: Final = "[.\u3002\uff0e\uff61]"
_DOTTED_WORD: Final = re.compile(rf"(?<![\w-])[\w-]++(?:{_DOT}[\w-]++)++")
_TOP_LEVEL_DOMAIN: Final = re.compile(r"[^\W\d_]{2,}|xn--[^\W_][\w-]*")
_HOST_DOT: Final = re.compile(_DOT)


def mask_phone_numbers_in(text: str) -> str:
    """``text`` with every phone number in it masked but for its last four digits."""
    if len(text) < MIN_DIGITS or not _SEVEN_DIGITS.search(text):
        return text
    return _CANDIDATE.sub(_mask, text)


def neutralise_controls(text: str) -> str:
    """``text`` as one line that reads as it is stored: no line break, control or bidirectional override."""
    return _CONTROLS.sub(_replacement, text) if _CONTROLS.search(text) else text


def inline_text(text: str) -> str:
    """Event text shown inside a line of a plain-text email: one line, and no link a mail client would make
    clickable (``defang_links``); only the alert's own lines carry links."""
    return defang_links(neutralise_controls(text))


def defang_links(text: str) -> str:
    """``text`` with nothing a mail client or a chat app would turn into a link: ``https://x`` is shown as
    ``https[:]//x``, a host name's dots as ``[.]`` (``www[.]example[.]com/path``, ``alice@example[.]com``)."""
    return _DOTTED_WORD.sub(_defanged_host, _URL_SCHEME.sub(r"\1[:]", text))


def _mask(match: re.Match[str]) -> str:
    found = match.group()
    number = match.group("number")
    if number is None:  # a SID, a UUID, a date or an address
        return found
    digits = sum(map(str.isdecimal, number))
    if digits < MIN_DIGITS:
        return found
    to_mask = digits - KEEP_LAST
    masked = []
    for char in number:
        if to_mask and char.isdecimal():  # isdecimal: the digits \d matches
            char, to_mask = "*", to_mask - 1
        masked.append(char)
    return found[: len(found) - len(number)] + "".join(masked)


def _defanged_host(match: re.Match[str]) -> str:
    word = match.group()
    top_level = _HOST_DOT.split(word)[-1]
    return _HOST_DOT.sub("[.]", word) if _TOP_LEVEL_DOMAIN.fullmatch(top_level) else word


def _replacement(match: re.Match[str]) -> str:
    return " " if match.group() in _LINE_AND_SPACE_CONTROLS else "\ufffd"
