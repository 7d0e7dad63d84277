"""New mail in seconds: every mailbox's IDLE watches (``adapters.idle``), and the pickups they
call for, as a service of the daemon.

Each watch lives in a thread of its own and only ever says "look now" (or how it is doing);
that reaches the event loop as an event (``call_soon_threadsafe``), never as a call into the
store. Here the events become *pickups*: the mailboxes that asked since the last pickup are
polled in one cycle (``Agent.run_cycle(only=...)``), taking their turn with the scheduled jobs
(``Daemon.run_now``), so a burst of mail to one mailbox, or to many, costs one cycle and not
one per message. The scheduled poll of every mailbox at ``poll_interval_seconds`` goes on as
before: a notification that never came delays a mail, it cannot lose one.

What a watch reports is logged once per change: a lost connection once per outage (the watch
reconnects with a backoff by itself), a server without IDLE once (that mailbox is polled).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import resource
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from inbox_agent import logs
from inbox_agent.adapters.idle import Report, StopSignal, WatchEvent, WatchState
from inbox_agent.config import MailboxSettings
from inbox_agent.core.status import FolderWatchShown
from inbox_agent.core.wording import counted
from inbox_agent.daemon import Daemon

log = logging.getLogger("inbox_agent")
JOIN_SECONDS = 2.0  # at a stop, how long the watches get to log out before being left behind
# A mailbox holds a claim (adapters.claims), two watches, and a poll's and a send's connection.
FILES_PER_MAILBOX = 5


class Watch(Protocol):
    """A folder watched in a thread of its own (``adapters.idle.FolderWatch``)."""

    def start(self) -> None:
        """Start the thread."""

    def join(self, seconds: float) -> bool:
        """Wait for the thread to end after the stop signal; True if it has."""
        ...


WatchFactory = Callable[[MailboxSettings, str, Report, StopSignal], Watch]
Pickup = Callable[[frozenset[str]], Awaitable[object]]
WatchShown = Callable[[str, str, FolderWatchShown | None], None]  # mailbox, folder, state


@dataclass
class _Folder:
    """What this side knows of one watched folder, for logging once per change."""

    mailbox: str
    name: str
    state: WatchState | None = None
    problem: str = ""


class Watching:
    """The daemon service: starts the watches, turns their events into pickups."""

    def __init__(
        self,
        mailboxes: Sequence[MailboxSettings],
        watch: WatchFactory,
        pickup: Pickup,
        *,
        poll_interval_seconds: int,
        shown: WatchShown | None = None,
    ) -> None:
        self.mailboxes = [m for m in mailboxes if m.imap.idle]
        self._make_watch = watch
        self._pickup = pickup
        self._shown = shown  # where the watches' states go for `status` (PollHealth)
        self._poll_interval = poll_interval_seconds
        self._signal = StopSignal()
        self._watches: list[Watch] = []
        self._folders: dict[tuple[str, str], _Folder] = {}
        self._pending: set[str] = set()
        self._wake = asyncio.Event()
        self.pickups = 0  # cycles run for watches (for tests and benches)

    async def serve(self, daemon: Daemon) -> None:
        """Watch every folder, and run a pickup whenever one says there is new mail."""
        loop = asyncio.get_running_loop()
        try:
            self._start(loop)
            while True:
                await self._wake.wait()
                self._wake.clear()
                names, self._pending = frozenset(self._pending), set()
                if names:
                    self.pickups += 1
                    await daemon.run_now("pickup", functools.partial(self._pickup, names))
        finally:
            self._signal.set()
            ended = await loop.run_in_executor(None, self._join_all)
            if ended:
                self._signal.close()  # else a thread left behind still polls it

    def stop(self) -> None:
        """Wake every watch to log out and end (the pickup in flight, if any, goes on)."""
        self._signal.set()

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        folders = [
            (m, f)
            for m in self.mailboxes
            for f in dict.fromkeys([m.imap.folder, m.imap.sent_folder])
            if f
        ]
        for mailbox, folder in folders:
            self._folders[mailbox.name, folder] = _Folder(mailbox.name, folder)
            watch = self._make_watch(
                mailbox, folder, _handed_to(loop, self._on_event, mailbox.name), self._signal
            )
            watch.start()
            self._watches.append(watch)
        if folders:
            log.info(
                "watching %s of %s with IMAP IDLE: new mail is picked up as it arrives (and "
                "every mailbox is still polled every %d s)",
                counted(len(folders), "folder"),
                counted(len(self.mailboxes), "mailbox", "mailboxes"),
                self._poll_interval,
                extra=logs.fields("watching"),
            )

    def _join_all(self) -> bool:
        """Wait up to JOIN_SECONDS in all for the watches to end; True if every one has."""
        deadline = time.monotonic() + JOIN_SECONDS
        ended = [watch.join(max(0.0, deadline - time.monotonic())) for watch in self._watches]
        return all(ended)  # every one joined, not only up to the first still running

    def _on_event(self, mailbox: str, event: WatchEvent) -> None:
        """In the loop: an event from a watch's thread."""
        folder = self._folders[mailbox, event.folder]
        # Once IDLE is issued, every new mail is told of; one that came before (while the
        # watch logged in, or was reconnecting) is found by the pickup this asks for.
        if event.state in (WatchState.CHANGED, WatchState.WATCHING):
            self._pending.add(mailbox)
            self._wake.set()
        if event.state is not WatchState.CHANGED:
            self._note(folder, event)
            if self._shown is not None:
                self._shown(
                    mailbox,
                    event.folder,
                    FolderWatchShown(event.folder, _SHOWN[event.state], event.detail or None),
                )

    def _note(self, folder: _Folder, event: WatchEvent) -> None:
        """Log a change of state, once: a lost connection once per outage."""
        where = f"{folder.mailbox}/{folder.name}"
        before, folder.state = folder.state, event.state
        if event.state is WatchState.LOST:
            if before is not WatchState.LOST or event.detail != folder.problem:
                log.warning(
                    "%s: the IDLE connection failed (%s); reconnecting, and the poll "
                    "every %d s goes on",
                    where,
                    event.detail,
                    self._poll_interval,
                    extra=logs.fields("idle_lost", mailbox=folder.mailbox),
                )
            folder.problem = event.detail
        elif event.state is WatchState.WATCHING:
            if before is WatchState.LOST:
                log.info(
                    "%s: IDLE again after the connection failed (%s)",
                    where,
                    folder.problem,
                    extra=logs.fields("idle_back", mailbox=folder.mailbox),
                )
            else:
                log.debug("%s: IDLE issued", where)
            folder.problem = ""
        elif event.state is WatchState.UNSUPPORTED and before is not WatchState.UNSUPPORTED:
            log.info(
                "%s: %s; this folder is polled every %d s",
                where,
                event.detail,
                self._poll_interval,
                extra=logs.fields("idle_unsupported", mailbox=folder.mailbox),
            )


