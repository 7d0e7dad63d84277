"""What the conversation pages show: the list's filters and search, one conversation's
timeline. Plain data for the page templates, every moment already worded in the business's
time zone as the CLI shows it: deadlines with ``wording.local_moment``, moments something
happened with ``wording.local_time``.

The list reads the live ledger, and for "Closed" and "All" the archive too (it holds the
answered and closed conversations that went quiet), as ``inbox-agent threads --status`` does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from inbox_agent.agent import staff
from inbox_agent.core.conversations import Conversation, MailKind
from inbox_agent.core.ledger import Ledger
from inbox_agent.core.lifecycle import TRANSITIONS, Status
from inbox_agent.core.status import OPEN_STATUSES, lapsed_promise
from inbox_agent.core.wording import local_moment, local_time

DUE_WITHIN = timedelta(hours=4)
MAX_QUERY = 200  # characters of a search
MAX_ROWS = 200  # rows a list shows; a search narrows the rest
FILTERS = {
    "open": "Open",
    "waiting": "Waiting",
    "due": "Due within 4 hours",
    "lapsed": "Lapsed",
    "escalated": "Escalated",
    "bounced": "Bounced",
    "closed": "Closed",
    "all": "All",
}
WITH_ARCHIVE = ("closed", "all")  # the filters the archive's conversations can be under


def _escalated(c: Conversation) -> bool:
    return any(s.kind is MailKind.ESCALATION for s in c.sent)


def matches(c: Conversation, chosen: str, ledger: Ledger, now: datetime) -> bool:
    """True when ``c`` belongs under filter ``chosen`` (a key of FILTERS) at ``now``."""
    test = _FILTERED.get(chosen)
    return test is None or test(c, ledger, now)


def _due_soon(c: Conversation, now: datetime) -> bool:
    promise = c.running_promise
    return promise is not None and now < promise.due <= now + DUE_WITHIN


_FILTERED: dict[str, Callable[[Conversation, Ledger, datetime], bool]] = {
    "open": lambda c, ledger, now: c.status in OPEN_STATUSES,
    "waiting": lambda c, ledger, now: c.status is Status.WAITING,
    "due": lambda c, ledger, now: _due_soon(c, now),
    "lapsed": lambda c, ledger, now: lapsed_promise(c, now) is not None,
    "escalated": lambda c, ledger, now: _escalated(c) and c.status in OPEN_STATUSES,
    "bounced": lambda c, ledger, now: c.customer in ledger.undeliverable,
    "closed": lambda c, ledger, now: c.status is Status.CLOSED,
}


def actions(c: Conversation) -> list[str]:
    """The staff actions ``c``'s status allows (``core.lifecycle``): snooze a waiting one,
    close one that is not closed, reopen a closed one."""
    return [name for name, event in staff.EVENTS.items() if (c.status, event) in TRANSITIONS]


def snooze_lets_promise_lapse(c: Conversation) -> bool:
    """The snooze ends after the running promise's moment: no follow-up goes out before it,
    so it lapses unless someone replies."""
    promise = c.running_promise
    return bool(c.snoozed_until and promise and c.snoozed_until > promise.due)


@dataclass(frozen=True)
class Row:
    """One line of the list."""

    id: str
    status: str
    customer: str
    customer_name: str
    subject: str
    promised_by: str
    bounced: bool
    escalated: bool
    archived: bool
    snoozed: bool  # no follow-ups until a moment staff chose


@dataclass(frozen=True)
class Listing:
    """The list page's rows: the first MAX_ROWS of ``total`` found."""

    rows: list[Row]
    total: int


def listing(
    ledger: Ledger,
    chosen: str,
    query: str,
    now: datetime,
    zone: ZoneInfo,
    *,
    archived: Iterable[Conversation] = (),
) -> Listing:
    """The conversations under filter ``chosen`` whose customer, name or subject contains
    ``query`` (any case), live and ``archived`` (a live one wins over its archived copy),
    those promised soonest first, then the newest."""
    needle = query.strip()[:MAX_QUERY].casefold()
    live = ledger.conversations
    every = [*live.values(), *(c for c in archived if c.id not in live)]
    found = [
        c
        for c in every
        if matches(c, chosen, ledger, now)
        and (
            not needle
            or needle in c.customer.casefold()
            or needle in c.customer_name.casefold()
            or needle in c.subject.casefold()
        )
    ]
    far = datetime.max.replace(tzinfo=now.tzinfo)
    found.sort(key=lambda c: (c.promised_by or far, -c.created_at.timestamp()))
    rows = [
        Row(
            c.id,
            c.status.value,
            c.customer,
            c.customer_name,
            c.subject,
            local_moment(c.promised_by, zone) if c.promised_by else "",
            c.customer in ledger.undeliverable,
            _escalated(c),
            c.id not in live,
            bool(c.snoozed_until and c.snoozed_until > now),
        )
        for c in found[:MAX_ROWS]
    ]
    return Listing(rows, len(found))


@dataclass(frozen=True)
class Event:
    """One line of a conversation's timeline."""

    at: datetime
    when: str  # worded in the business's zone
    kind: str  # "message", "sent", "promise", "note"
    text: str
    detail: str = ""


def timeline(c: Conversation, ledger: Ledger, zone: ZoneInfo) -> list[Event]:
    """Messages, mail sent (with its state in the outbox), promises with their outcomes and
    staff notes, in the order they happened."""
    events = [
        Event(
            m.arrived_at,
            local_time(m.arrived_at, zone),
            "message",
            f"{m.role.value} {m.sender or '?'}: {m.subject}",
            m.note,
        )
        for m in c.messages
    ]
    for s in c.sent:
        entry = ledger.outbox.get(s.message_id)
        state = entry.state.value if entry else "sent"
        error = f": {entry.last_error}" if entry and entry.last_error else ""
        events.append(
            Event(
                s.created_at,
                local_time(s.created_at, zone),
                "sent",
                f"{s.kind} to {s.to}",
                state + error,
            )
        )
    for p in c.promises:
        outcome = (
            f"{p.outcome.value} {local_time(p.settled_at, zone)}"
            if p.outcome is not None and p.settled_at is not None
            else "running"
        )
        events.append(
            Event(
                p.made_at,
                local_time(p.made_at, zone),
                "promise",
                f"{p.reason}: by {local_moment(p.due, zone)}",
                outcome,
            )
        )
    events += [Event(n.at, local_time(n.at, zone), "note", n.text) for n in c.notes]
    return sorted(events, key=lambda e: e.at)
