"""The database: TinyDB in one JSON file, written atomically, owned by one process.

Measured (DESIGN.md): TinyDB rewrites the whole file on every write, in place, and two writers
corrupt it. So here:

- ``AtomicJSONStorage`` writes a temp file, fsyncs it and ``os.replace``s it over the old one: a
  crash leaves either the old file or the new one, never half of each. The old one is kept as
  ``inbox-agent.json.bak`` (a hard link), and a file that cannot be read is never overwritten.
- ``CommitOnFlush`` holds writes in memory until ``commit()``: one write per commit, however
  many messages a cycle filed.
- A lock file (``flock``) makes sure only one daemon owns a data_dir. Read-only commands
  (``threads``, ``thread``) read the last committed file without the lock.
- Only the event loop touches the store; IMAP work happens in worker threads that return data.

The in-memory model is the source of truth during a cycle; ``commit()`` writes it whole, and
``rollback()`` drops what a failed cycle changed. Mail that could not be read is kept byte for
byte in ``unparsed/``; staff commands for a running daemon wait in ``requests/``.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from tinydb import TinyDB
from tinydb.middlewares import CachingMiddleware
from tinydb.storages import Storage

from inbox_agent.core.breakers import Sent
from inbox_agent.core.conversations import (
    Conversation,
    FiledMessage,
    Note,
    Outcome,
    Promise,
    Role,
    SentMail,
)
from inbox_agent.core.lifecycle import Status
from inbox_agent.core.promises import ESCALATION
from inbox_agent.errors import StoreCorruptError, StoreLockedError

DB_FILE = "inbox-agent.json"
LOCK_FILE = "inbox-agent.lock"
REQUESTS_DIR = "requests"  # staff commands waiting for the running daemon
RAW_DIR = "unparsed"  # the bytes of mail that could not be read, kept for a person
SCHEMA_VERSION = 1


class AtomicJSONStorage(Storage):
    """TinyDB storage that replaces the file atomically and never overwrites what it can't read."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)

    def read(self) -> dict[str, Any] | None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        if not text.strip():
            raise StoreCorruptError(_corrupt_message(self.path, "the file is empty"))
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise StoreCorruptError(_corrupt_message(self.path, f"not valid JSON ({exc})")) from exc
        if not isinstance(data, dict):
            raise StoreCorruptError(_corrupt_message(self.path, "not a TinyDB file"))
        return data

    def write(self, data: dict[str, Any]) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        with tmp.open("w", encoding="utf-8") as handle:
            # dumps, not dump: dump streams through the pure-Python encoder, dumps uses the C
            # one; measured 5-10x faster on a 1,000-conversation file (bench/store_commit.py).
            handle.write(json.dumps(data, ensure_ascii=False, separators=(",", ":")))
            handle.flush()
            os.fsync(handle.fileno())
        self._keep_last_good()
        os.replace(tmp, self.path)
        _fsync_dir(self.path.parent)

    def _keep_last_good(self) -> None:
        """The file being replaced becomes ``.bak``: a hard link, then a rename, so that at
        every instant both names hold a whole database (no copy of the bytes is made)."""
        if not self.path.exists():
            return
        backup = self.path.with_name(self.path.name + ".bak")
        link = self.path.with_name(self.path.name + ".bak.tmp")
        link.unlink(missing_ok=True)
        try:
            os.link(self.path, link)
        except OSError:  # a filesystem without hard links: no backup rather than no commit
            return
        os.replace(link, backup)

    def close(self) -> None:
        """Nothing stays open between writes."""


class CommitOnFlush(CachingMiddleware):
    """Keep every write in memory until ``flush()``: one file write per commit."""

    WRITE_CACHE_SIZE = 2**62


@dataclass
class Checkpoint:
    """How far a folder has been read: the UIDVALIDITY and the last UID filed."""

    uidvalidity: int
    last_uid: int


@dataclass
class OutboxEntry:
    """A mail the agent has decided to send, recorded before it is sent."""

    message_id: str
    conversation_id: str
    mailbox: str
    kind: str
    to: str
    raw: bytes
    created_at: datetime
    state: str = "pending"  # pending -> sending -> sent | failed; or superseded (restated)
    attempts: int = 0
    sent_at: datetime | None = None
    last_error: str = ""
    next_attempt_at: datetime | None = None  # after a temporary failure: not before this
    copy_pending: bool = False  # sent, but its copy is not in the Sent folder yet
    deliver_by: datetime | None = None  # later than this, its promise is restated first


