"""The parser turns any bytes into an InboundEmail and never raises."""

import base64
from datetime import UTC, datetime
from pathlib import Path

import pytest

from inbox_agent.core.message import parse
from inbox_agent.core.text import one_line

ARRIVED = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus"


def test_reply_to_is_the_customer_address_when_present() -> None:
    """Replies go to Reply-To, else From (lower-cased)."""
    email = parse(
        b"From: Ana <Ana@Customer.example>\r\nReply-To: help@customer.example\r\n\r\nhi", ARRIVED
    )
    assert email.from_address == "ana@customer.example"
    assert email.from_name == "Ana"
    assert email.customer_address == "help@customer.example"


def test_from_is_the_customer_address_without_reply_to() -> None:
    """Without Reply-To the customer is the From address."""
    email = parse(b"From: Ana <ana@customer.example>\r\n\r\nhi", ARRIVED)
    assert email.customer_address == "ana@customer.example"


def test_encoded_subject_is_decoded_and_one_line() -> None:
    """RFC 2047 words are decoded; folded or injected line breaks become spaces."""
    email = parse(b"Subject: =?utf-8?q?Caf=C3=A9_order?=\r\n\tsecond line\r\n\r\nx", ARRIVED)
    assert email.subject == "Café order second line"


def test_unknown_charset_in_a_header_is_a_defect_not_a_crash() -> None:
    """A charset that does not exist leaves readable text and a recorded defect."""
    email = parse(b"Subject: =?x-no-such-charset?q?abc?=\r\nFrom: a@b.example\r\n\r\nx", ARRIVED)
    assert email.from_address == "a@b.example"
    assert isinstance(email.subject, str)


def test_empty_message_is_filed_with_a_defect() -> None:
    """Zero bytes still give an InboundEmail, keyed by content hash."""
    email = parse(b"", ARRIVED)
    assert email.message_id is None
    assert email.key.startswith("sha256:")
    assert "empty message" in email.defects


def test_without_message_id_the_key_is_the_content_hash() -> None:
    """Two deliveries of the same bytes share a key; different bytes do not."""
    one = parse(b"From: a@b.example\r\n\r\nx", ARRIVED)
    assert one.key == parse(b"From: a@b.example\r\n\r\nx", ARRIVED).key
    assert one.key != parse(b"From: a@b.example\r\n\r\ny", ARRIVED).key


def test_arrival_is_the_server_time_not_the_date_header() -> None:
    """arrived_at is what the server says; a forged Date is kept apart."""
    email = parse(b"Date: Mon, 1 Jan 2001 00:00:00 +0000\r\n\r\nx", ARRIVED)
    assert email.arrived_at == ARRIVED
    assert email.date is not None
    assert email.date.year == 2001


def test_thread_ids_put_in_reply_to_first_then_nearest_reference() -> None:
    """In-Reply-To first, then References from the last back, without repeats."""
    email = parse(b"In-Reply-To: <c@x>\r\nReferences: <a@x> <b@x> <c@x>\r\n\r\n", ARRIVED)
    assert email.thread_ids == ("<c@x>", "<b@x>", "<a@x>")


def test_one_line_collapses_cr_lf() -> None:
    """CR and LF never survive into a header value."""
    assert one_line("a\r\nBcc: x@y\n b") == "a Bcc: x@y b"


@pytest.mark.skipif(not CORPUS.is_dir(), reason="shared corpus not present")
def test_every_corpus_file_parses_without_raising() -> None:
    """All real-world files, malformed ones included, give an InboundEmail."""
    files = sorted(CORPUS.rglob("*.eml"))
    assert len(files) > 900
    for path in files:
        email = parse(path.read_bytes(), ARRIVED)
        assert email.sha256


@pytest.mark.parametrize(
    ("from_header", "expected"),
    [
        (b"Ana <ana@customer.example>", "ana@customer.example"),
        (b"<@powerupdev.com>", None),
        (b"J\xc3\xb6rg <j\xc3\xb6rg@example.de>", None),
        (b"ana@localhost", None),
        (b"undisclosed-recipients:;", None),
    ],
)
def test_only_deliverable_addresses_are_answered(from_header: bytes, expected: str | None) -> None:
    """An address a relay cannot take (empty local part, non-ASCII, no domain) is not answered."""
    email = parse(b"From: " + from_header + b"\r\n\r\nx", ARRIVED)
    assert email.customer_address == expected


