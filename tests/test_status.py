"""``inbox-agent status``: the poll health the agent records, and the status read from disk
without the lock (the daemon may be running), as text and as the JSON contract."""

from __future__ import annotations

import asyncio
import json
import stat
from datetime import UTC, timedelta
from pathlib import Path

import pytest

from inbox_agent.adapters.health import HEALTH_FILE, read_health, write_health
from inbox_agent.adapters.memory import MemoryMailbox, MemoryMailer
from inbox_agent.adapters.store import Store
from inbox_agent.agent import cycle
from inbox_agent.cli import main
from inbox_agent.commands import status
from inbox_agent.core.status import FolderWatchShown, MailboxHealth, overview
from tests.servers import free_port
from tests.worlds import LONDON, MemoryWorld, customer_mail, london, make_settings

SECOND = timedelta(seconds=1)


def _ana_writes(world: MemoryWorld) -> None:
    world.deliver(
        customer_mail("Ana <ana@customer.example>", "Invoice", "Hi", london(16, 10, 5)),
        london(16, 10, 5),
    )


def test_a_poll_is_recorded_in_a_private_file(tmp_path: Path) -> None:
    """After a poll, ``health.json`` holds its moment, no error, and only its owner reads it."""
    world = MemoryWorld(make_settings(tmp_path))
    asyncio.run(world.run_once(london(16, 10, 8)))
    path = tmp_path / HEALTH_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    (record,) = read_health(tmp_path).values()
    assert (record.name, record.last_poll_at, record.last_error) == (
        "support",
        london(16, 10, 8),
        None,
    )


def test_quiet_polls_rewrite_the_file_at_most_once_a_minute(tmp_path: Path) -> None:
    """One daemon's polls 10 s apart: the file keeps the first poll's moment until a minute
    has passed; the store's live file is not rewritten for a quiet poll at all."""
    world = MemoryWorld(make_settings(tmp_path))
    mailbox, mailer = MemoryMailbox(), MemoryMailer()
    adapters = cycle.Adapters(mailbox=lambda _: mailbox, mailer=lambda _: mailer)
    start = london(16, 10, 0)
    clock = [start]
    seen, live_file = [], []
    with Store(world.settings.agent.data_dir) as store:
        agent = cycle.Agent(world.settings, store, adapters, clock=lambda: clock[0])
        for offset in (0, 10, 20, 70):
            clock[0] = start + offset * SECOND
            asyncio.run(agent.run_cycle())
            seen.append(read_health(tmp_path)["support"].last_poll_at)
            live_file.append((tmp_path / "inbox-agent.json").stat().st_mtime_ns)
    assert seen == [start, start, start, start + 70 * SECOND]
    assert len(set(live_file)) == 1


