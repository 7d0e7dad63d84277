"""The real process with the clock moved by libfaketime (Debian's ``faketime``), never a sleep.

``inbox-agent run --once`` and the staff commands run as a user runs them, at moments
chosen by the test; Dovecot (else pymap) and the aiosmtpd relay keep the real clock.
"""

from __future__ import annotations

import glob
import os
import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from inbox_agent.config import load as load_config
from inbox_agent.core.ledger import Ledger
from tests.servers import ImapAccount, SmtpSink
from tests.worlds import body, customer_mail, ledger, london, server_settings

# Preloaded directly rather than through the ``faketime`` wrapper, which forks: a signal sent
# to the wrapper would not reach the agent. The MT build: the IMAP adapter uses a thread.
LIBFAKETIME = next(iter(glob.glob("/usr/lib/*/faketime/libfaketimeMT.so.1")), None)
pytestmark = pytest.mark.skipif(
    LIBFAKETIME is None and os.environ.get("INBOX_AGENT_REQUIRE_DOVECOT") != "1",
    reason="libfaketime is not installed (apt-get install faketime)",
)


def at(moment: datetime, *, ticking: bool = False) -> dict[str, str]:
    """The environment that sets the process's clock to ``moment``.

    A one-shot command gets a frozen clock (libfaketime's absolute form): every moment it
    records is ``moment`` itself, however long the process takes to start on a busy machine
    (a ticking clock made "extended ... 17:05:00" read 17:05:01 about one run in three).
    The daemon needs ``ticking`` (the "@" form: start at ``moment`` and run) for its schedule.
    Monotonic time stays real either way, so timeouts keep working.
    """
    assert LIBFAKETIME is not None, "apt-get install faketime"
    start = "@" if ticking else ""
    return {
        "LD_PRELOAD": LIBFAKETIME,
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        "FAKETIME": f"{start}{moment.astimezone().strftime('%Y-%m-%d %H:%M:%S')}",
    }


class Agent:
    """The ``inbox-agent`` command for one config, at a moment of the test's choosing."""

    def __init__(self, config: Path, account: ImapAccount) -> None:
        self.config = config
        self.env = {
            **os.environ,
            "TEST_IMAP_PASSWORD": account.password,
            "TEST_SMTP_PASSWORD": "anything",
        }

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "inbox_agent", "--config", str(self.config), *args]

    def __call__(self, moment: datetime, *args: str) -> str:
        done = subprocess.run(
            self.command(*args),
            env={**self.env, **at(moment)},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout


@pytest.fixture
def setup(
    tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink
) -> tuple[Agent, ImapAccount, SmtpSink, Path]:
    settings = server_settings(tmp_path, imap_account, smtp_sink)
    return Agent(settings.source, imap_account), imap_account, smtp_sink, settings.source


def _ledger(config: Path) -> Ledger:
    return ledger(load_config(config))


def test_follow_up_and_close_with_the_clock_moved(
    setup: tuple[Agent, ImapAccount, SmtpSink, Path],
) -> None:
    """Monday 10:05 mail (promised Tue 09:45, chased from 17:15); the process runs at 10:06,
    17:14, 17:15 and after a close."""
    agent, account, sink, config = setup
    account.append(
        "INBOX",
        customer_mail("Ana <ana@customer.example>", "Invoice", "Hi", london(16, 10, 5)),
        london(16, 10, 5),
    )
    agent(london(16, 10, 6), "run", "--once")
    assert len(sink.wait_for(1)) == 1
    agent(london(16, 17, 14), "run", "--once")
    assert len(sink.received) == 1
    agent(london(16, 17, 15), "run", "--once")
    kinds = [str(r.message["Message-ID"]).split(".")[2] for r in sink.wait_for(2)]
    assert kinds == ["acknowledgement", "follow_up"]
    (token,) = _ledger(config).conversations
    shown = agent(london(16, 17, 20), "thread", token)
    assert "(first reply): extended Mon 16 Nov 2026 17:15 London time" in shown
    assert "due Wed 18 Nov 2026 09:15 London time  (follow-up 1): running" in shown
    assert agent(london(16, 17, 20), "close", token).strip() == f"[#{token}] closed"
    agent(london(18, 12, 0), "run", "--once")
    assert len(sink.received) == 2
    assert token not in _ledger(config).conversations  # closed, quiet for a day: archived
    assert "status:   closed (archived)" in agent(london(18, 12, 5), "thread", token)


def test_the_daemon_sweeps_a_follow_up_due_after_a_restart(
    setup: tuple[Agent, ImapAccount, SmtpSink, Path],
) -> None:
    """The deadline lives in the store: a daemon started at 17:20 sends the follow-up owed
    since 17:15 at once (the promise, Tuesday 09:45, has not lapsed), then stops on SIGTERM."""
    agent, account, sink, _ = setup
    account.append(
        "INBOX",
        customer_mail("Ana <ana@customer.example>", "Invoice", "Hi", london(16, 10, 5)),
        london(16, 10, 5),
    )
    agent(london(16, 10, 6), "run", "--once")
    daemon = subprocess.Popen(
        agent.command("run"),
        env={**agent.env, **at(london(16, 17, 20), ticking=True)},
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        (_, follow_up) = sink.wait_for(2, timeout=30)
        daemon.send_signal(signal.SIGTERM)
        _, stderr = daemon.communicate(timeout=15)
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
    assert daemon.returncode == 0, stderr
    assert "will take longer than we told you" in body(follow_up.message)
    assert len(sink.received) == 2
