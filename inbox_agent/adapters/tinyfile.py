"""TinyDB in one JSON file, written atomically: the live store's file and the archive's.

Measured (DESIGN.md): TinyDB rewrites the whole file on every write, in place, and two writers
corrupt it. ``AtomicJSONStorage`` writes a temp file, fsyncs it and ``os.replace``s it over the
old one: a crash leaves either the old file or the new one, never half of each. The old one is
kept as ``<name>.bak`` (a hard link), a file that cannot be read is never overwritten, and a
write that would change nothing is not made.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from tinydb.middlewares import CachingMiddleware
from tinydb.storages import Storage

from inbox_agent.adapters.files import write_whole
from inbox_agent.adapters.records import DamagedError, parse_file
from inbox_agent.errors import StoreCorruptError, StoreError

# What a failed write means for the cycle that asked for it (delivery commits "sending" before
# a send, so a refused commit stops the send), and what happens next.
CYCLE_WRITE = ("nothing was sent that is not recorded", "the agent retries")


class AtomicJSONStorage(Storage):
    """TinyDB storage that replaces the file atomically and never overwrites what it can't read."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self._written: bytes | None = None  # a digest of what the file holds, once written

    def read(self) -> dict[str, Any] | None:
        try:
            return parse_file(self.path)
        except DamagedError as exc:
            raise StoreCorruptError(corrupt_message(self.path, str(exc))) from exc

    def write(self, data: dict[str, Any]) -> None:
        # dumps, not dump: dump streams through the pure-Python encoder, dumps uses the C
        # one; measured 5-10x faster on a 1,000-conversation file (bench/store_commit.py).
        payload = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        digest = hashlib.sha256(payload).digest()
        if digest == self._written:
            return  # nothing changed: no write, no fsync, and the .bak stays the one before
        self._written = None  # a failed write leaves the file's content unknown
        write_whole(self.path, payload, CYCLE_WRITE, self._keep_last_good)
        self._written = digest

    def _keep_last_good(self) -> None:
        """The file being replaced becomes ``.bak``: a hard link, then a rename, so that at
        every instant both names hold a whole database (no copy of the bytes is made)."""
        if not self.path.exists():
            return
        backup = backup_of(self.path)
        link = self.path.with_name(backup.name + ".tmp")
        link.unlink(missing_ok=True)
        try:
            os.link(self.path, link)
        except OSError:  # a filesystem without hard links: no backup rather than no commit
            return
        try:
            os.replace(link, backup)
        except OSError:
            with contextlib.suppress(OSError):
                link.unlink(missing_ok=True)
            raise

    def close(self) -> None:
        """Nothing stays open between writes."""


class CommitOnFlush(CachingMiddleware):
    """Keep every write in memory until ``flush()``: one file write per commit."""

    WRITE_CACHE_SIZE = 2**62


def backup_of(path: Path) -> Path:
    return path.with_name(path.name + ".bak")


def corrupt_message(path: Path, why: str) -> str:
    """One line: what is wrong with ``path``, and what its backup offers."""
    backup = backup_of(path)
    head = f"{path}: {why}; the file was left as it is. "
    if not backup.exists():
        return head + (
            f"There is no {backup.name} to go back to: repair it, or move it aside "
            "to start empty (which forgets every conversation)"
        )
    trouble = _damage(backup)
    if trouble is None:
        return head + (
            f"The previous commit is in {backup.name}: check it, then move it over "
            f"{path.name} (or move both aside to start empty, which forgets every "
            "conversation)"
        )
    return head + (
        f"The previous commit, {backup.name}, is damaged too ({trouble}): repair "
        "one of them, or move both aside to start empty (which forgets every "
        "conversation)"
    )


def _damage(path: Path) -> str | None:
    """Why ``path`` is not a usable database, or None when it is."""
    try:
        parse_file(path)
    except DamagedError as exc:
        return str(exc)
    except StoreError:
        return "it cannot be read"
    return None
