"""IMAP IDLE: a watch tells of new mail as it arrives, survives what connections do (BYE, a
silent drop, a server without IDLE), and ends when told; on Dovecot."""

from __future__ import annotations

import queue
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from inbox_agent.adapters.idle import FolderWatch, StopSignal, WatchEvent, WatchState
from inbox_agent.config import ServerSettings
from tests.servers import DovecotServer, ImapAccount, ImapServer, wait_until
from tests.tcp_proxy import TcpProxy
from tests.worlds import customer_mail

WAIT = 30.0  # a generous bound on waiting for an event: never a measure of speed


class Events:
    """What a watch reported, in order, waited for without sleeping."""

    def __init__(self) -> None:
        self._queue: queue.Queue[WatchEvent] = queue.Queue()
        self.seen: list[WatchEvent] = []

    def report(self, event: WatchEvent) -> None:
        self._queue.put(event)

    def next(self, state: WatchState) -> WatchEvent:
        """The next event in ``state``; those before it are kept in ``seen``."""
        while True:
            event = self._queue.get(timeout=WAIT)
            self.seen.append(event)
            if event.state is state:
                return event


@pytest.fixture
def stop() -> Iterator[StopSignal]:
    signal = StopSignal()
    yield signal
    signal.set()


def settings_for(account: ImapAccount, port: int | None = None) -> ServerSettings:
    return ServerSettings(
        host="127.0.0.1",
        port=port or account.server.port,
        security="none",
        username=account.username,
        timeout_seconds=10,
    )


def watch(
    account: ImapAccount,
    events: Events,
    stop: StopSignal,
    *,
    port: int | None = None,
    folder: str = "INBOX",
    **timing: float,
) -> FolderWatch:
    folder_watch = FolderWatch(
        settings_for(account, port), account.password, folder, events.report, stop, name="test"
    )
    for name, value in timing.items():
        setattr(folder_watch, name, value)
    folder_watch.start()
    return folder_watch


def deliver(account: ImapAccount, subject: str, folder: str = "INBOX") -> None:
    now = datetime.now(UTC)
    account.append(folder, customer_mail("Ana <ana@customer.example>", subject, "Hi", now), now)


def test_a_watch_tells_of_each_new_mail_as_it_arrives(
    imap_account: ImapAccount, stop: StopSignal
) -> None:
    events = Events()
    watch(imap_account, events, stop)
    assert events.next(WatchState.WATCHING).resumed is False
    deliver(imap_account, "First")
    events.next(WatchState.CHANGED)
    deliver(imap_account, "Second")
    events.next(WatchState.CHANGED)


def test_the_sent_folder_is_watched_the_same_way(
    imap_account: ImapAccount, stop: StopSignal
) -> None:
    events = Events()
    deliver(imap_account, "Creates the folder", folder="Sent")
    watch(imap_account, events, stop, folder="Sent")
    events.next(WatchState.WATCHING)
    deliver(imap_account, "A staff reply", folder="Sent")
    assert events.next(WatchState.CHANGED).folder == "Sent"


def test_bye_ends_the_connection_and_the_watch_comes_back(
    imap_server: ImapServer, imap_account: ImapAccount, stop: StopSignal
) -> None:
    """``doveadm kick`` makes Dovecot say BYE: the watch says it lost the connection, waits
    its backoff, and watches again (which calls for a look: mail may have come meanwhile)."""
    events = Events()
    watch(imap_account, events, stop, first_delay=0.05)
    events.next(WatchState.WATCHING)
    imap_server.kick(imap_account.username)
    lost = events.next(WatchState.LOST)
    assert "BYE" in lost.detail or "closed" in lost.detail, lost.detail
    assert events.next(WatchState.WATCHING).resumed is True
    deliver(imap_account, "After the kick")
    events.next(WatchState.CHANGED)


