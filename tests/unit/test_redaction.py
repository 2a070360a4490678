"""Given free text from an event, when it is made safe for alerts, items and logs, then phone numbers keep only
their last four digits and nothing in it can break a line or hide what the text says."""

from __future__ import annotations

import re
import time

import pytest

from voice_insights.domain.redaction import inline_text, mask_phone_numbers_in, neutralise_controls

# A caller's number as applications write it: the tests of every field it can reach put it there.
CALLER_NUMBERS = [
    "+14155551234",
    "(415) 555-1234",
    "415-555-1234",
    "415.555.1234",
    "+44 20 7946 0958",
    "020 7946 0958",
    "0049 30 123456",
    "sip:+14155551234@example.com",
    "4155551234mobile",  # a word glued after the number
    "+14155551234ext",
    "495.123.45.67",  # Moscow's 3-3-2-2, dotted: not an IPv4 address (495 > 255)
]


def shows_whole(number: str, text: str) -> bool:
    """Whether ``text`` shows ``number`` whole: as written, or its digits in a row whatever separates them."""
    return number in text or re.sub(r"\D", "", number) in re.sub(r"\D", "", text)


# (as written, as masked): every digit but the last four becomes '*', the rest is kept.
NUMBERS = [
    ("+14155551234", "+*******1234"),  # E.164
    ("(415) 555-1234", "(***) ***-1234"),
    ("415-555-1234", "***-***-1234"),
    ("415.555.1234", "***.***.1234"),
    ("415 555 1234", "*** *** 1234"),
    ("4155551234", "******1234"),
    ("555-1234", "***-1234"),  # 7 digits: a local number
    ("+1 (415) 555-1234", "+* (***) ***-1234"),
    ("+1-415-555-1234", "+*-***-***-1234"),
    ("+44 20 7946 0958", "+** ** **** 0958"),
    ("+44 (0)20 7946 0958", "+** (*)** **** 0958"),
    ("020 7946 0958", "*** **** 0958"),
    ("0049 30 123456", "**** ** **3456"),
    ("011 44 20 7946 0958", "*** ** ** **** 0958"),
    ("sip:+14155551234@example.com", "sip:+*******1234@example.com"),
    ("sips:4155551234@10.0.0.1;transport=tls", "sips:******1234@10.0.0.1;transport=tls"),
    ("tel:+1-415-555-1234", "tel:+*-***-***-1234"),
    ("client:+14155551234", "client:+*******1234"),
    ("+14155551234x22", "+*******1234x22"),
    ("415-555-1234 ext. 22", "***-***-1234 ext. 22"),
    ("4155551234mobile", "******1234mobile"),  # a word glued after the number
    ("4155551234abc", "******1234abc"),  # even of hex letters: no digit follows them
    ("+14155551234ext", "+*******1234ext"),
    ("+14155551234x", "+*******1234x"),
    ("415-555-1234cell", "***-***-1234cell"),
    ("agent4155551234mobile", "agent******1234mobile"),
    ("495.123.45.67", "***.***.45.67"),  # a dotted 3-3-2-2 number, not an IPv4 address (495 > 255)
    ("+7.495.123.45.67", "+*.***.***.45.67"),
    ("812.555.12.34", "***.***.12.34"),
    ("02.123.45.67", "**.***.45.67"),  # Belgian, dotted: an octet with a leading zero is no address
    ("192.168.1.2345", "***.***.*.2345"),  # 2345 > 255
    ("495 123-45-67", "*** ***-45-67"),
]


@pytest.mark.parametrize(("number", "masked"), NUMBERS)
def test_phone_numbers_keep_only_their_last_four_digits(number: str, masked: str) -> None:
    assert mask_phone_numbers_in(number) == masked
    assert mask_phone_numbers_in(f"Caller {number}, VIP") == f"Caller {masked}, VIP"
    assert mask_phone_numbers_in(masked) == masked  # masking twice changes nothing


