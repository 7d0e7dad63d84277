"""Hostile mail on real servers (Dovecot + aiosmtpd): the reproductions of issue 10, kept.

Each test delivers what an attacker would send and checks what reached the relay and the disk.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from inbox_agent.commands import views
from tests.core.test_message import _deeply_nested
from tests.worlds import SUPPORT, ServerWorld, customer_mail, ledger, london, run

EVE = "eve@example.net"
MONDAY_10 = london(16, 10, 0)


def _raw_mail(headers: str, body: str = "Hello, my order has not arrived.") -> bytes:
    return (
        headers.strip().replace("\n", "\r\n")
        + "\r\nTo: "
        + SUPPORT
        + "\r\nSubject: Where is my order\r\nDate: Mon, 16 Nov 2026 10:00:00 +0000"
        "\r\n\r\n" + body + "\r\n"
    ).encode()


@pytest.mark.parametrize(
    "from_header",
    [
        "=?utf-8?q?victim=40example.com?= <eve@example.net>",
        "=?UTF-8?Q?Eve=0D=0ABcc:_victim@example.com?= <eve@example.net>",
    ],
)
def test_an_encoded_name_cannot_redirect_the_acknowledgement(
    server_world: ServerWorld, from_header: str
) -> None:
    """The acknowledgement goes to the addr-spec, eve@example.net, and to nobody else."""
    raw = _raw_mail(f"From: {from_header}\nMessage-ID: <redirect@example.net>")
    server_world.deliver(raw, MONDAY_10)
    run(server_world, MONDAY_10)
    [received] = server_world.sink.received
    assert received.rcpt_tos == [EVE]
    assert received.message["To"] == EVE
    assert received.message["Bcc"] is None
    assert received.message["Cc"] is None
    assert b"victim" not in received.raw.split(b"\r\n\r\n")[0]
    [conversation] = ledger(server_world.settings).conversations.values()
    assert conversation.customer == EVE


def test_a_one_megabyte_message_id_is_neither_echoed_nor_stored(server_world: ServerWorld) -> None:
    """Today's 2.5 MB header block and 5.5 MB of database per mail: now a small reply threaded
    by what can be trusted, and a small store."""
    huge = "<" + "x" * 1_000_000 + "@example.net>"
    raw = _raw_mail(
        f"From: Eve <{EVE}>\nMessage-ID: {huge}\nReferences: {huge}\nIn-Reply-To: {huge}"
    )
    server_world.deliver(raw, MONDAY_10)
    run(server_world, MONDAY_10)
    [received] = server_world.sink.received
    header_block = received.raw.split(b"\r\n\r\n")[0]
    assert len(header_block) < 2_000
    assert received.message["In-Reply-To"] is None
    assert b"xxxxxxxxxx" not in header_block
    data_dir = server_world.settings.agent.data_dir
    stored = sum(
        p.stat().st_size for p in Path(data_dir).rglob("*") if p.is_file() and p.suffix != ".eml"
    )
    assert stored < 200_000, f"{stored:,} bytes in the data folder for one mail"


def test_many_references_reach_the_reply_trimmed(server_world: ServerWorld) -> None:
    """A customer's mail with 5,000 references gets a reply whose References stays short."""
    refs = " ".join(f"<r{n}@example.net>" for n in range(5_000))
    raw = customer_mail(f"Eve <{EVE}>", "Where is my order", "Hello", MONDAY_10, References=refs)
    server_world.deliver(raw, MONDAY_10)
    run(server_world, MONDAY_10)
    [received] = server_world.sink.received
    assert len(str(received.message["References"]).split()) <= 20


def test_unreadable_mime_is_kept_byte_for_byte_and_shows_who_wrote(
    server_world: ServerWorld,
) -> None:
    """MIME nested 2,000 deep: filed as unparseable, ``unparsed/<sha256>.eml`` holds the exact
    bytes Dovecot served, and ``skipped`` shows the sender and the Message-ID."""
    raw = _deeply_nested(2_000)
    server_world.deliver(raw, MONDAY_10)
    run(server_world, MONDAY_10)
    assert server_world.sink.received == []  # nobody answered: no one read it yet
    kept = list((Path(server_world.settings.agent.data_dir) / "unparsed").glob("*.eml"))
    assert len(kept) == 1
    served = kept[0].read_bytes()
    assert served.replace(b"\r\n", b"\n") == raw.replace(b"\r\n", b"\n")
    [row] = views.skipped(ledger(server_world.settings))
    assert row["sender"] == "deep@customer.example"
    assert row["message_id"] == "<deep@customer.example>"
    assert "RecursionError" in row["reason"]
    assert "unparsed/" in row["reason"]
