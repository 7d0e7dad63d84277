"""Circuit breakers, with ``now`` passed in: what has been sent decides what may be sent."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

from inbox_agent.core.breakers import (
    Limits,
    Sent,
    Wrote,
    echoes,
    held_back,
    loop_suspected,
    slow_responder,
)

LIMITS = Limits(
    loop_window=timedelta(hours=1),
    per_address_per_day=3,
    per_conversation_per_day=2,
    echo_window=timedelta(hours=4),
)
NOW = datetime(2026, 11, 16, 12, 0, tzinfo=UTC)
HELP = "help@otherdesk.example"


def sent(conversation: str, to: str, minutes_ago: int) -> Sent:
    return Sent(conversation, to, NOW - timedelta(minutes=minutes_ago))


def test_a_new_conversation_soon_after_our_mail_is_a_suspected_loop() -> None:
    """Mailed 2 minutes ago and writing a *new* conversation: held for a person."""
    reason = loop_suspected(HELP, NOW, [sent("K7Q2", HELP, 2)], LIMITS)
    assert reason is not None
    assert "possible mail loop" in reason
    assert "2 min after our automatic mail" in reason


def test_outside_the_window_or_to_someone_else_is_no_loop() -> None:
    """An hour later, or mail to another address, says nothing about this one."""
    assert loop_suspected(HELP, NOW, [sent("K7Q2", HELP, 60)], LIMITS) is None
    assert loop_suspected(HELP, NOW, [sent("K7Q2", "ana@customer.example", 2)], LIMITS) is None


def test_the_window_is_clock_time_in_utc() -> None:
    """Moments in other zones compare as instants (a loop runs across DST nights too)."""
    east = NOW.astimezone(datetime.now(UTC).astimezone().tzinfo)
    assert loop_suspected(HELP, east, [sent("K7Q2", HELP, 5)], LIMITS) is not None


def test_per_address_limit_over_any_24_hours() -> None:
    """Three mails to one address in 24 h, across conversations: the fourth is held."""
    log = [sent("A", HELP, 60 * 23), sent("B", HELP, 60 * 10), sent("C", HELP, 30)]
    reason = held_back(HELP, "D", NOW, log, LIMITS)
    assert reason == (
        "held back: 3 automatic mails to help@otherdesk.example in 24 h already "
        "(per_address_per_day = 3)"
    )
    assert held_back(HELP, "D", NOW + timedelta(hours=1), log, LIMITS) is None  # 23 h one aged


def test_per_conversation_limit() -> None:
    """Two mails in one conversation in 24 h: the third is held, other conversations not."""
    log = [sent("A", HELP, 300), sent("A", HELP, 100)]
    reason = held_back(HELP, "A", NOW, log, LIMITS)
    assert reason is not None
    assert "per_conversation_per_day = 2" in reason
    assert held_back(HELP, "B", NOW, log, LIMITS) is None


def test_future_entries_do_not_count() -> None:
    """A clock moved back (the record is later than now) is not "within the last day"."""
    assert held_back(HELP, "A", NOW, [sent("A", HELP, -30)] * 5, LIMITS) is None


def at(hours_ago: float) -> datetime:
    return NOW - timedelta(hours=hours_ago)


def started(hours_ago: float, subject: str, conversation: str = "") -> Wrote:
    return Wrote(at(hours_ago), True, subject, conversation)


# A slow responder's day: it writes, we acknowledge; 2 h later a "new conversation" answers
# our mail (the token stripped, a prefix added); we acknowledge that; and so on.
FIRST = started(6.1, "Order 5512", "A")
ECHO_B = started(4, "Ticket received: Re: Order 5512", "B")
ECHO_C = started(2, "Ticket received: Re: Ticket received: Re: Order 5512", "C")
OURS = [Sent("A", HELP, at(6)), Sent("B", HELP, at(4)), Sent("C", HELP, at(2))]


def test_one_echo_is_no_pattern() -> None:
    """Our acknowledgement answered by a new conversation on its subject: one echo."""
    assert echoes(HELP, OURS[:1], [FIRST, ECHO_B], LIMITS) == [at(4)]
    assert slow_responder(HELP, NOW, OURS[:1], [FIRST, ECHO_B], LIMITS) is None


def test_the_second_echo_within_48_hours_marks_a_slow_responder() -> None:
    """From the second echo the address is suspected; the reason says how that ends."""
    reason = slow_responder(HELP, NOW, OURS[:2], [FIRST, ECHO_B, ECHO_C], LIMITS)
    assert reason == (
        "suspected slow autoresponder: help@otherdesk.example started 2 new conversations on "
        "the subject of our automatic mail to it, within echo_window (4h) after it, two of "
        "them less than 48 h apart; no automatic mail to it until it replies in a "
        "conversation, or until 2026-11-18 10:00 UTC if it echoes no more"
    )


def test_a_person_writing_about_other_things_soon_after_our_mail_makes_no_echo() -> None:
    """Six questions in a day, each an hour or two after our last acknowledgement: new
    subjects, so none repeats our mail; a person, not an echo."""
    wrote = [started(10 - 2 * n, f"Question {n + 1}", str(n)) for n in range(6)]
    ours = [Sent(str(n), HELP, at(10 - 2 * n - 0.1)) for n in range(6)]
    assert echoes(HELP, ours, wrote, LIMITS) == []


def test_subjects_compare_without_case_spacing_token_or_reply_prefixes() -> None:
    """Our conversation "Re: Order  5512" is echoed as "AUTO: ORDER 5512 [#K7Q2]"."""
    wrote = [started(6.1, "Re: Order  5512", "A"), started(4, "AUTO: ORDER 5512 [#K7Q2]")]
    assert echoes(HELP, OURS[:1], wrote, LIMITS) == [at(4)]


def test_our_mail_on_no_subject_is_echoed_by_time_alone() -> None:
    """A conversation with no subject (or one no longer in the working set) cannot be
    recognised in an answer: the time decides, as a loop costs more than a missed echo."""
    assert echoes(HELP, OURS[:1], [started(6.1, "", "A"), started(4, "Hello")], LIMITS) == [at(4)]
    assert echoes(HELP, [Sent("gone", HELP, at(6))], [started(4, "Hello")], LIMITS) == [at(4)]


def test_two_echoes_more_than_48_hours_apart_are_no_pattern() -> None:
    """Answered twice in a week, two days and more apart: not the pattern."""
    ours = [Sent("A", HELP, at(80)), Sent("B", HELP, at(3))]
    wrote = [
        started(82, "Order 5512", "A"),
        started(78, "Re: Order 5512", "B"),
        started(1, "Re: Re: Order 5512", "C"),
    ]
    assert len(echoes(HELP, ours, wrote, LIMITS)) == 2
    assert slow_responder(HELP, NOW, ours, wrote, LIMITS) is None


def test_the_first_conversation_and_late_ones_are_no_echoes() -> None:
    """The conversation that started it all, and one more than echo_window after our mail."""
    late = started(1.9, "Re: Order 5512")  # 4 h 6 min after our only mail
    assert echoes(HELP, OURS[:1], [FIRST, late], LIMITS) == []
    on_time = started(2, "Re: Order 5512")  # 4 h after it: still one
    assert echoes(HELP, OURS[:1], [FIRST, on_time], LIMITS) == [at(2)]


def test_only_mail_to_that_address_makes_echoes() -> None:
    """Our mail to someone else says nothing about when this address writes."""
    others = [Sent(s.conversation_id, "ana@customer.example", s.at) for s in OURS]
    assert slow_responder(HELP, NOW, others, [FIRST, ECHO_B, ECHO_C], LIMITS) is None


def test_a_reply_into_a_conversation_ends_the_suspicion() -> None:
    """A person answers our mail; this kind of robot never does. Echoes before the reply no
    longer count; two after it mark the address again."""
    wrote = [FIRST, ECHO_B, ECHO_C, Wrote(at(1), started=False)]
    assert slow_responder(HELP, NOW, OURS, wrote, LIMITS) is None
    later = [*OURS, Sent("D", HELP, at(0.9))]
    again = [
        *wrote,
        started(0.6, "Re: " + ECHO_C.subject, "D"),
        started(0.2, "Re: Re: " + ECHO_C.subject, "E"),
    ]
    assert slow_responder(HELP, NOW, later, again, LIMITS) is not None


def test_held_48_hours_after_the_last_echo_then_one_echo_holds_it_again() -> None:
    """Held, the robot has nothing to echo: 48 h after its last echo mail goes again (the
    follow-ups it is owed). The first echo of those holds it again: the pattern is known."""
    wrote = [FIRST, ECHO_B, ECHO_C]
    released = at(2) + timedelta(hours=48)
    assert slow_responder(HELP, released - timedelta(minutes=1), OURS, wrote, LIMITS) is not None
    assert slow_responder(HELP, released, OURS, wrote, LIMITS) is None
    follow_up = [*OURS, Sent("A", HELP, released)]
    again = [*wrote, Wrote(released + timedelta(hours=2), True, "Re: Order 5512")]
    assert slow_responder(HELP, released + timedelta(hours=2), follow_up, again, LIMITS) is not None


def test_a_new_conversation_that_is_no_echo_is_not_held_once_the_hold_ran_out() -> None:
    """Someone at that address writes days later, not in answer to anything of ours: the
    suspicion has run out, so it is acknowledged (an echo of that will be held)."""
    later = NOW + timedelta(hours=72)
    wrote = [FIRST, ECHO_B, ECHO_C, Wrote(later, True, "Order 5513")]
    assert slow_responder(HELP, later, OURS, wrote, LIMITS) is None


def test_echoes_compare_as_instants_across_zones() -> None:
    """Our mail logged in UTC, the message's arrival in the server's zone: the same moments."""
    east = timezone(timedelta(hours=5, minutes=30))
    wrote = [replace(w, at=w.at.astimezone(east)) for w in (FIRST, ECHO_B, ECHO_C)]
    assert slow_responder(HELP, NOW.astimezone(east), OURS[:2], wrote, LIMITS) is not None


def test_an_echo_window_of_zero_turns_the_rule_off() -> None:
    """echo_window = "0m": nothing is an echo."""
    off = Limits(echo_window=timedelta(0))
    wrote = [Wrote(s.at, True, "Order 5512") for s in OURS]  # even at the very same moment
    assert slow_responder(HELP, NOW, OURS, wrote, off) is None