@dataclass
class SkippedMessage:
    """Mail filed outside any conversation (machine mail, stray staff mail), with the reason."""

    key: str
    mailbox: str
    message: FiledMessage


@dataclass(frozen=True)
class Undeliverable:
    """An address our mail bounced from: no automatic mail goes there until they write again."""

    address: str
    since: datetime
    conversation_id: str
    reason: str


@dataclass
class Ledger:
    """Everything the agent knows, in memory."""

    conversations: dict[str, Conversation] = field(default_factory=dict)
    skipped: list[SkippedMessage] = field(default_factory=list)
    outbox: dict[str, OutboxEntry] = field(default_factory=dict)
    checkpoints: dict[str, Checkpoint] = field(default_factory=dict)
    undeliverable: dict[str, Undeliverable] = field(default_factory=dict)  # by address

    def by_message_id(self) -> dict[str, str]:
        """Every filed message key and sent Message-ID -> its conversation id."""
        index: dict[str, str] = {}
        for conversation in self.conversations.values():
            for message in conversation.messages:
                index[message.key] = conversation.id
            for sent in conversation.sent:
                index[sent.message_id] = conversation.id
        return index

    def known_keys(self) -> set[str]:
        """Keys of every message filed anywhere."""
        keys = {s.key for s in self.skipped}
        for conversation in self.conversations.values():
            keys.update(m.key for m in conversation.messages)
        return keys

    def mail_to_customers(self) -> list[Sent]:
        """Every automatic mail to a customer (not the manager's reports), for the breakers."""
        return [sent for c in self.conversations.values() for sent in to_customers(c, c.sent)]

    def sent_message_ids(self) -> set[str]:
        """Message-IDs of every mail the agent has made."""
        return set(self.outbox)


def to_customers(conversation: Conversation, sent: list[SentMail]) -> list[Sent]:
    """The mails of ``sent`` that went to the customer, as the breakers count them."""
    return [Sent(conversation.id, s.to, s.created_at) for s in sent if s.kind != ESCALATION]


@dataclass(frozen=True)
class StaffRequest:
    """A staff command (close, reopen, snooze) for the process that owns the store."""

    command: str
    conversation_id: str
    until: datetime | None = None
    path: Path | None = None  # where it waits on disk, once queued


def queue_request(data_dir: Path, request: StaffRequest) -> Path:
    """Leave ``request`` for the running daemon (written atomically, applied in order)."""
    folder = data_dir / REQUESTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{time.time_ns():020d}-{os.getpid()}.json"
    payload = {"command": request.command, "conversation_id": request.conversation_id,
               "until": _iso(request.until)}
    tmp = folder / (name + ".tmp")
    tmp.write_text(json.dumps(payload), encoding="utf-8")
    os.replace(tmp, folder / name)
    return folder / name