def test_a_failing_mailbox_shows_its_error_then_its_recovery(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real connection refused (nobody listens on the port) is the mailbox's last error and
    it is FAILING; after a good poll the error stays, marked recovered."""
    monkeypatch.setenv("TEST_IMAP_PASSWORD", "secret")
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "secret")
    settings = make_settings(tmp_path, imap_port=free_port(), smtp_port=free_port())
    with Store(settings.agent.data_dir) as store:
        agent = cycle.Agent(
            settings, store, cycle.real_adapters(settings), clock=lambda: london(16, 10, 0)
        )
        assert asyncio.run(agent.run_cycle()).problems
    failing = status.gather(settings, london(16, 10, 1), timedelta(hours=8))
    (mailbox,) = failing.mailboxes
    assert mailbox.failing
    assert mailbox.last_error is not None
    assert mailbox.last_error.startswith("MailboxConnectionError: ")
    text = status.as_text(failing, LONDON)
    assert "  support: FAILING; no good poll recorded yet" in text
    assert "    last error Mon 16 Nov 2026 10:00 London time: MailboxConnectionError: " in text
    asyncio.run(MemoryWorld(settings).run_once(london(16, 10, 5)))
    recovered = status.as_text(
        status.gather(settings, london(16, 10, 9), timedelta(hours=8)), LONDON
    )
    assert "  support: last good poll Mon 16 Nov 2026 10:05 London time (4 min ago)" in recovered
    assert "    last error Mon 16 Nov 2026 10:00 London time (recovered since): " in recovered


def test_status_json_follows_the_contract(tmp_path: Path) -> None:
    """mailboxes (name, last_poll_at, last_error), open, due_next (id, promised_by), lapsed,
    outbox_pending; moments in ISO 8601 with their offset."""
    world = MemoryWorld(make_settings(tmp_path))
    _ana_writes(world)
    asyncio.run(world.run_once(london(16, 10, 8)))
    soon = status.as_json(
        status.gather(world.settings, london(17, 9, 0), timedelta(hours=8)), LONDON
    )
    assert soon["mailboxes"] == [
        {
            "name": "support",
            "last_poll_at": "2026-11-16T10:08:00+00:00",
            "last_error": None,
            "last_error_at": None,
            "failing": False,
            "watches": [],
            "quiet_too_long": False,
        }
    ]
    assert soon["open"] == 1
    (due,) = soon["due_next"]
    assert (due["promised_by"], due["customer"]) == (
        "2026-11-17T09:45:00+00:00",
        "ana@customer.example",
    )  # 09:35 computed
    assert soon["lapsed"] == []
    assert soon["outbox_pending"] == 0
    assert soon["outbox"] == {"pending": 0, "waiting_to_retry": 0, "sending": 0, "failed": 0}
    late = status.as_json(
        status.gather(world.settings, london(17, 9, 50), timedelta(hours=8)), LONDON
    )
    assert late["due_next"] == []
    assert [p["id"] for p in late["lapsed"]] == [due["id"]]


def test_status_text_lists_what_is_due_in_business_time(tmp_path: Path) -> None:
    """The text view: the promise due, on London's clock with the zone named."""
    world = MemoryWorld(make_settings(tmp_path))
    _ana_writes(world)
    asyncio.run(world.run_once(london(16, 10, 8)))
    text = status.as_text(
        status.gather(world.settings, london(17, 9, 0), timedelta(hours=8)), LONDON
    )
    assert text.startswith("inbox-agent status at Tue 17 Nov 2026 09:00 London time\n")
    assert "conversations waiting for a person: 1" in text
    assert "promises due in the next 8h: 1\n  #" in text
    assert "Tue 17 Nov 2026 09:45 London time  ana@customer.example  Invoice" in text
    assert "promises lapsed (customer still waiting): 0" in text
    assert "outbox: 0 to send (0 waiting to retry), 0 with the relay, 0 failed" in text


def test_a_mailbox_left_unpolled_asks_whether_the_agent_runs(tmp_path: Path) -> None:
    """Polled on Monday, looked at on Wednesday: the text asks whether the agent is running,
    the JSON says ``quiet_too_long``; ten minutes after a poll it does not."""
    world = MemoryWorld(make_settings(tmp_path))
    asyncio.run(world.run_once(london(16, 10, 8)))
    quiet = status.expected_within(world.settings)
    assert quiet == timedelta(minutes=13)  # poll_interval_seconds 60: 2 min + 10 + 1
    later = status.gather(world.settings, london(18, 9, 0), timedelta(hours=8))
    assert "is `inbox-agent run` running?" in status.as_text(later, LONDON, quiet)
    assert status.as_json(later, LONDON, quiet)["mailboxes"][0]["quiet_too_long"] is True
    soon = status.gather(world.settings, london(16, 10, 18), timedelta(hours=8))
    assert "running?" not in status.as_text(soon, LONDON, quiet)
    assert status.as_json(soon, LONDON, quiet)["mailboxes"][0]["quiet_too_long"] is False


def test_status_works_while_the_daemon_holds_the_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With the data_dir locked by a running agent, ``status --json`` still answers."""
    world = MemoryWorld(make_settings(tmp_path))
    _ana_writes(world)
    asyncio.run(world.run_once(london(16, 10, 8)))
    capsys.readouterr()
    with Store(world.settings.agent.data_dir):
        assert main(["--config", str(world.settings.source), "status", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert {"mailboxes", "open", "due_next", "lapsed", "outbox_pending"} <= shown.keys()
    assert shown["open"] == 1
    assert shown["mailboxes"][0]["last_poll_at"] == "2026-11-16T10:08:00+00:00"


def test_a_dry_run_records_no_health(tmp_path: Path) -> None:
    """``run --once --dry-run`` writes nothing in data_dir, the health file included."""
    world = MemoryWorld(make_settings(tmp_path))
    _ana_writes(world)
    adapters = cycle.Adapters(mailbox=lambda _: world.mailbox, mailer=lambda _: world.mailer)
    asyncio.run(
        cycle.run(
            world.settings,
            once=True,
            dry_run=True,
            adapters=adapters,
            clock=lambda: london(16, 10, 8).astimezone(UTC),
        )
    )
    assert not (tmp_path / HEALTH_FILE).exists()
    assert (
        status.gather(world.settings, london(16, 10, 9), timedelta(hours=1))
        .mailboxes[0]
        .last_poll_at
        is None
    )


def test_status_says_how_new_mail_is_noticed(tmp_path: Path) -> None:
    """Rule 7 in the text view: the folders watched with IDLE, one reconnecting, and one on
    a server without IDLE."""
    health = MailboxHealth(
        "support",
        last_poll_at=london(17, 9, 0),
        watches=(
            FolderWatchShown("INBOX", "watching"),
            FolderWatchShown("Sent", "reconnecting", "IMAP imap.example.com:993: timed out"),
        ),
    )
    plain = MailboxHealth(
        "sales",
        last_poll_at=london(17, 9, 0),
        watches=(
            FolderWatchShown("INBOX", "unsupported", "IMAP mail.example.net:993 offers no IDLE"),
        ),
    )
    shown = status.as_text(
        overview([], [], [health, plain], london(17, 9, 1), timedelta(hours=8)), LONDON
    )
    assert (
        "    new mail seen as it arrives (IMAP IDLE on INBOX)\n"
        "    IMAP IDLE on Sent reconnecting (IMAP imap.example.com:993: timed out); "
        "polled meanwhile\n"
    ) in shown
    assert "    INBOX polled: IMAP mail.example.net:993 offers no IDLE\n" in shown


def test_watches_survive_the_health_file(tmp_path: Path) -> None:
    record = MailboxHealth(
        "support",
        last_poll_at=london(17, 9, 0),
        watches=(
            FolderWatchShown("INBOX", "watching"),
            FolderWatchShown("Sent", "reconnecting", "timed out"),
        ),
    )
    write_health(tmp_path, [record])
    assert read_health(tmp_path) == {"support": record}
