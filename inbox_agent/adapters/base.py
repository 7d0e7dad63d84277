"""The two doors to the outside world, as protocols: a mailbox to read, a mailer to send.

Real implementations: ``imap.ImapMailbox`` and ``smtp.SmtpMailer``. In-memory ones for tests,
the demo and dry runs: ``memory.MemoryMailbox`` and ``memory.MemoryMailer``. They raise only
the errors in ``inbox_agent.errors``, never a library's own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

FETCH_CHUNK = 1_000  # DESIGN.md: never ask an IMAP server for more than this at once
# Memory is bounded by bytes, not by count: the bodies fetched in one go add up to at most
# this (a single message over it goes alone). Parsing multiplies a message several times over
# while it is filed, so a chunk's bytes, not its count, set the daemon's peak.
FETCH_BYTES = 50 * 1024 * 1024
# The header of a message too large to read is fetched up to this much (a header is a few KB;
# one this big is an attack on the reader, and the start of it still says who wrote).
MAX_HEADER_BYTES = 1024 * 1024


@dataclass(frozen=True)
class FetchedMessage:
    """One message as the server holds it: all of it, or its header alone.

    A message over ``[agent] max_message_size`` is fetched as its header only
    (``headers_only``): ``raw`` is the header block and ``size`` the whole message's size as
    the server reported it (RFC822.SIZE), so it can be filed and its sender seen without
    reading, or holding, its body.
    """

    uid: int
    arrived_at: datetime  # the server's INTERNALDATE: when it received the mail
    raw: bytes
    size: int | None = None  # RFC822.SIZE; None: the size of ``raw``
    headers_only: bool = False

    @property
    def full_size(self) -> int:
        """The whole message's size in bytes, whether or not its body was fetched."""
        return len(self.raw) if self.size is None else self.size


@dataclass(frozen=True)
class FolderBatch:
    """New messages of one folder, in UID order: at most ``FETCH_CHUNK`` of them, whose bytes
    add up to at most ``FETCH_BYTES`` unless one message alone is larger."""

    folder: str
    uidvalidity: int
    messages: list[FetchedMessage]


def byte_chunks(
    costs: Sequence[tuple[int, int]], budget: int, count: int = FETCH_CHUNK
) -> Iterator[list[int]]:
    """Group ``(uid, bytes)`` pairs, in the order given, into runs of at most ``count`` UIDs
    whose bytes add up to at most ``budget``; one message over the budget makes a run alone.

    The order is kept because the caller moves its checkpoint to the last UID of each run.
    """
    run: list[int] = []
    total = 0
    for uid, cost in costs:
        if run and (total + cost > budget or len(run) >= count):
            yield run
            run, total = [], 0
        run.append(uid)
        total += cost
    if run:
        yield run


def header_block(raw: bytes) -> bytes:
    """The header of a message, up to and including the blank line that ends it (at most
    ``MAX_HEADER_BYTES``); all of ``raw`` (so capped) when there is no body."""
    ends = [
        at + len(sep)
        for sep in (b"\r\n\r\n", b"\n\n")
        if (at := raw.find(sep, 0, MAX_HEADER_BYTES)) >= 0
    ]
    return raw[: min(ends)] if ends else raw[:MAX_HEADER_BYTES]


class Mailbox(Protocol):
    """Reads a mailbox over IMAP (or a stand-in)."""

    async def open(self) -> None:
        """Connect and log in."""

    async def close(self) -> None:
        """Log out; never raises."""

    def fetch_new(
        self, folder: str, uidvalidity: int | None, last_uid: int
    ) -> AsyncIterator[FolderBatch]:
        """Messages after ``last_uid``; all of them when ``uidvalidity`` no longer matches.

        In UID order, in batches bounded by ``FETCH_CHUNK`` and ``FETCH_BYTES``; a message over
        the configured ``max_message_size`` comes as its header only (``headers_only``)."""
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
