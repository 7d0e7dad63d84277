"""The archive: conversations whose work is done, out of the live store (``core.archive``
says which), in TinyDB files by month, with a compact index (``archive_index``).

- ``archive/2026-12.json`` holds what was archived in December 2026 (tables ``conversations``
  and ``skipped``, the live store's records and schema), written atomically like the live
  file. Only the current month's file is ever rewritten; older months are only read.
- A conversation is written to the archive (file, then index) *before* the live store is
  committed without it. A crash in between leaves it in both, and the live copy wins
  everywhere; archived again later, the newest month's copy wins.
- Brought back (a message joins it, or staff reopen it), it is read from its month file into
  the live store; the archived copy stays, superseded.

Bringing one conversation back does not parse its month file: the file is searched for the
document's start, ``{"id":"K7Q2",`` (the id is every conversation document's first key, and
``{"`` cannot occur inside a JSON string, where a quote is escaped), and only that document is
decoded and checked. Measured (bench/history.py, 4,170 conversations a month): parsing and
checking a whole month file took 0.15 s, enough to make a cycle with 20 replies to archived
conversations 2.6-3.0x slower at 100,000 archived than at 100; decoding one document, 1.16x.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from inbox_agent.adapters.archive_index import (
    ArchiveIndex,
    month_name,
    month_number,
)
from inbox_agent.adapters.files import private_dir
from inbox_agent.adapters.records import (
    SCHEMA_VERSION,
    DamagedError,
    check_conversation,
    conversation_from_doc,
    conversation_to_doc,
    skipped_from_doc,
    skipped_to_doc,
)
from inbox_agent.adapters.tinyfile import AtomicJSONStorage, corrupt_message
from inbox_agent.core.archive import TOKEN, entries, skipped_entries
from inbox_agent.core.conversations import Conversation
from inbox_agent.core.ledger import SkippedMessage
from inbox_agent.errors import StoreCorruptError, StoreError

log = logging.getLogger("inbox_agent")

ARCHIVE_DIR = "archive"
_OUTCOME = ("the conversations stay in the live store", "the agent archives them again")


class Archive:
    """The archive folder of one data_dir."""

    def __init__(self, data_dir: Path, *, read_only: bool = False) -> None:
        self.folder = data_dir / ARCHIVE_DIR
        self.read_only = read_only  # read-only commands, and run --dry-run: nothing written
        self.index = ArchiveIndex(self.folder)

    def open(self) -> Archive:
        """Load the index; one that cannot be read is built again from the month files."""
        try:
            self.index.load()
        except (ValueError, OSError) as exc:
            if self.read_only:
                raise StoreError(
                    f"{self.folder}: its index cannot be read ({exc}); start the "
                    "agent once to build it again from the month files"
                ) from exc
            log.warning(
                "%s: the index cannot be read (%s); building it again from the month files",
                self.folder,
                exc,
            )
            self.rebuild_index()
        if not self.read_only and self.index.log_is_large():
            self.index.compact()  # a log read into memory costs ~320 bytes an entry
        return self

    def rebuild_index(self) -> None:
        """The index, made again from every month file (it holds nothing else)."""
        self.index = ArchiveIndex(self.folder)
        records: list[tuple[str, str, int]] = []
        for month in self.months():
            tables = self._tables(month)
            for doc in tables.get("conversations", {}).values():
                conversation = conversation_from_doc(doc)
                records += [(e, conversation.id, month) for e in entries(conversation)]
            skipped = [skipped_from_doc(d) for d in tables.get("skipped", {}).values()]
            records += [(e, "", month) for e in skipped_entries(skipped)]
        for name in ("index.bin", "index.log"):
            (self.folder / name).unlink(missing_ok=True)
        self.index.add(records)
        self.index.compact()

    def holds(self, entry: str) -> bool:
        """Whether ``entry`` (``core.archive.entries``) is in the archive."""
        return bool(self.index.find(entry))

    def tokens(self, entry: str) -> list[str]:
        """The archived conversations ``entry`` leads to, newest first."""
        return [token for token, _ in self.index.find(entry) if token]

    def conversation(self, token: str) -> Conversation | None:
        """The newest archived copy of conversation ``token``, or None."""
        for _, month in self.index.find(TOKEN + token):
            doc = self._document(month, token)
            if doc is not None:
                return conversation_from_doc(doc)
        return None

    def _document(self, month: int, token: str) -> dict[str, Any] | None:
        """Conversation ``token``'s document in ``month``'s file, decoded alone (see above)."""
        path = self._path(month)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise StoreCorruptError(corrupt_message(path, f"cannot be read ({exc})")) from exc
        at = text.find(json.dumps({"id": token}, separators=(",", ":"))[:-1] + ",")
        if at < 0:
            return None  # a hash collision in the index: not in this month
        try:
            doc, _ = json.JSONDecoder().raw_decode(text, at)
            check_conversation(doc, f"conversation {token}")
        except (ValueError, DamagedError) as exc:
            raise StoreCorruptError(corrupt_message(path, str(exc))) from exc
        return doc  # type: ignore[no-any-return]

    def put(
        self,
        conversations: Sequence[Conversation],
        skipped: Sequence[SkippedMessage],
        now: datetime,
    ) -> None:
        """Add ``conversations`` and ``skipped`` to this month's file, then to the index."""
        if self.read_only or not (conversations or skipped):
            return
        private_dir(self.folder, _OUTCOME)
        month = month_number(now.year, now.month)
        tables = self._tables(month)
        docs = _by_id(tables.get("conversations", {}))
        docs.update({c.id: conversation_to_doc(c) for c in conversations})
        kept = {d["key"]: d for d in tables.get("skipped", {}).values()}
        kept.update({s.key: skipped_to_doc(s) for s in skipped})
        tables = {
            "meta": {"1": {"schema": SCHEMA_VERSION}},
            "conversations": _numbered(docs.values()),
            "skipped": _numbered(kept.values()),
        }
        self._storage(month).write(tables)
        self.index.add(
            [(e, c.id, month) for c in conversations for e in entries(c)]
            + [(e, "", month) for e in skipped_entries(skipped)]
        )

    def months(self) -> list[int]:
        """The months with an archive file, oldest first."""
        if not self.folder.is_dir():
            return []
        found = []
        for path in self.folder.glob("[0-9][0-9][0-9][0-9]-[0-9][0-9].json"):
            year, month = path.stem.split("-")
            found.append(month_number(int(year), int(month)))
        return sorted(found)

    def all_conversations(self, since: datetime | None = None) -> Iterator[Conversation]:
        """Every archived conversation once (its newest copy), newest month first; with
        ``since``, only the months archived since then (a message that came after ``since``
        was archived in its month or later)."""
        seen: set[str] = set()
        for month in reversed(self._months_since(since)):
            for doc in self._tables(month).get("conversations", {}).values():
                if doc["id"] not in seen:
                    seen.add(doc["id"])
                    yield conversation_from_doc(doc)

    def all_skipped(self, since: datetime | None = None) -> Iterator[SkippedMessage]:
        """Every archived message filed outside a conversation (``since``: as above)."""
        for month in self._months_since(since):
            for doc in self._tables(month).get("skipped", {}).values():
                yield skipped_from_doc(doc)

    def _months_since(self, since: datetime | None) -> list[int]:
        first = -1 if since is None else month_number(since.year, since.month)
        return [month for month in self.months() if month >= first]

    def _tables(self, month: int) -> dict[str, Any]:
        """A whole month file, parsed and checked: for the archive pass and listings."""
        return self._storage(month).read() or {}

    def _storage(self, month: int) -> AtomicJSONStorage:
        return AtomicJSONStorage(str(self._path(month)))

    def _path(self, month: int) -> Path:
        return self.folder / f"{month_name(month)}.json"


def _by_id(table: dict[str, Any]) -> dict[str, Any]:
    return {doc["id"]: doc for doc in table.values()}


def _numbered(docs: Any) -> dict[str, Any]:
    """Documents as TinyDB keeps a table: by a document id counted from 1."""
    return {str(n): doc for n, doc in enumerate(docs, start=1)}
