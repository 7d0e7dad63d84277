"""What a promise about to slip calls for, with ``now`` passed in."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest

from inbox_agent.core.business_time import Calendar, parse_duration
from inbox_agent.core.conversations import Conversation, MailKind, Outcome, Promise, SentMail
from inbox_agent.core.lifecycle import Status
from inbox_agent.core.promises import (
    ESCALATED,
    ESCALATION_NOTICE,
    FIRST_REPLY,
    FOLLOW_UP,
    WROTE_AGAIN,
    Chase,
    PromisePolicy,
    attention_at,
    attention_key,
    chase_due,
    first_reply_due,
    follow_up_reason,
    lapsed,
    next_chase_at,
    nobody_will_chase,
    promise_for,
    too_old_to_acknowledge,
)

ACKNOWLEDGEMENT = MailKind.ACKNOWLEDGEMENT
LONDON = ZoneInfo("Europe/London")
CALENDAR = Calendar(
    timezone=LONDON,
    open_days=frozenset(range(5)),
    opens=time(9),
    closes=time(17, 30),
    holidays=frozenset(),
)
POLICY = PromisePolicy(
    first_reply_within=parse_duration("8h"),
    follow_up_before=parse_duration("1h"),
    extend_by=parse_duration("8h"),
    max_follow_ups=2,
    escalate_to="manager@example.com",
    skip_older_than=parse_duration("2d"),
)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment in November 2026 in London (16 November is a Monday)."""
    return datetime(2026, 11, day, hour, minute, tzinfo=LONDON)


def waiting(due: datetime, *, follow_ups: int = 0, notice: bool = False) -> Conversation:
    """A waiting conversation whose running promise is ``due``."""
    conversation = Conversation(
        id="K7Q2",
        mailbox="support",
        customer="ana@customer.example",
        customer_name="Ana",
        subject="Invoice",
        created_at=at(16, 10),
        status=Status.WAITING,
    )
    reasons = [FIRST_REPLY] + [follow_up_reason(n + 1) for n in range(follow_ups)]
    reasons += [ESCALATED] if notice else []
    for reason in reasons:
        conversation.settle(at(16, 10), Outcome.EXTENDED)
        conversation.promises.append(Promise(made_at=at(16, 10), due=due, reason=reason))
    kinds = [ACKNOWLEDGEMENT] + [FOLLOW_UP] * follow_ups + ([ESCALATION_NOTICE] if notice else [])
    conversation.sent = [
        SentMail(f"<{n}@x>", kind, "ana@customer.example", at(16, 10))
        for n, kind in enumerate(kinds)
    ]
    return conversation


def test_first_reply_is_rounded_up_to_the_quarter_hour() -> None:
    """Mon 10:05:30 plus 8 open hours is Tue 09:35:30, promised as 09:45; a computed moment on
    a quarter hour (10:00 plus 8 hours: Tue 09:30) is kept as it is."""
    assert first_reply_due(at(16, 10, 5).replace(second=30), CALENDAR, POLICY) == at(17, 9, 45)
    assert first_reply_due(at(16, 10, 0), CALENDAR, POLICY) == at(17, 9, 30)


def test_nothing_is_due_before_the_follow_up_moment() -> None:
    """Until follow_up_before the promise, no chase."""
    assert chase_due(waiting(at(17, 9, 35)), at(16, 17, 4), CALENDAR, POLICY) is None


def test_follow_up_is_due_follow_up_before_in_business_time() -> None:
    """A promise due Tuesday 09:35 is chased from Monday 17:05 (1 h of open time before)."""
    due = chase_due(waiting(at(17, 9, 35)), at(16, 17, 5), CALENDAR, POLICY)
    assert due is not None
    assert due.chase is Chase.FOLLOW_UP
    assert due.follow_up_number == 1
    assert not due.lapsed
    # The old promise plus 8 business hours: Tue 09:35-17:30 (7h55), then Wed 09:00-09:05,
    # promised as the next quarter hour.
    assert due.new_due == at(18, 9, 15)


def test_after_the_allowed_follow_ups_it_escalates() -> None:
    """With max_follow_ups sent, the next chase is an escalation."""
    due = chase_due(waiting(at(17, 9, 35), follow_ups=2), at(17, 8, 0), CALENDAR, POLICY)
    assert due is not None
    assert due.chase is Chase.ESCALATE


def test_nothing_after_the_escalation() -> None:
    """Once a manager has it, the agent chases no more; a lapse is only recorded."""
    conversation = waiting(at(17, 9, 35), follow_ups=2, notice=True)
    assert chase_due(conversation, at(17, 12, 0), CALENDAR, POLICY) is None
    assert nobody_will_chase(conversation, POLICY)
    assert lapsed(conversation, at(17, 12, 0))


def test_a_lapsed_promise_gets_an_honest_apology_counted_from_now() -> None:
    """After downtime past the promise, the chase says so and promises from now."""
    due = chase_due(waiting(at(17, 9, 35)), at(17, 11, 0), CALENDAR, POLICY)
    assert due is not None
    assert due.lapsed
    assert due.new_due == at(18, 10, 30)  # Tue 11:00-17:30 (6h30), then Wed 09:00-10:30


def test_a_snoozed_conversation_is_left_alone_until_the_snooze_ends() -> None:
    """Snoozed: no chase; after the snooze, the usual rules (here: an apology)."""
    conversation = waiting(at(17, 9, 35))
    conversation.snoozed_until = at(18, 9, 0)
    assert chase_due(conversation, at(17, 9, 0), CALENDAR, POLICY) is None
    after = chase_due(conversation, at(18, 9, 0), CALENDAR, POLICY)
    assert after is not None
    assert after.lapsed


