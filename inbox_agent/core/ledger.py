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


# An id named by this many conversations is a broadcast (a newsletter many answered), not a
# thread: more are not recorded, so a lookup on it stays short.
MAX_NAMING = 10


@dataclass
class LedgerIndex:
    """Lookups over the ledger, so that filing a message costs O(1), not a walk through every
    conversation (and triage's breakers one customer's conversations, not everyone's).

    ``Ledger.index()`` builds it once and then only catches up: the ledger grows by appending
    (conversations, their messages and our mails, skipped mail), so what each conversation had
    when last indexed is a count, and the catch-up reads only what came after it. The one other
    change, a conversation leaving the ledger (archived), is seen by the counts not adding up,
    and the index is built again. A rollback loads a new ``Ledger``, with no index yet.
    """

    received: dict[str, str] = field(default_factory=dict)  # message key / our Message-ID
    named: dict[str, list[str]] = field(default_factory=dict)  # -> conversations naming it
    keys: set[str] = field(default_factory=set)  # every message filed, skipped ones too
    by_customer: dict[str, list[str]] = field(default_factory=dict)  # address -> conversations
    sent_to: dict[str, list[Sent]] = field(default_factory=dict)  # automatic mail, by address
    ours: set[str] = field(default_factory=set)  # the Message-ID of every mail we made
    _counts: dict[str, tuple[int, int]] = field(default_factory=dict)  # id -> (messages, sent)
    _skipped: int = 0

    def caught_up(self, ledger: Ledger) -> bool:
        """Index what ``ledger`` gained since last time; False when it must be built again."""
        if len(ledger.skipped) < self._skipped:
            return False
        self.add_skipped(ledger.skipped)
        for conversation in ledger.conversations.values():
            if not self.add(conversation):
                return False
        return len(self._counts) == len(ledger.conversations)

    def add(self, conversation: Conversation) -> bool:
        """Index what ``conversation`` gained since last time; False if it lost something."""
        cid = conversation.id
        now = len(conversation.messages), len(conversation.sent)
        messages, sent = self._counts.get(cid, (0, 0))
        if now == (messages, sent) and cid in self._counts:
            return True  # the common case of a catch-up: nothing new here
        if now[0] < messages or now[1] < sent:
            return False
        if cid not in self._counts:
            self.by_customer.setdefault(conversation.customer, []).append(cid)
        for message in conversation.messages[messages:]:
            self.keys.add(message.key)
            self.received[message.key] = cid
            for name in message.names:
                naming = self.named.setdefault(name, [])
                if cid not in naming and len(naming) < MAX_NAMING:
                    naming.append(cid)
        for mail in conversation.sent[sent:]:
            self.received[mail.message_id] = cid
            self.ours.add(mail.message_id)
        for ours in to_customers(conversation, conversation.sent[sent:]):
            self.sent_to.setdefault(ours.to, []).append(ours)
        self._counts[cid] = now
        return True

    def add_skipped(self, skipped: list[SkippedMessage]) -> None:
        """Index the entries of ``skipped`` past those already seen."""
        self.keys.update(s.key for s in skipped[self._skipped :])
        self._skipped = len(skipped)


@dataclass
class Ledger:
    """Everything the agent knows, in memory."""

    conversations: dict[str, Conversation] = field(default_factory=dict)
    skipped: list[SkippedMessage] = field(default_factory=list)
    outbox: dict[str, OutboxEntry] = field(default_factory=dict)
    checkpoints: dict[str, Checkpoint] = field(default_factory=dict)
    undeliverable: dict[str, Undeliverable] = field(default_factory=dict)  # by address
    _index: LedgerIndex | None = field(default=None, init=False, repr=False, compare=False)

    def index(self) -> LedgerIndex:
        """The lookups over this ledger, caught up with everything filed so far."""
        if self._index is None or not self._index.caught_up(self):
            self._index = LedgerIndex()
            self._index.caught_up(self)
        return self._index

    def by_message_id(self) -> dict[str, str]:
        """Message-ID (or content key) -> conversation id: every message filed, every mail
        sent, and every id a filed message names; a received id wins over a merely-named one."""
        index = self.index()
        return {**{name: naming[0] for name, naming in index.named.items()}, **index.received}

    def known_keys(self) -> set[str]:
        """Keys of every message filed anywhere."""
        return set(self.index().keys)

    def sent_message_ids(self) -> set[str]:
        """Message-IDs of every mail the agent has made (the outbox holds only those on
        their way; the conversations list them all, and the index keeps that list)."""
        return self.index().ours | set(self.outbox)

    def in_state(self, state: OutboxState) -> Iterator[OutboxEntry]:
        """Outbox entries in ``state``, oldest first."""
        chosen = [e for e in self.outbox.values() if e.state == state]
        yield from sorted(chosen, key=lambda e: e.created_at)


def to_customers(conversation: Conversation, sent: list[SentMail]) -> list[Sent]:
    """The mails of ``sent`` that went to the customer, as the breakers count them."""
    return [
        Sent(conversation.id, s.to, s.created_at) for s in sent if s.kind != MailKind.ESCALATION
    ]
