"""The two doors to the outside world, as protocols: a mailbox to read, a mailer to send.

Real implementations: ``imap.ImapMailbox`` and ``smtp.SmtpMailer``. In-memory ones for tests,
the demo and dry runs: ``memory.MemoryMailbox`` and ``memory.MemoryMailer``. They raise only
the errors in ``inbox_agent.errors``, never a library's own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

FETCH_CHUNK = 1_000  # DESIGN.md: never ask an IMAP server for more than this at once


@dataclass(frozen=True)
class FetchedMessage:
    """One message as the server holds it."""

    uid: int
    arrived_at: datetime  # the server's INTERNALDATE: when it received the mail
    raw: bytes


@dataclass(frozen=True)
class FolderBatch:
    """Up to ``FETCH_CHUNK`` new messages of one folder, in UID order."""

    folder: str
    uidvalidity: int
    messages: list[FetchedMessage]


class Mailbox(Protocol):
    """Reads a mailbox over IMAP (or a stand-in)."""

    async def open(self) -> None:
        """Connect and log in."""

    async def close(self) -> None:
        """Log out; never raises."""

    def fetch_new(
        self, folder: str, uidvalidity: int | None, last_uid: int
    ) -> AsyncIterator[FolderBatch]:
        """Messages after ``last_uid``; all of them when ``uidvalidity`` no longer matches."""
        ...

    async def append(self, folder: str, raw: bytes, at: datetime) -> None:
        """Store ``raw`` in ``folder``, marked seen, as received at ``at``."""

    async def has_message_id(self, folder: str, message_id: str) -> bool:
        """True when ``folder`` holds a message with this Message-ID."""
        ...


class Mailer(Protocol):
    """Sends mail over SMTP (or a stand-in)."""

    async def send(self, raw: bytes, sender: str, recipients: list[str]) -> None:
        """Hand the message to the relay; raise a ``SendError`` unless every recipient took it.

        The session it opens stays open for the next mail until ``close``."""

    async def close(self) -> None:
        """End the session, if one is open; never raises."""
