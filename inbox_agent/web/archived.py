"""The archive as the staff page reads it: off the event loop, and parsed again only when a
month file changed.

The archive holds answered and closed conversations that went quiet (``core.archive``); the
daemon's archive pass writes its month files, hourly at most. Parsing and checking 2,000
archived conversations takes ~250 ms, too long for every page, so what was read is kept
while the files' stamps stay the same. One conversation is found through the archive's index
(kept the same way while its files are unchanged) without reading the rest.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

from inbox_agent.adapters.archive import Archive
from inbox_agent.core.conversations import Conversation
from inbox_agent.core.ledger import SkippedMessage

KEPT = 4  # readings kept: the report's period and the list's, with room to change either

INDEX_FILES = "index.*"  # the archive index's base and its log (adapters.archive_index)

Reading = tuple[list[Conversation], list[SkippedMessage]]
_READINGS: dict[object, Reading] = {}
_INDEXES: dict[object, Archive] = {}


async def conversations(data_dir: Path, since: datetime | None = None) -> Reading:
    """The archive's conversations (newest copy of each) and skipped mail, from ``since``'s
    month on (None: all)."""
    return await asyncio.to_thread(_read, Archive(data_dir, read_only=True), since)


async def conversation(data_dir: Path, token: str) -> Conversation | None:
    """Archived conversation ``token``, or None: found through the archive's index (loaded
    again only when its files change), then read from its month file."""

    def find() -> Conversation | None:
        archive = _opened(Archive(data_dir, read_only=True))
        return archive.conversation(token) if archive else None

    return await asyncio.to_thread(find)


def _opened(archive: Archive) -> Archive | None:
    """``archive`` with its index loaded, or the one loaded before while the index files are
    as they were (the daemon's archive pass appends to them, hourly at most); None when there
    is no archive yet."""
    if not archive.folder.is_dir():
        return None
    key = (str(archive.folder), _stamps(archive.folder, INDEX_FILES))
    found = _INDEXES.get(key)
    if found is None:
        found = archive.open()
        _INDEXES.clear()  # one data_dir's index at a time: the daemon serves one
        _INDEXES[key] = found
    return found


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


def _stamps(folder: Path, pattern: str = "*.json") -> tuple[tuple[str, int, int, int], ...]:
    """Each archive file's (the month files, or ``pattern``'s) name, inode, size and mtime: a
    file replaced or appended to is a new stamp."""
    if not folder.is_dir():
        return ()
    found = []
    for path in sorted(folder.glob(pattern)):
        try:
            stat = path.stat()
        except FileNotFoundError:  # replaced or removed between glob and stat
            continue
        found.append((path.name, stat.st_ino, stat.st_size, stat.st_mtime_ns))
    return tuple(found)
