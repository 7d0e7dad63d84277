"""The database's records: the schema every file is checked against at load, and the
conversions between the ledger's records and the JSON documents TinyDB keeps.

Shared by the live store (``store``) and the archive (``archive``), which keep the same
records in files of the same shape.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from inbox_agent.adapters.files import why
from inbox_agent.core.conversations import (
    Conversation,
    FiledMessage,
    MailKind,
    Note,
    Outcome,
    Promise,
    Role,
    SentMail,
)
from inbox_agent.core.ledger import OutboxEntry, OutboxState, SkippedMessage
from inbox_agent.core.lifecycle import Status
from inbox_agent.errors import StoreError

SCHEMA_VERSION = 1
OUTBOX_STATES = tuple(state.value for state in OutboxState)


class DamagedError(ValueError):
    """Why a database file cannot be used (the message, without the file's name)."""


def parse_file(path: Path) -> dict[str, Any] | None:
    """The file's tables, checked against the schema; None when there is no file."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StoreError(
            f"{path}: could not read ({why(exc)}); let the agent's user read it"
        ) from exc
    if not raw.strip():
        raise DamagedError("the file is empty")
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise DamagedError(
            f"not UTF-8 text (byte {raw[exc.start]:#04x} at offset {exc.start})"
        ) from exc
    except (ValueError, RecursionError) as exc:
        raise DamagedError(f"not valid JSON ({exc})") from exc
    tables = _check_tables(data)
    _check_version(path, tables)
    return tables


# The schema, checked at load so that a damaged file is one line naming what is wrong, not a
# KeyError or TypeError deep inside a cycle. Each record type lists its keys; what the loader
# reads with .get() is optional.


@dataclass(frozen=True)
class _Field:
    """What one key of a stored record must hold."""

    expected: str  # as the message says it: "text", "a whole number", ...
    ok: Callable[[Any], bool]
    required: bool = True
    each: Mapping[str, _Field] | None = None  # a list of records of this shape
    record: Mapping[str, _Field] | None = None  # one record of this shape


def _is_moment(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:  # naive moments would fail later, compared with aware ones
        return datetime.fromisoformat(value).tzinfo is not None
    except ValueError:
        return False


def _is_base64(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _one_of(*allowed: str) -> _Field:
    return _Field("one of " + ", ".join(allowed), lambda v: isinstance(v, str) and v in allowed)


def _or_null(want: _Field) -> _Field:
    return replace(want, expected=f"{want.expected} or null", ok=lambda v: v is None or want.ok(v))


def _optional(want: _Field) -> _Field:
    return replace(want, required=False)


def _list_of(item: _Field) -> _Field:
    return _Field(
        f"a list of {item.expected}", lambda v: isinstance(v, list) and all(item.ok(i) for i in v)
    )


def _records(shape: Mapping[str, _Field]) -> _Field:
    return _Field("a list", lambda v: isinstance(v, list), each=shape)


_TEXT = _Field("text", lambda v: isinstance(v, str))
_WHOLE = _Field("a whole number", lambda v: isinstance(v, int) and not isinstance(v, bool))
_FLAG = _Field("true or false", lambda v: isinstance(v, bool))
_MOMENT = _Field("a moment (ISO 8601 with a UTC offset)", _is_moment)
_MESSAGE = {
    "key": _TEXT,
    "message_id": _or_null(_TEXT),
    "role": _one_of(*Role),
    "arrived_at": _MOMENT,
    "sender": _or_null(_TEXT),
    "subject": _TEXT,
    "folder": _TEXT,
    "note": _TEXT,
    # What it names (In-Reply-To, References); stores written before it was kept lack it.
    "names": _optional(_list_of(_TEXT)),
}
_CONVERSATION = {
    "id": _TEXT,
    "mailbox": _TEXT,
    "customer": _TEXT,
    "customer_name": _TEXT,
    "subject": _TEXT,
    "status": _one_of(*Status),
    "created_at": _MOMENT,
    "customer_utc_offset_minutes": _optional(_or_null(_WHOLE)),
    "snoozed_until": _optional(_or_null(_MOMENT)),
    "language": _optional(_or_null(_TEXT)),
    "messages": _records(_MESSAGE),
    "notes": _optional(_records({"at": _MOMENT, "text": _TEXT})),
    "promises": _records(
        {
            "made_at": _MOMENT,
            "due": _MOMENT,
            "reason": _TEXT,
            "settled_at": _or_null(_MOMENT),
            "outcome": _optional(_or_null(_one_of(*Outcome))),
        }
    ),
    "sent": _records(
        {"message_id": _TEXT, "kind": _one_of(*MailKind), "to": _TEXT, "created_at": _MOMENT}
    ),
    "owed": _optional(_list_of(_one_of(*MailKind))),
}
_OUTBOX = {
    "message_id": _TEXT,
    "conversation_id": _TEXT,
    "mailbox": _TEXT,
    "kind": _one_of(*MailKind),
    "to": _TEXT,
    "raw": _Field("base64 text", _is_base64),
    "created_at": _MOMENT,
    "state": _one_of(*OUTBOX_STATES),
    "attempts": _WHOLE,
    "sent_at": _or_null(_MOMENT),
    "last_error": _TEXT,
    "next_attempt_at": _optional(_or_null(_MOMENT)),
    "copy_pending": _optional(_FLAG),
    "deliver_by": _optional(_or_null(_MOMENT)),
}
_TABLES: dict[str, Mapping[str, _Field]] = {
    "meta": {"schema": _WHOLE},
    "conversations": _CONVERSATION,
    "skipped": {
        "key": _TEXT,
        "mailbox": _TEXT,
        "message": _Field("an object", lambda v: isinstance(v, dict), record=_MESSAGE),
    },
    "outbox": _OUTBOX,
    "checkpoints": {"folder_key": _TEXT, "uidvalidity": _WHOLE, "last_uid": _WHOLE},
    "undeliverable": {
        "address": _TEXT,
        "since": _MOMENT,
        "conversation_id": _TEXT,
        "reason": _TEXT,
    },
}


def _check_tables(data: Any) -> dict[str, Any]:
    """TinyDB's layout (``{table: {doc_id: document}}``) and every known table's records."""
    if not isinstance(data, dict):
        raise DamagedError(f"not a TinyDB file (the top level is {_kind(data)}, not an object)")
    for name, shape in _TABLES.items():
        table = data.get(name, {})
        if not isinstance(table, dict):
            raise DamagedError(f"table {name!r} is {_kind(table)}, not an object of documents")
        for doc_id, doc in table.items():
            if not (doc_id.isascii() and doc_id.isdigit()):
                raise DamagedError(
                    f"table {name!r} has a document id {_show(doc_id)}, not a number"
                )
            _check(doc, shape, f"{name}[{doc_id}]")
    return data


def check_conversation(doc: Any, where: str) -> None:
    """One conversation document against the schema (``DamagedError`` if it is not one)."""
    _check(doc, _CONVERSATION, where)


def _check(doc: Any, shape: Mapping[str, _Field], where: str) -> None:
    if not isinstance(doc, dict):
        raise DamagedError(f"{where} is {_kind(doc)}, not an object")
    for key, want in shape.items():
        if key in doc:
            _check_value(doc[key], want, f"{where}.{key}")
        elif want.required:
            raise DamagedError(f"{where} has no {key!r}")


def _check_value(value: Any, want: _Field, where: str) -> None:
    if not want.ok(value):
        raise DamagedError(f"{where} is {_show(value)}, not {want.expected}")
    if want.record is not None:
        _check(value, want.record, where)
    if want.each is not None:
        for n, item in enumerate(value):
            _check(item, want.each, f"{where}[{n}]")


def _check_version(path: Path, data: dict[str, Any]) -> None:
    """A file from a newer version is not damaged, but this one cannot know what it means."""
    versions = [doc["schema"] for doc in data.get("meta", {}).values()]
    if any(v > SCHEMA_VERSION for v in versions):
        raise StoreError(
            f"{path}: written by a newer inbox-agent (schema {max(versions)}; "
            f"this one reads {SCHEMA_VERSION}); run that version, or restore a "
            "backup made by this one"
        )


def _kind(value: Any) -> str:
    names = {
        dict: "an object",
        list: "a list",
        str: "text",
        bool: "true/false",
        int: "a number",
        float: "a number",
        type(None): "null",
    }
    return names.get(type(value), type(value).__name__)


def _show(value: Any) -> str:
    """A value from the file for a one-line message: JSON, ASCII-escaped, cut short."""
    text = json.dumps(value, ensure_ascii=True)
    return text if len(text) <= 40 else text[:37] + "..."


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def when(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def conversation_to_doc(c: Conversation) -> dict[str, Any]:
    """A conversation as JSON-ready data (also what ``thread --json`` builds on)."""
    return {
        "id": c.id,
        "mailbox": c.mailbox,
        "customer": c.customer,
        "customer_name": c.customer_name,
        "subject": c.subject,
        "status": c.status.value,
        "created_at": iso(c.created_at),
        "customer_utc_offset_minutes": c.customer_utc_offset_minutes,
        "snoozed_until": iso(c.snoozed_until),
        "language": c.language,
        "messages": [_message_to_doc(m) for m in c.messages],
        "notes": [{"at": iso(n.at), "text": n.text} for n in c.notes],
        "promises": [
            {
                "made_at": iso(p.made_at),
                "due": iso(p.due),
                "reason": p.reason,
                "settled_at": iso(p.settled_at),
                "outcome": p.outcome.value if p.outcome else None,
                "kept": p.kept,
            }
            for p in c.promises
        ],
        "sent": [
            {
                "message_id": s.message_id,
                "kind": s.kind,
                "to": s.to,
                "created_at": iso(s.created_at),
            }
            for s in c.sent
        ],
        "owed": [kind.value for kind in c.owed],
    }


def conversation_from_doc(d: dict[str, Any]) -> Conversation:
    """The inverse of ``conversation_to_doc``."""
    return Conversation(
        id=d["id"],
        mailbox=d["mailbox"],
        customer=d["customer"],
        customer_name=d["customer_name"],
        subject=d["subject"],
        status=Status(d["status"]),
        created_at=at(d["created_at"]),
        customer_utc_offset_minutes=d.get("customer_utc_offset_minutes"),
        snoozed_until=when(d.get("snoozed_until")),
        language=d.get("language"),
        messages=[_message_from_doc(m) for m in d["messages"]],
        notes=[Note(at(n["at"]), n["text"]) for n in d.get("notes", [])],
        promises=[
            Promise(
                made_at=at(p["made_at"]),
                due=at(p["due"]),
                reason=p["reason"],
                settled_at=when(p["settled_at"]),
                outcome=Outcome(p["outcome"]) if p.get("outcome") else None,
            )
            for p in d["promises"]
        ],
        sent=[
            SentMail(
                message_id=s["message_id"],
                kind=MailKind(s["kind"]),
                to=s["to"],
                created_at=at(s["created_at"]),
            )
            for s in d["sent"]
        ],
        owed=[MailKind(kind) for kind in d.get("owed", [])],
    )


def _message_to_doc(m: FiledMessage) -> dict[str, Any]:
    return {
        "key": m.key,
        "message_id": m.message_id,
        "role": m.role.value,
        "arrived_at": iso(m.arrived_at),
        "sender": m.sender,
        "subject": m.subject,
        "folder": m.folder,
        "note": m.note,
        "names": list(m.names),
    }


def _message_from_doc(d: dict[str, Any]) -> FiledMessage:
    return FiledMessage(
        key=d["key"],
        message_id=d["message_id"],
        role=Role(d["role"]),
        arrived_at=at(d["arrived_at"]),
        sender=d["sender"],
        subject=d["subject"],
        folder=d["folder"],
        note=d["note"],
        names=tuple(d.get("names", ())),
    )


def skipped_to_doc(s: SkippedMessage) -> dict[str, Any]:
    return {"key": s.key, "mailbox": s.mailbox, "message": _message_to_doc(s.message)}


def skipped_from_doc(d: dict[str, Any]) -> SkippedMessage:
    return SkippedMessage(d["key"], d["mailbox"], _message_from_doc(d["message"]))


def outbox_from_doc(d: dict[str, Any]) -> OutboxEntry:
    return OutboxEntry(
        message_id=d["message_id"],
        conversation_id=d["conversation_id"],
        mailbox=d["mailbox"],
        kind=MailKind(d["kind"]),
        to=d["to"],
        raw=base64.b64decode(d["raw"]),
        created_at=at(d["created_at"]),
        state=OutboxState(d["state"]),
        attempts=d["attempts"],
        sent_at=when(d["sent_at"]),
        last_error=d["last_error"],
        next_attempt_at=when(d.get("next_attempt_at")),
        copy_pending=bool(d.get("copy_pending", False)),
        deliver_by=when(d.get("deliver_by")),
    )
