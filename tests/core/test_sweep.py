"""What the sweep decides, with ``now`` and the ledger's lookups passed in: no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from inbox_agent.core.breakers import Limits, Sent
from inbox_agent.core.conversations import Conversation, MailKind, Outcome, Promise
from inbox_agent.core.ledger import Undeliverable
from inbox_agent.core.lifecycle import Status
from inbox_agent.core.promises import (
    ESCALATED,
    FIRST_REPLY,
    Chase,
    PromisePolicy,
    chase_due,
    follow_up_reason,
)
from inbox_agent.core.sweep import (
    Hold,
    Lookups,
    RecordLapse,
    Rules,
    SendChase,
    apply_chase,
    decide,
)
from tests.core.test_promises import CALENDAR, LONDON, POLICY  # the same shop and policy

RULES = Rules(CALENDAR, POLICY, Limits())
ANA = "ana@customer.example"
MANAGER = "manager@example.com"


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment in November 2026 in London (16 November is a Monday)."""
    return datetime(2026, 11, day, hour, minute, tzinfo=LONDON)


DUE = at(17, 9, 35)  # the running promise: Tuesday 09:35, chased from Monday 17:05
CHASE_AT = at(16, 17, 5)


def waiting(
    cid: str = "K7Q2",
    customer: str = ANA,
    *,
    follow_ups: int = 0,
    escalated: bool = False,
    subject: str = "Invoice",
    created_at: datetime | None = None,
) -> Conversation:
    """A waiting conversation whose running promise is ``DUE``, after ``follow_ups``."""
    conversation = Conversation(
        id=cid,
        mailbox="support",
        customer=customer,
        customer_name="Ana",
        subject=subject,
        created_at=created_at or at(16, 10),
        status=Status.WAITING,
    )
    reasons = [FIRST_REPLY, *(follow_up_reason(n + 1) for n in range(follow_ups))]
    for reason in [*reasons, *([ESCALATED] if escalated else [])]:
        conversation.settle(at(16, 10), Outcome.EXTENDED)
        conversation.promises.append(Promise(made_at=at(16, 10), due=DUE, reason=reason))
    return conversation


def lookups(
    sent: Sequence[Sent] = (),
    conversations: Iterable[Conversation] = (),
    undeliverable: dict[str, Undeliverable] | None = None,
) -> Lookups:
    """The ledger's lookups, over what the test hands in."""
    known = list(conversations)
    return Lookups(
        undeliverable or {},
        sent_to=lambda address: [s for s in sent if s.to == address],
        conversations_of=lambda address: [c for c in known if c.customer == address],
    )


def test_nothing_is_decided_before_the_chase_moment() -> None:
    """A minute before the follow-up moment, the sweep has nothing to do."""
    assert decide([waiting()], set(), CHASE_AT - timedelta(minutes=1), RULES, lookups()) == []


def test_a_follow_up_due_is_sent_to_the_customer() -> None:
    """At the follow-up moment: a follow-up to Ana, extending the promise by 8 business
    hours, with nothing for staff to note."""
    [decision] = decide([waiting()], set(), CHASE_AT, RULES, lookups())
    assert isinstance(decision, SendChase)
    assert decision.conversation_id == "K7Q2"
    assert decision.mails == ((MailKind.FOLLOW_UP, ANA),)
    assert decision.due.chase is Chase.FOLLOW_UP
    assert decision.due.new_due == at(18, 9, 15)  # Wed 09:05 computed, a quarter hour told
    assert decision.note is None


def test_a_chase_waits_while_the_last_mail_to_the_customer_is_unsent_or_owed() -> None:
    """Rule 1: an acknowledgement still in the outbox, or owed for want of a template, goes
    before any follow-up; the manager's report is not such a mail (the caller leaves it out
    of ``unsent``)."""
    owed = waiting("OWED")
    owed.owed.append(MailKind.ACKNOWLEDGEMENT)
    assert decide([waiting(), owed], {"K7Q2"}, CHASE_AT, RULES, lookups()) == []


def test_after_the_last_follow_up_the_manager_and_the_customer_are_told() -> None:
    """With both follow-ups used, the chase is an escalation: the report to the manager and
    the notice to Ana."""
    [decision] = decide([waiting(follow_ups=2)], set(), CHASE_AT, RULES, lookups())
    assert isinstance(decision, SendChase)
    assert decision.due.chase is Chase.ESCALATE
    assert decision.mails == ((MailKind.ESCALATION, MANAGER), (MailKind.ESCALATION_NOTICE, ANA))
    assert decision.note is None


