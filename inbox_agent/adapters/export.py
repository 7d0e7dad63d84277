"""Exported mail read from disk, for ``inbox-agent replay``: an mbox file or a folder of .eml.

Nothing here is held whole: the export is scanned once for where each message is and when it
was sent (its header, at most ``HEADER_SCAN_BYTES``), and a message's bytes are read only when
it is replayed, and then no more of a mail over ``max_message_size`` than the IMAP reader would
fetch (its header). Every byte is hostile: a header that does not parse, a Date from 1901 or
2099, a line of a gigabyte without a line break are all read within bounds.

A message's moment, in order of trust:

1. its ``Date`` header (the sender's clock; the export has no server receipt time);
2. the mbox ``From_`` line's date (``From sender Tue Nov 24 10:05:00 2026``, UTC unless the
   line names an offset), written by the program that stored it;
3. the file's modification time (for an mbox, the same for all its messages).

A moment before ``EARLIEST`` or after ``latest`` (the caller's now) is not believed: the next
source is used. Messages are replayed in the order of their moments (the export's order
among equals).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from inbox_agent.adapters.base import MAX_HEADER_BYTES, header_block
from inbox_agent.core.message import parse
from inbox_agent.errors import CommandError

HEADER_SCAN_BYTES = 256 * 1024  # a Date further down a header than this is not looked for
READ_CHUNK = 64 * 1024  # an mbox is read in lines of at most this (a longer one is split)
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)  # older "dates" are broken clocks, not mail
# The From_ line's date: asctime (UTC, as mail programs write it), or with an offset before
# the year; (how many words, the format, what is added to the words: UTC when none is named).
_FROM_FORMATS = ((5, "%a %b %d %H:%M:%S %Y %z", " +0000"), (6, "%a %b %d %H:%M:%S %z %Y", ""))


@dataclass(frozen=True)
class ExportedMail:
    """One message of an export: where its bytes are, when it was sent, and who sent it."""

    path: Path
    offset: int  # where its bytes start in ``path`` (after an mbox's From_ line)
    size: int  # its whole size in bytes
    moment: datetime  # aware, UTC
    dated_by: str  # "Date", "From_ line" or "file time"
    sender: str | None  # the From address, as the header has it
    message_id: str | None
    order: int  # its place in the export
    in_mbox: bool

    @property
    def where(self) -> str:
        """The message as a person finds it: ``mail.mbox #12`` or ``0042.eml``."""
        return f"{self.path.name} #{self.order + 1}" if self.in_mbox else self.path.name

    def read(self, max_bytes: int) -> bytes:
        """Its bytes: all of them, or its header alone (as the IMAP reader fetches it) when
        it is over ``max_bytes``."""
        try:
            with self.path.open("rb") as file:
                file.seek(self.offset)
                if self.size <= max_bytes:
                    return file.read(self.size)
                return header_block(file.read(min(self.size, MAX_HEADER_BYTES)))
        except OSError as exc:
            raise CommandError(
                f"{self.where}: cannot be read any more ({exc.strerror}); "
                "leave the export as it is while it is replayed"
            ) from exc


def read_export(path: Path, limit: int, latest: datetime) -> list[ExportedMail]:
    """The messages of the mbox or .eml folder at ``path``, in the order they were sent; at
    most ``limit`` of them (more is a ``CommandError``, before anything is replayed)."""
    try:
        if path.is_dir():
            mails = _eml_folder(path, limit, latest)
        elif path.is_file() and _starts_like_mbox(path):
            mails = _mbox(path, limit, latest)
        else:
            what = (
                "does not exist"
                if not path.exists()
                else "is neither an mbox file (its "
                "first line is not a 'From ' line) nor a folder of .eml files"
            )
            raise CommandError(
                f"{path}: {what}; export the mail as mbox, or save it as .eml "
                "files in one folder, and give that path"
            )
    except OSError as exc:
        raise CommandError(
            f"{exc.filename or path}: cannot be read ({exc.strerror}); let this user read it"
        ) from exc
    return sorted(mails, key=lambda m: (m.moment, m.order))


