"""The outbox on disk: one file per outgoing mail, its state the folder it sits in.

The shape Postfix's queue and Maildir have used for decades (DESIGN.md, "the outbox is a queue,
not a database table"): a state change is a ``rename`` between folders, which is atomic and
survives SIGKILL, costs microseconds and does not grow with history; one fsync of a folder makes
a whole batch of renames durable. The database (``store``) is never rewritten for a mail.

    data_dir/outbox/tmp/         being written; never read
                    pending/     recorded, not sent yet (or waiting to try again after a 4xx)
                    sending/     handed to the relay; a crash leaves it here
                    sent/        the relay said 250; its copy may still be owed to the Sent folder
                    failed/      refused for good, kept for a person

A file is named by the time it was recorded and a hash of its Message-ID (never by anything a
customer wrote), so a folder lists its mail oldest first; it holds the mail and what is known
of it (JSON; the bytes in base64). Its state is its folder, nothing else.
When a mail is done (sent and its copy filed, or superseded) its file goes: the conversation
keeps the record, the Sent folder the copy.

A rename between two folders is made durable by fsyncing the folder it lands in. A crash before
the old folder's entry is gone can leave one mail in two folders; loading keeps the one further
along (``sent`` over ``sending`` over ``pending``) and removes the other. Files that cannot be
read are moved aside to ``unreadable/`` for a person and never block the rest.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import logging
import os
import time
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from inbox_agent.adapters.files import fsync_dir, private_dir, why, write_failed, write_temp
from inbox_agent.core.conversations import MailKind
from inbox_agent.core.ledger import OutboxEntry, OutboxEvent, OutboxState
from inbox_agent.errors import StoreWriteError

log = logging.getLogger("inbox_agent")
OUTBOX_DIR = "outbox"
# The folders a mail can be found in, furthest along first (the order a duplicate is settled by).
KEPT_STATES = (OutboxState.FAILED, OutboxState.SENT, OutboxState.SENDING, OutboxState.PENDING)
_OUTCOME = ("nothing was sent that is not recorded", "the agent retries")


class OutboxQueue:
    """The outbox folder of one data_dir. ``dry_run``: every change stays in memory."""

    def __init__(self, data_dir: Path, *, dry_run: bool = False) -> None:
        self.root = data_dir / OUTBOX_DIR
        self.dry_run = dry_run
        self._where: dict[str, OutboxState] = {}  # Message-ID -> the folder its file is in
        self._names: dict[str, str] = {}  # Message-ID -> its file's name

    # ----------------------------------------------------------------------------- reading

    def load(self) -> dict[str, OutboxEntry]:
        """Every mail in the queue, by Message-ID (a folder that does not exist is empty)."""
        self._where, self._names = {}, {}
        entries: dict[str, OutboxEntry] = {}
        for state in KEPT_STATES:
            for path in sorted(self._folder(state).glob("*.json")):
                entry = self._read(path, state)
                if entry is None:
                    continue
                if entry.message_id in entries:  # a rename cut short: keep the later state
                    if not self.dry_run:
                        self._remove_quietly(path)
                    continue
                entries[entry.message_id] = entry
                self._where[entry.message_id] = state
                self._names[entry.message_id] = path.name
        return entries

    def holds(self, message_id: str) -> bool:
        """True when the mail has a file in the queue."""
        return message_id in self._where

    # ----------------------------------------------------------------------------- writing

    def record(self, entries: Iterable[OutboxEntry]) -> None:
        """Write new mails into ``pending/`` (each fsynced); one folder fsync makes them all
        durable. Called by the store's commit, before the database that refers to them."""
        new = [e for e in entries if e.message_id not in self._where]
        if not new or self.dry_run:
            return
        self._ready()
        for entry in new:
            self._write(entry, entry.state, sync_folder=False)
        for state in {e.state for e in new}:
            self._sync(self._folder(state))

    def move(self, entries: Iterable[OutboxEntry], event: OutboxEvent) -> None:
        """Take ``event`` for each of ``entries`` (``core.ledger``'s table) and rename its file
        into the new state's folder; one fsync of that folder for the whole batch. A mail that
        ends superseded has nothing left to keep: its file goes."""
        landed: set[OutboxState] = set()
        for entry in entries:
            before = entry.state
            entry.move(event)
            if entry.state not in KEPT_STATES:
                self.forget([entry])
            elif not self.dry_run and entry.message_id in self._where:
                self._rename(entry, before)
                landed.add(entry.state)
        for state in landed:
            self._sync(self._folder(state))

    def save(self, entry: OutboxEntry) -> None:
        """Write what changed about a mail (attempts, next try, error) in its folder."""
        if self.dry_run or entry.message_id not in self._where:
            return
        self._write(entry, entry.state, sync_folder=True)

    def forget(self, entries: Iterable[OutboxEntry]) -> None:
        """Remove the files of mails that are done (sent and copied, or superseded). Not
        fsynced: a file that comes back after a crash is settled again, harmlessly."""
        for entry in entries:
            state = self._where.pop(entry.message_id, None)
            if state is not None and not self.dry_run:
                self._remove_quietly(self._path(entry.message_id, state))
            self._names.pop(entry.message_id, None)

    # ----------------------------------------------------------------------------- files

    def _ready(self) -> None:
        for folder in ("tmp", *(s.value for s in KEPT_STATES)):
            private_dir(self.root / folder, _OUTCOME)

    def _folder(self, state: OutboxState) -> Path:
        return self.root / state.value

    def _path(self, message_id: str, state: OutboxState) -> Path:
        """Its file: named when first written by the time (so the folder lists mail oldest
        first, and sends it in that order) and a hash of the Message-ID."""
        name = self._names.get(message_id)
        if name is None:
            name = self._names[message_id] = f"{time.time_ns():020d}-{_digest(message_id)}.json"
        return self._folder(state) / name

    def _write(self, entry: OutboxEntry, state: OutboxState, *, sync_folder: bool) -> None:
        path = self._path(entry.message_id, state)
        tmp = self.root / "tmp" / path.name
        try:
            write_temp(tmp, json.dumps(_to_doc(entry)).encode("utf-8"))
            os.replace(tmp, path)
            if sync_folder:
                fsync_dir(path.parent)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            raise StoreWriteError(write_failed(path, exc, _OUTCOME)) from exc
        self._where[entry.message_id] = state

    def _rename(self, entry: OutboxEntry, before: OutboxState) -> None:
        source = self._path(entry.message_id, self._where.get(entry.message_id, before))
        target = self._path(entry.message_id, entry.state)
        try:
            os.replace(source, target)
        except OSError as exc:
            raise StoreWriteError(write_failed(target, exc, _OUTCOME)) from exc
        self._where[entry.message_id] = entry.state

    def _sync(self, folder: Path) -> None:
        try:
            fsync_dir(folder)
        except OSError as exc:
            raise StoreWriteError(write_failed(folder, exc, _OUTCOME)) from exc

    def _read(self, path: Path, state: OutboxState) -> OutboxEntry | None:
        try:
            entry = _from_doc(json.loads(path.read_bytes()), state)
        except (OSError, ValueError, KeyError, TypeError, binascii.Error) as exc:
            self._set_aside(path, exc)
            return None
        if not path.name.endswith(f"-{_digest(entry.message_id)}.json"):
            self._set_aside(path, ValueError("its name does not match its Message-ID"))
            return None
        return entry

    def _set_aside(self, path: Path, exc: Exception) -> None:
        """An unreadable queue file is kept for a person and never blocks the others."""
        aside = self.root / "unreadable" / path.name
        reason = why(exc) if isinstance(exc, OSError) else str(exc)
        log.error("%s: cannot be read (%s); moved to %s for a person", path, reason, aside)
        if self.dry_run:
            return
        with contextlib.suppress(OSError):
            private_dir(aside.parent, _OUTCOME)
            os.replace(path, aside)

    def _remove_quietly(self, path: Path) -> None:
        """A finished mail's file; one that cannot go now (a read-only disk) is settled again
        at the next load, harmlessly."""
        with contextlib.suppress(OSError):
            path.unlink()


