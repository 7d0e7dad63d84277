"""What the agent promises a customer, and what it owes when a promise is about to slip.

Pure functions of the conversation's promise, the policy and ``now``; deadlines live in the
store and a periodic sweep asks :func:`chase_due` what is owed (arq's ``next_cron`` shape).

The rules:

1. A promise counts from when the mail *arrived* (the server's INTERNALDATE), never from the
   sender's ``Date`` header, which can be wrong or forged. Mail arriving while the business is
   closed counts from the next opening. A promised moment is the computed one rounded *up*
   to the next quarter hour (:func:`promised_moment`), the moment a person would say ("by
   16:15", never "by 16:11"); never earlier than computed, so the promise only gets easier to
   keep, and the chases are counted from the moment the customer read.
   A promise is never made already inside its own follow-up window: mail the agent first sees
   late (it was down, or a first start) is promised from ``now`` instead, so a customer is
   never told a moment that has passed, nor sent "still working on it" right after "received".
2. ``follow_up_before`` the promised moment (business time), if no staff reply has gone out, a
   follow-up is owed: "still working on it", with a new promise ``extend_by`` after the old one.
   Once per promise: each follow-up makes the new promise the next one is about.
3. When the promise made by the last allowed follow-up (``max_follow_ups``) is about to lapse,
   the agent escalates instead: the manager is told, and the customer hears that a manager has
   taken it over, with a new promise. After that the agent chases no more in this wait; the
   manager owns it. A *wait* is the promise made for a customer's message and the chases that
   extended it: when staff answer and the customer writes again, a new wait begins, with its
   own follow-ups.
4. After downtime the sweep catches up. A follow-up or escalation whose moment passed while the
   agent was down is sent at once if the promise has not lapsed yet. If it has lapsed, the mail
   says so honestly (an apology, not a pretend "still on it") and the new promise counts from
   ``now``, not from the lapsed moment.
5. A snoozed conversation is left alone until the snooze ends; then rule 4 applies.
6. A mail that states a promise must reach the customer while it is still true: an
   acknowledgement before its promise's follow-up moment, a follow-up or escalation notice
   before the promise it extends lapses (:func:`deliver_by`). One that could not be sent by
   then (the relay was down) is restated when it finally goes: its promise counts from the
   moment it is sent, and the mail says it is late (:func:`restated_due`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from inbox_agent.core.business_time import (
    Calendar,
    Duration,
    add_business_time,
    subtract_business_time,
)
from inbox_agent.core.conversations import Conversation, MailKind, Promise
from inbox_agent.core.lifecycle import Status

FOLLOW_UP = MailKind.FOLLOW_UP
ESCALATION = MailKind.ESCALATION  # to the manager
ESCALATION_NOTICE = MailKind.ESCALATION_NOTICE  # to the customer: a manager has taken it over
_QUARTER_HOUR = timedelta(minutes=15)

# Why a promise was made (``Promise.reason``, shown to staff in ``thread ID``).
FIRST_REPLY = "first reply"
WROTE_AGAIN = "customer wrote again"
ESCALATED = "escalation"
_FOLLOW_UP_REASON = "follow-up"


def follow_up_reason(number: int) -> str:
    """``follow-up 1``, ``follow-up 2``, ..."""
    return f"{_FOLLOW_UP_REASON} {number}"


@dataclass(frozen=True)
class PromisePolicy:
    """The ``[promise]`` section of the config."""

    first_reply_within: Duration
    follow_up_before: Duration
    extend_by: Duration
    max_follow_ups: int
    escalate_to: str | None
    skip_older_than: Duration


def first_reply_due(arrived_at: datetime, calendar: Calendar, policy: PromisePolicy) -> datetime:
    """When a person will have replied to a message that arrived at ``arrived_at`` (rule 1)."""
    return promised_moment(add_business_time(calendar, arrived_at, policy.first_reply_within))


def promised_moment(computed: datetime) -> datetime:
    """``computed`` rounded up to the next quarter hour (itself when on one), in its own zone:
    every moment the agent promises goes through here (rule 1).

    Rounded on the UTC instant, never on the wall clock, which repeats or skips an hour when
    the clocks change. A quarter hour in UTC is a quarter hour on every clock in use today:
    every zone's offset is a whole number of quarter hours (Kathmandu +05:45, Chatham +12:45,
    Lord Howe's half-hour summer shift)."""
    if computed.utcoffset() is None:
        raise ValueError(f"{computed.isoformat()} has no time zone; pass an aware datetime")
    instant = computed.astimezone(UTC)
    past = instant - instant.replace(
        minute=instant.minute - instant.minute % 15, second=0, microsecond=0
    )
    if past:
        instant += _QUARTER_HOUR - past
    return instant.astimezone(computed.tzinfo)