def test_digits_of_other_scripts_are_digits() -> None:
    fullwidth = str.maketrans("0123456789", "".join(chr(0xFF10 + digit) for digit in range(10)))
    assert mask_phone_numbers_in("+14155551234".translate(fullwidth)) == "+*******1234".translate(fullwidth)


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("agent4155551234", "agent******1234"),  # a word glued to the number
        ("customer_+14155551234", "customer_+*******1234"),
        ("caller-4155551234-vip", "caller-******1234-vip"),
        ("+14155551234 / +442079460958", "+*******1234 / +********0958"),
        ("4155551234 4155556789", "********** ******6789"),  # two numbers read as one: both masked
        ("Bridge (415) 555-1234, backup 020 7946 0958.", "Bridge (***) ***-1234, backup *** **** 0958."),
        ("ticket 1234567", "ticket ***4567"),  # any seven digits read as a local number
        ("cell:4155551234x", "cell:******1234x"),
        ("Caller 4155551234mobile, backup 495.123.45.67", "Caller ******1234mobile, backup ***.***.45.67"),
        ("from 4155551234abc to 10.123.45.67", "from ******1234abc to 10.123.45.67"),
    ],
)
def test_numbers_inside_free_text(text: str, masked: str) -> None:
    assert mask_phone_numbers_in(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "CA0000000000000000000000000000001",  # Twilio's sample SIDs
        "PA1234567890abcdef1234567890abcdef",  # a SID whose hex starts with ten digits
        "CAabcdefabcdefabcdefabcdef01234567",  # a SID whose hex ends with eight digits
        "NO00000000000000000000000001",
        "EZ00000000000000000000000000000001",
        "fdb3cc6ca3fc603ce6e629f1c65cae5f",
        "123e4567-e89b-12d3-a456-426614174000",  # a UUID
        "2023-10-01T15:30:00Z",
        "2025-10-08T07:17:02.363Z",
        "2025-10-08T07:17:02.363000Z",
        "2023-10-01 15:30:00+02:00",
        "started 2023-10-01, ended 2023-10-02",
        "01/10/2023",
        "10.01.2023",
        "duration 3600 s, 1800 s connected",
        "12345",  # a short code or an extension
        "192.168.100.200",
        "10.123.45.67",  # every octet 0-255: an IPv4 address, though it reads as a 2-3-2-2 number too
        "255.255.255.0",
        "sip:+0@10.123.45.67:5060",
        "0123456789abcdef0123456789abcdef",  # hex ids: letters a-f inside the digits
        "abcdef0123456789abcdef0123456789",
        "da39a3ee5e6b4b0d3255bfef95601890afd80709",
        "ca0123456789abcdef0123456789abcdef",  # a SID lowercased: still hex inside the digits
        "20231001T153000Z",  # ISO 8601 basic date and time: a letter, then digits again
        "sip:alice@example.com",
        "sip:1001@pbx.example.com",  # an extension
        "1234567890123456789",  # longer than E.164 allows: an id
        "agent-7",
        "v1.2.3",
    ],
)
def test_ids_times_and_short_numbers_are_left_alone(text: str) -> None:
    assert mask_phone_numbers_in(text) == text


@pytest.mark.parametrize("number", CALLER_NUMBERS)
def test_shows_whole_sees_a_number_however_it_is_written(number: str) -> None:
    assert shows_whole(number, f'{{"label": "x{number.replace(" ", "-")}"}}')
    assert not shows_whole(number, mask_phone_numbers_in(f"label {number} 2023-10-01T15:30:00Z CA0000000000000001"))


def test_text_without_seven_digits_is_returned_as_is() -> None:
    text = "High packet loss detected"
    assert mask_phone_numbers_in(text) is text


