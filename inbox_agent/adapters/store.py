"""The database: TinyDB in one JSON file, written atomically, owned by one process.

Measured (DESIGN.md): TinyDB rewrites the whole file on every write, in place, and two writers
corrupt it. So here:

- ``AtomicJSONStorage`` (``tinyfile``) writes a temp file, fsyncs it and ``os.replace``s it
  over the old one: a crash leaves either the old file or the new one, never half of each. The
  old one is kept as ``inbox-agent.json.bak`` (a hard link); a file that cannot be read is never
  overwritten.
- ``CommitOnFlush`` holds writes in memory until ``commit()``: one write per commit, however
  many messages a cycle filed.
- ``flock`` on the data_dir itself makes sure only one daemon owns it: deleting a file cannot
  free it (a lock on ``inbox-agent.lock`` alone was lost when the file was deleted and a second
  daemon made a new one). Read-only commands (``threads``, ``thread``) read the last committed
  file without the lock.
- Only the event loop touches the store; IMAP work happens in worker threads that return data.
- It holds customers' mail: the data_dir and every folder in it are 0700, every file 0600,
  whatever the umask; a data_dir found open to others is closed (with a warning).
- A damaged file (not UTF-8, not JSON, the wrong shape, a key missing, a value of the wrong
  type) is found at load by a schema check and reported in one line naming it and its backup.
  A write the disk refuses (full, read-only, no access) is a ``StoreWriteError`` in one line;
  the old file stays whole and the ledger goes back to it on ``rollback()``.

The in-memory model is the source of truth during a cycle; ``commit()`` writes it whole, and
``rollback()`` drops what a failed cycle changed. Mail that could not be read is kept byte for
byte in ``unparsed/``; staff commands for a running daemon wait in ``requests/``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from tinydb import TinyDB

from inbox_agent.adapters.archive import ARCHIVE_DIR, Archive
from inbox_agent.adapters.files import (
    FILE_MODE,
    private_dir,
    why,
    write_failed,
    write_whole,
)
from inbox_agent.adapters.outbox import KEPT_STATES, OutboxQueue
from inbox_agent.adapters.records import (
    SCHEMA_VERSION,
    at,
    conversation_from_doc,
    conversation_to_doc,
    iso,
    outbox_from_doc,
    skipped_from_doc,
    skipped_to_doc,
    when,
)
from inbox_agent.adapters.tinyfile import CYCLE_WRITE, AtomicJSONStorage, CommitOnFlush
from inbox_agent.core.conversations import Conversation
from inbox_agent.core.ledger import (
    Checkpoint,
    Ledger,
    OutboxEntry,
    OutboxState,
    SkippedMessage,
    Undeliverable,
)
from inbox_agent.errors import (
    StoreError,
    StoreLockedError,
    StoreWriteError,
)

log = logging.getLogger("inbox_agent")

DB_FILE = "inbox-agent.json"
LOCK_FILE = "inbox-agent.lock"
REQUESTS_DIR = "requests"  # staff commands waiting for the running daemon
MAX_BY = 80  # characters of who asked, as a request file holds it
RAW_DIR = "unparsed"  # the bytes of mail that could not be read, kept for a person


@dataclass(frozen=True)
class StaffRequest:
    """A staff command (close, reopen, snooze) for the process that owns the store."""

    command: str
    conversation_id: str
    until: datetime | None = None
    path: Path | None = None  # where it waits on disk, once queued
    by: str = ""  # who asked: a staff page login, or the user who ran the command


def queue_request(data_dir: Path, request: StaffRequest) -> Path:
    """Leave ``request`` for the running daemon (written atomically, applied in order)."""
    folder = data_dir / REQUESTS_DIR
    outcome = ("the request was not queued", "then run the command again")
    private_dir(folder, outcome)
    path = folder / f"{time.time_ns():020d}-{os.getpid()}.json"
    payload = {
        "command": request.command,
        "conversation_id": request.conversation_id,
        "until": iso(request.until),
        "by": request.by,
    }
    write_whole(path, json.dumps(payload).encode("utf-8"), outcome)
    return path


class Store:
    """The agent's database in ``data_dir``: open it, change the ledger, commit."""

    def __init__(self, data_dir: Path, *, read_only: bool = False, dry_run: bool = False) -> None:
        self.data_dir = data_dir
        self.read_only = read_only
        # run --dry-run: read what is there, as read-only commands do (no lock, which would
        # write its pid file), and never write: not even the data_dir is made.
        self.dry_run = dry_run
        self._lock: _Lock | None = None
        self._db: TinyDB | None = None
        self._writes: CommitOnFlush | None = None
        self.ledger = Ledger()
        self.outbox = OutboxQueue(data_dir, dry_run=dry_run or read_only)
        self.archive = Archive(data_dir, read_only=dry_run or read_only)

    def open(self) -> Store:
        """Take the lock (unless read-only or a dry run) and load the ledger."""
        if not (self.read_only or self.dry_run):
            _own_data_dir(self.data_dir)
            self._lock = _take_lock(self.data_dir)
        path = self.data_dir / DB_FILE
        if (self.read_only or self.dry_run) and not path.exists():
            return self
        self.archive.open()
        self._writes = CommitOnFlush(AtomicJSONStorage)  # type: ignore[no-untyped-call]
        try:
            self._db = TinyDB(str(path), storage=self._writes)
            self.ledger = self._with_outbox(_load(self._db))
        except BaseException:
            self.close()
            raise
        return self

    def _with_outbox(self, ledger: Ledger) -> Ledger:
        """The ledger with the outbox as its queue folder holds it. Mail older versions kept
        in the database moves to the queue; mail recorded by a commit that never completed
        (no conversation lists it) is dropped, since what made it will be done again."""
        legacy = {i: e for i, e in ledger.outbox.items() if _still_owed(e)}
        ledger.outbox = self.outbox.load()
        moving = [e for i, e in legacy.items() if i not in ledger.outbox]
        self.outbox.record(moving)
        ledger.outbox.update({e.message_id: e for e in moving})
        listed = {s.message_id for c in ledger.conversations.values() for s in c.sent}
        orphans = [
            e
            for e in ledger.outbox.values()
            if e.state is OutboxState.PENDING and e.message_id not in listed
        ]
        self.outbox.forget(orphans)
        for entry in orphans:
            del ledger.outbox[entry.message_id]
        return ledger

    def bring_back(self, token: str, now: datetime) -> Conversation | None:
        """Conversation ``token``, from the live store, or else out of the archive and back
        into the live store (committed with the cycle); None when neither has it."""
        live = self.ledger.conversations.get(token)
        if live is not None:
            return live
        conversation = self.archive.conversation(token)
        if conversation is not None:
            conversation.note(now, "brought back from the archive")
            self.ledger.conversations[token] = conversation
        return conversation

    def move_to_archive(
        self, conversations: list[Conversation], skipped: list[SkippedMessage], now: datetime
    ) -> None:
        """Write ``conversations`` and ``skipped`` to the archive, then drop them from the
        live ledger (the next commit writes it without them)."""
        self.archive.put(conversations, skipped, now)
        if self.dry_run:
            return
        for conversation in conversations:
            del self.ledger.conversations[conversation.id]
        gone = {s.key for s in skipped}
        self.ledger.skipped = [s for s in self.ledger.skipped if s.key not in gone]

    def finish(self, entries: list[OutboxEntry]) -> None:
        """Mail that is done (sent and its copy filed, or superseded) leaves the outbox: the
        conversation keeps its record, the Sent folder its copy."""
        self.outbox.forget(entries)
        for entry in entries:
            self.ledger.outbox.pop(entry.message_id, None)

    def close(self) -> None:
        """Release the lock. Uncommitted changes are dropped on purpose."""
        self._db = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def commit(self) -> None:
        """Write the whole ledger in one atomic file replace."""
        if self.dry_run:
            return
        if self.read_only or self._db is None or self._writes is None:
            raise RuntimeError("commit on a store that is not open for writing")
        new = [
            e
            for e in self.ledger.outbox.values()
            if not self.outbox.holds(e.message_id) and e.state in KEPT_STATES
        ]
        try:
            self.outbox.record(new)  # first: the database written next refers to them
            _dump(self._db, self.ledger)
            self._writes.flush()  # type: ignore[no-untyped-call]
        except BaseException:
            self.outbox.forget(new)  # the database that would list them was not written
            self._forget_unwritten()
            raise

    def _forget_unwritten(self) -> None:
        """After a failed write TinyDB's cache holds what never reached the disk: drop it, so
        that ``rollback()`` reads the last commit back from the file, not the failed one."""
        assert self._writes is not None  # commit() checked
        self._writes.cache = None
        self._writes._cache_modified_count = 0  # TinyDB has no public reset

    def keep_raw(self, sha256: str, raw: bytes) -> str | None:
        """Keep a broken message's bytes as ``unparsed/<sha256>.eml``; the name, or None in a
        dry run. Written atomically; the same bytes twice are one file."""
        if self.dry_run or self.read_only:
            return None
        folder = self.data_dir / RAW_DIR
        private_dir(folder, CYCLE_WRITE)
        path = folder / f"{sha256}.eml"
        if not path.exists():
            write_whole(path, raw, CYCLE_WRITE)
        return f"{RAW_DIR}/{path.name}"

    def rollback(self) -> None:
        """Drop uncommitted changes: the ledger becomes the last commit again."""
        if self._db is not None:
            self.ledger = _load(self._db)
            self.ledger.outbox = self.outbox.load()

    @contextlib.contextmanager
    def rolled_back_on_error(self) -> Iterator[None]:
        """Whatever raises inside leaves the ledger as the last commit: the memory never runs
        ahead of the disk (a message half-filed would count as filed, never read again)."""
        try:
            yield
        except BaseException:
            self.rollback()
            raise

    def pending_requests(self) -> list[StaffRequest]:
        """Staff requests queued by other processes, oldest first (none in a dry run)."""
        folder = self.data_dir / REQUESTS_DIR
        if self.dry_run or not folder.is_dir():
            return []
        return [r for path in sorted(folder.glob("*.json")) if (r := _read_request(path))]

    def forget_requests(self, requests: list[StaffRequest]) -> None:
        """Remove requests once their effect is committed."""
        for request in requests:
            if request.path is None:
                continue
            try:
                request.path.unlink(missing_ok=True)
            except OSError as exc:  # one line, not a traceback; removed at the next cycle
                raise StoreWriteError(
                    write_failed(request.path, exc, ("its effect is saved", "the agent retries"))
                ) from exc

    def __enter__(self) -> Store:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()


