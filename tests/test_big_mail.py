"""Large mail: memory bounded by bytes, and mail over ``max_message_size`` filed from its header.

On Dovecot (else pymap) with the real adapters, and the same story in memory: chunks are split
by bytes and every mail is filed once; a mail over the limit is never fetched whole, is filed
with the reason, and a customer who sent it is still acknowledged (see
``inbox_agent.agent.filing``).
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from imapclient import IMAPClient

from inbox_agent import config
from inbox_agent.adapters.base import byte_chunks, header_block
from inbox_agent.adapters.imap import ImapMailbox
from inbox_agent.cli import main
from inbox_agent.commands import views
from inbox_agent.errors import ConfigError
from tests.servers import ImapAccount, SmtpSink
from tests.worlds import (
    MemoryWorld,
    ServerWorld,
    World,
    customer_mail,
    ledger,
    london,
    make_settings,
    run,
    server_settings,
    threads,
    to_address,
)

KB = 1024
ARRIVED = london(16, 9, 30)
NOW = london(16, 10, 0)


def _attachment_mail(sender: str, subject: str, size: int, **headers: str) -> bytes:
    """A person's mail with a base64 attachment, about ``size`` bytes in all."""
    text = customer_mail(sender, subject, "The file is attached.", ARRIVED, **headers)
    head, _, body = text.partition(b"\n\n")
    head = head.replace(
        b'Content-Type: text/plain; charset="utf-8"', b'Content-Type: multipart/mixed; boundary="B"'
    )
    head = head.replace(b"Content-Transfer-Encoding: 7bit\n", b"")
    payload = base64.encodebytes(os.urandom(size * 3 // 4))
    return (
        head
        + b"\n\n--B\nContent-Type: text/plain\n\n"
        + body
        + b"\n--B\nContent-Type: application/zip\nContent-Transfer-Encoding: base64\n\n"
        + payload
        + b"--B--\n"
    )


@dataclass
class FetchSpy:
    """Every FETCH the agent sends: the UIDs and the data items asked for."""

    calls: list[tuple[list[int], list[str]]]

    def bodies(self) -> list[list[int]]:
        """The UIDs of each FETCH of whole messages."""
        return [uids for uids, items in self.calls if "BODY.PEEK[]" in items]

    def headers(self) -> list[int]:
        """UIDs whose header alone was fetched."""
        return [
            uid
            for uids, items in self.calls
            if any(i.startswith("BODY.PEEK[HEADER]") for i in items)
            for uid in uids
        ]


@pytest.fixture
def fetches(monkeypatch: pytest.MonkeyPatch) -> FetchSpy:
    spy = FetchSpy([])
    original = IMAPClient.fetch

    def fetch(self: IMAPClient, messages: Any, data: Any, modifiers: Any = None) -> Any:
        spy.calls.append((sorted(messages), [str(d) for d in data]))
        return original(self, messages, data, modifiers)

    monkeypatch.setattr(IMAPClient, "fetch", fetch)
    return spy


def _with_limit(settings: config.Settings, limit: str) -> config.Settings:
    """The same config file with ``[agent] max_message_size`` set, read by the real loader."""
    text = settings.source.read_text(encoding="utf-8")
    settings.source.write_text(
        text.replace("[agent]\n", f'[agent]\nmax_message_size = "{limit}"\n', 1), encoding="utf-8"
    )
    return config.load(settings.source)


@pytest.fixture(params=["memory", "servers"])
def limited_world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    """A world whose config says ``max_message_size = "100KB"``."""
    if request.param == "memory":
        world = MemoryWorld(_with_limit(make_settings(tmp_path), "100KB"))
        world.mailbox.max_message_size = world.settings.agent.max_message_size
        yield world
        return
    account: ImapAccount = request.getfixturevalue("imap_account")
    sink: SmtpSink = request.getfixturevalue("smtp_sink")
    monkeypatch: pytest.MonkeyPatch = request.getfixturevalue("monkeypatch")
    monkeypatch.setenv("TEST_IMAP_PASSWORD", account.password)
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "anything")
    yield ServerWorld(_with_limit(server_settings(tmp_path, account, sink), "100KB"), account, sink)


# --- chunks by bytes ---------------------------------------------------------------------


def test_byte_chunks_keep_order_and_let_a_big_one_go_alone() -> None:
    costs = [(1, 40), (2, 40), (3, 500), (4, 10), (5, 10), (6, 10), (7, 95)]
    assert list(byte_chunks(costs, 100)) == [[1, 2], [3], [4, 5, 6], [7]]
    assert list(byte_chunks([(n, 1) for n in range(5)], 100, count=2)) == [[0, 1], [2, 3], [4]]
    assert list(byte_chunks([], 100)) == []


def test_chunks_are_split_by_bytes_and_every_mail_is_filed_once(
    server_world: ServerWorld, fetches: FetchSpy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Six 300 KB mails with a 700 KB budget: three FETCHes of two bodies each, one sizes
    FETCH before them, and every mail filed and acknowledged once, over two runs."""
    monkeypatch.setattr(ImapMailbox, "fetch_bytes", 700 * KB)
    mails = [_attachment_mail(f"c{n}@customer.example", f"logs {n}", 300 * KB) for n in range(6)]
    for raw in mails:
        server_world.deliver(raw, ARRIVED)
    report = run(server_world, NOW)
    inbox = [uids for uids, _ in fetches.calls if uids and max(uids) <= 6]
    assert inbox[0] == [1, 2, 3, 4, 5, 6]  # RFC822.SIZE of the window first
    assert "RFC822.SIZE" in fetches.calls[0][1]
    assert fetches.bodies()[:3] == [[1, 2], [3, 4], [5, 6]]
    assert (report.filed, report.queued, report.sent) == (6, 6, 6)
    subjects = sorted(str(t["subject"]) for t in threads(server_world))
    assert subjects == [f"logs {n}" for n in range(6)]
    again = run(server_world, NOW)
    assert (again.filed, again.queued) == (0, 0)
    assert len(threads(server_world)) == 6
    assert len(server_world.sent()) == 6


def test_memory_mailbox_chunks_by_bytes_too(tmp_path: Path) -> None:
    """The in-memory double splits the same way, so memory stories agree with Dovecot's."""
    world = MemoryWorld(make_settings(tmp_path))
    world.mailbox.fetch_bytes = 700 * KB
    for n in range(5):
        world.deliver(_attachment_mail(f"c{n}@customer.example", f"logs {n}", 300 * KB), ARRIVED)
    report = run(world, NOW)
    assert world.mailbox.batches[:3] == [[1, 2], [3, 4], [5]]
    assert (report.filed, report.queued) == (5, 5)


# --- mail over max_message_size ------------------------------------------------------------


def test_too_large_mail_is_filed_from_its_header(
    limited_world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Over 100 KB: filed from the header with the reason. A machine's report is skipped and
    ``skipped --json`` names its sender and subject; the customer's big mail is acknowledged
    (the decision in ``inbox_agent.agent.filing``) and its conversation says the body was not read;
    a small mail in the same poll is acknowledged as always."""
    world = limited_world
    world.deliver(
        _attachment_mail("Ann <ann@customer.example>", "the recording of the crash", 300 * KB),
        ARRIVED,
    )
    world.deliver(
        _attachment_mail(
            "reports@vendor.example", "Nightly export", 200 * KB, Auto_Submitted="auto-generated"
        ),
        ARRIVED,
    )
    world.deliver(
        customer_mail("bob@customer.example", "a short question", "Hello?", ARRIVED), ARRIVED
    )
    report = run(world, NOW)
    assert (report.fetched, report.skipped, report.queued) == (3, 1, 2)
    assert sorted(to_address(m) for m in world.sent()) == [
        "ann@customer.example",
        "bob@customer.example",
    ]

    assert main(["--config", str(world.settings.source), "skipped", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["sender"] == "reports@vendor.example"
    assert row["subject"] == "Nightly export"
    assert re.fullmatch(
        r"Auto-Submitted: auto-generated \(RFC 3834\); too large to read: "
        r"20\d(\.\d)? KB \(max_message_size = 100 KB\); left in the mailbox "
        r"for a person",
        row["reason"],
    )

    on_disk = ledger(world.settings)
    (ann,) = [c for c in on_disk.conversations.values() if c.customer == "ann@customer.example"]
    (note,) = ann.notes
    # The size as the server counts it: Dovecot's RFC822.SIZE counts CRLF line ends.
    assert re.fullmatch(
        r"the mail from ann@customer\.example \('the recording of the crash'\) "
        r"was filed from its headers, too large to read: 30\d\.\d KB "
        r"\(max_message_size = 100 KB\); left in the mailbox for a person",
        note.text,
    )
    assert ann.messages[0].note == ""  # answered: not listed as skipped
    assert ann.promises  # a promise runs, like for any customer
    bob = [c for c in on_disk.conversations.values() if c.customer == "bob@customer.example"]
    assert [c.notes for c in bob] == [[]]


def test_too_large_mail_body_is_never_fetched(
    server_world: ServerWorld, tmp_path: Path, fetches: FetchSpy
) -> None:
    """Only its header (at most 1 MB of it), RFC822.SIZE and INTERNALDATE are asked for."""
    settings = _with_limit(server_world.settings, "100KB")
    world = ServerWorld(settings, server_world.account, server_world.sink)
    world.deliver(customer_mail("bob@customer.example", "small", "Hello?", ARRIVED), ARRIVED)
    world.deliver(_attachment_mail("ann@customer.example", "big", 300 * KB), ARRIVED)
    world.deliver(customer_mail("cy@customer.example", "small too", "Hi", ARRIVED), ARRIVED)
    run(world, NOW)
    inbox_bodies = [uid for uids in fetches.bodies() for uid in uids]
    assert inbox_bodies[:2] == [1, 3]  # the small ones, together; never 2
    assert 2 not in inbox_bodies
    assert fetches.headers() == [2]
    (header_call,) = [
        items
        for uids, items in fetches.calls
        if any(i.startswith("BODY.PEEK[HEADER]") for i in items)
    ]
    assert header_call == ["BODY.PEEK[HEADER]<0.1048576>", "RFC822.SIZE", "INTERNALDATE"]
    assert len(world.sent()) == 3


def test_memory_story_files_a_whole_big_mail_like_the_imap_reader(tmp_path: Path) -> None:
    """A mailbox that hands over the whole message anyway (no limit set on the double) gets
    the same filing: filing cuts it to its header, so the ledger does not depend on the
    reader."""
    settings = _with_limit(make_settings(tmp_path), "100KB")
    world = MemoryWorld(settings)  # max_message_size not told to the double
    world.deliver(
        _attachment_mail(
            "reports@vendor.example", "Nightly export", 200 * KB, Auto_Submitted="auto-generated"
        ),
        ARRIVED,
    )
    report = run(world, NOW)
    assert report.skipped == 1
    (row,) = views.skipped(ledger(settings))
    assert row["sender"] == "reports@vendor.example"
    assert "too large to read" in row["reason"]


def test_header_block_is_the_header_and_its_blank_line() -> None:
    raw = _attachment_mail("ann@customer.example", "big", 10 * KB)
    head = header_block(raw)
    assert head == raw[: raw.index(b"\n\n") + 2]
    assert header_block(b"Subject: no body") == b"Subject: no body"
    endless = b"X: " + b"y" * (2 * KB * KB)
    assert header_block(endless) == endless[: KB * KB]


# --- the config key ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "size"),
    [
        ('"25MB"', 25 * KB * KB),
        ('"10M"', 10 * KB * KB),
        ('"500KB"', 500 * KB),
        ('"1.5 GB"', 3 * KB * KB * KB // 2),
        ("1048576", KB * KB),
        ('"65536 bytes"', 64 * KB),
        ('"2mib"', 2 * KB * KB),
    ],
)
def test_max_message_size_takes_units(tmp_path: Path, written: str, size: int) -> None:
    settings = make_settings(tmp_path)
    text = settings.source.read_text().replace(
        "[agent]\n", f"[agent]\nmax_message_size = {written}\n", 1
    )
    loaded = config.parse(text, settings.source)
    assert loaded.agent.max_message_size == size


def test_max_message_size_defaults_to_25mb(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    assert settings.agent.max_message_size == 25 * KB * KB


@pytest.mark.parametrize(
    ("written", "problem"),
    [
        (
            '"25 potatoes"',
            "= '25 potatoes' is not a size; write e.g. 25MB, 500KB or 10485760 (bytes)",
        ),
        ("25.5", "= 25.5 is not a size; write e.g. 25MB, 500KB or 10485760 (bytes)"),
        ('"10KB"', "= '10KB' is below 64 KB: ordinary mail would be left unread; write e.g. 25MB"),
        ("0", "= 0 is below 64 KB: ordinary mail would be left unread; write e.g. 25MB"),
    ],
)
def test_a_bad_max_message_size_is_one_line(tmp_path: Path, written: str, problem: str) -> None:
    settings = make_settings(tmp_path)
    text = settings.source.read_text().replace(
        "[agent]\n", f"[agent]\nmax_message_size = {written}\n", 1
    )
    with pytest.raises(ConfigError) as caught:
        config.parse(text, settings.source)
    assert str(caught.value) == f"{settings.source}: [agent] max_message_size {problem}"