@pytest.mark.parametrize("status", [Status.ANSWERED, Status.CLOSED, Status.OPEN])
def test_only_waiting_conversations_are_chased(status: Status) -> None:
    """Answered, closed and open conversations are never chased."""
    conversation = waiting(at(17, 9, 35))
    conversation.status = status
    assert chase_due(conversation, at(17, 9, 0), CALENDAR, POLICY) is None


def test_without_a_manager_the_last_promise_just_runs_out() -> None:
    """No escalate_to: after the last follow-up nothing more is sent."""
    policy = PromisePolicy(**{**POLICY.__dict__, "escalate_to": None})
    conversation = waiting(at(17, 9, 35), follow_ups=2)
    assert chase_due(conversation, at(17, 9, 0), CALENDAR, policy) is None
    assert nobody_will_chase(conversation, policy)


def test_mail_seen_in_time_is_promised_from_its_arrival() -> None:
    """Seen before the follow-up window of its promise: counted from arrival (Tue 09:35,
    promised as 09:45, chased from Mon 17:15)."""
    assert promise_for(at(16, 10, 5), at(16, 17, 14), CALENDAR, POLICY) == at(17, 9, 45)


def test_mail_seen_late_is_promised_from_now() -> None:
    """Seen inside (or past) the follow-up window: a promise from now, never one that has
    passed or would be chased at once."""
    assert promise_for(at(16, 10, 5), at(16, 17, 15), CALENDAR, POLICY) == at(17, 16, 45)
    assert promise_for(at(14, 11, 0), at(16, 23, 0), CALENDAR, POLICY) == at(17, 17, 0)


def test_a_new_wait_after_an_answer_has_its_own_follow_ups() -> None:
    """Escalated, answered by the manager, then the customer writes again: a new wait, chased
    from its first follow-up."""
    conversation = waiting(at(17, 9, 35), follow_ups=2, notice=True)
    conversation.settle(at(17, 9, 0))
    conversation.promises.append(Promise(made_at=at(17, 10), due=at(18, 9, 30), reason=WROTE_AGAIN))
    due = chase_due(conversation, at(18, 8, 30), CALENDAR, POLICY)
    assert due is not None
    assert (due.chase, due.follow_up_number) == (Chase.FOLLOW_UP, 1)
    assert not nobody_will_chase(conversation, POLICY)


def test_old_mail_is_compared_in_utc() -> None:
    """skip_older_than: two business days from arrival, compared as instants."""
    assert not too_old_to_acknowledge(at(16, 10), at(18, 9, 59), CALENDAR, POLICY)
    assert too_old_to_acknowledge(at(16, 10), at(18, 10, 1), CALENDAR, POLICY)


def test_the_next_chase_is_follow_up_before_the_promise_or_the_snooze_end() -> None:
    """What the sweep will next act on, for the demo and the log."""
    conversation = waiting(at(17, 9, 35))
    assert next_chase_at(conversation, CALENDAR, POLICY) == at(16, 17, 5)
    conversation.snoozed_until = at(17, 12, 0)
    assert next_chase_at(conversation, CALENDAR, POLICY) == at(17, 12, 0)
    conversation.snoozed_until = at(16, 12, 0)  # ends before the chase moment: no effect
    assert next_chase_at(conversation, CALENDAR, POLICY) == at(16, 17, 5)
    assert (
        next_chase_at(waiting(at(17, 9, 35), follow_ups=2, notice=True), CALENDAR, POLICY) is None
    )


def test_a_restated_escalation_still_ends_the_chasing() -> None:
    """An escalation notice that went out late is restated ("escalation (restated: ...)"):
    the conversation is still escalated, and nothing more is chased."""
    conversation = waiting(at(17, 9, 35), follow_ups=2, notice=True)
    conversation.promises[-1].reason += " (restated: our mail was late)"
    assert chase_due(conversation, at(18, 12, 0), CALENDAR, POLICY) is None
    assert nobody_will_chase(conversation, POLICY)


def test_attention_is_the_next_chase_when_someone_will_chase() -> None:
    """The sweep may pass a conversation by until its next chase moment."""
    conversation = waiting(at(17, 9, 35))
    assert attention_at(conversation, CALENDAR, POLICY) == next_chase_at(
        conversation, CALENDAR, POLICY
    )


def test_attention_is_the_lapse_when_nobody_will_chase() -> None:
    """Follow-ups used up and no manager: the sweep's only business is recording the promise
    missed when it lapses, so that is when it looks again."""
    alone = PromisePolicy(**{**POLICY.__dict__, "escalate_to": None})
    conversation = waiting(at(17, 9, 35), follow_ups=2)
    assert next_chase_at(conversation, CALENDAR, alone) is None
    assert attention_at(conversation, CALENDAR, alone) == at(17, 9, 35)


def test_the_attention_key_changes_with_what_the_moment_depends_on() -> None:
    """A restated, settled or new promise, a snooze, a status or a mail sent: each changes the
    key, so the sweep's index never keeps a stale moment."""
    conversation = waiting(at(17, 9, 35))
    keys = [attention_key(conversation)]
    conversation.promises[-1].due = at(17, 16, 35)  # restated in place
    keys.append(attention_key(conversation))
    conversation.snoozed_until = at(18, 9)
    keys.append(attention_key(conversation))
    conversation.settle(at(17, 12), Outcome.KEPT)
    keys.append(attention_key(conversation))
    conversation.status = Status.ANSWERED
    keys.append(attention_key(conversation))
    assert len(set(keys)) == len(keys)
