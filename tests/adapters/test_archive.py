"""The archive's files: month files, the compact index, crashes and damage."""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from inbox_agent.adapters.archive import Archive
from inbox_agent.adapters.archive_index import LOG_FILE, ArchiveIndex, entry_hash
from inbox_agent.adapters.store import Store
from inbox_agent.agent.archiving import TokensTaken
from inbox_agent.core.archive import KEY, NAMED, TOKEN
from inbox_agent.core.conversations import Conversation, FiledMessage, Role, new_token
from inbox_agent.core.ledger import SkippedMessage
from inbox_agent.core.lifecycle import Status
from inbox_agent.errors import StoreCorruptError, StoreError

DEC = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


def conversation(token: str, n: int = 0, status: Status = Status.ANSWERED) -> Conversation:
    c = Conversation(
        id=token,
        mailbox="support",
        customer=f"c{n}@customer.example",
        customer_name=f"C {n}",
        subject=f"Question {n}",
        created_at=DEC,
        status=status,
    )
    c.messages.append(
        FiledMessage(
            f"<m{n}@client.example>",
            f"<m{n}@client.example>",
            Role.CUSTOMER,
            DEC,
            c.customer,
            c.subject,
            "INBOX",
            names=(f"<parent{n}@client.example>",),
        )
    )
    return c


def skipped(n: int) -> SkippedMessage:
    return SkippedMessage(
        f"<bounce{n}@mx.example>",
        "support",
        FiledMessage(
            f"<bounce{n}@mx.example>",
            f"<bounce{n}@mx.example>",
            Role.MACHINE,
            DEC,
            "mailer-daemon@mx.example",
            "Undelivered",
            "INBOX",
            "bounce",
        ),
    )


def test_put_then_find_by_token_key_and_named_id(tmp_path: Path) -> None:
    archive = Archive(tmp_path).open()
    archive.put([conversation("K7Q2", 1)], [skipped(1)], DEC)
    again = Archive(tmp_path).open()  # from disk
    assert again.tokens(KEY + "<m1@client.example>") == ["K7Q2"]
    assert again.tokens(NAMED + "<parent1@client.example>") == ["K7Q2"]
    assert again.holds(TOKEN + "K7Q2")
    assert again.holds(KEY + "<bounce1@mx.example>")  # known, but in no conversation
    assert again.tokens(KEY + "<bounce1@mx.example>") == []
    assert not again.holds(KEY + "<m2@client.example>")
    found = again.conversation("K7Q2")
    assert found is not None
    assert found.subject == "Question 1"
    assert [s.key for s in again.all_skipped()] == ["<bounce1@mx.example>"]
    assert (tmp_path / "archive" / "2026-12.json").is_file()


def test_archived_twice_the_newest_copy_wins(tmp_path: Path) -> None:
    archive = Archive(tmp_path).open()
    archive.put([conversation("K7Q2", 1)], [], DEC)
    later = conversation("K7Q2", 1, Status.CLOSED)
    archive.put([later], [], DEC + timedelta(days=40))  # brought back, then archived again
    again = Archive(tmp_path).open()
    found = again.conversation("K7Q2")
    assert found is not None
    assert found.status is Status.CLOSED
    assert [c.status for c in again.all_conversations()] == [Status.CLOSED]
    assert again.months() == [2026 * 12 + 11, 2027 * 12]


def test_the_same_conversation_put_twice_in_a_month_is_kept_once(tmp_path: Path) -> None:
    """A crash between the archive write and the live commit archives it again."""
    archive = Archive(tmp_path).open()
    archive.put([conversation("K7Q2", 1)], [skipped(1)], DEC)
    archive.put([conversation("K7Q2", 1)], [skipped(1)], DEC)
    tables = json.loads((tmp_path / "archive" / "2026-12.json").read_text())
    assert len(tables["conversations"]) == 1
    assert len(tables["skipped"]) == 1
    assert Archive(tmp_path).open().tokens(KEY + "<m1@client.example>") == ["K7Q2"]


def test_files_are_private_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        Archive(tmp_path).open().put([conversation("K7Q2", 1)], [], DEC)
    finally:
        os.umask(old)
    folder = tmp_path / "archive"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for path in folder.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name


def test_the_index_compacts_into_a_sorted_base_and_still_finds_everything(tmp_path: Path) -> None:
    folder = tmp_path / "archive"
    folder.mkdir()
    index = ArchiveIndex(folder)
    index.add((f"k:<{n}@x>", f"T{n % 7}", 100 + n % 3) for n in range(2_000))
    index.compact()
    index.add([("k:<late@x>", "LATE", 200)])  # in the log, after the base
    assert (folder / LOG_FILE).stat().st_size > 0
    loaded = ArchiveIndex(folder).load()
    assert len(loaded) == 2_001
    for n in (0, 999, 1_999):
        assert loaded.find(f"k:<{n}@x>") == [(f"T{n % 7}", 100 + n % 3)]
    assert loaded.find("k:<late@x>") == [("LATE", 200)]
    assert loaded.find("k:<missing@x>") == []


