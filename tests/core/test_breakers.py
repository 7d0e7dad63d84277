"""Circuit breakers, with ``now`` passed in: what has been sent decides what may be sent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from inbox_agent.core.breakers import Limits, Sent, held_back, loop_suspected

LIMITS = Limits(loop_window=timedelta(hours=1), per_address_per_day=3,
                per_conversation_per_day=2)
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
    assert reason == ("held back: 3 automatic mails to help@otherdesk.example in 24 h already "
                      "(per_address_per_day = 3)")
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
