"""The agent's record of each mailbox's polls (``adapters.health``), kept after every poll
attempt and written when ``core.status.worth_writing`` says so. A dry run keeps it in memory
only (it writes nothing in data_dir); a disk that refuses the write is logged once and the
agent goes on: the record is a report, the mail comes first."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from inbox_agent.adapters.health import read_health, write_health
from inbox_agent.core.status import (
    FolderWatchShown,
    MailboxHealth,
    after_poll,
    after_watch,
    worth_writing,
)
from inbox_agent.errors import StoreWriteError

log = logging.getLogger("inbox_agent")


class PollHealth:
    """Each mailbox's last good poll and last error, as ``inbox-agent status`` reads them."""

    def __init__(self, data_dir: Path, *, dry_run: bool = False) -> None:
        self.data_dir = data_dir
        self.dry_run = dry_run
        self.records = read_health(data_dir)  # a restart keeps the last error it knew
        self._on_disk = dict(self.records)  # what the file holds: each change is weighed on it
        _forget_watches(self.records)  # those of a daemon gone
        self.written_at: datetime | None = None
        self._write_failed = False

    def polled(self, mailbox: str, now: datetime, error: str | None = None) -> None:
        """A poll of ``mailbox`` at ``now`` worked (``error`` None) or failed with ``error``.
        Written when the record differs from the file's in a way worth writing: a changed
        watch, recorded since the last write, counts like a changed error."""
        after = after_poll(self.records.get(mailbox) or MailboxHealth(mailbox), now, error)
        self.records[mailbox] = after
        if worth_writing(self._on_disk.get(mailbox), after, self.written_at, now):
            self._write(now)

    def watched(self, mailbox: str, folder: str, shown: FolderWatchShown | None) -> None:
        """How ``folder`` is watched now (None: not at all). Written with the next poll's
        record, which every watch that starts watching calls for: hundreds of watches starting
        together make one write per poll, not one each."""
        before = self.records.get(mailbox) or MailboxHealth(mailbox)
        self.records[mailbox] = after_watch(before, shown, folder)

    def stopped_watching(self, now: datetime) -> None:
        """The daemon stopped: no folder is watched any more (``status`` must not say so)."""
        _forget_watches(self.records)
        if self.records != self._on_disk:
            self._write(now)

    def _write(self, now: datetime) -> None:
        if self.dry_run:
            return
        try:
            write_health(self.data_dir, self.records.values())
        except StoreWriteError as exc:
            if not self._write_failed:
                log.warning("poll health not recorded (shown by `inbox-agent status`): %s", exc)
            self._write_failed = True
            return
        self._write_failed = False
        self._on_disk = dict(self.records)
        self.written_at = now


def _forget_watches(records: dict[str, MailboxHealth]) -> None:
    """Clear every record's watches."""
    for name, record in records.items():
        records[name] = replace(record, watches=())
