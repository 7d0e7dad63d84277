"""The TinyDB store: atomic commits, one owner, a corrupt file left untouched."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from inbox_agent.adapters.store import DB_FILE, Store
from inbox_agent.core.conversations import (
    Conversation,
    FiledMessage,
    MailKind,
    Promise,
    Role,
    SentMail,
)
from inbox_agent.core.ledger import Checkpoint, OutboxEntry
from inbox_agent.core.lifecycle import Status
from inbox_agent.errors import StoreCorruptError, StoreLockedError

NOW = datetime(2026, 11, 16, 10, 0, tzinfo=UTC)


def _conversation() -> Conversation:
    return Conversation(
        id="K7Q2",
        mailbox="support",
        customer="ana@customer.example",
        customer_name="Ana",
        subject="Invoice",
        created_at=NOW,
        status=Status.WAITING,
        customer_utc_offset_minutes=60,
        messages=[
            FiledMessage(
                "<m1@x>", "<m1@x>", Role.CUSTOMER, NOW, "ana@customer.example", "Invoice", "INBOX"
            )
        ],
        promises=[Promise(made_at=NOW, due=NOW.replace(hour=17), reason="first reply")],
        sent=[SentMail("<a@x>", MailKind.ACKNOWLEDGEMENT, "ana@customer.example", NOW)],
    )


def _outbox_entry(message_id: str = "<a@x>") -> OutboxEntry:
    return OutboxEntry(
        message_id,
        "K7Q2",
        "support",
        MailKind.ACKNOWLEDGEMENT,
        "ana@customer.example",
        b"raw \xe9 bytes",
        NOW,
    )


def test_a_commit_survives_a_reopen(tmp_path: Path) -> None:
    """Everything committed is there, equal, after closing and opening again."""
    with Store(tmp_path) as store:
        store.ledger.conversations["K7Q2"] = _conversation()
        store.ledger.checkpoints["support/INBOX"] = Checkpoint(uidvalidity=7, last_uid=42)
        store.ledger.outbox["<a@x>"] = _outbox_entry()
        store.commit()
    with Store(tmp_path) as store:
        assert store.ledger.conversations["K7Q2"] == _conversation()
        assert store.ledger.checkpoints["support/INBOX"] == Checkpoint(7, 42)
        assert store.ledger.outbox["<a@x>"].raw == b"raw \xe9 bytes"


def test_a_mail_no_conversation_lists_is_dropped_at_the_next_start(tmp_path: Path) -> None:
    """The queue file is written before the database that lists the mail: a crash between
    the two leaves a pending mail nobody asked for (the message that made it is filed again,
    and asks again). It is dropped, never sent."""
    with Store(tmp_path) as store:
        store.ledger.conversations["K7Q2"] = _conversation()
        store.ledger.outbox["<a@x>"] = _outbox_entry()
        store.commit()
        store.outbox.record([_outbox_entry("<orphan@x>")])  # the crash came before the rest
    with Store(tmp_path) as store:
        assert list(store.ledger.outbox) == ["<a@x>"]
    assert len(list((tmp_path / "outbox" / "pending").glob("*.json"))) == 1


def test_an_outbox_kept_in_the_database_by_an_older_version_moves_to_the_queue(
    tmp_path: Path,
) -> None:
    """A data_dir of an older version has its outbox in the database: what it still owes
    moves to the queue folder at the first start; what was done stays done."""
    with Store(tmp_path) as store:
        store.ledger.conversations["K7Q2"] = _conversation()
        store.commit()
    data = json.loads((tmp_path / DB_FILE).read_text())
    owed = {
        "message_id": "<a@x>",
        "conversation_id": "K7Q2",
        "mailbox": "support",
        "kind": "acknowledgement",
        "to": "ana@customer.example",
        "raw": "cmF3",
        "created_at": NOW.isoformat(),
        "state": "pending",
        "attempts": 0,
        "sent_at": None,
        "last_error": "",
    }
    done = {**owed, "message_id": "<old@x>", "state": "sent", "sent_at": NOW.isoformat()}
    data["outbox"] = {"1": owed, "2": done}
    (tmp_path / DB_FILE).write_text(json.dumps(data))
    with Store(tmp_path) as store:
        assert list(store.ledger.outbox) == ["<a@x>"]
        store.commit()  # the database no longer holds an outbox
    assert json.loads((tmp_path / DB_FILE).read_text())["outbox"] == {}
    with Store(tmp_path) as store:
        assert store.ledger.outbox["<a@x>"].raw == b"raw"


def test_uncommitted_changes_are_not_written(tmp_path: Path) -> None:
    """Nothing reaches the disk until commit(): one write per commit."""
    with Store(tmp_path) as store:
        store.ledger.conversations["K7Q2"] = _conversation()
    with Store(tmp_path) as store:
        assert store.ledger.conversations == {}


def test_commit_replaces_the_file_and_leaves_no_temp_file(tmp_path: Path) -> None:
    """The file is replaced whole (a new inode), the one before kept as .bak, no .tmp left."""
    with Store(tmp_path) as store:
        store.commit()
        first = (tmp_path / DB_FILE).stat().st_ino
        store.ledger.conversations["K7Q2"] = _conversation()
        store.commit()
        assert (tmp_path / DB_FILE).stat().st_ino != first
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        DB_FILE,
        DB_FILE + ".bak",
        "inbox-agent.lock",
    ]
    assert (tmp_path / (DB_FILE + ".bak")).stat().st_ino == first
    assert json.loads((tmp_path / DB_FILE).read_text())["conversations"]


def test_a_second_owner_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    """Another process holding the data_dir stops this one, naming its pid."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys,time; from pathlib import Path; from inbox_agent.adapters.store import "
            "Store; s = Store(Path(sys.argv[1])).open(); print('ready', flush=True); "
            "time.sleep(30)",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(StoreLockedError, match=f"pid {holder.pid}"):
            Store(tmp_path).open()
    finally:
        holder.kill()
        holder.wait()
    Store(tmp_path).open().close()  # free again once the owner is gone


