"""In-memory stand-ins for the mail server, shipped with the package.

Used by ``inbox-agent demo`` (no account or server needed), by ``run --dry-run`` (the mailer
records instead of sending) and by tests of the app that are about decisions, not the wire.
They keep the same contract as the real adapters, including UIDVALIDITY, chunking by count
and by bytes, and mail over ``max_message_size`` handed on as its header only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage

from inbox_agent.adapters.base import (
    FETCH_BYTES,
    MAX_HEADER_BYTES,
    FetchedMessage,
    FolderBatch,
    byte_chunks,
    header_block,
)


@dataclass
class _Folder:
    uidvalidity: int = 1
    next_uid: int = 1
    messages: list[FetchedMessage] = field(default_factory=list)


class MemoryMailbox:
    """An IMAP mailbox in memory: deliver mail into folders, the agent reads it.

    ``max_message_size`` (bytes; None: no limit) and ``fetch_bytes`` play the parts of
    ``[agent] max_message_size`` and ``ImapMailbox.fetch_bytes``; ``batches`` records the
    UIDs of every batch handed out, for tests about chunking.
    """

    def __init__(self, max_message_size: int | None = None, fetch_bytes: int = FETCH_BYTES) -> None:
        self.folders: dict[str, _Folder] = {}
        self.opened = 0
        self.max_message_size = max_message_size
        self.fetch_bytes = fetch_bytes
        self.batches: list[list[int]] = []

    def deliver(
        self, raw: bytes, arrived_at: datetime, folder: str = "INBOX", size: int | None = None
    ) -> int:
        """Put a message in ``folder`` as the server would; returns its UID. ``size`` is the
        whole message's size when ``raw`` is only its start (``replay`` reads no more of a
        mail over ``max_message_size`` than the IMAP reader would)."""
        box = self.folders.setdefault(folder, _Folder())
        uid = box.next_uid
        box.next_uid += 1
        box.messages.append(FetchedMessage(uid, arrived_at, raw, size=size))
        return uid

    def forget_read(self, folder: str, last_uid: int) -> None:
        """Drop the messages of ``folder`` up to ``last_uid`` (filed already): a long replay
        holds one cycle's mail, not the whole export. UIDs go on from where they were."""
        box = self.folders.setdefault(folder, _Folder())
        box.messages = [m for m in box.messages if m.uid > last_uid]

    def renumber(self, folder: str = "INBOX") -> None:
        """Give ``folder`` a new UIDVALIDITY and new UIDs, as a restored mailbox would."""
        box = self.folders.setdefault(folder, _Folder())
        old = box.messages
        self.folders[folder] = _Folder(uidvalidity=box.uidvalidity + 1)
        for message in old:
            self.deliver(message.raw, message.arrived_at, folder)

    async def open(self) -> None:
        """Nothing to connect to."""
        self.opened += 1

    async def close(self) -> None:
        """Nothing to release."""

    async def fetch_new(
        self, folder: str, uidvalidity: int | None, last_uid: int
    ) -> AsyncIterator[FolderBatch]:
        """New messages of ``folder`` in chunks; all of them if UIDVALIDITY changed."""
        box = self.folders.setdefault(folder, _Folder())
        if uidvalidity is not None and uidvalidity != box.uidvalidity:
            last_uid = 0
        new = {m.uid: m for m in box.messages if m.uid > last_uid}
        limit = self.max_message_size
        too_large = {uid for uid, m in new.items() if limit is not None and m.full_size > limit}
        costs = [
            (uid, MAX_HEADER_BYTES if uid in too_large else m.full_size) for uid, m in new.items()
        ]
        for run in byte_chunks(costs, self.fetch_bytes):
            self.batches.append(run)
            yield FolderBatch(
                folder,
                box.uidvalidity,
                [_headers_only(new[uid]) if uid in too_large else new[uid] for uid in run],
            )

    async def append(self, folder: str, raw: bytes, at: datetime) -> None:
        """Store a copy, as an IMAP APPEND would."""
        self.deliver(raw, at, folder)

    async def has_message_id(self, folder: str, message_id: str) -> bool:
        """True when ``folder`` holds a message with this Message-ID."""
        box = self.folders.get(folder)
        return box is not None and any(
            message_from_bytes(m.raw, policy=policy.compat32).get("Message-ID", "").strip()
            == message_id
            for m in box.messages
        )


def _headers_only(message: FetchedMessage) -> FetchedMessage:
    """What the IMAP reader hands on for a message over the limit: header, size, date."""
    return FetchedMessage(
        message.uid,
        message.arrived_at,
        header_block(message.raw),
        size=message.full_size,
        headers_only=True,
    )


@dataclass(frozen=True)
class SentRecord:
    """One mail handed to the memory mailer."""

    sender: str
    recipients: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        """The mail parsed back, for reading its headers and text."""
        parsed = message_from_bytes(self.raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


class MemoryMailer:
    """An SMTP relay in memory that records what it was given."""

    def __init__(self) -> None:
        self.sent: list[SentRecord] = []

    async def send(self, raw: bytes, sender: str, recipients: list[str]) -> None:
        """Record the mail."""
        self.sent.append(SentRecord(sender, list(recipients), raw))

    async def close(self) -> None:
        """Nothing to end."""