def promise_for(
    arrived_at: datetime, now: datetime, calendar: Calendar, policy: PromisePolicy
) -> datetime:
    """The moment to promise, at ``now``, for a message that arrived at ``arrived_at`` (rule 1)."""
    due = first_reply_due(arrived_at, calendar, policy)
    if _utc(now) < _utc(chase_moment(due, calendar, policy)):
        return due
    return first_reply_due(now, calendar, policy)


def too_old_to_acknowledge(
    arrived_at: datetime, now: datetime, calendar: Calendar, policy: PromisePolicy
) -> bool:
    """True for mail that was already older than ``skip_older_than`` when first seen.

    Such mail is filed but not acknowledged: on a first start against a full mailbox, telling
    hundreds of customers about a promise for mail they sent weeks ago would do more harm than
    good; staff see it as ``open``.
    """
    # Compared in UTC: two datetimes in the same ZoneInfo compare by wall clock, which is wrong
    # in the repeated hour when clocks go back.
    limit = add_business_time(calendar, arrived_at, policy.skip_older_than)
    return limit.astimezone(UTC) < now.astimezone(UTC)


class Chase(StrEnum):
    """What a promise about to slip calls for."""

    FOLLOW_UP = "follow_up"
    ESCALATE = "escalate"


@dataclass(frozen=True)
class ChaseDue:
    """A chase owed now: what, the new promised moment, and whether the old one lapsed."""

    chase: Chase
    new_due: datetime
    lapsed: bool  # the old promise has passed: the mail apologises instead of "still on it"
    follow_up_number: int  # 1 for the first follow-up, ...


def chase_due(
    conversation: Conversation, now: datetime, calendar: Calendar, policy: PromisePolicy
) -> ChaseDue | None:
    """The follow-up or escalation owed in ``conversation`` at ``now``, if any."""
    moment = next_chase_at(conversation, calendar, policy)
    promise = conversation.running_promise
    if moment is None or promise is None or _utc(now) < _utc(moment):
        return None
    lapsed = _utc(now) >= _utc(promise.due)
    base = now if lapsed else promise.due
    new_due = promised_moment(add_business_time(calendar, base, policy.extend_by))
    follow_ups = follow_ups_in(current_wait(conversation))
    if follow_ups < policy.max_follow_ups:
        return ChaseDue(Chase.FOLLOW_UP, new_due, lapsed, follow_ups + 1)
    return ChaseDue(Chase.ESCALATE, new_due, lapsed, follow_ups)


def attention_at(
    conversation: Conversation, calendar: Calendar, policy: PromisePolicy
) -> datetime | None:
    """The first moment the sweep has anything to do in ``conversation``: its next chase, or,
    when nobody will chase, the moment its promise lapses (to be recorded as missed); None
    when neither can come. Until then the sweep can pass it by."""
    moment = next_chase_at(conversation, calendar, policy)
    promise = conversation.running_promise
    if moment is None and promise is not None and nobody_will_chase(conversation, policy):
        return promise.due
    return moment


def attention_key(conversation: Conversation) -> tuple[object, ...]:
    """What ``attention_at`` depends on, cheap to compare: when it is unchanged, so is the
    moment (promises are only appended, and only the last one is ever moved or settled)."""
    last = conversation.promises[-1] if conversation.promises else None
    return (
        conversation.status,
        len(conversation.promises),
        len(conversation.sent),
        conversation.snoozed_until,
        last and last.due,
        last and last.settled_at,
    )


