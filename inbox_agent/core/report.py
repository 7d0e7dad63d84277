"""The owner's report: how the promises went over a period. Pure: the conversations (live and
archived), the mail filed outside them, the period and ``now`` in; the figures out.

Rules:

1. The period is ``since`` to ``now``. A promise counts when it was *made* in it; a
   conversation when it *started* in it (its first customer message arrived); machine mail
   when it *arrived* in it. A conversation given twice (live and archived) counts once, the
   first copy given winning (the caller passes the live store first).
2. Promises: made, and how each ended: kept (a staff reply by the moment), extended (a
   follow-up told the customer of a new moment first), missed, withdrawn (closed by staff
   first), or still running.
3. Time to first staff reply is counted in *business* time (the calendar's open minutes, the
   same clock the promises are made on), from the conversation's first customer message to the
   first staff message after it. Grouped by the week (Monday to Sunday, business time zone)
   the conversation started in: how many were answered, the median and the 90th percentile
   (nearest rank: the smallest time at least 90% of the replies were as quick as), and how
   many have no staff reply yet.
4. New conversations are counted per day of the business's calendar, every day of the period
   listed, those with none too.
5. Machine mail (and our own mail come back) is counted by the machine-mail rule that filed
   it. The record keeps the rule's reason, the sentence staff read, so :func:`reason_kind`
   reads the rule back from it; a reason no rule wrote is ``other``.
6. Missed promises are listed (conversation, customer, subject, the moment), latest first, at
   most ``MAX_LISTED``.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from inbox_agent.core.business_time import Calendar, business_minutes_between
from inbox_agent.core.conversations import Conversation, FiledMessage, Outcome, Role
from inbox_agent.core.ledger import SkippedMessage

MAX_LISTED = 50
OTHER = "other"
# Rule 5: the reason each machine-mail rule writes, read back. Prefixes are matched at the
# start of the reason; the markers a rule puts at its end (after a header's value, which a
# sender chooses) are matched at their last occurrence.
_REASON_PREFIXES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(pattern, re.IGNORECASE))
    for kind, pattern in (
        (
            "own-message",
            r"From is the agent's own address |Message-ID \S* is (?:one the agent "
            r"sent|in the agent's domain )",
        ),
        ("bounce-report", r"multipart/report\b|message/[\w.-]+ part\b"),
        ("failed-recipients", r"X-Failed-Recipients: "),
        ("bounce-sender", r"(?:From|Reply-To|Sender|Return-Path) is a mail system"),
        ("auto-submitted", r"Auto-Submitted: "),
        (
            "autoreply-header",
            r"X[-_]?(?:Mail[-_]?)?Auto[\w-]*: |X[-_]?Fc[-_]?Machine[\w-]*: "
            r"|X[-_]?Cron[-_]?Env: ",
        ),
        ("challenge-response", r"TMDA confirmation |subject reads like a challenge-response "),
        ("helpdesk", r"Message-ID \S* is Request Tracker's |References a Request Tracker "),
        ("precedence", r"Precedence: "),
        ("null-return-path", r"Return-Path: <> \(null sender"),
        ("noreply-sender", r"(?:From|Reply-To|Sender|Return-Path) is a no-reply address"),
        ("bounce-subject", r"subject reads like a bounce or report"),
        ("autoreply-prefix", r"subject starts with "),
        ("autoreply-subject", r"subject reads like an automatic reply"),
        ("unreadable", r"internal error: "),
    )
)
_REASON_MARKERS = (
    ("challenge-response", "(challenge-response system)"),
    ("helpdesk", "(another ticket system)"),
    ("mailing-list", "(mailing list)"),
    ("spam-verdict", "(spam filter verdict)"),
)
KIND_LABELS = {
    "own-message": "our own mail, come back",
    "bounce-report": "delivery or read report",
    "failed-recipients": "delivery failure (X-Failed-Recipients)",
    "bounce-sender": "from a mail system (MAILER-DAEMON, bounces@)",
    "auto-submitted": "automatic (Auto-Submitted, RFC 3834)",
    "autoreply-header": "auto-reply header",
    "challenge-response": "challenge-response system",
    "helpdesk": "another ticket system",
    "precedence": "bulk or list (Precedence)",
    "mailing-list": "mailing list",
    "null-return-path": "notification (null sender)",
    "noreply-sender": "no-reply sender",
    "spam-verdict": "spam filter verdict",
    "bounce-subject": "subject reads like a bounce",
    "autoreply-prefix": "out-of-office subject prefix",
    "autoreply-subject": "out-of-office subject",
    "unreadable": "could not be read",
    OTHER: "other",
}


@dataclass(frozen=True)
class PromiseCounts:
    """Rule 2."""

    made: int = 0
    kept: int = 0
    extended: int = 0
    missed: int = 0
    withdrawn: int = 0
    running: int = 0


@dataclass(frozen=True)
class WeekOfReplies:
    """Rule 3, for the week starting on Monday ``week``."""

    week: date
    answered: int
    unanswered: int
    median_minutes: int | None  # business minutes; None when nothing was answered
    p90_minutes: int | None


@dataclass(frozen=True)
class MissedPromise:
    """Rule 6."""

    conversation_id: str
    customer: str
    subject: str
    due: datetime


@dataclass(frozen=True)
class Report:
    """What ``inbox-agent report`` shows."""

    since: datetime
    now: datetime
    promises: PromiseCounts
    first_reply: tuple[WeekOfReplies, ...]
    per_day: tuple[tuple[date, int], ...]
    machine_mail: tuple[tuple[str, int], ...]  # (rule, count), most first
    missed: tuple[MissedPromise, ...]
    missed_total: int


def build(
    conversations: Iterable[Conversation],
    skipped: Iterable[SkippedMessage],
    since: datetime,
    now: datetime,
    calendar: Calendar,
) -> Report:
    """The report for ``since`` to ``now`` (rules 1 to 6)."""
    unique = list({c.id: c for c in reversed(list(conversations))}.values())[::-1]
    period = _Period(since, now)
    missed = missed_promises(unique, period)
    return Report(
        since,
        now,
        promise_counts(unique, period),
        first_replies(unique, period, calendar),
        per_day(unique, period, calendar),
        machine_mail(unique, skipped, period),
        tuple(missed[:MAX_LISTED]),
        len(missed),
    )


@dataclass(frozen=True)
class _Period:
    since: datetime
    now: datetime

    def holds(self, moment: datetime) -> bool:
        return _utc(self.since) <= _utc(moment) <= _utc(self.now)


def promise_counts(conversations: Sequence[Conversation], period: _Period) -> PromiseCounts:
    """Rule 2."""
    made = [p for c in conversations for p in c.promises if period.holds(p.made_at)]
    ended = Counter(p.outcome for p in made)
    return PromiseCounts(
        len(made),
        ended[Outcome.KEPT],
        ended[Outcome.EXTENDED],
        ended[Outcome.MISSED],
        ended[Outcome.WITHDRAWN],
        ended[None],
    )


def first_replies(
    conversations: Sequence[Conversation], period: _Period, calendar: Calendar
) -> tuple[WeekOfReplies, ...]:
    """Rule 3, every week of the period."""
    waits: dict[date, list[int]] = {}
    unanswered: Counter[date] = Counter()
    for conversation in conversations:
        first = _first_of(conversation.messages, Role.CUSTOMER)
        if first is None or not period.holds(first.arrived_at):
            continue
        week = _monday(_local_date(first.arrived_at, calendar))
        reply = _first_of(conversation.messages, Role.STAFF, after=first.arrived_at)
        if reply is None:
            unanswered[week] += 1
            continue
        waits.setdefault(week, []).append(
            business_minutes_between(calendar, first.arrived_at, reply.arrived_at)
        )
    weeks = _days(
        _monday(_local_date(period.since, calendar)), _local_date(period.now, calendar), step=7
    )
    return tuple(
        WeekOfReplies(
            week,
            len(waits.get(week, [])),
            unanswered[week],
            percentile(waits.get(week, []), 0.5),
            percentile(waits.get(week, []), 0.9),
        )
        for week in weeks
    )


def percentile(values: Sequence[int], fraction: float) -> int | None:
    """Nearest rank: the smallest value at least ``fraction`` of ``values`` are no larger
    than (the median of 1, 2, 3, 4 is 2); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(fraction * len(ordered)), 1) - 1]