class Store:
    """The agent's database in ``data_dir``: open it, change the ledger, commit."""

    def __init__(self, data_dir: Path, *, read_only: bool = False, dry_run: bool = False) -> None:
        self.data_dir = data_dir
        self.read_only = read_only
        self.dry_run = dry_run  # load and take the lock, but never write: run --dry-run
        self._lock_handle: Any = None
        self._db: TinyDB | None = None
        self._writes: CommitOnFlush | None = None
        self.ledger = Ledger()

    def open(self) -> Store:
        """Take the lock (unless read-only) and load the ledger."""
        if not self.read_only:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self._lock_handle = _take_lock(self.data_dir / LOCK_FILE)
        path = self.data_dir / DB_FILE
        if self.read_only and not path.exists():
            return self
        self._writes = CommitOnFlush(AtomicJSONStorage)  # type: ignore[no-untyped-call]
        try:
            self._db = TinyDB(str(path), storage=self._writes)
            self.ledger = _load(self._db)
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Release the lock. Uncommitted changes are dropped on purpose."""
        self._db = None
        if self._lock_handle is not None:
            self._lock_handle.close()
            self._lock_handle = None

    def commit(self) -> None:
        """Write the whole ledger in one atomic file replace."""
        if self.dry_run:
            return
        if self.read_only or self._db is None or self._writes is None:
            raise RuntimeError("commit on a store that is not open for writing")
        _dump(self._db, self.ledger)
        self._writes.flush()  # type: ignore[no-untyped-call]

    def keep_raw(self, sha256: str, raw: bytes) -> str | None:
        """Keep a broken message's bytes as ``unparsed/<sha256>.eml``; the name, or None in a
        dry run. Written atomically; the same bytes twice are one file."""
        if self.dry_run or self.read_only:
            return None
        folder = self.data_dir / RAW_DIR
        folder.mkdir(exist_ok=True)
        path = folder / f"{sha256}.eml"
        if not path.exists():
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(raw)
            os.replace(tmp, path)
        return f"{RAW_DIR}/{path.name}"

    def rollback(self) -> None:
        """Drop uncommitted changes: the ledger becomes the last commit again."""
        if self._db is not None:
            self.ledger = _load(self._db)

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
            if request.path is not None:
                request.path.unlink(missing_ok=True)

    def __enter__(self) -> Store:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()


def _read_request(path: Path) -> StaffRequest | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return StaffRequest(str(data["command"]), str(data["conversation_id"]),
                            _when(data.get("until")), path)
    except (OSError, ValueError, KeyError, TypeError):
        path.rename(path.with_suffix(".unreadable"))  # kept for a person, never retried
        return None


def _take_lock(path: Path) -> Any:
    handle = path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        owner = handle.read().strip() or "another process"
        handle.close()
        raise StoreLockedError(
            f"{path.parent}: in use by inbox-agent (pid {owner}); stop it first, "
            "or give this one another data_dir"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def _corrupt_message(path: Path, why: str) -> str:
    return (f"{path}: {why}; the file was left as it is. The previous commit is in "
            f"{path.name}.bak: check it, then move it over {path.name} (or move both aside to "
            "start empty, which forgets every conversation)")


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem lets a directory be fsynced
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _load(db: TinyDB) -> Ledger:
    ledger = Ledger()
    for doc in db.table("conversations").all():
        conversation = conversation_from_doc(doc)
        ledger.conversations[conversation.id] = conversation
    ledger.skipped = [_skipped_from_doc(d) for d in db.table("skipped").all()]
    for doc in db.table("outbox").all():
        entry = _outbox_from_doc(doc)
        ledger.outbox[entry.message_id] = entry
    for doc in db.table("checkpoints").all():
        ledger.checkpoints[doc["folder_key"]] = Checkpoint(doc["uidvalidity"], doc["last_uid"])
    for doc in db.table("undeliverable").all():
        ledger.undeliverable[doc["address"]] = Undeliverable(
            doc["address"], _at(doc["since"]), doc["conversation_id"], doc["reason"])
    return ledger


def _dump(db: TinyDB, ledger: Ledger) -> None:
    tables = {
        "meta": [{"schema": SCHEMA_VERSION}],
        "conversations": [conversation_to_doc(c) for c in ledger.conversations.values()],
        "skipped": [_skipped_to_doc(s) for s in ledger.skipped],
        "outbox": [_outbox_to_doc(e) for e in ledger.outbox.values()],
        "checkpoints": [
            {"folder_key": key, "uidvalidity": c.uidvalidity, "last_uid": c.last_uid}
            for key, c in ledger.checkpoints.items()
        ],
        "undeliverable": [
            {"address": u.address, "since": _iso(u.since), "conversation_id": u.conversation_id,
             "reason": u.reason}
            for u in ledger.undeliverable.values()
        ],
    }
    for name, docs in tables.items():
        table = db.table(name)
        table.truncate()
        table.insert_multiple(docs)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _when(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def conversation_to_doc(c: Conversation) -> dict[str, Any]:
    """A conversation as JSON-ready data (also what ``thread --json`` builds on)."""
    return {
        "id": c.id, "mailbox": c.mailbox, "customer": c.customer,
        "customer_name": c.customer_name, "subject": c.subject, "status": c.status.value,
        "created_at": _iso(c.created_at),
        "customer_utc_offset_minutes": c.customer_utc_offset_minutes,
        "snoozed_until": _iso(c.snoozed_until), "language": c.language,
        "messages": [_message_to_doc(m) for m in c.messages],
        "notes": [{"at": _iso(n.at), "text": n.text} for n in c.notes],
        "promises": [
            {"made_at": _iso(p.made_at), "due": _iso(p.due), "reason": p.reason,
             "settled_at": _iso(p.settled_at),
             "outcome": p.outcome.value if p.outcome else None, "kept": p.kept}
            for p in c.promises
        ],
        "sent": [
            {"message_id": s.message_id, "kind": s.kind, "to": s.to,
             "created_at": _iso(s.created_at)}
            for s in c.sent
        ],
    }


def conversation_from_doc(d: dict[str, Any]) -> Conversation:
    """The inverse of ``conversation_to_doc``."""
    return Conversation(
        id=d["id"], mailbox=d["mailbox"], customer=d["customer"],
        customer_name=d["customer_name"], subject=d["subject"], status=Status(d["status"]),
        created_at=_at(d["created_at"]),
        customer_utc_offset_minutes=d.get("customer_utc_offset_minutes"),
        snoozed_until=_when(d.get("snoozed_until")), language=d.get("language"),
        messages=[_message_from_doc(m) for m in d["messages"]],
        notes=[Note(_at(n["at"]), n["text"]) for n in d.get("notes", [])],
        promises=[
            Promise(made_at=_at(p["made_at"]), due=_at(p["due"]), reason=p["reason"],
                    settled_at=_when(p["settled_at"]),
                    outcome=Outcome(p["outcome"]) if p.get("outcome") else None)
            for p in d["promises"]
        ],
        sent=[
            SentMail(message_id=s["message_id"], kind=s["kind"], to=s["to"],
                     created_at=_at(s["created_at"]))
            for s in d["sent"]
        ],
    )


def _message_to_doc(m: FiledMessage) -> dict[str, Any]:
    return {"key": m.key, "message_id": m.message_id, "role": m.role.value,
            "arrived_at": _iso(m.arrived_at), "sender": m.sender, "subject": m.subject,
            "folder": m.folder, "note": m.note}


def _message_from_doc(d: dict[str, Any]) -> FiledMessage:
    return FiledMessage(key=d["key"], message_id=d["message_id"], role=Role(d["role"]),
                        arrived_at=_at(d["arrived_at"]), sender=d["sender"],
                        subject=d["subject"], folder=d["folder"], note=d["note"])


def _skipped_to_doc(s: SkippedMessage) -> dict[str, Any]:
    return {"key": s.key, "mailbox": s.mailbox, "message": _message_to_doc(s.message)}


def _skipped_from_doc(d: dict[str, Any]) -> SkippedMessage:
    return SkippedMessage(d["key"], d["mailbox"], _message_from_doc(d["message"]))


def _outbox_to_doc(e: OutboxEntry) -> dict[str, Any]:
    return {"message_id": e.message_id, "conversation_id": e.conversation_id,
            "mailbox": e.mailbox, "kind": e.kind, "to": e.to,
            "raw": base64.b64encode(e.raw).decode("ascii"), "created_at": _iso(e.created_at),
            "state": e.state, "attempts": e.attempts, "sent_at": _iso(e.sent_at),
            "last_error": e.last_error, "next_attempt_at": _iso(e.next_attempt_at),
            "copy_pending": e.copy_pending, "deliver_by": _iso(e.deliver_by)}


def _outbox_from_doc(d: dict[str, Any]) -> OutboxEntry:
    return OutboxEntry(message_id=d["message_id"], conversation_id=d["conversation_id"],
                       mailbox=d["mailbox"], kind=d["kind"], to=d["to"],
                       raw=base64.b64decode(d["raw"]), created_at=_at(d["created_at"]),
                       state=d["state"], attempts=d["attempts"], sent_at=_when(d["sent_at"]),
                       last_error=d["last_error"],
                       next_attempt_at=_when(d.get("next_attempt_at")),
                       copy_pending=bool(d.get("copy_pending", False)),
                       deliver_by=_when(d.get("deliver_by")))


def iter_in_state(ledger: Ledger, state: str) -> Iterator[OutboxEntry]:
    """Outbox entries in ``state``, oldest first."""
    chosen = [e for e in ledger.outbox.values() if e.state == state]
    yield from sorted(chosen, key=lambda e: e.created_at)
