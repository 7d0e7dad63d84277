"""The real process: run --once, run --dry-run and the daemon with signals, on real servers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from inbox_agent.adapters.store import DB_FILE
from tests.servers import ImapAccount, SmtpSink
from tests.worlds import customer_mail, ledger, server_settings


@pytest.fixture
def env(imap_account: ImapAccount) -> dict[str, str]:
    """The environment the process runs in: passwords the way an operator sets them."""
    return {
        **os.environ,
        "TEST_IMAP_PASSWORD": imap_account.password,
        "TEST_SMTP_PASSWORD": "anything",
    }


def _agent(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "inbox_agent", "--config", str(config), *args]


def _deliver_two(account: ImapAccount) -> None:
    now = datetime.now(UTC)
    account.append("INBOX", customer_mail("Ana <ana@customer.example>", "Invoice", "Hi", now), now)
    account.append("INBOX", customer_mail("Ben <ben@shop.example>", "Login", "Hi", now), now)


def test_run_once_acknowledges_each_new_conversation_once(
    tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink, env: dict[str, str]
) -> None:
    """inbox-agent run --once: one acknowledgement per customer, and none on the next run."""
    settings = server_settings(tmp_path, imap_account, smtp_sink)
    _deliver_two(imap_account)
    first = subprocess.run(
        _agent(settings.source, "run", "--once"),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert first.returncode == 0, first.stderr
    assert sorted(r.rcpt_tos[0] for r in smtp_sink.wait_for(2)) == [
        "ana@customer.example",
        "ben@shop.example",
    ]
    again = subprocess.run(
        _agent(settings.source, "run", "--once"),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert again.returncode == 0, again.stderr
    assert len(smtp_sink.received) == 2
    assert all(c.promised_by is not None for c in ledger(settings).conversations.values())


def test_dry_run_sends_nothing_and_saves_nothing(
    tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink, env: dict[str, str]
) -> None:
    """run --dry-run logs what it would send; the relay and the database stay untouched."""
    settings = server_settings(tmp_path, imap_account, smtp_sink)
    _deliver_two(imap_account)
    done = subprocess.run(
        _agent(settings.source, "run", "--once", "--dry-run"),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.count(" would send acknowledgement ") == 2
    assert " sent " not in done.stderr
    assert smtp_sink.received == []
    assert not (settings.agent.data_dir / DB_FILE).exists()


def test_the_daemon_acknowledges_then_stops_cleanly_on_sigterm(
    tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink, env: dict[str, str]
) -> None:
    """inbox-agent run polls at once, sends, and on SIGTERM finishes and exits 0."""
    settings = server_settings(tmp_path, imap_account, smtp_sink)
    _deliver_two(imap_account)
    daemon = subprocess.Popen(
        _agent(settings.source, "run"),
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        smtp_sink.wait_for(2, timeout=30)
        second = subprocess.run(
            _agent(settings.source, "run", "--once"),
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert second.returncode == 1
        assert second.stderr.startswith("StoreLockedError: ")
        assert second.stderr.count("\n") == 1
        daemon.send_signal(signal.SIGTERM)
        started = time.monotonic()
        _, stderr = daemon.communicate(timeout=15)
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
    assert daemon.returncode == 0, stderr
    assert time.monotonic() - started < 10
    assert "SIGTERM received" in stderr
    assert len(smtp_sink.received) == 2


def test_a_wrong_password_is_one_line_from_run_once(
    tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink, env: dict[str, str]
) -> None:
    """A refused login prints one line saying what to check, exit 1."""
    settings = server_settings(tmp_path, imap_account, smtp_sink)
    done = subprocess.run(
        _agent(settings.source, "run", "--once"),
        env={**env, "TEST_IMAP_PASSWORD": "wrong"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("MailboxLoginError: IMAP 127.0.0.1:")
    assert "check the username and the password" in done.stderr
    assert "Traceback" not in done.stderr


def test_check_reports_each_part_and_fails_in_one_line(
    tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink, env: dict[str, str]
) -> None:
    """inbox-agent check: config, templates, data folder, IMAP, SMTP, the staff page; sends
    nothing. A wrong
    IMAP password is a FAIL line, one line on stderr, exit 1."""
    settings = server_settings(tmp_path, imap_account, smtp_sink)
    imap_account.append(
        "Sent", customer_mail("Support <s@example.com>", "x", "x", datetime.now(UTC))
    )
    good = subprocess.run(
        _agent(settings.source, "check"),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert good.returncode == 0, good.stdout + good.stderr
    lines = good.stdout.splitlines()
    parts = [line for line in lines[:-1] if not line.startswith("      ")]  # not the listed days
    assert [line.split()[0] for line in parts] == ["ok"] * 13
    assert any(line.startswith("ok    opening hours: Monday to Friday") for line in lines)
    assert lines[1].startswith("ok    templates: ")
    assert lines[1].endswith(str(settings.agent.templates_dir))
    assert any(line.startswith("ok    template follow_up") for line in lines)
    assert any("folders INBOX, Sent" in line for line in lines)
    assert lines[-2] == "ok    staff page: off (add [web] listen to serve it)"
    assert lines[-1] == "everything the agent needs is in place"
    assert smtp_sink.received == []
    bad = subprocess.run(
        _agent(settings.source, "check"),
        env={**env, "TEST_IMAP_PASSWORD": "wrong"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 1
    assert "FAIL  MailboxLoginError: IMAP 127.0.0.1:" in bad.stdout
    assert bad.stderr.startswith("MailboxLoginError: ")
    assert bad.stderr.count("\n") == 1
