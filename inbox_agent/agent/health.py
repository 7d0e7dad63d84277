"""The agent's record of each mailbox's polls (``adapters.health``), kept after every poll
attempt and written when ``core.status.worth_writing`` says so. A dry run keeps it in memory
only (it writes nothing in data_dir); a disk that refuses the write is logged once and the
agent goes on: the record is a report, the mail comes first."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from inbox_agent.adapters.health import read_health, write_health
from inbox_agent.core.status import MailboxHealth, after_poll, worth_writing
from inbox_agent.errors import StoreWriteError

log = logging.getLogger("inbox_agent")


class PollHealth:
    """Each mailbox's last good poll and last error, as ``inbox-agent status`` reads them."""

    def __init__(self, data_dir: Path, *, dry_run: bool = False) -> None:
        self.data_dir = data_dir
        self.dry_run = dry_run
        self.records = read_health(data_dir)  # a restart keeps the last error it knew
        self.written_at: datetime | None = None
        self._write_failed = False

    def polled(self, mailbox: str, now: datetime, error: str | None = None) -> None:
        """A poll of ``mailbox`` at ``now`` worked (``error`` None) or failed with ``error``."""
        before = self.records.get(mailbox)
        after = after_poll(before or MailboxHealth(mailbox), now, error)
        self.records[mailbox] = after
        if not self.dry_run and worth_writing(before, after, self.written_at, now):
            self._write(now)

    def _write(self, now: datetime) -> None:
        try:
            write_health(self.data_dir, self.records.values())
        except StoreWriteError as exc:
            if not self._write_failed:
                log.warning("poll health not recorded (shown by `inbox-agent status`): %s", exc)
            self._write_failed = True
            return
        self._write_failed = False
        self.written_at = now