def next_chase_at(
    conversation: Conversation, calendar: Calendar, policy: PromisePolicy
) -> datetime | None:
    """When a chase becomes owed in ``conversation``: ``follow_up_before`` its promise, or the
    end of a snooze if later; None when none can come (not waiting, escalated already, or the
    follow-ups used up with nobody to escalate to)."""
    promise = conversation.running_promise
    if conversation.status is not Status.WAITING or promise is None:
        return None
    wait = current_wait(conversation)
    if _escalated(wait) or (
        follow_ups_in(wait) >= policy.max_follow_ups and policy.escalate_to is None
    ):
        return None
    moment = chase_moment(promise.due, calendar, policy)
    until = conversation.snoozed_until
    return moment if until is None or _utc(until) <= _utc(moment) else until


# Every 30-second sweep asks this of every running promise, and the answer for one promise never
# changes: remembered, a sweep over 10,000 open promises costs milliseconds, not the 0.4 s of
# walking business time back 10,000 times (bench/sweep.py). Pure, so a cache is safe here.
@functools.lru_cache(maxsize=65_536)
def chase_moment(due: datetime, calendar: Calendar, policy: PromisePolicy) -> datetime:
    """When a chase for a promise due at ``due`` becomes owed."""
    return subtract_business_time(calendar, due, policy.follow_up_before)


def lapsed(conversation: Conversation, now: datetime) -> bool:
    """True when the running promise's moment has passed."""
    promise = conversation.running_promise
    return promise is not None and _utc(now) > _utc(promise.due)


def nobody_will_chase(conversation: Conversation, policy: PromisePolicy) -> bool:
    """True when no follow-up or escalation can come: escalated already, or nobody to tell."""
    wait = current_wait(conversation)
    return _escalated(wait) or (
        follow_ups_in(wait) >= policy.max_follow_ups and policy.escalate_to is None
    )


def current_wait(conversation: Conversation) -> list[Promise]:
    """The promises of the customer's current wait, oldest first: the one made for their
    message, then each follow-up or escalation that extended it (rule 3)."""
    wait: list[Promise] = []
    for promise in reversed(conversation.promises):
        wait.append(promise)
        if not _is_chase(promise):
            break
    return wait[::-1]


def follow_ups_in(wait: list[Promise]) -> int:
    """How many follow-ups extended this wait."""
    return sum(1 for p in wait if p.reason.startswith(_FOLLOW_UP_REASON))


def _escalated(wait: list[Promise]) -> bool:
    return any(p.reason.startswith(ESCALATED) for p in wait)  # "escalation (restated: ...)"


def _is_chase(promise: Promise) -> bool:
    return promise.reason.startswith((ESCALATED, _FOLLOW_UP_REASON))


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def deliver_by(
    conversation: Conversation, kind: str, calendar: Calendar, policy: PromisePolicy
) -> datetime | None:
    """Rule 6: the moment by which a mail of ``kind`` queued now must be sent to stay true;
    None for mail that states no promise to the customer (the manager's report)."""
    promise = conversation.running_promise
    if promise is None or kind == ESCALATION:
        return None
    if kind in (FOLLOW_UP, ESCALATION_NOTICE):
        return last_told(conversation).due
    return chase_moment(promise.due, calendar, policy)


def last_told(conversation: Conversation) -> Promise:
    """The promise the customer last received: the one before the running promise, which a
    follow-up or escalation notice is still on its way to tell (the running one if alone)."""
    return (
        conversation.promises[-2] if len(conversation.promises) > 1 else conversation.promises[-1]
    )


def restated_due(kind: str, now: datetime, calendar: Calendar, policy: PromisePolicy) -> datetime:
    """Rule 6: the promise a late mail of ``kind`` states instead, counted from ``now``."""
    within = (
        policy.first_reply_within
        if kind not in (FOLLOW_UP, ESCALATION_NOTICE)
        else policy.extend_by
    )
    return promised_moment(add_business_time(calendar, now, within))