def test_an_insane_message_id_is_not_kept() -> None:
    """A 1 MB Message-ID, or one with characters a msg-id cannot hold, is no Message-ID: it is
    never echoed in In-Reply-To or stored; the message is known by its content hash."""
    huge = "<" + "a" * 1_000_000 + "@x.example>"
    for value in (huge, "<a b@x.example>", "<a\x00b@x.example>", "<\u00e9@x.example>"):
        email = parse(f"From: a@b.example\r\nMessage-ID: {value}\r\n\r\nhi".encode(), ARRIVED)
        assert email.message_id is None
        assert email.key.startswith("sha256:")
    longest = "<" + "a" * 985 + "@x.example>"  # 998 octets: the most a header line holds
    email = parse(f"From: a@b.example\r\nMessage-ID: {longest}\r\n\r\nhi".encode(), ARRIVED)
    assert email.message_id == longest


def test_references_are_trimmed_to_the_root_and_the_newest() -> None:
    """50,000 references keep the first (the thread's root) and the newest 19."""
    ids = [f"<{n}@x.example>" for n in range(50_000)]
    raw = ("From: a@b.example\r\nReferences: " + " ".join(ids) + "\r\n\r\nhi").encode()
    email = parse(raw, ARRIVED)
    assert email.references == (ids[0], *ids[-19:])


def test_stored_fields_are_bounded() -> None:
    """Subject, name, address and language from a hostile message all have a size limit."""
    raw = (
        "From: " + "N" * 10_000 + " <" + "a" * 300 + "@b.example>, ok@b.example\r\n"
        "Subject: " + "s" * 100_000 + "\r\nContent-Language: " + "x" * 5_000 + "\r\n"
        "\r\nhi"
    ).encode()
    email = parse(raw, ARRIVED)
    assert email.from_address == "ok@b.example"  # a 300-character local part is no address
    assert len(email.subject) <= 250
    assert len(email.from_name) <= 120
    assert email.content_language is None


def test_mime_nested_too_deep_keeps_its_bytes_and_top_level_headers() -> None:
    """MIME nested 2,000 deep is unparseable (RecursionError), yet the bytes are kept whole and
    sender, Message-ID and subject are still read from the top-level headers."""
    raw = _deeply_nested(2_000)
    email = parse(raw, ARRIVED)
    assert any(d.startswith("unparseable: RecursionError") for d in email.defects)
    assert email.raw == raw
    assert email.from_address == "deep@customer.example"
    assert email.message_id == "<deep@customer.example>"
    assert email.subject == "Nested"


def _deeply_nested(depth: int) -> bytes:
    head = (
        b"From: Deep <deep@customer.example>\r\nMessage-ID: <deep@customer.example>\r\n"
        b"Subject: Nested\r\nMIME-Version: 1.0\r\n"
    )
    parts = [head]
    for level in range(depth):
        parts.append(
            f'Content-Type: multipart/mixed; boundary="b{level}"\r\n\r\n--b{level}\r\n'.encode()
        )
    parts.append(b"Content-Type: text/plain\r\n\r\nbottom\r\n")
    parts.extend(f"--b{level}--\r\n".encode() for level in reversed(range(depth)))
    return b"".join(parts)


def test_a_big_message_is_parsed_from_its_first_megabytes() -> None:
    """The parser needs ~8x what it reads, so a 30 MB mail is read to MAX_PARSE_BYTES: its
    headers and text part (which come first) are there, the bytes and hash are the whole."""
    attachment = base64.encodebytes(b"\x00" * 9_000_000)
    raw = (
        b"From: Ana <ana@customer.example>\r\nSubject: Photos\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
        b"Content-Type: text/plain\r\n\r\nThe photos of the damage.\r\n--b\r\n"
        b"Content-Type: image/jpeg\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + attachment
        + b"\r\n--b--\r\n"
    )
    email = parse(raw, ARRIVED)
    assert email.text.strip() == "The photos of the damage."
    assert email.from_address == "ana@customer.example"
    assert email.size == len(raw)
    assert email.raw == raw
    assert any(d.startswith("read in part") for d in email.defects)
    assert not any(d.startswith("unparseable") for d in email.defects)