@pytest.mark.parametrize("content", ["", '{"conversations": {"1": {"id": "K7', "[]"])
def test_a_corrupt_file_is_refused_and_left_untouched(tmp_path: Path, content: str) -> None:
    """An unreadable database stops the agent with a clear message; the bytes stay as they are."""
    path = tmp_path / DB_FILE
    path.write_text(content)
    with pytest.raises(StoreCorruptError, match="left as it is"):
        Store(tmp_path).open()
    assert path.read_text() == content


def test_read_only_readers_need_no_lock(tmp_path: Path) -> None:
    """threads/thread read the committed file beside a running owner."""
    with Store(tmp_path) as owner:
        owner.ledger.conversations["K7Q2"] = _conversation()
        owner.commit()
        reader = Store(tmp_path, read_only=True).open()
        assert list(reader.ledger.conversations) == ["K7Q2"]


def test_the_previous_commit_is_kept_and_restores_a_truncated_file(tmp_path: Path) -> None:
    """Each commit keeps the one before as ``.bak``; after a truncation (a full disk, a bad
    copy) the agent refuses to start, leaves both files, and the backup opens."""
    with Store(tmp_path) as store:
        store.ledger.conversations["K7Q2"] = _conversation()
        store.commit()
        store.ledger.conversations["K7Q2"].subject = "second commit"
        store.commit()
    path = tmp_path / DB_FILE
    backup = tmp_path / (DB_FILE + ".bak")
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 2])
    truncated = path.read_bytes()
    with pytest.raises(StoreCorruptError, match=r"previous commit is in inbox-agent\.json\.bak"):
        Store(tmp_path).open()
    assert path.read_bytes() == truncated  # untouched
    backup.replace(path)
    with Store(tmp_path) as restored:
        assert restored.ledger.conversations["K7Q2"].subject != "second commit"  # one behind


def test_a_commit_with_nothing_changed_writes_nothing(tmp_path: Path) -> None:
    """The working set is written only when it changed: a quiet cycle's commit leaves the
    file (and its backup) as they were, no write, no fsync."""
    with Store(tmp_path) as store:
        store.ledger.conversations["K7Q2"] = _conversation()
        store.commit()
        before = (tmp_path / DB_FILE).stat()
        store.commit()
        store.commit()
        after = (tmp_path / DB_FILE).stat()
        assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
        store.ledger.conversations["K7Q2"].subject = "changed"
        store.commit()
        assert (tmp_path / DB_FILE).stat().st_ino != before.st_ino
