"""What the agent knows, as plain records: conversations, the outbox, checkpoints, marks.

The ledger is pure data; ``adapters.store`` keeps it on disk and the agent layer changes it.
The outbox's states are a table, with its rules first (as h11's ``_state.py`` does):

1. A mail is recorded (``pending``) with the Message-ID it will carry before anything is sent.
2. It is ``sending``, durably, before the relay sees it: a crash leaves it there, and the
   next start resolves it against the Sent folder (a copy there means it went).
3. The relay's 250 is recorded (``sent``) before anything else happens; filing the copy in the
   Sent folder comes after. So a mail can go twice only if the process dies between the 250
   and that local record (RFC 1047: no SMTP client can close that window).
4. A temporary refusal (4xx, a timeout) puts it back to ``pending`` with a time to try again; a
   permanent one (5xx, a refused recipient) makes it ``failed``, for a person; it is never
   retried.
5. A mail that has not gone when what it says stops being true is ``superseded`` (restated
   with a new promise, or no longer needed); only a pending mail can be.

``move`` reads the table and refuses any other move, naming the state.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from inbox_agent.core.breakers import Sent
from inbox_agent.core.conversations import Conversation, FiledMessage, MailKind, SentMail


class OutboxState(StrEnum):
    """Where an outgoing mail is on its way."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SUPERSEDED = "superseded"


class OutboxEvent(StrEnum):
    """What can happen to an outgoing mail."""

    SEND = "send"  # handed to the relay next
    ACCEPTED = "accepted"  # the relay said 250 (or its copy was found after a crash)
    DEFERRED = "deferred"  # 4xx, a timeout, or cut short by a crash with no copy found
    REFUSED = "refused"  # 5xx or a recipient refused
    SUPERSEDED = "superseded"  # what it says is no longer true


TRANSITIONS: dict[tuple[OutboxState, OutboxEvent], OutboxState] = {
    (OutboxState.PENDING, OutboxEvent.SEND): OutboxState.SENDING,
    (OutboxState.PENDING, OutboxEvent.SUPERSEDED): OutboxState.SUPERSEDED,
    (OutboxState.SENDING, OutboxEvent.ACCEPTED): OutboxState.SENT,
    (OutboxState.SENDING, OutboxEvent.DEFERRED): OutboxState.PENDING,
    (OutboxState.SENDING, OutboxEvent.REFUSED): OutboxState.FAILED,
}


class OutboxMoveError(Exception):
    """A move the table does not allow: a bug in the agent, never the world's doing."""


def move(state: OutboxState, event: OutboxEvent) -> OutboxState:
    """The state after ``event`` in ``state``; raises ``OutboxMoveError`` if it cannot happen."""
    try:
        return TRANSITIONS[state, event]
    except KeyError:
        raise OutboxMoveError(f"an outgoing mail that is {state} cannot be {event}") from None


@dataclass
class Checkpoint:
    """How far a folder has been read: the UIDVALIDITY and the last UID filed."""

    uidvalidity: int
    last_uid: int


@dataclass
class OutboxEntry:
    """A mail the agent has decided to send, recorded before it is sent."""

    message_id: str
    conversation_id: str
    mailbox: str
    kind: MailKind
    to: str
    raw: bytes
    created_at: datetime
    state: OutboxState = OutboxState.PENDING
    attempts: int = 0
    sent_at: datetime | None = None
    last_error: str = ""
    next_attempt_at: datetime | None = None  # after a temporary failure: not before this
    copy_pending: bool = False  # sent, but its copy is not in the Sent folder yet
    deliver_by: datetime | None = None  # later than this, its promise is restated first

    def move(self, event: OutboxEvent) -> None:
        """Take ``event`` (the table above decides the new state)."""
        self.state = move(self.state, event)


@dataclass
class SkippedMessage:
    """Mail filed outside any conversation (machine mail, stray staff mail), with the reason."""

    key: str
    mailbox: str
    message: FiledMessage


@dataclass(frozen=True)
class Undeliverable:
    """An address our mail bounced from: no automatic mail goes there until they write again."""

    address: str
    since: datetime
    conversation_id: str
    reason: str


@dataclass
class Ledger:
    """Everything the agent knows, in memory."""

    conversations: dict[str, Conversation] = field(default_factory=dict)
    skipped: list[SkippedMessage] = field(default_factory=list)
    outbox: dict[str, OutboxEntry] = field(default_factory=dict)
    checkpoints: dict[str, Checkpoint] = field(default_factory=dict)
    undeliverable: dict[str, Undeliverable] = field(default_factory=dict)  # by address

    def by_message_id(self) -> dict[str, str]:
        """Every filed message key and sent Message-ID -> its conversation id."""
        index: dict[str, str] = {}
        for conversation in self.conversations.values():
            for message in conversation.messages:
                index[message.key] = conversation.id
            for sent in conversation.sent:
                index[sent.message_id] = conversation.id
        return index

    def known_keys(self) -> set[str]:
        """Keys of every message filed anywhere."""
        keys = {s.key for s in self.skipped}
        for conversation in self.conversations.values():
            keys.update(m.key for m in conversation.messages)
        return keys

    def mail_to_customers(self) -> list[Sent]:
        """Every automatic mail to a customer (not the manager's reports), for the breakers."""
        return [sent for c in self.conversations.values() for sent in to_customers(c, c.sent)]

    def sent_message_ids(self) -> set[str]:
        """Message-IDs of every mail the agent has made."""
        return set(self.outbox)

    def in_state(self, state: OutboxState) -> Iterator[OutboxEntry]:
        """Outbox entries in ``state``, oldest first."""
        chosen = [e for e in self.outbox.values() if e.state == state]
        yield from sorted(chosen, key=lambda e: e.created_at)


def to_customers(conversation: Conversation, sent: list[SentMail]) -> list[Sent]:
    """The mails of ``sent`` that went to the customer, as the breakers count them."""
    return [Sent(conversation.id, s.to, s.created_at) for s in sent
            if s.kind != MailKind.ESCALATION]
