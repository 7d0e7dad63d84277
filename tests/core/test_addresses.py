"""Addresses come from the header as it arrived; decoded text is only ever a display name."""

import base64
import re
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inbox_agent.core.addresses import parse_address_list
from inbox_agent.core.message import parse

ARRIVED = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
EVE = "eve@example.net"


def _mail(from_header: str, **more: str) -> bytes:
    lines = [f"From: {from_header}", *(f"{k.replace('_', '-')}: {v}" for k, v in more.items())]
    return ("\r\n".join([*lines, "Subject: hello", "", "hi"])).encode("utf-8")


@pytest.mark.parametrize(
    "header",
    [
        "=?utf-8?q?victim=40example.com?= <eve@example.net>",
        "=?UTF-8?Q?Eve=0D=0ABcc:_victim@example.com?= <eve@example.net>",
        "=?utf-8?b?dmljdGltQGV4YW1wbGUuY29tLCBib2JAZXhhbXBsZS5jb20=?= <eve@example.net>",
        '"victim@example.com" <eve@example.net>',
        '"victim@example.com, <bob@example.com>" <eve@example.net>',
        "Eve (victim@example.com) <eve@example.net>",
        "eve@example.net (victim@example.com)",
        "=?utf-8?q?a?= =?utf-8?q?=3Cvictim=40example=2Ecom=3E?= <eve@example.net>",
    ],
)
def test_the_answer_goes_to_the_addr_spec_never_to_decoded_text(header: str) -> None:
    """The issue's two reproductions and their cousins: the customer is eve, whatever the name
    decodes to (RFC 2047 s5: an encoded-word never forms an addr-spec)."""
    email = parse(_mail(header), ARRIVED)
    assert email.customer_address == EVE
    assert "\n" not in email.from_name
    assert "\r" not in email.from_name


@pytest.mark.parametrize("name", ["reply-to", "sender", "return-path", "to", "cc"])
def test_every_address_header_is_read_raw(name: str) -> None:
    """Reply-To, Sender, Return-Path and the To/Cc that recognise staff replies too."""
    header = "=?utf-8?q?victim=40example.com?= <eve@example.net>"
    raw = _mail("Someone <someone@example.org>", **{name.replace("-", "_"): header})
    email = parse(raw, ARRIVED)
    assert email.header(name) == header  # kept as it arrived, not decoded
    assert parse_address_list(email.header(name) or "") == [("victim@example.com", EVE)]
    if name == "reply-to":
        assert email.customer_address == EVE
    if name in ("to", "cc"):
        assert "victim@example.com" not in (*email.to_addresses, *email.cc_addresses)


def test_an_encoded_word_in_place_of_an_address_is_no_address() -> None:
    """``From: =?utf-8?q?eve=40example.net?=`` has no addr-spec at all: nobody is answered."""
    email = parse(_mail("=?utf-8?q?victim=40example.com?="), ARRIVED)
    assert email.from_address is None
    assert email.customer_address is None


def test_ordinary_headers_still_read_as_before() -> None:
    """Names with commas, comments, groups, routes and several mailboxes."""
    pairs = parse_address_list(
        '"Doe, Jane" <jane@example.com>, bob@example.org (Bob), Team: ann@example.com, '
        "=?utf-8?q?Jos=C3=A9?= <jose@example.com>;, <@relay.example:carl@example.com>"
    )
    assert pairs == [
        ("Doe, Jane", "jane@example.com"),
        ("Bob", "bob@example.org"),
        ("", "ann@example.com"),
        ("José", "jose@example.com"),
        ("", "carl@example.com"),
    ]


def test_a_folded_header_is_unfolded_before_reading() -> None:
    """Folding whitespace (CRLF + WSP) is not a separator."""
    assert parse_address_list("Ana\r\n Silva <ana@example.com>") == [
        ("Ana Silva", "ana@example.com")
    ]


# The property: whatever the display name holds, encoded or quoted as a mail client would, the
# address answered is the addr-spec in the header.
_NAME_CHARS = st.sampled_from([*list('abcXYZ é"\\,@<>:;()=?_\r\n\x00\t.'), "=?", "?=", "é"])
_NAMES = st.lists(_NAME_CHARS, max_size=30).map("".join)
_LOCAL = st.from_regex(r"[a-z0-9][a-z0-9._+-]{0,15}[a-z0-9]", fullmatch=True).filter(
    lambda s: ".." not in s
)
_DOMAIN = st.from_regex(r"[a-z][a-z0-9-]{0,10}[a-z0-9]\.(com|net|example)", fullmatch=True)


def _encoded_word(name: str, how: str) -> str:
    data = name.encode("utf-8")
    if how == "b":
        return f"=?utf-8?b?{base64.b64encode(data).decode()}?="
    # RFC 2047 s5(3): in a phrase, a Q word may hold only these as themselves
    safe = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!*+-/"
    text = "".join("_" if b == 0x20 else chr(b) if b in safe else f"={b:02X}" for b in data)
    return f"=?utf-8?q?{text}?="


def _quoted_string(name: str) -> str:
    body = "".join(f"\\{c}" if c in '"\\' else c for c in name)
    return f'"{body}"'


@given(name=_NAMES, local=_LOCAL, domain=_DOMAIN, how=st.sampled_from(["q", "b", "quoted", "none"]))
def test_property_the_address_answered_is_the_addr_spec(
    name: str, local: str, domain: str, how: str
) -> None:
    """For any display name (encoded or not; quotes, commas, @, <>, CR/LF, NUL), the address
    the agent answers is the addr-spec in the header, and the name is one line."""
    address = f"{local}@{domain}"
    printable = all(" " <= c < "\x7f" for c in name)
    if (how == "none" and not re.fullmatch(r"[A-Za-z0-9é ]*", name)) or (
        how == "quoted" and not printable
    ):
        how = "q"
    display = {"quoted": _quoted_string(name), "none": name}.get(how) or _encoded_word(name, how)
    email = parse(_mail(f"{display} <{address}>"), ARRIVED)
    assert email.customer_address == address
    assert not any(c in email.from_name for c in "\r\n\x00")
