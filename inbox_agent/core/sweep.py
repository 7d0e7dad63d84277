"""What the sweep decides: conversations and ``now`` in, decisions out (as triage returns a
``Decision``). The agent layer (``agent.chasing``) gathers what goes in and carries the
decisions out; nothing here sends, stores or reads the clock.

Rules, for each conversation whose moment of attention has come (``promises.attention_at``;
the caller passes only those, which is what keeps a sweep over 10,000 promises cheap):

1. A chase owed now (``promises.chase_due``) waits while the conversation's last mail to the
   customer has not gone out (it is unsent, or owed: its template does not render). That mail
   goes first, restated if it is late. The manager's report does not count.
2. A chase to an address our mail bounced from is held: a person must reach them.
3. ``breakers`` rules 2 and 3 (mails per address, per conversation in 24 h) hold any chase;
   rule 4 (a suspected slow autoresponder) holds a follow-up. An escalation about such an
   address still goes, to the manager only: the customer's notice is left out, and said why.
4. A chase held is a :class:`Hold` with the reason (noted once for staff); a chase that may go
   is a :class:`SendChase` with its mails, (kind, to).
5. A running promise that nobody will chase (escalated already, or nobody to escalate to) and
   whose moment has passed is a :class:`RecordLapse`: recorded as missed.
6. The mails of a chase decided in this sweep count for the breakers of the chases decided
   after it, as if already sent (two conversations of one customer due at once).

:func:`apply_chase` is what a chase does to its conversation, once its mails compose.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from inbox_agent.core.breakers import Limits, Sent, held_back, slow_responder
from inbox_agent.core.business_time import Calendar
from inbox_agent.core.conversations import Conversation, MailKind, Outcome, Promise
from inbox_agent.core.ledger import Undeliverable
from inbox_agent.core.lifecycle import Event, transition
from inbox_agent.core.promises import (
    ESCALATED,
    ESCALATION,
    ESCALATION_NOTICE,
    FOLLOW_UP,
    Chase,
    ChaseDue,
    PromisePolicy,
    chase_due,
    follow_up_reason,
    lapsed,
    nobody_will_chase,
)
from inbox_agent.core.triage import customer_writing


@dataclass(frozen=True)
class Rules:
    """The settings the sweep reads: business hours, the promise policy, the breakers."""

    calendar: Calendar
    policy: PromisePolicy
    limits: Limits


@dataclass(frozen=True)
class Lookups:
    """What the breakers read of the ledger: the addresses our mail bounced from, and, asked
    only when a chase is due, our automatic mail by address and the conversations an address
    is the customer of."""

    undeliverable: Mapping[str, Undeliverable]
    sent_to: Callable[[str], Sequence[Sent]]
    conversations_of: Callable[[str], Iterable[Conversation]]


@dataclass(frozen=True)
class SendChase:
    """A follow-up or escalation to send now: its mails (kind, to), and a note for staff
    (the escalation notice left out, and why), if any."""

    conversation_id: str
    due: ChaseDue
    mails: tuple[tuple[MailKind, str], ...]
    note: str | None = None


@dataclass(frozen=True)
class Hold:
    """A chase owed now that must not go: the reason, for staff."""

    conversation_id: str
    reason: str


@dataclass(frozen=True)
class RecordLapse:
    """A running promise nobody will chase, lapsed at ``due``: to be recorded as missed."""

    conversation_id: str
    due: datetime


Decision = SendChase | Hold | RecordLapse


def decide(
    attention: Iterable[Conversation],
    unsent: Container[str],
    now: datetime,
    rules: Rules,
    lookups: Lookups,
) -> list[Decision]:
    """What each conversation of ``attention`` calls for at ``now`` (rules 1-6); ``unsent``
    names the conversations whose last mail to the customer has not gone out yet."""
    decisions: list[Decision] = []
    chased: dict[str, list[Sent]] = {}  # rule 6: the customer mails decided so far
    counted = replace(
        lookups, sent_to=lambda address: [*lookups.sent_to(address), *chased.get(address, ())]
    )
    for conversation in attention:
        decision = decide_one(conversation, unsent, now, rules, counted)
        if isinstance(decision, SendChase):
            for kind, to in decision.mails:
                if kind is not ESCALATION:
                    chased.setdefault(to, []).append(Sent(conversation.id, to, now))
        if decision is not None:
            decisions.append(decision)
    return decisions


def decide_one(
    conversation: Conversation,
    unsent: Container[str],
    now: datetime,
    rules: Rules,
    lookups: Lookups,
) -> Decision | None:
    """What ``conversation`` calls for at ``now``, if anything."""
    due = chase_due(conversation, now, rules.calendar, rules.policy)
    if due is None:
        return _lapse(conversation, now, rules.policy)
    if conversation.id in unsent or conversation.owed:
        return None  # rule 1: that mail goes first
    reason = hold_reason(conversation, due, now, rules.limits, lookups)
    if reason is not None:
        return Hold(conversation.id, reason)
    return _chase(conversation, due, now, rules, lookups)


def hold_reason(
    conversation: Conversation, due: ChaseDue, now: datetime, limits: Limits, lookups: Lookups
) -> str | None:
    """Why the chase ``due`` in ``conversation`` must not go out now, if it must not (rules
    2 and 3)."""
    customer = conversation.customer
    bounced = lookups.undeliverable.get(customer)
    if bounced is not None:
        return (
            f"follow-up not sent: mail to {bounced.address} bounced on "
            f"{bounced.since:%a %d %b %H:%M}; a person must reach them another way"
        )
    reason = held_back(customer, conversation.id, now, lookups.sent_to(customer), limits)
    if reason is None and due.chase is Chase.FOLLOW_UP:
        robot = _slow_responder(customer, now, limits, lookups)
        reason = None if robot is None else f"held back: {robot}"
    return None if reason is None else f"follow-up {reason}"


def apply_chase(conversation: Conversation, due: ChaseDue, now: datetime) -> None:
    """What the chase ``due`` does to ``conversation``: its status through the lifecycle's
    table, the running promise settled (missed if it lapsed, else extended), the new one made.
    """
    conversation.status, _ = transition(conversation.status, Event.CHASE_DUE)
    conversation.settle(now, Outcome.MISSED if due.lapsed else Outcome.EXTENDED)
    follow_up = due.chase is Chase.FOLLOW_UP
    reason = follow_up_reason(due.follow_up_number) if follow_up else ESCALATED
    conversation.promises.append(Promise(made_at=now, due=due.new_due, reason=reason))


def _chase(
    conversation: Conversation, due: ChaseDue, now: datetime, rules: Rules, lookups: Lookups
) -> SendChase:
    """The follow-up to the customer; or the report to the manager and the notice to the
    customer, the notice left out (rule 3) for a suspected slow autoresponder."""
    if due.chase is Chase.FOLLOW_UP:
        return SendChase(conversation.id, due, ((FOLLOW_UP, conversation.customer),))
    report = (ESCALATION, str(rules.policy.escalate_to))
    robot = _slow_responder(conversation.customer, now, rules.limits, lookups)
    if robot is not None:
        return SendChase(conversation.id, due, (report,), f"escalation notice held back: {robot}")
    return SendChase(conversation.id, due, (report, (ESCALATION_NOTICE, conversation.customer)))


def _slow_responder(address: str, now: datetime, limits: Limits, lookups: Lookups) -> str | None:
    """``breakers`` rule 4 for ``address``."""
    ours = lookups.sent_to(address)
    if not ours:
        return None
    wrote = customer_writing(lookups.conversations_of(address), address)
    return slow_responder(address, now, ours, wrote, limits)


def _lapse(conversation: Conversation, now: datetime, policy: PromisePolicy) -> RecordLapse | None:
    """Rule 5."""
    promise = conversation.running_promise
    if (
        promise is None
        or not nobody_will_chase(conversation, policy)
        or not lapsed(conversation, now)
    ):
        return None
    return RecordLapse(conversation.id, promise.due)