def test_a_record_cut_short_by_a_crash_is_ignored_and_cut_off(tmp_path: Path) -> None:
    folder = tmp_path / "archive"
    folder.mkdir()
    ArchiveIndex(folder).add([("k:<a@x>", "AAAA", 1)])
    with (folder / LOG_FILE).open("ab") as log:
        log.write(b"\x01\x02\x03")  # the start of a record, then the crash
    index = ArchiveIndex(folder).load()
    assert index.find("k:<a@x>") == [("AAAA", 1)]
    index.add([("k:<b@x>", "BBBB", 1)])  # appended after the cut, aligned
    assert ArchiveIndex(folder).load().find("k:<b@x>") == [("BBBB", 1)]


def test_an_index_that_cannot_be_read_is_built_again_from_the_month_files(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    Archive(tmp_path).open().put([conversation("K7Q2", 1)], [skipped(1)], DEC)
    Archive(tmp_path).open().index.compact()
    (tmp_path / "archive" / "index.bin").write_bytes(b"garbage")
    with pytest.raises(StoreError, match="index cannot be read"):
        Archive(tmp_path, read_only=True).open()  # threads: one line, nothing written
    rebuilt = Archive(tmp_path).open()
    assert "building it again" in caplog.text
    assert rebuilt.tokens(KEY + "<m1@client.example>") == ["K7Q2"]
    assert rebuilt.holds(KEY + "<bounce1@mx.example>")


def test_a_new_conversation_never_takes_an_archived_token(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        seed = "<first@client.example>"
        taken_by_archive = new_token(seed, set())
        store.archive.put([conversation(taken_by_archive, 1)], [], DEC)
        assert new_token(seed, TokensTaken(store)) != taken_by_archive


def test_bring_back_moves_it_into_the_live_store(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        store.ledger.conversations["K7Q2"] = conversation("K7Q2", 1)
        store.commit()
        store.move_to_archive([store.ledger.conversations["K7Q2"]], [], DEC)
        store.commit()
        assert store.ledger.conversations == {}
    with Store(tmp_path) as store:
        assert store.ledger.conversations == {}
        back = store.bring_back("K7Q2", DEC + timedelta(days=1))
        assert back is not None
        assert store.ledger.conversations["K7Q2"] is back
        assert back.notes[-1].text == "brought back from the archive"
        assert store.bring_back("ZZZZ", DEC) is None
        store.commit()
    with Store(tmp_path, read_only=True) as store:
        assert "K7Q2" in store.ledger.conversations


def test_hashes_spread_over_64_bits() -> None:
    values = {entry_hash(f"k:<{n}@x>") for n in range(10_000)}
    assert len(values) == 10_000
    assert max(values) > 2**63 > min(values)


def test_compacting_again_merges_the_log_into_the_sorted_base(tmp_path: Path) -> None:
    folder = tmp_path / "archive"
    folder.mkdir()
    index = ArchiveIndex(folder)
    index.add((f"k:<{n}@x>", f"A{n % 5}", 1) for n in range(0, 3_000, 2))
    index.compact()
    index.add((f"k:<{n}@x>", f"B{n % 5}", 2) for n in range(1, 3_000, 2))
    index.compact()
    loaded = ArchiveIndex(folder).load()
    assert len(loaded) == 3_000
    assert list(loaded._hashes) == sorted(loaded._hashes)
    for n in range(3_000):
        token = f"A{n % 5}" if n % 2 == 0 else f"B{n % 5}"
        assert loaded.find(f"k:<{n}@x>") == [(token, 1 + n % 2)]


def test_one_conversation_is_read_without_parsing_its_month(tmp_path: Path) -> None:
    """The document is found by its start; a subject that quotes that start cannot fool it
    (a quote inside a JSON string is escaped)."""
    decoy = conversation("AAAA", 1)
    decoy.subject = '{"id":"K7Q2","mailbox":"x"}'
    Archive(tmp_path).open().put([decoy, conversation("K7Q2", 2)], [], DEC)
    found = Archive(tmp_path).open().conversation("K7Q2")
    assert found is not None
    assert found.subject == "Question 2"


def test_a_damaged_archived_conversation_is_one_line(tmp_path: Path) -> None:
    Archive(tmp_path).open().put([conversation("K7Q2", 1)], [], DEC)
    month = tmp_path / "archive" / "2026-12.json"
    month.write_text(month.read_text().replace('"status":"answered"', '"status":"lost"'))
    with pytest.raises(StoreCorruptError, match=r"2026-12\.json: conversation K7Q2\.status"):
        Archive(tmp_path).open().conversation("K7Q2")