def per_day(
    conversations: Sequence[Conversation], period: _Period, calendar: Calendar
) -> tuple[tuple[date, int], ...]:
    """Rule 4."""
    started = Counter(
        _local_date(first.arrived_at, calendar)
        for c in conversations
        if (first := _first_of(c.messages, Role.CUSTOMER)) is not None
        and period.holds(first.arrived_at)
    )
    days = _days(_local_date(period.since, calendar), _local_date(period.now, calendar))
    return tuple((day, started[day]) for day in days)


def machine_mail(
    conversations: Sequence[Conversation], skipped: Iterable[SkippedMessage], period: _Period
) -> tuple[tuple[str, int], ...]:
    """Rule 5: (rule, count), the most frequent first."""
    filed = [s.message for s in skipped]
    filed += [m for c in conversations for m in c.messages]
    kinds = Counter(
        kind for m in filed if period.holds(m.arrived_at) and (kind := _machine_kind(m)) is not None
    )
    return tuple(sorted(kinds.items(), key=lambda item: (-item[1], item[0])))


def reason_kind(reason: str) -> str:
    """The machine-mail rule that wrote ``reason`` (rule 5), or ``other``."""
    for kind, pattern in _REASON_PREFIXES:
        if pattern.match(reason):
            return kind
    found = [(reason.rfind(marker), kind) for kind, marker in _REASON_MARKERS if marker in reason]
    return max(found)[1] if found else OTHER


def missed_promises(conversations: Sequence[Conversation], period: _Period) -> list[MissedPromise]:
    """Rule 6: every promise made in the period and missed, latest first."""
    missed = [
        MissedPromise(c.id, c.customer, c.subject, p.due)
        for c in conversations
        for p in c.promises
        if p.outcome is Outcome.MISSED and period.holds(p.made_at)
    ]
    return sorted(missed, key=lambda m: (_utc(m.due), m.conversation_id), reverse=True)


def _machine_kind(message: FiledMessage) -> str | None:
    if message.role is Role.MACHINE:
        return reason_kind(message.note)
    if message.role is Role.AGENT and reason_kind(message.note) == "own-message":
        return "own-message"  # not the agent's own copy in the Sent folder: mail come back
    return None


def _first_of(
    messages: Sequence[FiledMessage], role: Role, after: datetime | None = None
) -> FiledMessage | None:
    chosen = [
        m
        for m in messages
        if m.role is role and (after is None or _utc(m.arrived_at) >= _utc(after))
    ]
    return min(chosen, key=lambda m: _utc(m.arrived_at), default=None)


def _days(first: date, last: date, step: int = 1) -> list[date]:
    count = (last - first).days // step + 1
    return [first + timedelta(days=step * n) for n in range(max(count, 0))]


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _local_date(moment: datetime, calendar: Calendar) -> date:
    return moment.astimezone(calendar.timezone).date()


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)
