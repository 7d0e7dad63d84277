"""The outbox queue on a real disk: one file per mail, its state the folder it is in."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from inbox_agent.adapters.outbox import OutboxQueue
from inbox_agent.core.conversations import MailKind
from inbox_agent.core.ledger import OutboxEntry, OutboxEvent, OutboxState

NOW = datetime(2026, 11, 16, 10, 0, tzinfo=UTC)


def _mail(n: int) -> OutboxEntry:
    return OutboxEntry(
        f"<m{n}@example.com>",
        "K7Q2",
        "support",
        MailKind.ACKNOWLEDGEMENT,
        f"c{n}@customer.example",
        f"mail {n}\r\n".encode(),
        NOW,
    )


def _files(root: Path, state: str) -> list[str]:
    return sorted(p.name for p in (root / "outbox" / state).glob("*.json"))


def test_a_recorded_mail_survives_a_restart_with_everything_known_of_it(tmp_path: Path) -> None:
    """Recorded, then read back by a new process: same bytes, same fields, pending."""
    queue = OutboxQueue(tmp_path)
    queue.load()
    mail = _mail(1)
    mail.deliver_by = NOW
    queue.record([mail])
    (again,) = OutboxQueue(tmp_path).load().values()
    assert again == mail
    assert again.state is OutboxState.PENDING


def test_a_state_is_the_folder_and_a_move_is_a_rename(tmp_path: Path) -> None:
    """pending -> sending -> sent: the file moves, its inode stays (a rename, not a copy)."""
    queue = OutboxQueue(tmp_path)
    queue.load()
    mail = _mail(1)
    queue.record([mail])
    (name,) = _files(tmp_path, "pending")
    inode = (tmp_path / "outbox" / "pending" / name).stat().st_ino
    queue.move([mail], OutboxEvent.SEND)
    queue.move([mail], OutboxEvent.ACCEPTED)
    assert _files(tmp_path, "pending") == _files(tmp_path, "sending") == []
    assert _files(tmp_path, "sent") == [name]
    assert (tmp_path / "outbox" / "sent" / name).stat().st_ino == inode
    (again,) = OutboxQueue(tmp_path).load().values()
    assert (again.state, again.copy_pending) == (OutboxState.SENT, True)


def test_mail_is_listed_oldest_first(tmp_path: Path) -> None:
    """Mail recorded in one commit comes back in the order it was recorded (and is sent so),
    whatever its Message-ID."""
    queue = OutboxQueue(tmp_path)
    queue.load()
    mails = [_mail(n) for n in (5, 3, 9, 1)]
    queue.record(mails)
    assert list(OutboxQueue(tmp_path).load()) == [m.message_id for m in mails]


def test_a_rename_half_done_by_a_crash_keeps_the_later_state(tmp_path: Path) -> None:
    """A crash between the new folder's entry and the old one's removal leaves the mail in
    two folders: it loads once, in the state further along, and the other file goes."""
    queue = OutboxQueue(tmp_path)
    queue.load()
    mail = _mail(1)
    queue.record([mail])
    queue.move([mail], OutboxEvent.SEND)
    (name,) = _files(tmp_path, "sending")
    os.link(tmp_path / "outbox" / "sending" / name, tmp_path / "outbox" / "sent" / name)
    (again,) = OutboxQueue(tmp_path).load().values()
    assert again.state is OutboxState.SENT
    assert _files(tmp_path, "sending") == []


def test_an_unreadable_queue_file_is_set_aside_and_the_rest_load(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A damaged file never blocks the other mail: it is moved to unreadable/ for a person,
    with one log line naming it."""
    queue = OutboxQueue(tmp_path)
    queue.load()
    queue.record([_mail(1), _mail(2)])
    first = tmp_path / "outbox" / "pending" / _files(tmp_path, "pending")[0]
    first.write_text('{"message_id": "<m1@example.com>", "raw": "not base64!"}')
    loaded = OutboxQueue(tmp_path).load()
    assert list(loaded) == ["<m2@example.com>"]
    assert (tmp_path / "outbox" / "unreadable" / first.name).exists()
    assert "cannot be read" in caplog.text


def test_superseded_and_finished_mail_leave_no_file(tmp_path: Path) -> None:
    """A mail replaced before it went, or sent and filed, leaves the queue: nothing grows with
    history."""
    queue = OutboxQueue(tmp_path)
    queue.load()
    late, sent = _mail(1), _mail(2)
    queue.record([late, sent])
    queue.move([late], OutboxEvent.SUPERSEDED)
    queue.move([sent], OutboxEvent.SEND)
    queue.move([sent], OutboxEvent.ACCEPTED)
    queue.forget([sent])
    assert [p for p in (tmp_path / "outbox").rglob("*") if p.is_file()] == []
    assert OutboxQueue(tmp_path).load() == {}


def test_queue_files_are_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    """They hold customers' addresses and our mail to them: 0700 folders, 0600 files."""
    before = os.umask(0)
    try:
        queue = OutboxQueue(tmp_path)
        queue.load()
        queue.record([_mail(1)])
    finally:
        os.umask(before)
    (path,) = (tmp_path / "outbox" / "pending").glob("*.json")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_a_dry_run_writes_nothing(tmp_path: Path) -> None:
    """``run --dry-run``: states move in memory, the disk is untouched."""
    queue = OutboxQueue(tmp_path, dry_run=True)
    queue.load()
    mail = _mail(1)
    queue.record([mail])
    queue.move([mail], OutboxEvent.SEND)
    assert mail.state is OutboxState.SENDING
    assert not (tmp_path / "outbox").exists()
