"""IMAP IDLE (RFC 2177): one connection per watched folder, in a thread of its own, that says
when the folder may hold new mail.

A watch never reads mail and never touches the store. All it says is "look now" (or "I am
watching", "I lost the connection", "this server offers no IDLE"), through a callback the
agent turns into an event on its loop; the poll that follows reads the mail, the way the
scheduled poll does. So a notification that never comes costs a delay, never a message: the
full poll at ``poll_interval_seconds`` still runs.

On the wire:

- The folder is opened read-only (EXAMINE), as for polling.
- IDLE is ended (DONE), a NOOP sent and IDLE issued again after ``quiet_seconds`` without a
  word from the server, and in any case every ``reissue_seconds`` (RFC 2177: servers may drop
  an IDLE after 30 minutes; some NATs forget a silent connection after a few). The DONE and
  the NOOP each wait at most ``probe_seconds``: a server that stopped answering, or a
  connection a NAT dropped without a word, is found within ``quiet_seconds + probe_seconds``.
- BYE, end of stream and every socket error end the connection; the watch reconnects after a
  backoff (``first_delay`` doubling to ``max_delay``, with jitter, so that hundreds of watches
  do not all log in again in the same second after a server restart), and says "look now"
  once it watches again: mail may have come while it was away.
- The thread waits in ``poll`` on its socket and on the ``StopSignal`` all watches share, so a
  stop wakes every watch at once; each then ends IDLE and logs out politely (a server that
  does not answer gets ``probe_seconds``). Threads are daemon threads: one stuck connecting
  to a server that does not answer cannot hold the process's exit.
"""

from __future__ import annotations

import contextlib
import imaplib
import logging
import os
import random
import select
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from imapclient import IMAPClient

from inbox_agent.adapters.credentials import Secret
from inbox_agent.adapters.imap import LIBRARY_ERRORS, connect, translated
from inbox_agent.config import ServerSettings
from inbox_agent.errors import InboxAgentError

log = logging.getLogger("inbox_agent")


class WatchState(Enum):
    """What a watch reports about itself."""

    CHANGED = "changed"  # the folder may hold new mail: look now
    WATCHING = "watching"  # IDLE issued: look now too (mail may have come just before)
    LOST = "lost"  # the connection failed; reconnecting after a backoff
    UNSUPPORTED = "unsupported"  # the server offers no IDLE: this folder is polled only


@dataclass(frozen=True)
class WatchEvent:
    """One report from a watch's thread, handed to its callback."""

    folder: str
    state: WatchState
    detail: str = ""  # LOST: the problem, one line; UNSUPPORTED: why
    resumed: bool = False  # WATCHING again after LOST


Report = Callable[[WatchEvent], None]


class StopSignal:
    """A pipe every watch polls: once set, it stays readable, so every thread wakes."""

    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        self._set = threading.Event()

    def fileno(self) -> int:
        """The end the watches poll."""
        return self._read

    def set(self) -> None:
        """Wake every watch, now and from now on."""
        if not self._set.is_set():
            self._set.set()
            os.write(self._write, b"x")

    def is_set(self) -> bool:
        """True once ``set``."""
        return self._set.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep ``seconds`` unless set meanwhile; True if set."""
        return self._set.wait(seconds)

    def close(self) -> None:
        """Release the pipe (after every watch has ended)."""
        for fd in (self._read, self._write):
            with contextlib.suppress(OSError):
                os.close(fd)


class _NoIdleError(Exception):
    """The server's CAPABILITY has no IDLE."""


class _ConnectionEndedError(Exception):
    """The server said BYE, or the stream ended."""