@pytest.mark.parametrize(
    ("text", "safe"),
    [
        ("Support\r\nOpen in Twilio Console: x", "Support  Open in Twilio Console: x"),
        ("a\tb\vc\fd", "a b c d"),
        ("a\x85b\u2028c\u2029d", "a b c d"),  # NEL and Unicode line/paragraph separators break lines too
        ("\x1b[31mred\x1b[0m", "\ufffd[31mred\ufffd[0m"),  # ESC
        ("a\x00b\x7fc\x9bd", "a\ufffdb\ufffdc\ufffdd"),  # NUL, DEL, a C1 control
        ("invoice\u202egnp.exe", "invoice\ufffdgnp.exe"),  # right-to-left override
        ("a\u2066b\u2069c\u200fd\u061ce", "a\ufffdb\ufffdc\ufffdd\ufffde"),  # isolates and marks
        ("a\ud800b", "a\ufffdb"),  # a lone surrogate: not Unicode text
        ("Équipe Zürich — 東京", "Équipe Zürich — 東京"),
    ],
)
def test_controls_are_neutralised(text: str, safe: str) -> None:
    assert neutralise_controls(text) == safe


def test_inline_text_is_one_line_without_links() -> None:
    text = "Bridge\nOpen in Twilio Console: https://evil.example/x?to=+14155551234"
    assert inline_text(text) == "Bridge Open in Twilio Console: https[:]//evil[.]example/x?to=+14155551234"
    assert inline_text("HTTP://a and ftp://b") == "HTTP[:]//a and ftp[:]//b"
    assert inline_text("sip:alice@example.com") == "sip:alice@example[.]com"  # an address a mail client links


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        # What mail clients (and chat) turn into links: a web address, a bare domain, an e-mail address.
        ("www.example.com", "www[.]example[.]com"),
        ("see WWW.Example.ORG now", "see WWW[.]Example[.]ORG now"),
        ("evil.example.com/path?q=1", "evil[.]example[.]com/path?q=1"),
        ("https://evil.example/x", "https[:]//evil[.]example/x"),
        ("alice@example.com", "alice@example[.]com"),
        ("Bridge (evil.zip)", "Bridge (evil[.]zip)"),  # any letters may be a top-level domain now
        ("xn--80ak6aa92e.com", "xn--80ak6aa92e[.]com"),
        ("shop.xn--p1ai", "shop[.]xn--p1ai"),  # a punycode top-level domain
        ("пример.рф", "пример[.]рф"),  # an internationalised name
        ("evil\u3002com and evil\uff0ecom", "evil[.]com and evil[.]com"),  # dots IDNA reads as dots
        ("foo_bar.example", "foo_bar[.]example"),
        ("www.example.com.", "www[.]example[.]com."),  # the sentence's full stop stays
        # Left alone: numbers, versions, addresses, abbreviations, sentences, our own identifiers.
        ("MOS 3.5 below 4.0", "MOS 3.5 below 4.0"),
        ("5.5", "5.5"),
        ("v1.2.3 and 1.2.3-beta and 4.2.1a", "v1.2.3 and 1.2.3-beta and 4.2.1a"),
        ("2.5G, 10.5kbps, 3.14ms", "2.5G, 10.5kbps, 3.14ms"),
        ("10.0.0.1:5060", "10.0.0.1:5060"),
        ("e.g. U.S. i.e.", "e.g. U.S. i.e."),
        ("end. Next", "end. Next"),
        ("wait...what", "wait...what"),
        ("2023-10-01T12:00:00.123Z", "2023-10-01T12:00:00.123Z"),
        ("CF0000000000000000000000000000001", "CF0000000000000000000000000000001"),
        ("Weekly sync", "Weekly sync"),
    ],
)
def test_links_are_defanged_and_numbers_are_not(text: str, shown: str) -> None:
    assert inline_text(text) == shown
    assert inline_text(shown) == shown  # shown once more, unchanged: no [[.]]


@pytest.mark.parametrize("run", ["a.", "a-", "a+", "1.", "ab.c", "x.-"])
def test_a_long_dotted_run_is_defanged_in_linear_time(run: str) -> None:
    """A label of 200 KB of ``a.a.a.…`` (an item holds 400 KB) took minutes when the scheme's pattern was tried
    from every letter; the alert function would time out on it at every retry. Generous bound: 2 s."""
    text = run * (200_000 // len(run))
    started = time.perf_counter()
    inline_text(text)
    assert time.perf_counter() - started < 2.0