_SHOWN = {
    WatchState.WATCHING: "watching",
    WatchState.LOST: "reconnecting",
    WatchState.UNSUPPORTED: "unsupported",
}


def _handed_to(
    loop: asyncio.AbstractEventLoop, on_event: Callable[[str, WatchEvent], None], mailbox: str
) -> Report:
    """The watch's callback: hands the event to the loop, from the watch's thread."""

    def report(event: WatchEvent) -> None:
        with contextlib.suppress(RuntimeError):  # a closed loop: the daemon is gone
            loop.call_soon_threadsafe(on_event, mailbox, event)

    return report


def allow_open_files(mailboxes: int) -> None:
    """Raise the soft limit on open files towards the hard one when this many mailboxes need
    it (systemd starts services with a soft limit of 1024); say so when even that is short."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = mailboxes * FILES_PER_MAILBOX + 256  # and the store, the outbox, logs, the loop
    if soft != resource.RLIM_INFINITY and soft < wanted:
        raised = wanted if hard == resource.RLIM_INFINITY else min(hard, wanted)
        resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
        if raised < wanted:
            log.warning(
                "%d mailboxes need about %d open files, and the limit is %d: raise it "
                "(LimitNOFILE= in the systemd unit, ulimit -n)",
                mailboxes,
                wanted,
                raised,
            )
