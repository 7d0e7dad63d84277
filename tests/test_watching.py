"""``agent.watching``: what the watches report becomes pickups in the loop, coalesced, and
log lines, once per change; no servers (the watches are stand-ins)."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import textwrap
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from inbox_agent.adapters.idle import Report, StopSignal, WatchEvent, WatchState
from inbox_agent.agent.watching import Watching
from inbox_agent.config import MailboxSettings
from tests.worlds import make_settings


@dataclass
class StandInWatch:
    mailbox: str
    folder: str
    report: Report
    stop: StopSignal
    started: bool = False

    def start(self) -> None:
        self.started = True

    def join(self, seconds: float) -> bool:
        return self.stop.is_set()

    def tell(self, state: WatchState, detail: str = "") -> None:
        """From a thread of its own, as a real watch does."""
        thread = threading.Thread(
            target=self.report, args=(WatchEvent(self.folder, state, detail),)
        )
        thread.start()
        thread.join()


class Daemon:
    """What ``Watching`` asks of the daemon: run a pickup when nothing else runs."""

    def __init__(self) -> None:
        self.runs: list[str] = []

    async def run_now(self, name: str, run: Callable[[], Awaitable[object]]) -> None:
        self.runs.append(name)
        await run()


def mailboxes(tmp_path: Path, *names: str, idle: bool = True) -> list[MailboxSettings]:
    base = make_settings(tmp_path).mailboxes[0]
    return [replace(base, name=n, imap=replace(base.imap, idle=idle)) for n in names]


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def _serve(
    boxes: list[MailboxSettings],
    body: Callable[
        [dict[tuple[str, str], StandInWatch], list[frozenset[str]], Watching], Awaitable[None]
    ],
) -> Watching:
    watches: dict[tuple[str, str], StandInWatch] = {}
    picked: list[frozenset[str]] = []

    def make(
        mailbox: MailboxSettings, folder: str, report: Report, stop: StopSignal
    ) -> StandInWatch:
        watches[mailbox.name, folder] = StandInWatch(mailbox.name, folder, report, stop)
        return watches[mailbox.name, folder]

    async def pickup(names: frozenset[str]) -> None:
        picked.append(names)

    watching = Watching(boxes, make, pickup, poll_interval_seconds=300)
    task = asyncio.create_task(watching.serve(Daemon()))  # type: ignore[arg-type]
    await _settle()
    await body(watches, picked, watching)
    watching.stop()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert all(w.stop.is_set() for w in watches.values())
    return watching


def test_each_folder_of_each_mailbox_is_watched(tmp_path: Path) -> None:
    async def body(
        watches: dict[tuple[str, str], StandInWatch], picked: list[frozenset[str]], _: Watching
    ) -> None:
        assert sorted(watches) == [("a", "INBOX"), ("a", "Sent"), ("b", "INBOX"), ("b", "Sent")]
        assert all(w.started for w in watches.values())
        assert picked == []

    asyncio.run(_serve(mailboxes(tmp_path, "a", "b"), body))


def test_a_mailbox_with_idle_off_is_not_watched(tmp_path: Path) -> None:
    async def body(
        watches: dict[tuple[str, str], StandInWatch], picked: list[frozenset[str]], _: Watching
    ) -> None:
        assert sorted(watches) == [("a", "INBOX"), ("a", "Sent")]

    boxes = mailboxes(tmp_path, "a") + mailboxes(tmp_path, "quiet", idle=False)
    asyncio.run(_serve(boxes, body))


def test_news_from_many_watches_becomes_one_pickup_of_those_mailboxes(tmp_path: Path) -> None:
    async def body(
        watches: dict[tuple[str, str], StandInWatch],
        picked: list[frozenset[str]],
        watching: Watching,
    ) -> None:
        watches["a", "INBOX"].tell(WatchState.CHANGED)
        watches["a", "Sent"].tell(WatchState.CHANGED)
        watches["c", "INBOX"].tell(WatchState.CHANGED)
        await _settle()
        assert picked == [frozenset({"a", "c"})]
        watches["b", "Sent"].tell(WatchState.CHANGED)
        await _settle()
        assert picked[1:] == [frozenset({"b"})]
        assert watching.pickups == 2

    asyncio.run(_serve(mailboxes(tmp_path, "a", "b", "c"), body))


def test_watching_again_calls_for_a_look(tmp_path: Path) -> None:
    """Mail that came while the watch logged in or reconnected sent no notification."""

    async def body(
        watches: dict[tuple[str, str], StandInWatch], picked: list[frozenset[str]], _: Watching
    ) -> None:
        watches["a", "INBOX"].tell(WatchState.WATCHING)
        await _settle()
        assert picked == [frozenset({"a"})]

    asyncio.run(_serve(mailboxes(tmp_path, "a"), body))


def test_a_lost_connection_is_logged_once_per_outage(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def body(
        watches: dict[tuple[str, str], StandInWatch], picked: list[frozenset[str]], _: Watching
    ) -> None:
        inbox = watches["a", "INBOX"]
        inbox.tell(WatchState.WATCHING)
        for _attempt in range(3):
            inbox.tell(WatchState.LOST, "IMAP 127.0.0.1:143: connection refused")
        inbox.tell(WatchState.WATCHING)
        inbox.tell(WatchState.LOST, "IMAP 127.0.0.1:143: timed out")
        await _settle()

    caplog.set_level(logging.INFO, logger="inbox_agent")
    asyncio.run(_serve(mailboxes(tmp_path, "a"), body))
    lines = [r.getMessage() for r in caplog.records if "a/INBOX" in r.getMessage()]
    assert lines == [
        "a/INBOX: the IDLE connection failed (IMAP 127.0.0.1:143: connection refused); "
        "reconnecting, and the poll every 300 s goes on",
        "a/INBOX: IDLE again after the connection failed (IMAP 127.0.0.1:143: connection refused)",
        "a/INBOX: the IDLE connection failed (IMAP 127.0.0.1:143: timed out); reconnecting, "
        "and the poll every 300 s goes on",
    ]


def test_a_server_without_idle_is_said_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def body(
        watches: dict[tuple[str, str], StandInWatch], picked: list[frozenset[str]], _: Watching
    ) -> None:
        watches["a", "INBOX"].tell(WatchState.UNSUPPORTED, "IMAP 127.0.0.1:143 offers no IDLE")
        await _settle()
        assert picked == []

    caplog.set_level(logging.INFO, logger="inbox_agent")
    asyncio.run(_serve(mailboxes(tmp_path, "a"), body))
    assert [r.getMessage() for r in caplog.records if "offers no IDLE" in r.getMessage()] == [
        "a/INBOX: IMAP 127.0.0.1:143 offers no IDLE; this folder is polled every 300 s"
    ]


def test_the_open_files_limit_is_raised_for_many_mailboxes() -> None:
    """systemd starts services with a soft limit of 1024 files; 200 mailboxes need more.
    The limits are changed in a child process: a lowered hard limit cannot be raised back."""
    code = textwrap.dedent("""
        import logging, resource, sys
        from inbox_agent.agent.watching import allow_open_files
        logging.basicConfig(stream=sys.stdout, format="%(message)s")
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 4096))
        allow_open_files(200)
        print(resource.getrlimit(resource.RLIMIT_NOFILE))
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 300))
        allow_open_files(200)
        print(resource.getrlimit(resource.RLIMIT_NOFILE))
    """)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.splitlines() == [
        "(1256, 4096)",
        "200 mailboxes need about 1256 open files, and the limit is 300: raise it "
        "(LimitNOFILE= in the systemd unit, ulimit -n)",
        "(300, 300)",
    ]
