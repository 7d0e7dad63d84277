"""Reading an export for ``replay`` (``adapters/export.py``): mbox splitting, each message's
moment and how it was found, bounds, and one-line errors."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from inbox_agent.adapters.export import READ_CHUNK, read_export
from inbox_agent.errors import CommandError

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def _mail(subject: str, date: str | None = None, body: str = "Hello.") -> bytes:
    headers = f"From: Ana <ana@customer.example>\nSubject: {subject}\n"
    headers += f"Date: {date}\n" if date is not None else ""
    return (
        f"{headers}Message-ID: <{subject.replace(' ', '-')}@customer.example>\n\n{body}\n".encode()
    )


def test_an_mbox_is_split_at_its_from_lines_and_each_message_read_exactly(tmp_path: Path) -> None:
    """Each message's bytes are what lies between its From_ line and the blank line before
    the next one; a quoted ">From " body line stays in its message; CRLF files work too."""
    first = _mail("one", "Mon, 16 Nov 2026 10:05:00 +0000", body="Hi\n>From the start\n")
    second = _mail("two", "Mon, 16 Nov 2026 09:00:00 +0000").replace(b"\n", b"\r\n")
    path = tmp_path / "export.mbox"
    path.write_bytes(
        b"From ana@customer.example Mon Nov 16 10:05:00 2026\n"
        + first
        + b"\n"
        + b"From ana@customer.example Mon Nov 16 09:00:00 2026\r\n"
        + second
        + b"\r\n"
    )
    mails = read_export(path, 10, NOW)
    assert [m.read(10**6) for m in mails] == [second, first]  # sorted by moment
    assert [m.message_id for m in mails] == ["<two@customer.example>", "<one@customer.example>"]
    assert [m.where for m in mails] == ["export.mbox #2", "export.mbox #1"]
    assert [m.sender for m in mails] == ["ana@customer.example"] * 2


def test_a_date_no_clock_had_falls_back_to_the_from_line_then_the_file_time(tmp_path: Path) -> None:
    """A Date of 1901 or 2099, or none, is not believed: the From_ line's date is used (UTC
    unless it names an offset), and without a readable one the mbox file's time."""
    path = tmp_path / "export.mbox"
    path.write_bytes(
        b"From a@x Tue Nov 17 10:05:00 2026\n"
        + _mail("old", "Mon, 1 Jan 1901 10:00:00 +0000")
        + b"\nFrom a@x Tue Nov 17 11:05:00 +0100 2026\n"
        + _mail("future", "Thu, 1 Jan 2099 10:00:00 +0000")
        + b"\nFrom a@x yesterday\n"
        + _mail("undated")
        + b"\n"
    )
    os.utime(path, (0, datetime(2026, 11, 18, 8, 0, tzinfo=UTC).timestamp()))
    mails = {m.message_id: m for m in read_export(path, 10, NOW)}
    assert (mails["<old@customer.example>"].moment, mails["<old@customer.example>"].dated_by) == (
        datetime(2026, 11, 17, 10, 5, tzinfo=UTC),
        "From_ line",
    )
    assert mails["<future@customer.example>"].moment == datetime(2026, 11, 17, 10, 5, tzinfo=UTC)
    assert (
        mails["<undated@customer.example>"].moment,
        mails["<undated@customer.example>"].dated_by,
    ) == (datetime(2026, 11, 18, 8, 0, tzinfo=UTC), "file time")


def test_a_folder_reads_its_eml_files_only_and_dates_undated_ones_by_their_time(
    tmp_path: Path,
) -> None:
    """Only ``*.eml`` (any case) in the folder itself; a file without a Date is dated by
    its modification time."""
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "a.eml").write_bytes(_mail("dated", "Mon, 16 Nov 2026 10:05:00 +0100"))
    (folder / "B.EML").write_bytes(_mail("undated"))
    os.utime(folder / "B.EML", (0, datetime(2026, 11, 16, 8, 0, tzinfo=UTC).timestamp()))
    (folder / "notes.txt").write_text("not mail\n", encoding="utf-8")
    (folder / "sub").mkdir()
    (folder / "sub" / "c.eml").write_bytes(_mail("nested"))
    mails = read_export(folder, 10, NOW)
    assert [(m.where, m.dated_by, m.moment) for m in mails] == [
        ("B.EML", "file time", datetime(2026, 11, 16, 8, 0, tzinfo=UTC)),
        ("a.eml", "Date", datetime(2026, 11, 16, 9, 5, tzinfo=UTC)),
    ]


def test_a_mail_over_the_limit_is_read_as_its_header_only(tmp_path: Path) -> None:
    """``read(max_bytes)`` of a bigger message gives its header block, as IMAP would."""
    raw = _mail("big", "Mon, 16 Nov 2026 10:05:00 +0000", body="x" * 5000)
    (tmp_path / "export").mkdir()
    (tmp_path / "export" / "big.eml").write_bytes(raw)
    [mail] = read_export(tmp_path / "export", 10, NOW)
    assert mail.size == len(raw)
    assert mail.read(1000) == raw[: raw.index(b"\n\n") + 2]


def test_a_from_line_longer_than_a_read_is_skipped_whole(tmp_path: Path) -> None:
    """A hostile From_ line of a megabyte neither becomes part of the message nor breaks
    the split."""
    path = tmp_path / "export.mbox"
    raw = _mail("one", "Mon, 16 Nov 2026 10:05:00 +0000")
    path.write_bytes(b"From " + b"x" * (READ_CHUNK * 16) + b"\n" + raw + b"\n")
    [mail] = read_export(path, 10, NOW)
    assert mail.read(10**6) == raw


def test_what_cannot_be_replayed_is_one_line(tmp_path: Path) -> None:
    """Neither an mbox nor a folder, an empty folder, too many messages: a CommandError
    saying what to do."""
    (tmp_path / "notes.txt").write_text("hello\n", encoding="utf-8")
    (tmp_path / "empty").mkdir()
    mbox = tmp_path / "export.mbox"
    mbox.write_bytes(
        b"".join(b"From a@x Mon Nov 16 10:00:00 2026\n" + _mail(f"m{n}") + b"\n" for n in range(3))
    )
    for path, limit, expected in (
        (tmp_path / "notes.txt", 10, "is neither an mbox file"),
        (tmp_path / "empty", 10, "holds no .eml files"),
        (mbox, 2, "holds more than 2 messages"),
    ):
        with pytest.raises(CommandError, match=expected) as caught:
            read_export(path, limit, NOW)
        assert "\n" not in str(caught.value)