def test_a_connection_gone_silent_is_found_by_the_probe(
    imap_account: ImapAccount, stop: StopSignal
) -> None:
    """A connection that stops carrying anything without closing (a NAT that forgot it): no
    BYE, no end of stream. After ``quiet_seconds`` the watch ends IDLE and sends NOOP; no
    answer within ``probe_seconds`` means the connection is dead, and it reconnects."""
    proxy = TcpProxy(imap_account.server.port)
    try:
        events = Events()
        folder_watch = watch(
            imap_account,
            events,
            stop,
            port=proxy.port,
            quiet_seconds=0.3,
            probe_seconds=0.5,
            first_delay=0.05,
        )
        events.next(WatchState.WATCHING)
        wait_until(lambda: folder_watch.probes >= 2, WAIT, "a quiet connection's probes")
        proxy.freeze()
        assert "timed out" in events.next(WatchState.LOST).detail
        proxy.thaw()
        assert events.next(WatchState.WATCHING).resumed is True
        assert proxy.connections() >= 2
    finally:
        proxy.close()


def test_the_idle_is_issued_again_before_servers_give_up_on_it(
    imap_account: ImapAccount, stop: StopSignal
) -> None:
    """RFC 2177: a server may end an IDLE after 29 minutes, so the watch ends and issues it
    again every ``reissue_seconds`` even while the server keeps talking."""
    events = Events()
    folder_watch = watch(imap_account, events, stop, reissue_seconds=0.2, quiet_seconds=3600)
    events.next(WatchState.WATCHING)
    wait_until(lambda: folder_watch.probes >= 3, WAIT, "IDLE to be issued again")
    deliver(imap_account, "Between two IDLEs")
    events.next(WatchState.CHANGED)
    assert [e.state for e in events.seen] == [WatchState.WATCHING, WatchState.CHANGED]


def test_a_server_without_idle_is_left_to_the_poll(
    imap_account: ImapAccount, stop: StopSignal
) -> None:
    """A server that does not offer IDLE (here Dovecot with IDLE taken out of its CAPABILITY
    lines): the watch says so once and ends; that folder is polled."""
    proxy = TcpProxy(imap_account.server.port, rewrite=_without_idle)
    try:
        events = Events()
        folder_watch = watch(imap_account, events, stop, port=proxy.port)
        assert "offers no IDLE" in events.next(WatchState.UNSUPPORTED).detail
        assert folder_watch.join(WAIT)
    finally:
        proxy.close()


def test_a_stop_ends_every_watch_and_logs_it_out(
    imap_server: ImapServer, imap_account: ImapAccount
) -> None:
    signal = StopSignal()
    events = Events()
    watches = [
        watch(imap_account, events, signal, folder=folder) for folder in ("INBOX", "INBOX", "Sent")
    ]
    for _ in watches:
        events.next(WatchState.WATCHING)
    signal.set()
    assert all(w.join(WAIT) for w in watches)
    signal.close()
    if isinstance(imap_server, DovecotServer):
        wait_until(
            lambda: imap_server.sessions(imap_account.username) == 0, WAIT, "the watches to log out"
        )
    assert all(e.state is WatchState.WATCHING for e in events.seen)  # no LOST on the way out


def test_a_refused_login_is_reported_and_retried(
    imap_account: ImapAccount, stop: StopSignal
) -> None:
    events = Events()
    wrong = FolderWatch(
        replace(settings_for(imap_account), username="nobody@example.com"),
        "wrong",
        "INBOX",
        events.report,
        stop,
        name="test",
    )
    wrong.first_delay = 0.05
    wrong.start()
    first = events.next(WatchState.LOST)
    assert "login refused for 'nobody@example.com'" in first.detail
    assert events.next(WatchState.LOST).detail == first.detail  # tried again


def _without_idle(line: bytes) -> bytes:
    if b"CAPABILITY" not in line:
        return line
    return b" ".join(word for word in line.split(b" ") if word.upper() != b"IDLE")
