"""What ``inbox-agent status`` tells at a glance: each mailbox's health, the conversations
waiting for a person, the promises about to come due and those that lapsed, the outbox's
backlog. Pure: the records and ``now`` in, the figures out.

Rules:

1. A mailbox's health is its last good poll and its last error, each with its moment. It is
   *failing* while its last error is newer than its last good poll; an error older than a good
   poll is history, shown as recovered.
2. The health record is written by the agent after a poll attempt only when it is worth it
   (:func:`worth_writing`): at its first good poll, when the mailbox starts or stops failing
   or its error changes, else at most once a minute. So ``last_poll_at`` on disk lags the
   truth by under a minute plus one poll interval, and a daemon polling every 10 s does not
   rewrite a file every 10 s.
3. *Open* conversations are those waiting for a person: status ``open`` (filed with no
   promise) or ``waiting`` (a promise running or lapsed).
4. A promise is *due next* when it is running and its moment comes within ``within`` of
   ``now``; it has *lapsed* when a waiting conversation's promise moment has passed, whether
   its lapse is recorded (settled as missed with nothing after it) or not yet swept.
5. The outbox's backlog: mail not sent yet (``pending``, of which some are waiting to retry
   after a temporary refusal), mail handed to the relay (``sending``), and mail refused for
   good (``failed``, for a person).
6. A mailbox whose record has not moved for longer than a running agent would leave it (two
   poll intervals, the longest outage backoff, and rule 2's minute: the caller says how long)
   is *quiet too long*: the agent is probably not running.
7. The record also says how each folder is watched for new mail while the daemon runs
   (:class:`FolderWatchShown`: IMAP IDLE working, reconnecting, or not offered by the server);
   a change of it is worth writing (rule 2), and a daemon that stops clears it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from inbox_agent.core.conversations import Conversation, Outcome
from inbox_agent.core.ledger import OutboxEntry, OutboxState
from inbox_agent.core.lifecycle import Status

REWRITE_AFTER = timedelta(minutes=1)  # rule 2
OPEN_STATUSES = (Status.OPEN, Status.WAITING)


@dataclass(frozen=True)
class FolderWatchShown:
    """How one folder is watched for new mail (rule 7)."""

    folder: str
    state: str  # "watching" (IDLE), "reconnecting" (its connection failed), "unsupported"
    problem: str | None = None  # reconnecting: why; unsupported: what the server lacks


@dataclass(frozen=True)
class MailboxHealth:
    """How a mailbox's polls went (rule 1)."""

    name: str
    last_poll_at: datetime | None = None  # the last poll that worked
    last_error: str | None = None  # the last poll's error that did not, one line
    last_error_at: datetime | None = None
    watches: tuple[FolderWatchShown, ...] = ()  # rule 7, by folder name

    @property
    def failing(self) -> bool:
        """True while the last error is newer than the last good poll."""
        if self.last_error_at is None:
            return False
        return self.last_poll_at is None or _utc(self.last_error_at) > _utc(self.last_poll_at)


def quiet_too_long(health: MailboxHealth, now: datetime, expected_within: timedelta) -> bool:
    """Rule 6: True when neither a poll nor an error has been recorded for longer than
    ``expected_within`` (a mailbox never polled is not: nothing is known yet)."""
    seen = [m for m in (health.last_poll_at, health.last_error_at) if m is not None]
    return bool(seen) and _utc(now) - max(_utc(m) for m in seen) > expected_within


def after_poll(health: MailboxHealth, now: datetime, error: str | None = None) -> MailboxHealth:
    """``health`` after a poll at ``now`` that worked, or failed with ``error``."""
    if error is None:
        return replace(health, last_poll_at=now)
    return replace(health, last_error=error, last_error_at=now)


def after_watch(
    health: MailboxHealth, shown: FolderWatchShown | None, folder: str
) -> MailboxHealth:
    """``health`` with ``folder``'s watch now ``shown`` (None: not watched, the daemon
    stopped)."""
    others = tuple(w for w in health.watches if w.folder != folder)
    return replace(health, watches=others if shown is None else (*others, shown))


