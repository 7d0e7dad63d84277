"""``data_dir/health.json``: how each mailbox's polls went, for ``inbox-agent status``.

Why a file of its own and not fields in the store's live file: the store is written only when
something changed (a commit that changes nothing writes nothing, DESIGN.md), and the live file
holds every open conversation, so stamping "polled at 10:05" in it would rewrite megabytes
after every quiet poll. This file is a few hundred bytes, written whole (temp file, fsync,
rename: ``files.write_whole``) by the agent after a poll attempt when its content is worth it
(``core.status.worth_writing``), and read without any lock by ``status`` while the daemon runs.
It holds server error lines, which may name hosts and users: 0600 like the rest.

A file that is missing, too large or unreadable reads as "never polled": it is only a report,
rewritten at the next poll, and must never stop the agent or ``status``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from inbox_agent.adapters.files import write_whole
from inbox_agent.core.status import FolderWatchShown, MailboxHealth

HEALTH_FILE = "health.json"
MAX_HEALTH_BYTES = 1 << 20  # a few hundred bytes a mailbox; anything bigger is not ours
_MAX_WATCHES = 8  # a mailbox watches two folders
_OUTCOME = (
    "the mail is handled as usual; only `inbox-agent status` shows an older poll",
    "the agent writes it again after the next poll",
)


def read_health(data_dir: Path) -> dict[str, MailboxHealth]:
    """The records by mailbox name; empty when there is no readable file."""
    path = data_dir / HEALTH_FILE
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_HEALTH_BYTES + 1)
        if len(raw) > MAX_HEALTH_BYTES:
            return {}
        docs = json.loads(raw)["mailboxes"]
        return {name: _from_doc(name, doc) for name, doc in docs.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def write_health(data_dir: Path, records: Iterable[MailboxHealth]) -> None:
    """Replace the file with ``records``, whole (a ``StoreWriteError`` if the disk refuses)."""
    doc = {"mailboxes": {r.name: _to_doc(r) for r in records}}
    write_whole(data_dir / HEALTH_FILE, json.dumps(doc, indent=1).encode("utf-8"), _OUTCOME)


def _to_doc(record: MailboxHealth) -> dict[str, Any]:
    return {
        "last_poll_at": _iso(record.last_poll_at),
        "last_error": record.last_error,
        "last_error_at": _iso(record.last_error_at),
        "watches": [
            {"folder": w.folder, "state": w.state, "problem": w.problem} for w in record.watches
        ],
    }


def _from_doc(name: str, doc: dict[str, Any]) -> MailboxHealth:
    error = doc.get("last_error")
    return MailboxHealth(
        str(name),
        _moment(doc.get("last_poll_at")),
        _text(error),
        _moment(doc.get("last_error_at")),
        tuple(_watch(w) for w in doc.get("watches", [])[:_MAX_WATCHES]),
    )


def _watch(doc: dict[str, Any]) -> FolderWatchShown:
    return FolderWatchShown(
        str(doc["folder"])[:200], str(doc["state"])[:20], _text(doc.get("problem"))
    )


def _text(value: Any) -> str | None:
    return None if value is None else str(value)[:2000]


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _moment(text: Any) -> datetime | None:
    if text is None:
        return None
    moment = datetime.fromisoformat(str(text))
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset")
    return moment
