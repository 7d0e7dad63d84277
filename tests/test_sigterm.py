"""SIGTERM, as systemd sends it on ``systemctl stop``: a send in flight finishes and is
recorded (never cut between the relay's 250 and its record), and a cycle stuck on a server
that does not answer is stopped after the grace instead of holding the stop for its socket
timeout."""

from __future__ import annotations

import asyncio
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session

from inbox_agent.daemon import STOP_GRACE_SECONDS
from tests.servers import ImapAccount, free_port
from tests.worlds import customer_mail, make_settings


class HeldRelay:
    """An aiosmtpd relay that holds its answer to DATA until the test releases it."""

    def __init__(self) -> None:
        self.data_arrived = threading.Event()
        self.release = threading.Event()
        self.accepted: list[list[str]] = []
        self.port = free_port()
        self._controller = Controller(
            self,
            hostname="127.0.0.1",
            port=self.port,
            authenticator=self._any_login,
            auth_require_tls=False,
        )

    @staticmethod
    def _any_login(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        return AuthResult(success=True, auth_data=auth_data)

    async def handle_DATA(  # noqa: N802 - aiosmtpd's
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
    ) -> str:
        self.data_arrived.set()
        await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 60)
        self.accepted.append(list(envelope.rcpt_tos))
        return "250 OK: accepted"

    def __enter__(self) -> HeldRelay:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self._controller.stop()


class Daemon:
    """``inbox-agent run`` in a process, its standard error read line by line as it comes."""

    def __init__(self, config: Path, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "inbox_agent", "--config", str(config), "run"],
            env=env,
            text=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self._queue.put(line)

    def wait_for(self, wanted: Callable[[str], bool], timeout: float = 60) -> str:
        """The first line (from now) that ``wanted`` accepts."""
        while True:
            line = self._queue.get(timeout=timeout)
            self.lines.append(line)
            if wanted(line):
                return line

    def finish(self) -> int:
        """Wait for the exit (bounded: a hang fails the test); read what is left."""
        code = self.process.wait(timeout=120)
        while not self._queue.empty():
            self.lines.append(self._queue.get())
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def env(imap_account: ImapAccount) -> dict[str, str]:
    """Passwords the way an operator sets them."""
    return {
        **os.environ,
        "TEST_IMAP_PASSWORD": imap_account.password,
        "TEST_SMTP_PASSWORD": "anything",
    }


@pytest.fixture
def held_relay() -> Iterator[HeldRelay]:
    """A relay that answers DATA only when told to."""
    with HeldRelay() as relay:
        yield relay


def test_a_send_in_flight_finishes_and_is_recorded(
    tmp_path: Path, imap_account: ImapAccount, held_relay: HeldRelay, env: dict[str, str]
) -> None:
    """SIGTERM while the relay holds its 250: the daemon waits for it, records the mail as
    sent and exits 0; the next start sends nothing again. (APScheduler's shutdown used to
    cancel the send: the mail was left 'sending', and sent a second time at the next start.)"""
    settings = make_settings(
        tmp_path,
        address=imap_account.address,
        imap_port=imap_account.server.port,
        imap_user=imap_account.username,
        smtp_port=held_relay.port,
    )
    now = datetime.now(UTC)
    imap_account.append(
        "INBOX", customer_mail("Ana <ana@customer.example>", "Invoice", "Hi", now), now
    )
    daemon = Daemon(settings.source, env)
    try:
        assert held_relay.data_arrived.wait(60)
        daemon.process.send_signal(signal.SIGTERM)
        daemon.wait_for(lambda line: "SIGTERM received" in line)
        held_relay.release.set()
        assert daemon.finish() == 0
    finally:
        daemon.kill()
    log = "".join(daemon.lines)
    assert "sent acknowledgement <inbox-agent." in log
    assert "did not finish within" not in log
    assert held_relay.accepted == [["ana@customer.example"]]
    again = subprocess.run(
        [sys.executable, "-m", "inbox_agent", "--config", str(settings.source), "run", "--once"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert again.returncode == 0, again.stderr
    assert "cut short" not in again.stderr
    assert held_relay.accepted == [["ana@customer.example"]]


def test_a_cycle_stuck_on_a_silent_server_is_stopped_after_the_grace(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """An IMAP server that accepts the connection and never greets, with a read timeout of
    an hour: SIGTERM stops the cycle after STOP_GRACE_SECONDS, says so, and the process
    exits 0 (its blocked reader thread does not hold the exit for the hour)."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        settings = make_settings(tmp_path, imap_port=silent.getsockname()[1], smtp_port=1)
        config = settings.source
        config.write_text(
            config.read_text(encoding="utf-8").replace(
                'sent_folder = "Sent"', 'sent_folder = "Sent"\ntimeout_seconds = 3600'
            ),
            encoding="utf-8",
        )
        daemon = Daemon(config, env)
        try:
            daemon.wait_for(lambda line: "inbox-agent running" in line)
            daemon.process.send_signal(signal.SIGTERM)
            assert daemon.finish() == 0
        finally:
            daemon.kill()
    log = "".join(daemon.lines)
    assert f"the cycle in flight did not finish within {STOP_GRACE_SECONDS} s of the signal" in log
    assert log.rstrip().endswith("inbox-agent stopped")
    assert "Traceback" not in log