def worth_writing(
    before: MailboxHealth | None, after: MailboxHealth, written_at: datetime | None, now: datetime
) -> bool:
    """Rule 2: whether the record should go to disk now."""
    if before is None or written_at is None:
        return True
    if before.last_poll_at is None and after.last_poll_at is not None:
        return True  # the first good poll (a watch may have made the record before it)
    if before.failing != after.failing or before.last_error != after.last_error:
        return True
    if before.watches != after.watches:
        return True
    return _utc(now) - _utc(written_at) >= REWRITE_AFTER


@dataclass(frozen=True)
class PromiseShown:
    """A conversation's promise as the status lists it."""

    id: str
    customer: str
    subject: str
    promised_by: datetime
    snoozed_until: datetime | None = None


@dataclass(frozen=True)
class OutboxBacklog:
    """Rule 5."""

    pending: int = 0
    waiting_to_retry: int = 0  # of the pending ones
    sending: int = 0
    failed: int = 0


@dataclass(frozen=True)
class Overview:
    """Everything ``status`` shows."""

    now: datetime
    within: timedelta
    mailboxes: tuple[MailboxHealth, ...]
    open: int
    due_next: tuple[PromiseShown, ...]
    lapsed: tuple[PromiseShown, ...]
    outbox: OutboxBacklog


def overview(
    conversations: Iterable[Conversation],
    outbox: Iterable[OutboxEntry],
    mailboxes: Sequence[MailboxHealth],
    now: datetime,
    within: timedelta,
) -> Overview:
    """The status at ``now`` (rules 3 to 5); ``mailboxes`` in the config's order."""
    waiting = [c for c in conversations if c.status in OPEN_STATUSES]
    due_next = [
        shown
        for c in waiting
        if (shown := _running(c)) is not None
        and _utc(now) < _utc(shown.promised_by) <= _utc(now + within)
    ]
    lapsed = [shown for c in waiting if (shown := lapsed_promise(c, now)) is not None]
    return Overview(
        now,
        within,
        tuple(mailboxes),
        len(waiting),
        _by_due(due_next),
        _by_due(lapsed),
        backlog(outbox, now),
    )


def lapsed_promise(conversation: Conversation, now: datetime) -> PromiseShown | None:
    """Rule 4: the promise that lapsed in a waiting conversation, if one did."""
    if conversation.status is not Status.WAITING or not conversation.promises:
        return None
    last = conversation.promises[-1]
    running_past = last.outcome is None and _utc(last.due) <= _utc(now)
    if running_past or last.outcome is Outcome.MISSED:
        return _shown(conversation, last.due)
    return None


def backlog(outbox: Iterable[OutboxEntry], now: datetime) -> OutboxBacklog:
    """Rule 5, counted."""
    entries = list(outbox)
    pending = [e for e in entries if e.state is OutboxState.PENDING]
    return OutboxBacklog(
        pending=len(pending),
        waiting_to_retry=sum(
            1
            for e in pending
            if e.next_attempt_at is not None and _utc(e.next_attempt_at) > _utc(now)
        ),
        sending=sum(1 for e in entries if e.state is OutboxState.SENDING),
        failed=sum(1 for e in entries if e.state is OutboxState.FAILED),
    )


def _running(conversation: Conversation) -> PromiseShown | None:
    promise = conversation.running_promise
    return None if promise is None else _shown(conversation, promise.due)


def _shown(conversation: Conversation, due: datetime) -> PromiseShown:
    return PromiseShown(
        conversation.id,
        conversation.customer,
        conversation.subject,
        due,
        conversation.snoozed_until,
    )


def _by_due(promises: list[PromiseShown]) -> tuple[PromiseShown, ...]:
    return tuple(sorted(promises, key=lambda p: (_utc(p.promised_by), p.id)))


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)