def _eml_folder(folder: Path, limit: int, latest: datetime) -> list[ExportedMail]:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".eml" and p.is_file())
    if not files:
        raise CommandError(
            f"{folder}: holds no .eml files; save the mail to replay there, one "
            "message a file, or give an mbox file"
        )
    _within_limit(folder, len(files), limit)
    mails = []
    for order, file in enumerate(files):
        stat = file.stat()
        with file.open("rb") as handle:
            head = header_block(handle.read(HEADER_SCAN_BYTES))
        mails.append(
            _mail(
                file,
                (0, stat.st_size),
                head,
                from_line=None,
                mtime=stat.st_mtime,
                order=order,
                latest=latest,
            )
        )
    return mails


def _mbox(path: Path, limit: int, latest: datetime) -> list[ExportedMail]:
    mtime = path.stat().st_mtime
    mails = []
    for order, (from_line, start, end, head) in enumerate(_mbox_messages(path)):
        _within_limit(path, order + 1, limit)
        mails.append(
            _mail(
                path,
                (start, end - start),
                head,
                from_line=from_line,
                mtime=mtime,
                order=order,
                latest=latest,
            )
        )
    return mails


def _mbox_messages(path: Path) -> Iterator[tuple[bytes, int, int, bytes]]:
    """(From_ line, start, end, header) of each message. A message starts after every line
    that begins with ``From `` (Python's ``mailbox.mbox`` splits the same way) and ends before
    the blank line the format puts in front of the next one."""
    with path.open("rb") as file:
        current: tuple[bytes, int] | None = None
        head, in_head, at_line_start, blank = b"", False, True, 0
        while True:
            position = file.tell()
            line = file.readline(READ_CHUNK)
            if at_line_start and (not line or line.startswith(b"From ")):
                if current is not None:
                    yield current[0], current[1], max(current[1], position - blank), head
                if not line:
                    return
                rest = line
                while rest and not rest.endswith(b"\n"):  # a From_ line longer than a chunk
                    rest = file.readline(READ_CHUNK)
                current, head, in_head, blank = (line[:1000], file.tell()), b"", True, 0
                at_line_start = True
                continue
            else:
                in_head = in_head and line.strip() != b"" and len(head) < HEADER_SCAN_BYTES
                head += line if in_head else b""
                blank = len(line) if at_line_start and line in (b"\n", b"\r\n") else 0
            at_line_start = line.endswith(b"\n")


def _starts_like_mbox(path: Path) -> bool:
    with path.open("rb") as file:
        return file.read(5) == b"From "


def _within_limit(path: Path, count: int, limit: int) -> None:
    if count > limit:
        raise CommandError(
            f"{path}: holds more than {limit:,} messages; replay a shorter "
            f"export, or raise the bound with --limit"
        )


def _mail(
    path: Path,
    span: tuple[int, int],
    head: bytes,
    *,
    from_line: bytes | None,
    mtime: float,
    order: int,
    latest: datetime,
) -> ExportedMail:
    """``span``: (offset, size) of its bytes in ``path``."""
    header = parse(header_block(head), EARLIEST)
    moment, dated_by = _moment(header.date, from_line, mtime, latest)
    return ExportedMail(
        path,
        span[0],
        span[1],
        moment,
        dated_by,
        header.from_address,
        header.message_id,
        order,
        in_mbox=from_line is not None,
    )


def _moment(
    date: datetime | None, from_line: bytes | None, mtime: float, latest: datetime
) -> tuple[datetime, str]:
    for moment, source in ((date, "Date"), (_from_line_date(from_line), "From_ line")):
        if moment is not None and EARLIEST <= moment <= latest:
            return moment.astimezone(UTC), source
    try:
        file_time = datetime.fromtimestamp(mtime, UTC)
    except (OverflowError, OSError, ValueError):
        file_time = latest
    return min(max(file_time, EARLIEST), latest), "file time"


def _from_line_date(line: bytes | None) -> datetime | None:
    """The date at the end of an mbox From_ line (asctime, optionally with an offset)."""
    if not line:
        return None
    words = line.decode("ascii", "replace").split()
    for count, form, zone in _FROM_FORMATS:
        if len(words) < count + 2:  # "From", the sender, then the date
            continue
        try:
            # Every format above ends in or holds %z: the result is aware.
            return datetime.strptime(" ".join(words[-count:]) + zone, form)  # noqa: DTZ007
        except ValueError:
            continue
    return None