def _still_owed(entry: OutboxEntry) -> bool:
    """Whether an outbox entry of an older version's database still has work to do."""
    if entry.state is OutboxState.SENT:
        return entry.copy_pending
    return entry.state in KEPT_STATES


def _read_request(path: Path) -> StaffRequest | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return StaffRequest(
            str(data["command"]),
            str(data["conversation_id"]),
            when(data.get("until")),
            path,
            str(data.get("by") or "")[:MAX_BY],  # absent: queued by an older version
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning(
            "staff request %s could not be read (%s); it is not applied and is kept "
            "as %s: run the command again as the user the agent runs as",
            path,
            why(exc) if isinstance(exc, OSError) else exc,
            path.with_suffix(".unreadable").name,
        )
        with contextlib.suppress(OSError):  # a read-only disk: looked at again next cycle
            path.rename(path.with_suffix(".unreadable"))  # kept for a person, never retried
        return None


class _Lock:
    """This process's hold on a data_dir: ``flock`` on the folder itself, which deleting a file
    cannot undo. The lock file only names the owner's pid for the message a second process
    prints; it is flocked too, because versions before this one lock only that file."""

    def __init__(self, folder: int, pid_file: int | None) -> None:
        self.folder = folder
        self.pid_file = pid_file

    def release(self) -> None:
        """Closing the descriptors releases both locks."""
        for fd in (self.pid_file, self.folder):
            if fd is not None:
                os.close(fd)


def _take_lock(data_dir: Path) -> _Lock:
    try:
        folder = os.open(data_dir, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise StoreError(
            f"{data_dir}: cannot be opened ({why(exc)}); let the agent's user read and write it"
        ) from exc
    try:
        _lock_or_refuse(folder, data_dir)
        return _Lock(folder, _claim_pid_file(data_dir))
    except BaseException:
        os.close(folder)
        raise


def _lock_or_refuse(fd: int, data_dir: Path) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise StoreLockedError(_in_use(data_dir)) from None
    except OSError as exc:  # ENOLCK, or EBADF where NFS emulates flock with fcntl locks
        raise StoreError(
            f"{data_dir}: cannot be locked ({why(exc)}); put data_dir on a local disk"
        ) from exc


def _claim_pid_file(data_dir: Path) -> int | None:
    """The lock file, flocked, with this process's pid in it; None where the disk refuses it
    (read-only): the folder's lock is the one that counts, the pid is only for the message."""
    try:
        fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, FILE_MODE)
    except OSError:
        return None
    try:
        _lock_or_refuse(fd, data_dir)
    except StoreLockedError:
        os.close(fd)
        raise
    # fchmod: O_CREAT's mode is masked by the umask, and a file that existed keeps its mode.
    with contextlib.suppress(OSError):  # a full disk: a second process says "pid unknown"
        os.fchmod(fd, FILE_MODE)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode("ascii"), 0)
    return fd