def _digest(message_id: str) -> str:
    """A name for a Message-ID that is safe as a file name whatever the Message-ID holds."""
    return hashlib.sha256(message_id.encode("utf-8", "replace")).hexdigest()[:32]


def _to_doc(e: OutboxEntry) -> dict[str, Any]:
    return {
        "message_id": e.message_id,
        "conversation_id": e.conversation_id,
        "mailbox": e.mailbox,
        "kind": str(e.kind),
        "to": e.to,
        "raw": base64.b64encode(e.raw).decode("ascii"),
        "created_at": _iso(e.created_at),
        "attempts": e.attempts,
        "sent_at": _iso(e.sent_at),
        "last_error": e.last_error,
        "next_attempt_at": _iso(e.next_attempt_at),
        "deliver_by": _iso(e.deliver_by),
    }


def _from_doc(d: dict[str, Any], state: OutboxState) -> OutboxEntry:
    return OutboxEntry(
        message_id=str(d["message_id"]),
        conversation_id=str(d["conversation_id"]),
        mailbox=str(d["mailbox"]),
        kind=MailKind(d["kind"]),
        to=str(d["to"]),
        raw=base64.b64decode(d["raw"], validate=True),
        created_at=_when(d["created_at"]),
        state=state,
        attempts=int(d["attempts"]),
        sent_at=_maybe(d.get("sent_at")),
        last_error=str(d.get("last_error", "")),
        next_attempt_at=_maybe(d.get("next_attempt_at")),
        deliver_by=_maybe(d.get("deliver_by")),
        # 250 recorded, copy not known to be filed: the Sent folder is asked before another.
        copy_pending=state is OutboxState.SENT,
    )


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _when(text: Any) -> datetime:
    moment = datetime.fromisoformat(str(text))
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset")
    return moment


def _maybe(text: Any) -> datetime | None:
    return None if text is None else _when(text)
