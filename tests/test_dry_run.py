"""``run --once --dry-run`` tells the truth, on real servers (Dovecot, aiosmtpd): it logs each
mail it would send with its kind, recipient and promise, counts it as "would send", never says
"sent", and leaves the relay, the mailbox and every byte under data_dir as they were."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import stat
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from inbox_agent import config
from inbox_agent.agent import cycle
from inbox_agent.core.promises import first_reply_due
from inbox_agent.core.wording import local_moment
from tests.servers import ImapAccount, SmtpSink
from tests.worlds import CONFIG, ROOT, customer_mail, london

ANA = "Ana Silva <ana@customer.example>"
BEN = "Ben Okafor <ben@shop.example>"
CLEO = "Cleo Park <cleo@studio.example>"


def _settings(tmp_path: Path, account: ImapAccount, sink: SmtpSink) -> config.Settings:
    """The stories' config, its data_dir a folder that does not exist yet."""
    text = CONFIG.format(
        data_dir=tmp_path / "state",
        templates=ROOT / "templates",
        address=account.address,
        imap_host="127.0.0.1",
        imap_port=account.server.port,
        imap_user=account.username,
        folder="INBOX",
        smtp_host="127.0.0.1",
        smtp_port=sink.port,
    )
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return config.load(path)


def _files(folder: Path) -> dict[str, tuple[str, int, int]]:
    """Every file and folder under ``folder`` (itself included): its bytes' hash, its mode and
    its modification time, so that a file rewritten with the same bytes shows too."""
    if not folder.exists():
        return {}
    found = {}
    for path in [folder, *sorted(folder.rglob("*"))]:
        info = path.lstat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "folder"
        found[str(path.relative_to(folder))] = (
            digest,
            stat.S_IMODE(info.st_mode),
            info.st_mtime_ns,
        )
    return found


def _mailbox(account: ImapAccount) -> dict[str, list[tuple[int, tuple[bytes, ...]]]]:
    """Each folder's messages and their flags (a \\Seen set by reading would show)."""
    seen = {}
    with account.client() as imap:
        for folder in ("INBOX", "Sent"):
            imap.select_folder(folder, readonly=True)
            fetched = imap.fetch(imap.search(), ["FLAGS"])
            seen[folder] = sorted(
                (uid, tuple(sorted(data[b"FLAGS"]))) for uid, data in fetched.items()
            )
    return seen


def _would_send(messages: list[str]) -> list[str]:
    """The "would send" log messages, their Message-IDs made alike."""
    return sorted(
        re.sub(r"<inbox-agent\.[^>]+>", "<id>", message)
        for message in messages
        if message.startswith("would send ")
    )


def test_a_dry_run_on_a_new_install_says_what_it_would_send_and_creates_nothing(
    tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink
) -> None:
    """The first thing a new user runs: each acknowledgement is logged as "would send", with
    whom to and the promise in business time; the summary counts them as "would send"; no
    line says "sent"; the relay gets nothing; the data_dir is not even created."""
    settings = _settings(tmp_path, imap_account, smtp_sink)
    arrived = datetime.now(UTC).replace(microsecond=0)  # the server keeps whole seconds
    for sender in (ANA, BEN):
        imap_account.append("INBOX", customer_mail(sender, "Invoice", "Hi", arrived), arrived)
    before = _mailbox(imap_account)
    env = {**os.environ, "TEST_IMAP_PASSWORD": imap_account.password}
    env.pop("TEST_SMTP_PASSWORD", None)  # a dry run needs no relay password
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "inbox_agent",
            "--config",
            str(settings.source),
            "run",
            "--once",
            "--dry-run",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    promise = local_moment(
        first_reply_due(arrived, settings.calendar, settings.promise), settings.calendar.timezone
    )
    messages = [line.split(" INFO ", 1)[-1].strip() for line in done.stderr.splitlines()]
    assert _would_send(messages) == [
        f"would send acknowledgement <id> to ana@customer.example promising {promise}",
        f"would send acknowledgement <id> to ben@shop.example promising {promise}",
    ]
    summary = next(line for line in done.stderr.splitlines() if "cycle done:" in line)
    assert summary.endswith(", 2 queued, 2 would send")
    assert not re.search(r"\bsent\b", done.stderr)
    assert smtp_sink.received == []
    assert not settings.agent.data_dir.exists()
    assert _mailbox(imap_account) == before


def test_a_dry_run_changes_no_byte_of_a_working_store(
    tmp_path: Path,
    imap_account: ImapAccount,
    smtp_sink: SmtpSink,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A store in use (two customers acknowledged for real): a dry run when their follow-ups
    are due and a third customer has written logs the two follow-ups and the acknowledgement
    it would send, with the promises they make, and every file under data_dir keeps its bytes,
    mode and time; no file appears; the relay and the mailbox get nothing."""
    monkeypatch.setenv("TEST_IMAP_PASSWORD", imap_account.password)
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "anything")
    settings = _settings(tmp_path, imap_account, smtp_sink)
    for sender in (ANA, BEN):
        imap_account.append(
            "INBOX", customer_mail(sender, "Invoice", "Hi", london(16, 10, 5)), london(16, 10, 5)
        )
    asyncio.run(cycle.run(settings, once=True, dry_run=False, clock=lambda: london(16, 10, 6)))
    assert len(smtp_sink.received) == 2
    imap_account.append(
        "INBOX", customer_mail(CLEO, "Quote", "Hello", london(16, 17, 0)), london(16, 17, 0)
    )
    files, mailbox = _files(settings.agent.data_dir), _mailbox(imap_account)
    caplog.set_level(logging.INFO, logger="inbox_agent")
    caplog.clear()

    asyncio.run(cycle.run(settings, once=True, dry_run=True, clock=lambda: london(16, 17, 15)))

    assert _would_send([r.getMessage() for r in caplog.records]) == [
        "would send acknowledgement <id> to cleo@studio.example promising "
        "Tue 17 Nov 2026 16:30 London time",
        "would send follow_up <id> to ana@customer.example promising "
        "Wed 18 Nov 2026 09:15 London time",
        "would send follow_up <id> to ben@shop.example promising Wed 18 Nov 2026 09:15 London time",
    ]
    assert (
        caplog.records[-1]
        .getMessage()
        .endswith(", 1 filed, 0 filed without reply, 0 already filed, 3 queued, 3 would send")
    )
    assert not [r for r in caplog.records if re.search(r"\bsent\b", r.getMessage())]
    assert _files(settings.agent.data_dir) == files
    assert len(smtp_sink.received) == 2
    assert _mailbox(imap_account) == mailbox