def _in_use(data_dir: Path) -> str:
    try:
        owner = (data_dir / LOCK_FILE).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        owner = ""
    who = f"pid {owner}" if owner.isdigit() else "pid unknown"
    return (
        f"{data_dir}: in use by inbox-agent ({who}); stop it first, or give this one "
        "another data_dir"
    )


def _own_data_dir(data_dir: Path) -> None:
    """The data_dir, made owner-only if new, closed to others if found open."""
    private_dir(data_dir, ("nothing was done", "then try again"))
    _close_to_others(data_dir)


def _close_to_others(data_dir: Path) -> None:
    """A data_dir that others may enter (older versions made it 0755, their files 0644) loses
    its group and other bits, and so do the store's own files in it; nothing is widened. The
    agent goes on where it may not change them (not the owner): a warning says what to do."""
    mode = stat.S_IMODE(data_dir.stat().st_mode)
    if not mode & 0o077:
        return
    own = [
        data_dir / name
        for name in (DB_FILE, DB_FILE + ".bak", LOCK_FILE, RAW_DIR, REQUESTS_DIR, ARCHIVE_DIR)
    ]
    try:
        for path in (data_dir, *(p for p in own if p.exists())):
            os.chmod(path, stat.S_IMODE(path.stat().st_mode) & ~0o077)
    except OSError as exc:
        log.warning(
            "%s can be read by other users (mode %o) and this process cannot change "
            "that (%s); it holds customers' mail: chmod 700 it",
            data_dir,
            mode,
            why(exc),
        )
        return
    log.warning(
        "%s could be read by other users (mode %o); it holds customers' mail, so it is now %o",
        data_dir,
        mode,
        mode & ~0o077,
    )


