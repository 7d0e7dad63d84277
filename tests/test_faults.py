"""Nothing lost, nothing sent twice: relays down, refusals, crashes mid-send, dropped IMAP.

Real servers throughout (Dovecot, else pymap, and the aiosmtpd relay), with faults injected
through them: the relay stopped and started, recipients refused, sessions kicked, Dovecot
restarted, and a crash (a BaseException) at the worst moment of a send.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from datetime import datetime, timedelta

import pytest

from inbox_agent.adapters.base import FolderBatch, Mailbox
from inbox_agent.adapters.imap import ImapMailbox
from inbox_agent.adapters.outbox import OutboxQueue
from inbox_agent.adapters.store import DB_FILE, Store
from inbox_agent.agent import cycle
from inbox_agent.commands import views
from inbox_agent.config import MailboxSettings, Settings, resolve_password
from inbox_agent.core.ledger import OutboxEntry, OutboxEvent, OutboxState
from inbox_agent.errors import MailboxConnectionError
from tests.worlds import (
    ServerWorld,
    body,
    customer_mail,
    ledger,
    london,
    run,
)

CUSTOMERS = [f"Customer {n} <c{n}@customer.example>" for n in range(3)]


@pytest.fixture
def world(server_world: ServerWorld) -> ServerWorld:
    """Real servers only: these stories are about what crosses the wire."""
    return server_world


def customers_write(world: ServerWorld, at: datetime) -> None:
    for n, sender in enumerate(CUSTOMERS):
        world.deliver(customer_mail(sender, f"Question {n}", "Hello", at), at)


def received_by(world: ServerWorld) -> Counter[str]:
    return Counter(r.rcpt_tos[0] for r in world.sink.received)


def test_the_relay_down_for_a_while_then_up_everything_goes_once(world: ServerWorld) -> None:
    """Relay down: mail waits in the outbox with backoff, across restarts; relay up: each
    acknowledgement goes out exactly once."""
    customers_write(world, london(16, 10, 0))
    world.sink.stop()
    run(world, london(16, 10, 1))
    entries = sorted(ledger(world.settings).outbox.values(), key=lambda e: e.created_at)
    # The first found the relay down; the others were not tried, and wait as long.
    assert [(e.state, e.attempts) for e in entries] == [
        ("pending", 1),
        ("pending", 0),
        ("pending", 0),
    ]
    assert {e.next_attempt_at for e in entries} == {london(16, 10, 1) + timedelta(seconds=30)}
    run(world, london(16, 10, 1) + timedelta(seconds=20))  # before the retry: not even tried
    assert sum(e.attempts for e in ledger(world.settings).outbox.values()) == 1
    run(world, london(16, 10, 2))  # tried again, down again: the wait doubles
    entries = sorted(ledger(world.settings).outbox.values(), key=lambda e: e.created_at)
    assert [e.attempts for e in entries] == [2, 0, 0]
    assert {e.next_attempt_at for e in entries} == {london(16, 11, 2) - timedelta(minutes=59)}
    world.sink.start()
    run(world, london(16, 10, 5))
    run(world, london(16, 10, 6))
    assert received_by(world) == Counter({f"c{n}@customer.example": 1 for n in range(3)})
    assert all(e.state == "sent" for e in ledger(world.settings).outbox.values())


def test_a_refused_recipient_is_recorded_and_never_retried(world: ServerWorld) -> None:
    """550 for one customer: that mail fails for good and staff see why; the others go."""
    customers_write(world, london(16, 10, 0))
    world.sink.refuse_recipient("c1@customer.example", 550)
    run(world, london(16, 10, 1))
    run(world, london(16, 11, 0))
    assert received_by(world) == Counter({"c0@customer.example": 1, "c2@customer.example": 1})
    on_disk = ledger(world.settings)
    (failed,) = [e for e in on_disk.outbox.values() if e.state == "failed"]
    assert failed.attempts == 1
    assert "550" in failed.last_error
    conversation = on_disk.conversations[failed.conversation_id]
    assert conversation.notes[-1].text.startswith(
        "acknowledgement to c1@customer.example refused for good, not retried"
    )


def test_a_temporary_refusal_is_retried_once_the_backoff_passes(world: ServerWorld) -> None:
    """451 on DATA: tried again after 30 s, delivered once."""
    world.deliver(
        customer_mail(CUSTOMERS[0], "Question", "Hello", london(16, 10, 0)), london(16, 10, 0)
    )
    world.sink.fail_next(1, 451)
    run(world, london(16, 10, 1))
    assert received_by(world) == Counter()
    run(world, london(16, 10, 2))
    assert received_by(world) == Counter({"c0@customer.example": 1})


class _CrashAfterRelayError(Exception):
    """Stands for the power going off: raised where the process would die."""


class _Crashing:
    """Wraps the real IMAP mailbox: the APPEND of the sent copy never happens, the process
    "dies" right after the relay said 250."""

    def __init__(self, inner: Mailbox) -> None:
        self.inner = inner

    async def open(self) -> None:
        await self.inner.open()

    async def close(self) -> None:
        await self.inner.close()

    def fetch_new(
        self, folder: str, uidvalidity: int | None, last_uid: int
    ) -> AsyncIterator[FolderBatch]:
        return self.inner.fetch_new(folder, uidvalidity, last_uid)

    async def append(self, folder: str, raw: bytes, at: datetime) -> None:
        raise _CrashAfterRelayError

    async def has_message_id(self, folder: str, message_id: str) -> bool:
        return await self.inner.has_message_id(folder, message_id)


def _adapters(settings: Settings, crash: bool) -> cycle.Adapters:
    real = cycle.real_adapters(settings)

    def mailbox(m: MailboxSettings) -> Mailbox:
        imap = ImapMailbox(m.imap, resolve_password(m.imap, "test"))
        return _Crashing(imap) if crash else imap

    return cycle.Adapters(mailbox=mailbox, mailer=real.mailer)


async def _run_once(settings: Settings, now: datetime, *, crash: bool) -> None:
    with Store(settings.agent.data_dir) as store:
        agent = cycle.Agent(settings, store, _adapters(settings, crash), clock=lambda: now)
        await agent.run_cycle()


def test_a_crash_after_the_relay_accepted_does_not_send_again(world: ServerWorld) -> None:
    """The relay took the mail and the agent died before filing its copy. The 250 was
    recorded first (a rename, no network in between), so on restart the mail is not sent
    again: the Sent folder is asked, has no copy, and gets one."""
    world.deliver(
        customer_mail(CUSTOMERS[0], "Question", "Hello", london(16, 10, 0)), london(16, 10, 0)
    )
    with pytest.raises(_CrashAfterRelayError):
        asyncio.run(_run_once(world.settings, london(16, 10, 1), crash=True))
    (entry,) = ledger(world.settings).outbox.values()
    assert (entry.state, entry.copy_pending) == ("sent", True)  # what the disk says
    asyncio.run(_run_once(world.settings, london(16, 10, 2), crash=False))
    assert received_by(world) == Counter({"c0@customer.example": 1})
    assert _copies_in_sent(world, entry.message_id) == 1
    assert ledger(world.settings).outbox == {}  # done: the conversation keeps the record


class _DiesBeforeRecordingThe250(OutboxQueue):
    """The queue of a process that dies in the one window left: after the relay's 250,
    before the rename that records it."""

    def move(self, entries: Iterable[OutboxEntry], event: OutboxEvent) -> None:
        if event is OutboxEvent.ACCEPTED:
            raise _CrashAfterRelayError
        super().move(entries, event)


def test_a_crash_between_the_250_and_its_record_sends_again(
    world: ServerWorld, caplog: pytest.LogCaptureFixture
) -> None:
    """The window RFC 1047 describes, now one rename wide: the mail is left ``sending``; on
    restart the Sent folder has no copy, so it goes again (the one duplicate this design
    allows), and the log says so."""
    world.deliver(
        customer_mail(CUSTOMERS[0], "Question", "Hello", london(16, 10, 0)), london(16, 10, 0)
    )
    with Store(world.settings.agent.data_dir) as store:
        store.outbox = _DiesBeforeRecordingThe250(world.settings.agent.data_dir)
        store.ledger.outbox = store.outbox.load()
        agent = cycle.Agent(
            world.settings,
            store,
            cycle.real_adapters(world.settings),
            clock=lambda: london(16, 10, 1),
        )
        with pytest.raises(_CrashAfterRelayError):
            asyncio.run(agent.run_cycle())
    (entry,) = ledger(world.settings).outbox.values()
    assert entry.state == "sending"
    with caplog.at_level(logging.WARNING, logger="inbox_agent"):
        run(world, london(16, 10, 2))
    assert "no copy was filed, so it goes again (it may arrive twice)" in caplog.text
    assert received_by(world) == Counter({"c0@customer.example": 2})
    assert ledger(world.settings).outbox == {}


def test_a_mail_found_sending_whose_copy_is_filed_is_not_repeated(world: ServerWorld) -> None:
    """A mail left ``sending`` whose copy is in the Sent folder all the same (a rename the
    crash undid, or an older version's order): on restart it counts as sent, and the
    customer gets it once."""
    world.deliver(
        customer_mail(CUSTOMERS[0], "Question", "Hello", london(16, 10, 0)), london(16, 10, 0)
    )
    run(world, london(16, 10, 1))
    [received] = world.sink.received
    (conversation,) = ledger(world.settings).conversations.values()
    (sent,) = conversation.sent
    queue = OutboxQueue(world.settings.agent.data_dir)  # the disk as such a crash leaves it
    queue.load()
    queue.record(
        [
            OutboxEntry(
                sent.message_id,
                conversation.id,
                "support",
                sent.kind,
                sent.to,
                received.raw,
                sent.created_at,
                state=OutboxState.SENDING,
                attempts=1,
            )
        ]
    )
    run(world, london(16, 10, 2))
    assert received_by(world) == Counter({"c0@customer.example": 1})
    assert ledger(world.settings).outbox == {}


def _copies_in_sent(world: ServerWorld, message_id: str) -> int:
    with world.account.client() as imap:
        imap.select_folder("Sent", readonly=True)
        return len(imap.search(["HEADER", "Message-ID", message_id]))


class _KickAfterFirstChunk:
    """The real IMAP mailbox, with the server dropping the session after the first chunk."""

    def __init__(self, inner: ImapMailbox, kick: object) -> None:
        self.inner = inner
        self.kick = kick

    async def open(self) -> None:
        await self.inner.open()

    async def close(self) -> None:
        await self.inner.close()

    async def fetch_new(
        self, folder: str, uidvalidity: int | None, last_uid: int
    ) -> AsyncIterator[FolderBatch]:
        chunks = 0
        async for batch in self.inner.fetch_new(folder, uidvalidity, last_uid):
            yield batch
            chunks += 1
            if chunks == 1 and folder == "INBOX":
                await asyncio.to_thread(self.kick)  # type: ignore[arg-type]

    async def append(self, folder: str, raw: bytes, at: datetime) -> None:
        await self.inner.append(folder, raw, at)

    async def has_message_id(self, folder: str, message_id: str) -> bool:
        return await self.inner.has_message_id(folder, message_id)


def test_a_session_dropped_mid_poll_and_a_restarted_server_miss_nothing(world: ServerWorld) -> None:
    """1,005 messages (two chunks): 1,000 from a first start on a full mailbox (old: filed,
    not acknowledged) and five new. The server kicks the session after the first chunk, then
    Dovecot restarts: every message is filed once, each new customer acknowledged once."""
    old, new = london(2, 9, 0), london(16, 9, 0)
    for n in range(1_005):
        at = old if n < 1_000 else new
        world.account.append(
            "INBOX", customer_mail(f"P{n} <p{n}@customer.example>", f"Q{n}", "Hi", at), at
        )
    settings = world.settings

    def kicking(m: MailboxSettings) -> Mailbox:
        imap = ImapMailbox(m.imap, resolve_password(m.imap, "test"))
        return _KickAfterFirstChunk(imap, lambda: world.account.server.kick(world.account.username))

    async def kicked_run() -> cycle.CycleReport:
        with Store(settings.agent.data_dir) as store:
            adapters = cycle.Adapters(mailbox=kicking, mailer=cycle.real_adapters(settings).mailer)
            agent = cycle.Agent(settings, store, adapters, clock=lambda: london(16, 10, 0))
            return await agent.run_cycle()

    (problem,) = asyncio.run(kicked_run()).problems  # reported; the cycle went on
    assert isinstance(problem, MailboxConnectionError)
    filed_after_kick = sum(len(c.messages) for c in ledger(settings).conversations.values())
    assert filed_after_kick == 1_000  # the first chunk was committed, the rest was not read
    world.account.server.restart()
    run(world, london(16, 10, 5))
    run(world, london(16, 10, 6))
    on_disk = ledger(settings)
    assert sum(len(c.messages) for c in on_disk.conversations.values()) == 1_005
    assert received_by(world) == Counter({f"p{n}@customer.example": 1 for n in range(1_000, 1_005)})


def test_a_truncated_store_is_refused_in_one_line_and_left_alone(world: ServerWorld) -> None:
    """``run --once`` on a half-written database: exit 1, one line naming the file and the
    backup, the bytes untouched."""
    world.deliver(
        customer_mail(CUSTOMERS[0], "Question", "Hello", london(16, 10, 0)), london(16, 10, 0)
    )
    run(world, london(16, 10, 1))
    run(world, london(16, 10, 2))  # a second commit, so a .bak exists
    path = world.settings.agent.data_dir / DB_FILE
    path.write_bytes(path.read_bytes()[:200])
    before = path.read_bytes()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "inbox_agent",
            "--config",
            str(world.settings.source),
            "run",
            "--once",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("StoreCorruptError: ")
    assert done.stderr.count("\n") == 1
    assert "inbox-agent.json.bak" in done.stderr
    assert path.read_bytes() == before


def test_an_imap_outage_is_reported_once_and_the_promises_are_still_kept(
    world: ServerWorld, caplog: pytest.LogCaptureFixture
) -> None:
    """The IMAP server goes away after Ana's acknowledgement: one log line for the outage,
    polls back off, and her follow-up still goes out on time through the relay."""
    world.deliver(
        customer_mail(CUSTOMERS[0], "Question", "Hello", london(16, 10, 5)), london(16, 10, 5)
    )
    settings = world.settings
    moments = [london(16, 17, 0) + timedelta(minutes=m) for m in range(0, 10)]

    async def daemon_like() -> None:  # one Agent through many cycles, as the daemon keeps it
        with Store(settings.agent.data_dir) as store:
            clock = {"now": london(16, 10, 6)}
            agent = cycle.Agent(
                settings, store, cycle.real_adapters(settings), clock=lambda: clock["now"]
            )
            await agent.run_cycle()
            world.account.server.stop()
            try:
                for moment in moments:
                    clock["now"] = moment
                    await agent.run_cycle()
            finally:
                world.account.server.start()
            clock["now"] = london(16, 17, 30)
            await agent.run_cycle()

    with caplog.at_level(logging.WARNING, logger="inbox_agent"):
        asyncio.run(daemon_like())
    outage_lines = [r for r in caplog.records if "trying again in" in r.getMessage()]
    assert len(outage_lines) == 1
    assert outage_lines[0].getMessage().startswith("MailboxConnectionError: IMAP 127.0.0.1:")
    assert any(r.getMessage().startswith("recovered after 30 min") for r in caplog.records)
    assert received_by(world) == Counter({"c0@customer.example": 2})  # ack, then follow-up


def test_an_acknowledgement_held_up_past_its_promise_is_restated(world: ServerWorld) -> None:
    """The relay is down from Monday 10:00 to 18:00. Ana's acknowledgement would have said
    "tomorrow by 09:45", true only until its follow-up moment, 17:15. The try at 17:15
    composes it again: it says it is late and promises a time counted from then (17:15 + 8 h
    = Tuesday 16:45), which is still true when the relay is back; nothing is chased while it
    waits."""
    world.deliver(
        customer_mail(CUSTOMERS[0], "Question", "Hello", london(16, 10, 5)), london(16, 10, 5)
    )
    world.sink.stop()
    for moment in (london(16, 10, 6), london(16, 17, 15), london(16, 17, 40)):
        run(world, moment)
    world.sink.start()
    run(world, london(16, 18, 0))
    run(world, london(16, 18, 5))
    (ack,) = [r.message for r in world.sink.received]
    text = body(ack)
    assert "We are sorry that this confirmation reaches you late" in text
    assert "tomorrow (Tuesday 17 November) by 16:45 London time" in text
    on_disk = ledger(world.settings)
    assert on_disk.outbox == {}  # both done: the one sent, the one it replaced
    (conversation,) = on_disk.conversations.values()
    assert [s.message_id for s in conversation.sent] == [str(ack["Message-ID"])]
    (promise,) = conversation.promises
    assert promise.reason == "first reply (restated: our mail was late)"


def test_a_sent_mail_leaves_the_outbox_once_its_copy_is_filed(world: ServerWorld) -> None:
    """Nothing grows with every mail ever sent: once the relay took a mail and its copy is in
    the Sent folder, its file leaves the queue; the conversation keeps the record (Message-ID,
    recipient, and ``thread ID`` shows it sent)."""
    world.deliver(
        customer_mail(CUSTOMERS[0], "Question", "Hello", london(16, 10, 0)), london(16, 10, 0)
    )
    run(world, london(16, 10, 1))
    on_disk = ledger(world.settings)
    assert on_disk.outbox == {}
    queue = world.settings.agent.data_dir / "outbox"
    assert [p for p in queue.rglob("*") if p.is_file()] == []
    (conversation,) = on_disk.conversations.values()
    (sent,) = conversation.sent
    assert sent.to == "c0@customer.example"
    assert views.detail(conversation, on_disk)["sent"][0]["state"] == "sent"
    assert _copies_in_sent(world, sent.message_id) == 1