class FolderWatch:
    """IDLE on one folder of one account, in a daemon thread, reporting to ``report``.

    ``report`` is called from the watch's thread; it must only hand the event over (e.g.
    ``loop.call_soon_threadsafe``) and never raise.
    """

    quiet_seconds = 60.0  # nothing heard for this long: DONE, NOOP, IDLE again
    reissue_seconds = 9 * 60.0  # and at the latest this often (RFC 2177: under 29 minutes)
    probe_seconds = 10.0  # each answer to DONE, NOOP, IDLE or LOGOUT is waited for this long
    first_delay = 1.0  # the first reconnect; doubled after each failure, up to max_delay
    max_delay = 120.0

    def __init__(
        self,
        settings: ServerSettings,
        secret: Secret,
        folder: str,
        report: Report,
        stop: StopSignal,
        *,
        name: str,
    ) -> None:
        self.settings = settings
        self.folder = folder
        self._secret = secret
        self._report = report
        self._stop = stop
        self.probes = 0  # IDLEs ended and issued again on this watch's connections so far
        self._thread = threading.Thread(target=self._run, name=f"idle {name}", daemon=True)

    def start(self) -> None:
        """Start watching (the first report follows once IDLE is issued, or failed)."""
        self._thread.start()

    def join(self, seconds: float) -> bool:
        """Wait for the thread to end (after the stop signal); True if it has."""
        self._thread.join(seconds)
        return not self._thread.is_alive()

    # The thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                self._watch(resumed=failures > 0)
            except _NoIdleError:
                self._tell(WatchState.UNSUPPORTED, f"IMAP {self._where()} offers no IDLE")
                return
            except (*LIBRARY_ERRORS, InboxAgentError, _ConnectionEndedError) as exc:
                if self._stop.is_set():
                    return
                failures += 1
                self._tell(WatchState.LOST, self._problem(exc))
                self._stop.wait(self._delay(failures))
                continue
            failures = 0

    def _watch(self, *, resumed: bool) -> None:
        """One connection: log in, EXAMINE, IDLE until the stop signal (then log out) or a
        failure (raised)."""
        client = connect(self.settings, self._secret, read_timeout=self.probe_seconds)
        try:
            if not client.has_capability("IDLE"):
                raise _NoIdleError
            _keep_alive(client.socket())
            client.select_folder(self.folder, readonly=True)
            client.idle()
            self._tell(WatchState.WATCHING, resumed=resumed)
            self._idle(client)
            with contextlib.suppress(*LIBRARY_ERRORS, _ConnectionEndedError):
                self._take(client.idle_done()[1])  # stopping: end politely
        finally:
            _log_out(client)

    def _idle(self, client: IMAPClient) -> None:
        """Wait in IDLE, telling of new mail, until the stop signal; raise when the
        connection fails."""
        poller = select.poll()
        poller.register(client.socket().fileno(), select.POLLIN | select.POLLPRI)
        poller.register(self._stop.fileno(), select.POLLIN)
        issued = heard = time.monotonic()
        while not self._stop.is_set():
            ready = poller.poll(max(0.0, self._probe_due(heard, issued) - time.monotonic()) * 1000)
            if self._stop.is_set():
                return
            if ready:
                responses = client.idle_check(timeout=0)
                if not responses:  # readable yet nothing to read: the end of the stream
                    raise _ConnectionEndedError("the server closed the connection")
                self._take(responses)
                heard = time.monotonic()
            if time.monotonic() >= self._probe_due(heard, issued):  # what was heard moved it
                self._probe(client)
                issued = heard = time.monotonic()

    def _probe_due(self, heard: float, issued: float) -> float:
        """When to probe: after a quiet ``quiet_seconds``, or at ``reissue_seconds`` since
        IDLE was issued, whichever comes first."""
        return min(heard + self.quiet_seconds, issued + self.reissue_seconds)

    def _probe(self, client: IMAPClient) -> None:
        """DONE, NOOP, IDLE: each must be answered within ``probe_seconds``."""
        self._take(client.idle_done()[1])
        self._take(client.noop()[1])
        client.idle()
        self.probes += 1

    def _take(self, responses: list[Any]) -> None:
        """Tell of new mail (EXISTS); a BYE ends the connection."""
        if any(_word(r, 0) == b"BYE" for r in responses):
            raise _ConnectionEndedError("the server said BYE")
        if any(_word(r, 1) == b"EXISTS" for r in responses):
            self._tell(WatchState.CHANGED)

    def _tell(self, state: WatchState, detail: str = "", *, resumed: bool = False) -> None:
        self._report(WatchEvent(self.folder, state, detail, resumed))

    def _delay(self, failures: int) -> float:
        ceiling = min(self.max_delay, self.first_delay * 2 ** (failures - 1))
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not a secret

    def _problem(self, exc: BaseException) -> str:
        if isinstance(exc, _ConnectionEndedError):
            return f"IMAP {self._where()}: {exc}"
        return translated(self.settings, self._secret, exc).one_line()

    def _where(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"


def _word(response: Any, index: int) -> Any:
    """Item ``index`` of a parsed untagged response, upper-cased if it is a word."""
    if not isinstance(response, tuple) or len(response) <= index:
        return None
    item = response[index]
    return item.upper() if isinstance(item, bytes) else item


def _keep_alive(sock: socket.socket) -> None:
    """TCP keepalive as well: the kernel notices a peer gone while we wait in IDLE."""
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 60)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 15)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 4)


def _log_out(client: IMAPClient) -> None:
    try:
        client.logout()
    except (*LIBRARY_ERRORS, imaplib.IMAP4.abort):
        with contextlib.suppress(OSError, imaplib.IMAP4.error):  # the socket is gone already
            client.shutdown()