def _load(db: TinyDB) -> Ledger:
    ledger = Ledger()
    for doc in db.table("conversations").all():
        conversation = conversation_from_doc(doc)
        ledger.conversations[conversation.id] = conversation
    ledger.skipped = [skipped_from_doc(d) for d in db.table("skipped").all()]
    for doc in db.table("outbox").all():
        entry = outbox_from_doc(doc)
        ledger.outbox[entry.message_id] = entry
    for doc in db.table("checkpoints").all():
        ledger.checkpoints[doc["folder_key"]] = Checkpoint(doc["uidvalidity"], doc["last_uid"])
    for doc in db.table("undeliverable").all():
        ledger.undeliverable[doc["address"]] = Undeliverable(
            doc["address"], at(doc["since"]), doc["conversation_id"], doc["reason"]
        )
    return ledger


def _dump(db: TinyDB, ledger: Ledger) -> None:
    tables = {
        "meta": [{"schema": SCHEMA_VERSION}],
        "conversations": [conversation_to_doc(c) for c in ledger.conversations.values()],
        "skipped": [skipped_to_doc(s) for s in ledger.skipped],
        "outbox": [],  # the queue folder holds it now (adapters/outbox.py)
        "checkpoints": [
            {"folder_key": key, "uidvalidity": c.uidvalidity, "last_uid": c.last_uid}
            for key, c in ledger.checkpoints.items()
        ],
        "undeliverable": [
            {
                "address": u.address,
                "since": iso(u.since),
                "conversation_id": u.conversation_id,
                "reason": u.reason,
            }
            for u in ledger.undeliverable.values()
        ],
    }
    for name, docs in tables.items():
        table = db.table(name)
        table.truncate()
        table.insert_multiple(docs)
