"""What a replay shows: per conversation, what the agent did and when; the mail it filed
without a reply, and why; and the counts.

Everything here is read from the ledger the replay left (``replaying``): the promises made,
the mail sent, the messages filed with their notes. Nothing is decided again; only the
machine-mail rule that filed a message is looked up from the export, for the summary.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from inbox_agent.agent.composing import describe
from inbox_agent.config import MailboxSettings, Settings
from inbox_agent.core.conversations import (
    Conversation,
    FiledMessage,
    MailKind,
    Outcome,
    Promise,
    Role,
)
from inbox_agent.core.ledger import SkippedMessage
from inbox_agent.core.promises import next_chase_at

# The event a mail of each kind is, as ``replay`` names it.
SENT_EVENTS = {
    MailKind.ACKNOWLEDGEMENT: "acknowledged",
    MailKind.FOLLOW_UP: "followed_up",
    MailKind.ESCALATION: "escalated",
    MailKind.ESCALATION_NOTICE: "escalation_notice",
}
# A short name for why customer or other mail got no reply, from the start of its note (the
# machine-mail rules have ids of their own: ``bounce-report``, ``auto-submitted``, ...).
_SKIP_LABELS = (
    ("already older than skip_older_than", "too old"),
    ("possible mail loop", "mail loop suspected"),
    ("held back", "daily limit"),
    ("suspected slow autoresponder", "slow autoresponder"),
    ("no sender address", "no address to answer"),
    ("could not be read", "unreadable"),
    ("staff mail outside", "staff mail outside a conversation"),
    ("internal error", "internal error"),
)


@dataclass(frozen=True)
class Replayed:
    """The agent's decisions over an export, read back once the clock stopped."""

    settings: Settings  # as replayed: its calendar, promise policy and temporary data_dir
    mailbox: MailboxSettings
    conversations: list[Conversation]  # oldest first
    skipped: list[SkippedMessage]  # mail filed outside any conversation
    rules: dict[str, str]  # message key -> the machine-mail rule that filed it
    messages: int
    dated_by: dict[str, int]  # "Date", "From_ line", "file time" -> how many messages
    started: datetime | None
    ended: datetime
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Event:
    """One thing that happened in a conversation."""

    at: datetime
    event: str  # customer_wrote, acknowledged, followed_up, escalated, staff_replied, ...
    who: str = ""  # the sender, or the recipient of our mail
    promised_by: datetime | None = None
    promise_text: str = ""  # the promise as the customer read it in our mail
    reason: str = ""


@dataclass(frozen=True)
class Skip:
    """A message filed without a reply."""

    at: datetime
    sender: str
    subject: str
    reason: str  # the agent's note
    label: str  # the rule id or a short name, for the counts
    conversation: str | None  # the conversation it was filed in, if any


@dataclass(frozen=True)
class Story:
    """One conversation as the replay shows it."""

    conversation: Conversation
    events: list[Event]
    waiting: Promise | None  # the promise still running when the clock stopped
    next_chase: datetime | None  # when its follow-up or escalation would have been owed


def stories(replayed: Replayed) -> list[Story]:
    """Every conversation's events, in order."""
    return [_story(replayed, c) for c in replayed.conversations]


def skips(replayed: Replayed) -> list[Skip]:
    """Every message filed without a reply, oldest first: outside any conversation, in one
    (machine mail joining a customer's thread), and customer mail not acknowledged."""
    found: list[tuple[str | None, FiledMessage]] = [(None, s.message) for s in replayed.skipped]
    found += [(c.id, m) for c in replayed.conversations for m in c.messages if _skipped(m)]
    return sorted(
        (
            Skip(
                m.arrived_at,
                m.sender or "",
                m.subject,
                m.note,
                replayed.rules.get(m.key) or label_of(m.note),
                conversation,
            )
            for conversation, m in found
        ),
        key=lambda s: s.at,
    )


def summary(replayed: Replayed) -> dict[str, object]:
    """The counts: conversations, how many were acknowledged, followed up and escalated, and
    the messages skipped, by reason."""
    told = [{e.event for e in story.events} for story in stories(replayed)]
    by_reason = Counter(s.label for s in skips(replayed))
    return {
        "conversations": len(told),
        "acknowledged": sum("acknowledged" in t for t in told),
        "followed_up": sum("followed_up" in t for t in told),
        "escalated": sum("escalated" in t for t in told),
        "skipped": sum(by_reason.values()),
        "skipped_by_reason": dict(by_reason.most_common()),
    }


def label_of(note: str) -> str:
    """A short name for why a message got no reply (``too old``, ``daily limit``, ...)."""
    for start, label in _SKIP_LABELS:
        if note.startswith(start):
            return label
    return note.split(":", maxsplit=1)[0].split(";", maxsplit=1)[0][:40] or "no reason recorded"


def _skipped(message: FiledMessage) -> bool:
    return message.role in (Role.MACHINE, Role.AGENT) or (
        message.role is Role.CUSTOMER and bool(message.note)
    )


def _story(replayed: Replayed, conversation: Conversation) -> Story:
    # Ranked so that at one moment the message comes before what answered it.
    ranked = [(m.arrived_at, 0, _message_event(conversation, m)) for m in conversation.messages]
    ranked += [
        (s.created_at, 1, _sent_event(replayed.settings, conversation, s.kind, s.to, s.created_at))
        for s in conversation.sent
    ]
    ranked += [
        (p.settled_at, 2, Event(p.settled_at, f"promise_{p.outcome}", promised_by=p.due))
        for p in conversation.promises
        if p.settled_at is not None and p.outcome in (Outcome.KEPT, Outcome.MISSED)
    ]
    ranked += [(n.at, 3, Event(n.at, "note", reason=n.text)) for n in conversation.notes]
    ranked.sort(key=lambda item: (item[0], item[1]))
    settings = replayed.settings
    return Story(
        conversation,
        [event for _, _, event in ranked],
        conversation.running_promise,
        next_chase_at(conversation, settings.calendar, settings.promise),
    )


def _message_event(conversation: Conversation, message: FiledMessage) -> Event:
    who = message.sender or ""
    if message.role is Role.CUSTOMER:
        who = "" if who == conversation.customer else who  # the heading names the customer
        first = message is conversation.messages[0]
        wrote = "customer_wrote" if first else "customer_wrote_again"
        return Event(
            message.arrived_at,
            "not_acknowledged" if message.note else wrote,
            who,
            reason=message.note,
        )
    if message.role is Role.STAFF:
        return Event(
            message.arrived_at,
            "staff_note" if message.note else "staff_replied",
            who,
            reason=message.note,
        )
    return Event(message.arrived_at, "machine_mail", who, reason=message.note)


def _sent_event(
    settings: Settings, conversation: Conversation, kind: MailKind, to: str, at: datetime
) -> Event:
    """Our mail, with the promise it carried: the one made when it was queued."""
    promise = next((p for p in reversed(conversation.promises) if p.made_at <= at), None)
    if promise is None:
        return Event(at, SENT_EVENTS[kind], to)
    return Event(
        at, SENT_EVENTS[kind], to, promise.due, describe(settings, conversation, promise.due, at)
    )