def _robot_and_its_echoes() -> tuple[list[Conversation], list[Sent]]:
    """An address that opened two new conversations repeating the subject of our mail to it,
    within hours of it (``breakers`` rule 4); the first is due its escalation."""
    robot = "help@otherdesk.example"
    first = waiting("K7Q2", robot, follow_ups=2)
    echo = waiting("ECH1", robot, subject="Ticket received: Invoice", created_at=at(16, 11))
    again = waiting(
        "ECH2", robot, subject="Ticket received: Ticket received: Invoice", created_at=at(16, 12)
    )
    ours = [Sent(c.id, robot, c.created_at + timedelta(minutes=1)) for c in (first, echo, again)]
    return [first, echo, again], ours


def test_an_escalation_about_a_suspected_slow_responder_goes_to_the_manager_only() -> None:
    """The manager's report still goes; the customer's notice, which the robot would echo,
    is left out, and the note says why."""
    conversations, ours = _robot_and_its_echoes()
    [decision] = decide(conversations[:1], set(), CHASE_AT, RULES, lookups(ours, conversations))
    assert isinstance(decision, SendChase)
    assert decision.mails == ((MailKind.ESCALATION, MANAGER),)
    assert decision.note is not None
    assert decision.note.startswith(
        "escalation notice held back: suspected slow autoresponder: help@otherdesk.example"
    )


def test_a_follow_up_to_a_suspected_slow_responder_is_held() -> None:
    """The same robot's follow-up is held, with the reason for staff."""
    conversations, ours = _robot_and_its_echoes()
    follow_up = waiting("FLW1", "help@otherdesk.example")
    [decision] = decide(
        [follow_up], set(), CHASE_AT, RULES, lookups(ours, [*conversations, follow_up])
    )
    assert isinstance(decision, Hold)
    assert decision.reason.startswith("follow-up held back: suspected slow autoresponder")


def test_a_chase_to_an_address_that_bounced_is_held() -> None:
    """Our mail to Ana bounced: no follow-up goes; a person must reach her another way."""
    bounced = {ANA: Undeliverable(ANA, at(16, 11), "K7Q2", "550 no such user")}
    [decision] = decide([waiting()], set(), CHASE_AT, RULES, lookups(undeliverable=bounced))
    assert decision == Hold(
        "K7Q2",
        f"follow-up not sent: mail to {ANA} bounced on Mon 16 "
        "Nov 11:00; a person must reach them another way",
    )


def test_the_mails_decided_count_for_the_chases_decided_after_them() -> None:
    """Rule 6: with 4 mails to Ana in the last day, the first of her two conversations due
    gets its follow-up; the second is held by per_address_per_day (5), counting it."""
    ours = [Sent("OLD1", ANA, CHASE_AT - timedelta(hours=n + 1)) for n in range(4)]
    first, second = waiting("K7Q2"), waiting("K7Q3")
    decisions = decide([first, second], set(), CHASE_AT, RULES, lookups(ours))
    assert [type(d) for d in decisions] == [SendChase, Hold]
    assert isinstance(decisions[1], Hold)
    assert "5 automatic mails to ana@customer.example in 24 h" in decisions[1].reason


def test_a_lapsed_promise_nobody_will_chase_is_recorded_once_it_passes() -> None:
    """Escalated already: nothing more is chased, and once the promise's moment passes it
    is recorded as missed (not before)."""
    escalated = waiting(follow_ups=2, escalated=True)
    assert decide([escalated], set(), DUE, RULES, lookups()) == []
    later = DUE + timedelta(minutes=1)
    assert decide([escalated], set(), later, RULES, lookups()) == [RecordLapse("K7Q2", DUE)]


def test_with_nobody_to_escalate_to_the_last_promise_lapses_unchased() -> None:
    """No manager configured: after the last follow-up there is nobody to chase, and the
    promise lapses on its own."""
    rules = Rules(CALENDAR, PromisePolicy(**{**POLICY.__dict__, "escalate_to": None}), Limits())
    conversation = waiting(follow_ups=2)
    assert decide([conversation], set(), DUE + timedelta(minutes=1), rules, lookups()) == [
        RecordLapse("K7Q2", DUE)
    ]


def test_a_chase_applied_settles_the_promise_and_makes_the_next() -> None:
    """The follow-up extends the running promise (not lapsed) and makes follow-up 1, due at
    the moment the decision named; the status goes through the lifecycle's table."""
    conversation = waiting()
    due = chase_due(conversation, CHASE_AT, CALENDAR, POLICY)
    assert due is not None
    apply_chase(conversation, due, CHASE_AT)
    old, new = conversation.promises
    assert (old.outcome, old.settled_at) == (Outcome.EXTENDED, CHASE_AT)
    assert (new.reason, new.due, new.made_at) == ("follow-up 1", due.new_due, CHASE_AT)
    assert conversation.status is Status.WAITING
