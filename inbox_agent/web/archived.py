"""The archive as the staff page reads it: off the event loop, and parsed again only when a
month file changed.

The archive holds answered and closed conversations that went quiet (``core.archive``); the
daemon's archive pass writes its month files, hourly at most. Parsing and checking 2,000
archived conversations takes ~250 ms, too long for every page, so what was read is kept
while the files' stamps stay the same. One conversation is found through the archive's index
without reading the rest.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

from inbox_agent.adapters.archive import Archive
from inbox_agent.core.conversations import Conversation
from inbox_agent.core.ledger import SkippedMessage

KEPT = 4  # readings kept: the report's period and the list's, with room to change either

Reading = tuple[list[Conversation], list[SkippedMessage]]
_READINGS: dict[object, Reading] = {}


async def conversations(data_dir: Path, since: datetime | None = None) -> Reading:
    """The archive's conversations (newest copy of each) and skipped mail, from ``since``'s
    month on (None: all)."""
    return await asyncio.to_thread(_read, Archive(data_dir, read_only=True), since)


async def conversation(data_dir: Path, token: str) -> Conversation | None:
    """Archived conversation ``token``, or None."""

    def find() -> Conversation | None:
        archive = Archive(data_dir, read_only=True)
        if not archive.folder.is_dir():
            return None
        return archive.open().conversation(token)

    return await asyncio.to_thread(find)


def _read(archive: Archive, since: datetime | None) -> Reading:
    month = (since.year, since.month) if since else None
    key = (str(archive.folder), month, _stamps(archive.folder))
    found = _READINGS.get(key)
    if found is None:
        found = list(archive.all_conversations(since)), list(archive.all_skipped(since))
        while len(_READINGS) >= KEPT:
            del _READINGS[next(iter(_READINGS))]  # the oldest reading
        _READINGS[key] = found
    return found


def _stamps(folder: Path) -> tuple[tuple[str, int, int, int], ...]:
    """Each archive file's name, inode, size and mtime: a file replaced is a new stamp."""
    if not folder.is_dir():
        return ()
    found = []
    for path in sorted(folder.glob("*.json")):
        try:
            stat = path.stat()
        except FileNotFoundError:  # replaced or removed between glob and stat
            continue
        found.append((path.name, stat.st_ino, stat.st_size, stat.st_mtime_ns))
    return tuple(found)
