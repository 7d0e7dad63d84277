"""The archive's index: which archived conversation an entry (``core.archive.entries``) leads
to, without holding the entries themselves.

Measured (DESIGN.md): 300k Message-IDs of 100k archived conversations as one JSON dict took
16.5 MB on disk and ~110 MB of memory. Here each entry is kept as a 64-bit hash with the token
of its conversation and the month file that holds it, in columns (``array``): 23 bytes an
entry, about 12 MB in memory for 500k entries, loaded with three ``frombytes`` calls.

- ``index.bin``: the entries sorted by hash, searched by bisection. Rewritten (atomically) only
  when the log has grown to a sixteenth of it (at least 10,000 entries), so the rewriting
  costs O(1) per entry over time: the log's entries are sorted and merged into the base in
  one pass, with slices of the columns (no object per base entry; measured, sorting all
  566,665 entries of 100k conversations through Python objects peaked at 165 MB).
- ``index.log``: entries added since, appended as fixed-size records and fsynced; read into a
  dict at open (about 320 bytes an entry, hence the small log). A record cut short by a crash
  is ignored: what it belonged to is still in the live store and is archived again.

A hash can collide, so an entry found here is a candidate: a conversation brought back is read
from its month file, and threading checks it by its real Message-IDs (``core.conversations``).
For a message's key the hash is the answer (a message read again is "already filed"): at 64
bits, a million entries make a false "already filed" about one in 10^13 messages.
"""

from __future__ import annotations

import bisect
import hashlib
import os
import struct
import sys
from array import array
from collections.abc import Iterable
from pathlib import Path

from inbox_agent.adapters.files import FILE_MODE, write_failed, write_whole
from inbox_agent.errors import StoreWriteError

BASE_FILE = "index.bin"
LOG_FILE = "index.log"
_MAGIC = b"inbox-agent archive index 1\n"
_COUNT = struct.Struct("<Q")
TOKEN_BYTES = 13  # the longest token ``conversations.new_token`` can make
_RECORD = struct.Struct(f"<QH{TOKEN_BYTES}s")  # hash, month number, token
_OUTCOME = ("the conversations stay in the live store", "the agent archives them again")


