"""The story of issue 14 on Dovecot: with ``poll_interval_seconds = 300``, the daemon
acknowledges a customer and sees a staff reply in seconds, through IMAP IDLE, long before the
next poll would have found either; and it still stops at once on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.servers import ImapAccount, SmtpSink, wait_until
from tests.test_promises_kept import reply_to
from tests.worlds import customer_mail, ledger, server_settings

WAIT = 60.0  # generous bounds on waiting, never a measure of speed


def _events(log: Path) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for line in log.read_text(encoding="utf-8").splitlines()
        if line.startswith("{")
    ]


def _count(log: Path, event: str) -> int:
    return sum(1 for e in _events(log) if e["event"] == event)


def _watches(config: Path, env: dict[str, str]) -> list[dict[str, Any]]:
    """What ``status --json`` says of the mailbox's watches."""
    done = subprocess.run(
        [sys.executable, "-m", "inbox_agent", "--config", str(config), "status", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=True,
    )
    (mailbox,) = json.loads(done.stdout)["mailboxes"]
    return sorted(mailbox["watches"], key=lambda w: str(w["folder"]))


def test_mail_is_picked_up_as_it_arrives_not_at_the_next_poll(
    tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink
) -> None:
    settings = server_settings(tmp_path, imap_account, smtp_sink)
    config = settings.source
    config.write_text(
        config.read_text().replace("[agent]\n", "[agent]\npoll_interval_seconds = 300\n", 1)
    )
    log = tmp_path / "daemon.log"
    env = {
        **os.environ,
        "TEST_IMAP_PASSWORD": imap_account.password,
        "TEST_SMTP_PASSWORD": "anything",
    }
    with log.open("w") as stderr:
        daemon = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "inbox_agent",
                "--config",
                str(config),
                "-v",
                "--log-format",
                "json",
                "run",
            ],
            env=env,
            stderr=stderr,
            stdout=subprocess.DEVNULL,
        )
    try:
        # Started: the scheduled poll ran once, and both folders are watched.
        wait_until(
            lambda: (
                _count(log, "run_poll") == 1
                and sum("IDLE issued" in e["message"] for e in _events(log)) == 2
            ),
            WAIT,
            "the first poll and both watches",
        )
        now = datetime.now(UTC)
        imap_account.append(
            "INBOX",
            customer_mail("Ana <ana@customer.example>", "Invoice", "Where is my invoice?", now),
            now,
        )
        (ack,) = smtp_sink.wait_for(1, timeout=WAIT)
        assert ack.rcpt_tos == ["ana@customer.example"]

        # Alice answers from her mail client, which files the reply in Sent: seen as fast.
        reply = reply_to(
            ack.message,
            f"Example Co. Support <{imap_account.address}>",
            "Here it is.",
            datetime.now(UTC),
            To="ana@customer.example",
        )
        imap_account.append("Sent", reply, datetime.now(UTC))
        wait_until(
            lambda: (
                [c.status.value for c in ledger(settings).conversations.values()] == ["answered"]
            ),
            WAIT,
            "the staff reply to be filed",
        )
        assert _watches(config, env) == [
            {"folder": "INBOX", "state": "watching", "problem": None},
            {"folder": "Sent", "state": "watching", "problem": None},
        ]
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=WAIT) == 0
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
    assert _watches(config, env) == []  # a stopped daemon watches nothing
    # Both were found by pickups the watches called for; the 300 s poll ran once, at start.
    assert _count(log, "run_poll") == 1
    assert _count(log, "run_pickup") >= 2
    assert _count(log, "stopped") == 1
    assert len(smtp_sink.received) == 1
