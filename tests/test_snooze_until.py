"""``snooze --until DATE``: no follow-ups until that day's first opening, read from the
day's own hours (a split day, a part day, a day opened by its hours), or the next opening
when the business is closed that day."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from inbox_agent.agent.staff import parse_until
from inbox_agent.core.business_time import Calendar
from inbox_agent.core.opening_hours import PartDay, parse_hours
from inbox_agent.errors import CommandError

LONDON = ZoneInfo("Europe/London")
SHOP = Calendar(
    LONDON,
    frozenset(range(5)),
    time(9),
    time(17, 30),
    frozenset({date(2026, 12, 25)}),
    hours={0: parse_hours("08:30-12:30, 13:30-17:30"), 5: parse_hours("10:00-13:00")},
    closed=frozenset({PartDay(date(2026, 12, 31), "until", time(11))}),
)
NOW = datetime(2026, 11, 16, 10, 0, tzinfo=LONDON)  # a Monday


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-23", "2026-11-23T08:30:00+00:00"),  # a Monday: its own first opening
        ("2026-11-24", "2026-11-24T09:00:00+00:00"),  # a Tuesday: the simple form
        ("2026-11-21", "2026-11-21T10:00:00+00:00"),  # a Saturday, opened by its hours
        ("2026-11-22", "2026-11-23T08:30:00+00:00"),  # a Sunday: Monday's opening
        ("2026-12-25", "2026-12-26T10:00:00+00:00"),  # a holiday: the next opening, Saturday
        ("2026-12-31", "2026-12-31T11:00:00+00:00"),  # closed until 11:00
        ("2026-11-24 14:00", "2026-11-24T14:00:00+00:00"),  # a moment is taken as it is
    ],
)
def test_a_date_means_its_first_opening(text: str, expected: str) -> None:
    """A date alone is that day's first opening, whatever the day's hours."""
    assert parse_until(text, SHOP, NOW).isoformat() == expected


def test_a_date_already_begun_is_refused_as_before() -> None:
    """Today's opening has passed at 10:00: not in the future."""
    with pytest.raises(CommandError, match="is not in the future"):
        parse_until("2026-11-16", SHOP, NOW)


@pytest.mark.parametrize("text", ["0h", "0d", "0m", "0d0h"])
def test_no_time_at_all_is_refused(text: str) -> None:
    """A snooze of nothing would end at once (or at the next opening): surely a slip."""
    with pytest.raises(CommandError, match=f"'{text}' is no time at all; write e.g. 4h or 2d"):
        parse_until(text, SHOP, NOW)


def test_what_is_not_a_moment_is_answered_with_examples_in_the_future() -> None:
    """The example dates are tomorrow's, never a day that has passed; the field is named."""
    with pytest.raises(CommandError) as refused:
        parse_until("next tuesday", SHOP, NOW, "Snooze until")
    assert str(refused.value) == (
        "Snooze until 'next tuesday' is not a moment; write e.g. 4h, 2d, 2026-11-17 or "
        "'2026-11-17 14:00'"
    )