def entry_hash(entry: str) -> int:
    """An entry's 64-bit hash (BLAKE2b: keyed hashing is not needed, speed and spread are)."""
    digest = hashlib.blake2b(entry.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def month_number(year: int, month: int) -> int:
    """A month as one small number (it fits the index's 16 bits until the year 5400)."""
    return year * 12 + month - 1


def month_name(number: int) -> str:
    """``2026-12``: the name of a month's archive file, without ``.json``."""
    return f"{number // 12:04d}-{number % 12 + 1:02d}"


class ArchiveIndex:
    """Entries -> (token, month) for every conversation in the archive folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._hashes = array("Q")
        self._months = array("H")
        self._tokens = b""
        self._recent: dict[int, list[tuple[str, int]]] = {}
        self._recent_count = 0

    def __len__(self) -> int:
        return len(self._hashes) + self._recent_count

    def load(self) -> ArchiveIndex:
        """Read ``index.bin`` and ``index.log`` (absent: an empty archive)."""
        self._load_base(self.folder / BASE_FILE)
        try:
            log = (self.folder / LOG_FILE).read_bytes()
        except FileNotFoundError:
            log = b""
        whole = len(log) - len(log) % _RECORD.size
        for hashed, month, token in _RECORD.iter_unpack(log[:whole]):
            self._remember(hashed, month, token.rstrip(b"\0").decode("ascii"))
        return self

    def _load_base(self, path: Path) -> None:
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return
        if not raw.startswith(_MAGIC):
            raise ValueError(f"{path}: not an inbox-agent archive index")
        (count,) = _COUNT.unpack_from(raw, len(_MAGIC))
        start = len(_MAGIC) + _COUNT.size
        ends = (start + 8 * count, start + 10 * count, start + (10 + TOKEN_BYTES) * count)
        if len(raw) != ends[2]:
            raise ValueError(f"{path}: cut short ({len(raw)} bytes, {ends[2]} expected)")
        view = memoryview(raw)  # slices of a view copy nothing: the index is loaded once
        self._hashes.frombytes(view[start : ends[0]])
        self._months.frombytes(view[ends[0] : ends[1]])
        if sys.byteorder == "big":  # the file is little-endian wherever it was written
            self._hashes.byteswap()
            self._months.byteswap()
        self._tokens = bytes(view[ends[1] : ends[2]])

    def find(self, entry: str) -> list[tuple[str, int]]:
        """(token, month) for every conversation ``entry`` may lead to; newest month first."""
        hashed = entry_hash(entry)
        found = list(self._recent.get(hashed, ()))
        at = bisect.bisect_left(self._hashes, hashed)
        while at < len(self._hashes) and self._hashes[at] == hashed:
            token = self._tokens[at * TOKEN_BYTES : (at + 1) * TOKEN_BYTES]
            found.append((token.rstrip(b"\0").decode("ascii"), self._months[at]))
            at += 1
        return sorted(set(found), key=lambda f: -f[1])

    def add(self, entries: Iterable[tuple[str, str, int]]) -> None:
        """Append (entry, token, month) records durably; the base is rewritten when the log
        has grown large enough to make that worth it."""
        records = [(entry_hash(entry), month, token) for entry, token, month in entries]
        if not records:
            return
        payload = b"".join(_RECORD.pack(h, m, t.encode("ascii")) for h, m, t in records)
        _append(self.folder / LOG_FILE, payload)
        for hashed, month, token in records:
            self._remember(hashed, month, token)
        if self.log_is_large():
            self.compact()

    def log_is_large(self) -> bool:
        """Whether the log should be folded into the base (see above)."""
        return self._recent_count > max(10_000, len(self._hashes) // 16)

    def compact(self) -> None:
        """Fold the log into a new sorted base, written atomically, then empty the log (a
        crash between the two leaves entries in both: found twice, returned once)."""
        recent = sorted(
            (hashed, month, token.encode("ascii").ljust(TOKEN_BYTES, b"\0"))
            for hashed, found in self._recent.items()
            for token, month in found
        )
        hashes, months, tokens = array("Q"), array("H"), bytearray()
        done = 0  # base entries copied so far
        for hashed, month, token in recent:
            at = bisect.bisect_left(self._hashes, hashed, done)
            hashes.extend(self._hashes[done:at])
            months.extend(self._months[done:at])
            tokens += self._tokens[done * TOKEN_BYTES : at * TOKEN_BYTES]
            hashes.append(hashed)
            months.append(month)
            tokens += token
            done = at
        hashes.extend(self._hashes[done:])
        months.extend(self._months[done:])
        tokens += self._tokens[done * TOKEN_BYTES :]
        self._hashes, self._months, self._tokens = hashes, months, bytes(tokens)
        self._recent, self._recent_count = {}, 0
        payload = b"".join(
            [_MAGIC, _COUNT.pack(len(hashes)), _little(hashes), _little(months), self._tokens]
        )
        write_whole(self.folder / BASE_FILE, payload, _OUTCOME)
        write_whole(self.folder / LOG_FILE, b"", _OUTCOME)

    def _remember(self, hashed: int, month: int, token: str) -> None:
        self._recent.setdefault(hashed, []).append((token, month))
        self._recent_count += 1


def _little(column: array[int]) -> bytes:
    """A column as the file keeps it: little-endian wherever it is written."""
    if sys.byteorder == "little":
        return column.tobytes()
    swapped = array(column.typecode, column)
    swapped.byteswap()
    return swapped.tobytes()


def _append(path: Path, payload: bytes) -> None:
    """Append ``payload`` and fsync it. A record cut short by a crash is cut off first, so
    that the records after it stay aligned. A new file is made owner-only."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, FILE_MODE)
        try:
            size = os.fstat(fd).st_size
            if size % _RECORD.size:
                os.ftruncate(fd, size - size % _RECORD.size)
            os.write(fd, payload)
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise StoreWriteError(write_failed(path, exc, _OUTCOME)) from exc
