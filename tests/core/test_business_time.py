"""Business time: durations, calendars, and adding and subtracting open time across nights, DST
and holidays.

Table tests pin the promises a customer would read, and when they are chased, in the weeks that
go wrong (DST changes in London and New York, year end, holiday runs, weekends, lunch breaks and
short Fridays); property tests check the rules hold for random weekly schedules (split days,
half days, days of their own, part days closed, public holidays) in zones with 1-hour, 30-minute
and midnight clock changes, against a slow minute-by-minute count.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Literal
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from inbox_agent.core.business_time import (
    Calendar,
    Duration,
    add_business_time,
    business_minutes_between,
    closed_days,
    is_open,
    next_open,
    opening_hours_text,
    parse_duration,
    subtract_business_time,
)
from inbox_agent.core.opening_hours import PartDay, Period, parse_hours, parse_part_day

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
ZONE_UTC = ZoneInfo("UTC")
WEEKDAYS = frozenset(range(5))
EVERY_DAY = frozenset(range(7))
YEAR_END = frozenset({date(2026, 12, 25), date(2026, 12, 26), date(2027, 1, 1)})
SUMMER_SHUTDOWN = frozenset(date(2026, 8, 3) + timedelta(days=n) for n in range(19))  # 3 weeks

OFFICE = Calendar(LONDON, WEEKDAYS, time(9), time(17, 30), YEAR_END | SUMMER_SHUTDOWN)
NY_OFFICE = Calendar(NEW_YORK, WEEKDAYS, time(9), time(17))
LONDON_NIGHTS = Calendar(LONDON, EVERY_DAY, time(0, 30), time(2, 30))  # spans 01:00-02:00
NY_NIGHTS = Calendar(NEW_YORK, EVERY_DAY, time(1, 30), time(3, 30))  # spans 02:00-03:00
ALMOST_ALWAYS_UTC = Calendar(ZONE_UTC, EVERY_DAY, time(0), time(23, 59))
ALMOST_ALWAYS_LONDON = Calendar(LONDON, EVERY_DAY, time(0), time(23, 59))
# Greenland springs forward from Saturday 23:00 straight to Sunday 00:00, so Saturday's 23:30
# closing happens at a moment the clock calls Sunday (a closed day here).
NUUK = ZoneInfo("America/Nuuk")
NUUK_LATE = Calendar(NUUK, frozenset(range(6)), time(9), time(23, 30))


def at(zone: ZoneInfo, text: str, fold: int = 0) -> datetime:
    """``text`` read on ``zone``'s wall clock (fold=1: the second of two readings)."""
    return datetime.fromisoformat(text).replace(tzinfo=zone, fold=fold)


def add(cal: Calendar, start: datetime, text: str) -> str:
    """``add_business_time`` with a duration in config syntax, answered in ISO 8601."""
    return add_business_time(cal, start, parse_duration(text)).isoformat(sep=" ")


def sub(cal: Calendar, moment: datetime, text: str) -> str:
    """``subtract_business_time`` with a duration in config syntax, answered in ISO 8601."""
    return subtract_business_time(cal, moment, parse_duration(text)).isoformat(sep=" ")


# --- durations -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", Duration(minutes=30)),
        ("8h", Duration(minutes=480)),
        ("2d", Duration(days=2)),
        ("1d4h", Duration(minutes=240, days=1)),
        ("1h30m", Duration(minutes=90)),
        ("90m", Duration(minutes=90)),
        (" 8H ", Duration(minutes=480)),
        ("1d 4h", Duration(minutes=240, days=1)),
        ("0m", Duration()),
    ],
)
def test_parse_duration_reads_days_hours_and_minutes(text: str, expected: Duration) -> None:
    """Durations are d, h, m in that order, any subset, case and spacing forgiven."""
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["8x", "", "h", "8", "-1h", "4h1d", "1.5h", "8 hours", "٨h"])
def test_parse_duration_refuses_other_text_with_the_fix(text: str) -> None:
    """Anything else raises ValueError saying what to write instead."""
    with pytest.raises(ValueError, match=r"is not a duration; write e\.g\. 30m, 8h or 2d") as err:
        parse_duration(text)
    assert str(err.value).startswith(repr(text))


def test_duration_refuses_negative_amounts() -> None:
    """A Duration cannot go backwards."""
    with pytest.raises(ValueError, match="negative"):
        Duration(minutes=-1)


def test_durations_add_up() -> None:
    """Durations add component by component."""
    assert Duration(30, 1) + Duration(45, 2) == Duration(75, 3)


@given(st.builds(Duration, st.integers(0, 10_000), st.integers(0, 100)))
def test_duration_text_reads_back_as_the_same_duration(duration: Duration) -> None:
    """``str(duration)`` is config syntax that parses back to the same duration."""
    assert parse_duration(str(duration)) == duration


# --- calendars -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("open_days", "opens", "closes", "problem"),
    [
        (frozenset(), time(9), time(17), "no open days"),
        (frozenset({7}), time(9), time(17), "not weekdays"),
        (WEEKDAYS, time(17), time(9), "not after start"),
        (WEEKDAYS, time(9), time(9), "not after start"),
        (WEEKDAYS, time(9, 0, 30), time(17), "whole minutes"),
        (WEEKDAYS, time(9, tzinfo=UTC), time(17), "without a zone"),
    ],
)
def test_calendar_refuses_hours_that_are_never_open(
    open_days: frozenset[int], opens: time, closes: time, problem: str
) -> None:
    """A calendar with no open time (or unreadable hours) is refused when it is made."""
    with pytest.raises(ValueError, match=problem):
        Calendar(LONDON, open_days, opens, closes)


def test_calendar_made_from_plain_sets_is_hashable() -> None:
    """Sets passed in are frozen, so calendars can be dict keys and cache keys."""
    cal = Calendar(LONDON, {0, 1}, time(9), time(17), {date(2026, 1, 1)})  # type: ignore[arg-type]
    assert hash(cal) == hash(
        Calendar(LONDON, frozenset({0, 1}), time(9), time(17), frozenset({date(2026, 1, 1)}))
    )


def test_holidays_closing_every_open_day_raise_instead_of_looping() -> None:
    """Holidays covering every open day for years raise ValueError, not an endless search."""
    mondays = frozenset(date(2026, 1, 5) + timedelta(weeks=n) for n in range(52 * 5))
    cal = Calendar(LONDON, frozenset({0}), time(9), time(17), mondays)
    with pytest.raises(ValueError, match="no open day in the 1098 days"):
        next_open(cal, at(LONDON, "2026-01-01 12:00"))
    with pytest.raises(ValueError, match="holidays"):
        add_business_time(cal, at(LONDON, "2026-01-01 12:00"), Duration(days=1))
    with pytest.raises(ValueError, match="no open day in the 1098 days before"):
        subtract_business_time(cal, at(LONDON, "2030-06-01 12:00"), Duration(60))


@pytest.mark.parametrize(
    ("cal", "expected"),
    [
        (OFFICE, "Monday to Friday, 09:00–17:30 (London time)"),
        (NY_OFFICE, "Monday to Friday, 09:00–17:00 (New York time)"),
        (ALMOST_ALWAYS_UTC, "Every day, 00:00–23:59 (UTC)"),
        (
            Calendar(LONDON, frozenset({0, 2, 4}), time(9), time(17)),
            "Monday, Wednesday and Friday, 09:00–17:00 (London time)",
        ),
        (
            Calendar(LONDON, frozenset({5, 6}), time(10), time(16)),
            "Saturday and Sunday, 10:00–16:00 (London time)",
        ),
        (
            Calendar(LONDON, frozenset({4, 5, 6, 0}), time(10), time(16)),
            "Friday to Monday, 10:00–16:00 (London time)",
        ),
        (
            Calendar(LONDON, frozenset({0, 1, 2, 4}), time(8), time(16)),
            "Monday to Wednesday and Friday, 08:00–16:00 (London time)",
        ),
        (Calendar(LONDON, frozenset({6}), time(8), time(12)), "Sunday, 08:00–12:00 (London time)"),
    ],
)
def test_opening_hours_text_names_day_runs_hours_and_zone(cal: Calendar, expected: str) -> None:
    """Opening hours read as runs of days, the hours, and the zone a customer recognises."""
    assert opening_hours_text(cal) == expected


# --- open or closed ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (at(LONDON, "2026-11-23 08:59:59"), False),
        (at(LONDON, "2026-11-23 09:00"), True),
        (at(LONDON, "2026-11-23 17:30"), True),  # closing time is still open
        (at(LONDON, "2026-11-23 17:30:01"), False),
        (at(LONDON, "2026-11-21 12:00"), False),  # Saturday
        (at(LONDON, "2026-12-25 12:00"), False),  # holiday
        (datetime(2026, 6, 1, 8, 0, tzinfo=UTC), True),  # 09:00 in London (BST)
        (datetime(2026, 6, 1, 16, 45, tzinfo=UTC), False),  # 17:45 in London
    ],
)
def test_is_open_from_opening_to_closing_inclusive(moment: datetime, expected: bool) -> None:
    """Open from opening to closing time, both included, on open days only, in London time."""
    assert is_open(OFFICE, moment) is expected


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (at(LONDON, "2026-11-23 09:00"), "2026-11-23 09:00:00+00:00"),
        (at(LONDON, "2026-11-23 17:30"), "2026-11-23 17:30:00+00:00"),
        (at(LONDON, "2026-11-23 17:30:01"), "2026-11-24 09:00:00+00:00"),
        (at(LONDON, "2026-11-20 18:00"), "2026-11-23 09:00:00+00:00"),  # Friday evening
        (at(LONDON, "2026-12-24 18:00"), "2026-12-28 09:00:00+00:00"),  # over Christmas
        (at(LONDON, "2026-08-12 11:00"), "2026-08-24 09:00:00+01:00"),  # in a 3-week shutdown
        (at(LONDON, "2026-03-28 12:00"), "2026-03-30 09:00:00+01:00"),  # clocks change Sunday
    ],
)
def test_next_open_is_the_moment_itself_or_the_next_opening(
    moment: datetime, expected: str
) -> None:
    """next_open returns an open moment unchanged, else the next opening on an open day."""
    assert next_open(OFFICE, moment).isoformat(sep=" ") == expected


# --- adding business time: the weeks that go wrong -----------------------------------------


@pytest.mark.parametrize(
    ("start", "duration", "expected"),
    [
        (at(LONDON, "2026-11-23 09:00"), "8h", "2026-11-23 17:00:00+00:00"),
        (at(LONDON, "2026-11-23 09:00"), "8h30m", "2026-11-23 17:30:00+00:00"),
        (at(LONDON, "2026-11-23 09:00"), "8h31m", "2026-11-24 09:01:00+00:00"),
        (at(LONDON, "2026-11-23 17:30"), "0m", "2026-11-23 17:30:00+00:00"),
        (at(LONDON, "2026-11-23 17:30"), "1m", "2026-11-24 09:01:00+00:00"),
        (at(LONDON, "2026-11-20 16:00"), "8h", "2026-11-23 15:30:00+00:00"),
        (at(LONDON, "2026-11-20 18:00"), "8h", "2026-11-23 17:00:00+00:00"),
        (at(LONDON, "2026-11-21 11:00"), "1h", "2026-11-23 10:00:00+00:00"),
        (at(LONDON, "2026-11-23 10:00:30"), "8h", "2026-11-24 09:30:30+00:00"),
        (at(LONDON, "2026-11-23 08:00"), "0m", "2026-11-23 09:00:00+00:00"),
    ],
    ids=[
        "in-day",
        "to-closing",
        "past-closing",
        "closing+0",
        "closing+1m",
        "friday-afternoon",
        "friday-evening",
        "saturday",
        "seconds-kept",
        "early+0",
    ],
)
def test_adding_hours_counts_only_open_time(start: datetime, duration: str, expected: str) -> None:
    """Hours skip nights and weekends, may end exactly at closing, and then carry on next day."""
    assert add(OFFICE, start, duration) == expected


@pytest.mark.parametrize(
    ("cal", "start", "duration", "expected"),
    [
        (OFFICE, at(LONDON, "2026-03-27 16:00"), "8h", "2026-03-30 15:30:00+01:00"),
        (OFFICE, at(LONDON, "2026-03-27 16:00"), "1d", "2026-03-30 16:00:00+01:00"),
        (OFFICE, at(LONDON, "2026-10-23 16:00"), "8h", "2026-10-26 15:30:00+00:00"),
        (OFFICE, at(LONDON, "2026-10-23 16:00"), "1d", "2026-10-26 16:00:00+00:00"),
        (NY_OFFICE, at(NEW_YORK, "2026-03-06 16:00"), "8h", "2026-03-09 16:00:00-04:00"),
        (NY_OFFICE, at(NEW_YORK, "2026-03-06 10:00"), "2d", "2026-03-10 10:00:00-04:00"),
        (NY_OFFICE, at(NEW_YORK, "2026-10-30 16:00"), "8h", "2026-11-02 16:00:00-05:00"),
        (NY_OFFICE, at(NEW_YORK, "2026-10-30 16:00"), "1d", "2026-11-02 16:00:00-05:00"),
    ],
    ids=[
        "london-spring-8h",
        "london-spring-1d",
        "london-autumn-8h",
        "london-autumn-1d",
        "ny-spring-8h",
        "ny-spring-2d",
        "ny-autumn-8h",
        "ny-autumn-1d",
    ],
)
def test_dst_weekends_keep_office_hours_on_the_wall_clock(
    cal: Calendar, start: datetime, duration: str, expected: str
) -> None:
    """Across a DST weekend, 9-to-5 stays 9-to-5 local time and hours count to the minute."""
    assert add(cal, start, duration) == expected


@pytest.mark.parametrize(
    ("cal", "day", "minutes"),
    [
        (LONDON_NIGHTS, "2026-03-28", 120),
        (LONDON_NIGHTS, "2026-03-29", 60),  # 00:30 GMT to 02:30 BST
        (LONDON_NIGHTS, "2026-10-25", 180),  # 00:30 BST to 02:30 GMT
        (LONDON_NIGHTS, "2026-10-26", 120),
        (NY_NIGHTS, "2026-03-08", 60),
        (NY_NIGHTS, "2026-11-01", 180),
        (ALMOST_ALWAYS_UTC, "2026-03-29", 1439),
        (ALMOST_ALWAYS_LONDON, "2026-03-29", 1379),
        (ALMOST_ALWAYS_LONDON, "2026-10-25", 1499),
    ],
)
def test_hours_over_the_changing_hour_last_as_long_as_the_clock_says(
    cal: Calendar, day: str, minutes: int
) -> None:
    """A day's open minutes are real elapsed minutes: short when clocks spring, long in autumn."""
    start = at(cal.timezone, f"{day} 00:00")
    next_midnight = at(cal.timezone, (date.fromisoformat(day) + timedelta(days=1)).isoformat())
    assert business_minutes_between(cal, start, next_midnight) == minutes


@pytest.mark.parametrize(
    ("cal", "start", "duration", "expected"),
    [
        (LONDON_NIGHTS, at(LONDON, "2026-03-29 00:30"), "90m", "2026-03-30 01:00:00+01:00"),
        (LONDON_NIGHTS, at(LONDON, "2026-10-25 00:30"), "150m", "2026-10-25 02:00:00+00:00"),
        (LONDON_NIGHTS, at(LONDON, "2026-10-25 01:15", fold=1), "30m", "2026-10-25 01:45:00+00:00"),
        (LONDON_NIGHTS, at(LONDON, "2026-03-28 01:30"), "1d", "2026-03-29 02:00:00+01:00"),
        (NY_NIGHTS, at(NEW_YORK, "2026-03-07 02:30"), "1d", "2026-03-08 03:00:00-04:00"),
        (
            Calendar(LONDON, EVERY_DAY, time(1, 10), time(1, 40)),
            at(LONDON, "2026-03-28 01:40"),
            "1m",
            "2026-03-30 01:11:00+01:00",
        ),
        (
            ALMOST_ALWAYS_UTC,
            datetime(2026, 11, 23, 0, 0, tzinfo=UTC),
            "1440m",
            "2026-11-24 00:01:00+00:00",
        ),
        (NUUK_LATE, at(NUUK, "2026-03-28 22:30"), "30m", "2026-03-29 00:00:00-01:00"),
    ],
    ids=[
        "spring-night-carries-over",
        "autumn-night-runs-long",
        "second-01:15-counts-from-itself",
        "1d-onto-skipped-time",
        "ny-1d-onto-skipped-time",
        "hours-all-inside-skipped-hour",
        "24h-ish-has-one-closed-minute",
        "closing-inside-a-skipped-midnight",
    ],
)
def test_hours_inside_the_changing_hour(
    cal: Calendar, start: datetime, duration: str, expected: str
) -> None:
    """Hours that include 01:00-02:00 follow rule 3: first reading if twice, the jump if never."""
    assert add(cal, start, duration) == expected


@pytest.mark.parametrize(
    ("start", "duration", "expected"),
    [
        (at(LONDON, "2026-12-24 16:00"), "8h", "2026-12-28 15:30:00+00:00"),
        (at(LONDON, "2026-12-31 16:00"), "8h", "2027-01-04 15:30:00+00:00"),
        (at(LONDON, "2026-12-23 10:00"), "2d", "2026-12-28 10:00:00+00:00"),
        (at(LONDON, "2026-12-25 10:00"), "1h", "2026-12-28 10:00:00+00:00"),
        (at(LONDON, "2026-12-31 17:30"), "1d", "2027-01-04 17:30:00+00:00"),
    ],
    ids=[
        "christmas-eve",
        "new-years-eve",
        "2d-over-christmas",
        "on-christmas-day",
        "1d-from-closing-over-new-year",
    ],
)
def test_year_end_holidays_are_closed_days(start: datetime, duration: str, expected: str) -> None:
    """25 and 26 December and 1 January are skipped like weekends, across the year end."""
    assert add(OFFICE, start, duration) == expected


@pytest.mark.parametrize(
    ("start", "duration", "expected"),
    [
        (at(LONDON, "2026-08-12 11:00"), "1h", "2026-08-24 10:00:00+01:00"),
        (at(LONDON, "2026-07-31 16:00"), "8h", "2026-08-24 15:30:00+01:00"),
        (at(LONDON, "2026-07-31 16:00"), "1d", "2026-08-24 16:00:00+01:00"),
        (at(LONDON, "2026-07-31 18:00"), "2d", "2026-08-26 09:00:00+01:00"),
    ],
    ids=["mail-during-shutdown", "friday-before-8h", "friday-before-1d", "friday-evening-2d"],
)
def test_a_three_week_holiday_run_is_skipped(start: datetime, duration: str, expected: str) -> None:
    """Mail arriving in or just before a 3-week shutdown counts from the day after it."""
    assert add(OFFICE, start, duration) == expected


@pytest.mark.parametrize(
    ("start", "end", "minutes"),
    [
        (at(LONDON, "2026-11-23 09:00"), at(LONDON, "2026-11-23 10:15"), 75),
        (at(LONDON, "2026-11-20 18:00"), at(LONDON, "2026-11-23 08:00"), 0),  # weekend
        (at(LONDON, "2026-11-20 17:00"), at(LONDON, "2026-11-23 09:30"), 60),
        (at(LONDON, "2026-11-23 10:00"), at(LONDON, "2026-11-23 10:00:59"), 0),
        (at(LONDON, "2026-11-23 12:00"), at(LONDON, "2026-11-23 10:00"), 0),  # end before start
        (at(LONDON, "2026-03-27 16:00"), at(LONDON, "2026-03-30 15:30"), 480),
    ],
)
def test_business_minutes_between_counts_whole_open_minutes(
    start: datetime, end: datetime, minutes: int
) -> None:
    """Waiting time counts whole open minutes only, and is 0 when end is not after start."""
    assert business_minutes_between(OFFICE, start, end) == minutes


def test_closing_moved_into_the_next_date_is_still_open() -> None:
    """Saturday's closing, pushed by the clock change to what reads as Sunday, is still open."""
    closing = at(NUUK, "2026-03-29 00:00")
    assert is_open(NUUK_LATE, closing)
    assert next_open(NUUK_LATE, closing) == closing
    assert not is_open(NUUK_LATE, closing + timedelta(seconds=1))


@pytest.mark.parametrize(
    "call",
    [
        lambda m: is_open(OFFICE, m),
        lambda m: next_open(OFFICE, m),
        lambda m: add_business_time(OFFICE, m, Duration(60)),
        lambda m: business_minutes_between(OFFICE, m, m),
        lambda m: subtract_business_time(OFFICE, m, Duration(60)),
    ],
    ids=[
        "is_open",
        "next_open",
        "add_business_time",
        "business_minutes_between",
        "subtract_business_time",
    ],
)
def test_naive_datetimes_are_refused(call: Callable[[datetime], object]) -> None:
    """A datetime without a zone is ambiguous, so every function raises ValueError on one."""
    with pytest.raises(ValueError, match="no time zone"):
        call(datetime(2026, 11, 23, 10, 0))  # noqa: DTZ001 - the naive datetime under test


# --- subtracting business time: when a promise is chased ----------------------------------


@pytest.mark.parametrize(
    ("cal", "moment", "duration", "expected"),
    [
        (OFFICE, at(LONDON, "2026-11-24 10:00"), "1h", "2026-11-24 09:00:00+00:00"),
        (OFFICE, at(LONDON, "2026-11-24 09:30"), "1h", "2026-11-23 17:00:00+00:00"),
        (NY_OFFICE, at(NEW_YORK, "2026-11-24 09:30"), "1h", "2026-11-23 16:30:00-05:00"),
        (OFFICE, at(LONDON, "2026-11-24 09:00"), "1h", "2026-11-23 16:30:00+00:00"),
        (OFFICE, at(LONDON, "2026-11-24 17:30"), "8h30m", "2026-11-24 09:00:00+00:00"),
        (OFFICE, at(LONDON, "2026-11-24 17:30"), "8h31m", "2026-11-23 17:29:00+00:00"),
        (OFFICE, at(LONDON, "2026-11-24 20:00"), "1h", "2026-11-24 16:30:00+00:00"),
        (OFFICE, at(LONDON, "2026-11-24 20:00"), "0m", "2026-11-24 17:30:00+00:00"),
        (OFFICE, at(LONDON, "2026-11-24 08:00"), "0m", "2026-11-23 17:30:00+00:00"),
        (OFFICE, at(LONDON, "2026-11-24 10:00"), "0m", "2026-11-24 10:00:00+00:00"),
        (OFFICE, at(LONDON, "2026-11-24 10:00:30"), "1h", "2026-11-24 09:00:30+00:00"),
    ],
    ids=[
        "back-to-the-opening",
        "into-the-evening-before",
        "ny-into-the-evening-before",
        "from-the-opening",
        "whole-day-to-its-opening",
        "past-the-opening",
        "evening",
        "evening-0m-is-the-closing",
        "early-0m-is-last-closing",
        "open-0m-is-itself",
        "seconds-kept",
    ],
)
def test_subtracting_hours_counts_back_only_open_time(
    cal: Calendar, moment: datetime, duration: str, expected: str
) -> None:
    """Counting back skips nights, starts at the last closing, and stops at an opening exactly."""
    assert sub(cal, moment, duration) == expected


@pytest.mark.parametrize(
    ("moment", "duration", "expected"),
    [
        (at(LONDON, "2026-11-23 09:30"), "1h", "2026-11-20 17:00:00+00:00"),
        (at(LONDON, "2026-11-23 10:00"), "2h", "2026-11-20 16:30:00+00:00"),
        (at(LONDON, "2026-11-21 11:00"), "1h", "2026-11-20 16:30:00+00:00"),
        (at(LONDON, "2026-11-23 10:00"), "1d", "2026-11-20 10:00:00+00:00"),
        (at(LONDON, "2026-11-21 12:00"), "1d", "2026-11-19 17:30:00+00:00"),
        (at(LONDON, "2026-11-24 09:30"), "1d1h", "2026-11-20 17:00:00+00:00"),
        (at(LONDON, "2026-12-28 09:30"), "1h", "2026-12-24 17:00:00+00:00"),
        (at(LONDON, "2027-01-04 09:15"), "1h", "2026-12-31 16:45:00+00:00"),
        (at(LONDON, "2026-12-28 10:00"), "2d", "2026-12-23 10:00:00+00:00"),
        (at(LONDON, "2026-12-25 12:00"), "1h", "2026-12-24 16:30:00+00:00"),
        (at(LONDON, "2026-08-24 09:30"), "1h", "2026-07-31 17:00:00+01:00"),
        (at(LONDON, "2026-08-12 11:00"), "1h", "2026-07-31 16:30:00+01:00"),
    ],
    ids=[
        "monday-morning-into-friday",
        "monday-2h-into-friday",
        "saturday",
        "1d-monday-to-friday",
        "1d-from-saturday",
        "1d1h-minutes-come-off-first",
        "after-christmas",
        "after-new-year",
        "2d-over-christmas",
        "on-christmas-day",
        "after-a-shutdown",
        "during-a-shutdown",
    ],
)
def test_subtracting_skips_weekends_and_holidays(
    moment: datetime, duration: str, expected: str
) -> None:
    """A Monday or post-holiday promise is chased in the last open hours before the break."""
    assert sub(OFFICE, moment, duration) == expected


@pytest.mark.parametrize(
    ("cal", "moment", "duration", "expected"),
    [
        (OFFICE, at(LONDON, "2026-03-30 15:30"), "8h", "2026-03-27 16:00:00+00:00"),
        (OFFICE, at(LONDON, "2026-03-30 16:00"), "1d", "2026-03-27 16:00:00+00:00"),
        (OFFICE, at(LONDON, "2026-03-30 09:30"), "1h", "2026-03-27 17:00:00+00:00"),
        (OFFICE, at(LONDON, "2026-10-26 15:30"), "8h", "2026-10-23 16:00:00+01:00"),
        (OFFICE, at(LONDON, "2026-10-26 16:00"), "1d", "2026-10-23 16:00:00+01:00"),
        (NY_OFFICE, at(NEW_YORK, "2026-03-09 16:00"), "8h", "2026-03-06 16:00:00-05:00"),
        (NY_OFFICE, at(NEW_YORK, "2026-03-10 10:00"), "2d", "2026-03-06 10:00:00-05:00"),
        (NY_OFFICE, at(NEW_YORK, "2026-11-02 16:00"), "8h", "2026-10-30 16:00:00-04:00"),
        (NY_OFFICE, at(NEW_YORK, "2026-11-02 09:30"), "1h", "2026-10-30 16:30:00-04:00"),
        (LONDON_NIGHTS, at(LONDON, "2026-03-30 01:00"), "90m", "2026-03-29 00:30:00+00:00"),
        (LONDON_NIGHTS, at(LONDON, "2026-10-25 02:00"), "150m", "2026-10-25 00:30:00+01:00"),
        (LONDON_NIGHTS, at(LONDON, "2026-10-25 01:45", fold=1), "30m", "2026-10-25 01:15:00+00:00"),
        (LONDON_NIGHTS, at(LONDON, "2026-03-30 01:30"), "1d", "2026-03-29 02:00:00+01:00"),
        (NUUK_LATE, at(NUUK, "2026-03-29 00:00"), "30m", "2026-03-28 22:30:00-02:00"),
    ],
    ids=[
        "london-spring-8h",
        "london-spring-1d",
        "london-spring-monday-1h",
        "london-autumn-8h",
        "london-autumn-1d",
        "ny-spring-8h",
        "ny-spring-2d",
        "ny-autumn-8h",
        "ny-autumn-monday-1h",
        "spring-night-back-to-its-opening",
        "autumn-night-runs-long",
        "second-01:45-counts-from-itself",
        "1d-onto-skipped-time",
        "from-a-closing-inside-a-skipped-midnight",
    ],
)
def test_subtracting_across_dst_changes_counts_real_open_minutes(
    cal: Calendar, moment: datetime, duration: str, expected: str
) -> None:
    """Counting back over a DST change keeps hours on the wall clock and minutes to the minute."""
    assert sub(cal, moment, duration) == expected


# --- a week of its own: breaks, short days, part days, public holidays ---------------------

LUNCH = (Period(time(9), time(12, 30)), Period(time(13, 30), time(17, 30)))
# Monday to Thursday with a lunch break, a short Friday, Saturday mornings (not in days).
SHOP = Calendar(
    LONDON,
    WEEKDAYS,
    time(9),
    time(17, 30),
    YEAR_END,
    hours={
        0: LUNCH,
        1: LUNCH,
        2: LUNCH,
        3: LUNCH,
        4: (Period(time(9), time(15)),),
        5: (Period(time(10), time(13)),),
    },
)
XMAS_EVE = frozenset(
    {
        PartDay(date(2026, 12, 24), "from", time(12)),
        PartDay(date(2026, 12, 31), "until", time(10)),
        PartDay(date(2026, 12, 30), "from", time(8)),
    }
)
XMAS_OFFICE = Calendar(LONDON, WEEKDAYS, time(9), time(17), YEAR_END, closed=XMAS_EVE)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("09:00-17:30", (Period(time(9), time(17, 30)),)),
        ("09:00-12:30, 13:30-17:30", LUNCH),
        (" 09:00 – 12:30 ,13:30-17:30 ", LUNCH),  # an en dash, as opening_hours_text writes
        ("closed", ()),
        ("Closed", ()),
    ],
)
def test_parse_hours_reads_periods_or_closed(text: str, expected: tuple[Period, ...]) -> None:
    """A day's hours are periods separated by commas, or "closed"."""
    assert parse_hours(text) == expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "13:30-12:30",
            '"13:30-12:30" closes before it opens; write e.g. "09:00-12:30, 13:30-17:30"',
        ),
        ("09:00-09:00", '"09:00-09:00" closes as it opens'),
        (
            "13:30-17:30, 09:00-12:30",
            '"09:00-12:30" opens before "13:30-17:30" closes; write '
            "the periods in the order of the day",
        ),
        ("09:00-13:00, 12:30-17:30", '"12:30-17:30" opens before "09:00-13:00" closes'),
        ("09:00-12:00, 12:00-17:00", '"12:00-17:00" opens as "09:00-12:00" closes'),
        (
            "9 to 5",
            '"9 to 5" is not opening hours; write e.g. "09:00-12:30, 13:30-17:30" or "closed"',
        ),
        ("9:00-17:00", '"9:00-17:00": "9:00" is not a time of day; write e.g. 09:00'),
        ("09:00-24:00", '"24:00" is not a time of day'),
        ("09:00:30-17:00", "09:00:30 must be whole minutes"),
        ("", '"" is not opening hours'),
    ],
)
def test_parse_hours_refuses_mistakes_naming_the_period(text: str, problem: str) -> None:
    """Periods must read as times, close after they open, and come in order with breaks."""
    with pytest.raises(ValueError, match=re.escape(problem)):
        parse_hours(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-24 from 12:00", PartDay(date(2026, 12, 24), "from", time(12))),
        ("2026-12-31  UNTIL 10:00", PartDay(date(2026, 12, 31), "until", time(10))),
    ],
)
def test_parse_part_day_reads_from_and_until(text: str, expected: PartDay) -> None:
    """A part day is a date, "from" or "until", and a time."""
    assert parse_part_day(text) == expected
    assert parse_part_day(str(expected)) == expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "2026-12-24 at 12:00",
            '"2026-12-24 at 12:00" is not a part day; write e.g. '
            '"2026-12-24 from 12:00" or "2026-12-31 until 10:00"',
        ),
        ("2026-12-24", "is not a part day"),
        ("2026-02-30 from 12:00", '"2026-02-30" is not a date'),
        ("2026-12-24 from 25:00", '"25:00" is not a time of day'),
    ],
)
def test_parse_part_day_refuses_other_text(text: str, problem: str) -> None:
    """Anything else says what to write."""
    with pytest.raises(ValueError, match=re.escape(problem)):
        parse_part_day(text)


@pytest.mark.parametrize(
    ("hours", "problem"),
    [
        ({0: (Period(time(13, 30), time(12, 30)),)}, 'Monday: "13:30-12:30" closes before'),
        ({6: LUNCH[::-1]}, 'Sunday: "09:00-12:30" opens before "13:30-17:30" closes'),
        ({7: LUNCH}, "days in hours [7] are not weekdays"),
        (dict.fromkeys(range(5), ()), "no open days"),
    ],
)
def test_calendar_refuses_hours_out_of_order_or_empty(
    hours: dict[int, tuple[Period, ...]], problem: str
) -> None:
    """A calendar made in code is checked as the config's is, naming the weekday."""
    with pytest.raises(ValueError, match=re.escape(problem)):
        Calendar(LONDON, WEEKDAYS, time(9), time(17), hours=hours)


def test_hours_alone_can_open_a_week() -> None:
    """No simple days at all: the days given hours are the open ones."""
    cal = Calendar(LONDON, frozenset(), time(9), time(17), hours={5: LUNCH})
    assert next_open(cal, at(LONDON, "2026-11-16 12:00")).isoformat(sep=" ") == (
        "2026-11-21 09:00:00+00:00"
    )


def test_a_calendar_with_its_own_hours_is_hashable_and_equal_to_its_twin() -> None:
    """Hours given as lists are frozen: equal calendars hash alike, and can be cache keys."""
    lists: dict[int, list[tuple[time, time]]] = {
        day: [(time(9), time(12, 30)), (time(13, 30), time(17, 30))] for day in range(4)
    }
    lists |= {5: [(time(10), time(13))], 4: [(time(9), time(15))]}
    twin = Calendar(LONDON, WEEKDAYS, time(9), time(17, 30), YEAR_END, hours=lists)  # type: ignore[arg-type]
    assert twin == SHOP
    assert hash(twin) == hash(SHOP)
    assert twin.week == SHOP.week


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (at(LONDON, "2026-11-16 12:30"), True),  # the morning's closing is open
        (at(LONDON, "2026-11-16 12:30:01"), False),  # lunch
        (at(LONDON, "2026-11-16 13:29:59"), False),
        (at(LONDON, "2026-11-16 13:30"), True),
        (at(LONDON, "2026-11-20 15:00"), True),  # the short Friday's closing
        (at(LONDON, "2026-11-20 15:01"), False),
        (at(LONDON, "2026-11-21 11:00"), True),  # Saturday, opened by its hours
        (at(LONDON, "2026-11-22 11:00"), False),  # Sunday
    ],
)
def test_a_break_is_closed_and_each_period_ends_open(moment: datetime, expected: bool) -> None:
    """Each period is open from its opening to its closing, both included; a break is closed."""
    assert is_open(SHOP, moment) is expected


@pytest.mark.parametrize(
    ("start", "duration", "expected"),
    [
        (at(LONDON, "2026-11-16 12:00"), "1h", "2026-11-16 14:00:00+00:00"),
        (at(LONDON, "2026-11-16 12:30"), "0m", "2026-11-16 12:30:00+00:00"),
        (at(LONDON, "2026-11-16 12:30"), "1m", "2026-11-16 13:31:00+00:00"),
        (at(LONDON, "2026-11-16 12:45"), "0m", "2026-11-16 13:30:00+00:00"),
        (at(LONDON, "2026-11-19 17:00"), "8h", "2026-11-21 11:30:00+00:00"),
        (at(LONDON, "2026-11-21 12:30"), "1h", "2026-11-23 09:30:00+00:00"),
        (at(LONDON, "2026-11-16 12:15"), "1d", "2026-11-17 12:15:00+00:00"),
        (at(LONDON, "2026-11-21 12:45"), "1d", "2026-11-23 13:30:00+00:00"),
        (at(LONDON, "2026-11-19 16:00"), "1d", "2026-11-20 15:00:00+00:00"),
        (at(LONDON, "2026-11-20 09:30"), "1d", "2026-11-21 10:00:00+00:00"),
        (at(LONDON, "2026-11-16 13:00"), "1d", "2026-11-17 13:30:00+00:00"),
    ],
    ids=[
        "over-lunch",
        "lunch-closing+0",
        "lunch-closing+1m",
        "at-lunch+0",
        "thu-to-sat",
        "sat-to-mon",
        "1d-same-time",
        "1d-into-a-break",
        "1d-after-closing",
        "1d-before-opening",
        "1d-from-lunch",
    ],
)
def test_adding_follows_each_days_hours(start: datetime, duration: str, expected: str) -> None:
    """Minutes skip breaks; a day lands at the same time, or rule 5's opening or closing."""
    assert add(SHOP, start, duration) == expected


@pytest.mark.parametrize(
    ("moment", "duration", "expected"),
    [
        (at(LONDON, "2026-11-16 14:00"), "1h", "2026-11-16 12:00:00+00:00"),
        (at(LONDON, "2026-11-16 13:30"), "1h", "2026-11-16 11:30:00+00:00"),
        (at(LONDON, "2026-11-23 09:30"), "1h", "2026-11-21 12:30:00+00:00"),
        (at(LONDON, "2026-11-23 13:30"), "1d", "2026-11-21 13:00:00+00:00"),
        (at(LONDON, "2026-11-23 10:00"), "1d", "2026-11-21 10:00:00+00:00"),
        (at(LONDON, "2026-11-23 09:30"), "1d", "2026-11-20 15:00:00+00:00"),
        (at(LONDON, "2026-11-23 12:45"), "1d", "2026-11-21 12:30:00+00:00"),
        (at(LONDON, "2026-11-21 13:00"), "1d", "2026-11-20 15:00:00+00:00"),
        (at(LONDON, "2026-11-17 12:45"), "1d", "2026-11-16 12:30:00+00:00"),
    ],
    ids=[
        "over-lunch",
        "from-an-opening",
        "into-saturday",
        "1d-after-its-closing",
        "1d-same-time",
        "1d-before-its-opening",
        "1d-from-a-break",
        "1d-from-the-last-closing",
        "1d-from-a-break-to-its-closing",
    ],
)
def test_subtracting_follows_each_days_hours(
    moment: datetime, duration: str, expected: str
) -> None:
    """Counting back skips breaks; a day back is the latest moment a day on from which is
    in time (rule 9)."""
    assert sub(SHOP, moment, duration) == expected


def test_subtracting_days_is_not_adding_them_backwards() -> None:
    """Tuesday opens at 10:00, Monday and Wednesday at 09:00 (UTC). A mail on Monday at
    17:00 is promised 1d1h later, Wednesday 10:00. Chased 1d1h before that: rule 9 gives
    Monday 17:00, and adding 1d1h to it gives the promise back. The same time of day a day
    back from Wednesday 09:00 would be Tuesday 09:00, clamped to 10:00, whose 1d1h is 11:00:
    a chase from which the promise could never have been made."""
    cal = Calendar(ZONE_UTC, WEEKDAYS, time(9), time(17), hours={1: parse_hours("10:00-17:00")})
    promise = add_business_time(cal, at(ZONE_UTC, "2026-11-16 17:00"), parse_duration("1d1h"))
    assert promise.isoformat(sep=" ") == "2026-11-18 10:00:00+00:00"
    chase = subtract_business_time(cal, promise, parse_duration("1d1h"))
    assert chase.isoformat(sep=" ") == "2026-11-16 17:00:00+00:00"
    assert add_business_time(cal, chase, parse_duration("1d1h")) == promise


@pytest.mark.parametrize(
    ("start", "duration", "expected"),
    [
        (at(LONDON, "2026-12-24 11:00"), "2h", "2026-12-28 10:00:00+00:00"),
        (at(LONDON, "2026-12-24 12:00"), "0m", "2026-12-24 12:00:00+00:00"),
        (at(LONDON, "2026-12-24 12:01"), "0m", "2026-12-28 09:00:00+00:00"),
        (at(LONDON, "2026-12-29 16:30"), "1h", "2026-12-31 10:30:00+00:00"),
        (at(LONDON, "2026-12-31 08:00"), "0m", "2026-12-31 10:00:00+00:00"),
        (at(LONDON, "2026-12-23 10:00"), "1d", "2026-12-24 10:00:00+00:00"),
        (at(LONDON, "2026-12-23 14:00"), "1d", "2026-12-24 12:00:00+00:00"),
    ],
    ids=[
        "eve-morning",
        "eve-closing",
        "eve-afternoon",
        "30th-closed-all-day",
        "31st-opens-late",
        "1d-onto-the-eve",
        "1d-onto-the-eves-afternoon",
    ],
)
def test_part_days_close_from_or_until_a_time(
    start: datetime, duration: str, expected: str
) -> None:
    """Closed from 12:00 on the 24th (12:00 itself open), all of the 30th (from 08:00, before
    it opens), and until 10:00 on the 31st."""
    assert add(XMAS_OFFICE, start, duration) == expected


@pytest.mark.parametrize(
    ("place", "start", "expected"),
    [
        ("GB", at(LONDON, "2025-12-24 16:00"), "2025-12-29 16:00:00+00:00"),
        ("DE-BY", at(BERLIN, "2026-01-05 16:00"), "2026-01-07 16:00:00+01:00"),
        ("DE-BE", at(BERLIN, "2026-01-05 16:00"), "2026-01-06 16:00:00+01:00"),
        ("GB", at(LONDON, "2026-04-03 10:00"), "2026-04-06 17:00:00+01:00"),
        ("GB-ENG", at(LONDON, "2026-04-03 10:00"), "2026-04-07 17:00:00+01:00"),
        ("GB-SCT", at(LONDON, "2026-04-03 10:00"), "2026-04-06 17:00:00+01:00"),
    ],
    ids=[
        "gb-christmas",
        "bavaria-epiphany",
        "berlin-no-epiphany",
        "gb-good-friday",
        "england-easter-monday",
        "scotland-works-easter-monday",
    ],
)
def test_public_holidays_of_the_place_are_closed(
    place: str, start: datetime, expected: str
) -> None:
    """A shop open 09:00-17:00 on weekdays, 8h promises: the place's holidays are skipped;
    GB alone has only what its four nations share (no Easter Monday), GB-ENG has England's."""
    cal = Calendar(
        start.tzinfo,  # type: ignore[arg-type]
        WEEKDAYS,
        time(9),
        time(17),
        country_holidays=place,
    )
    assert add(cal, start, "8h") == expected


def test_a_place_is_kept_as_the_packages_code_and_checked() -> None:
    """Case and the package's aliases are read as its codes; an unknown subdivision is
    refused naming the close one."""
    assert (
        Calendar(LONDON, WEEKDAYS, time(9), time(17), country_holidays="de-Bayern").country_holidays
        == "DE-BY"
    )
    with pytest.raises(ValueError, match=r"GB has no subdivision 'EN'; did you mean GB-ENG\?"):
        Calendar(LONDON, WEEKDAYS, time(9), time(17), country_holidays="GB-EN")


def test_closed_days_name_holidays_and_part_days_the_week_would_open() -> None:
    """From Saturday 20 December 2025, in a GB shop closing at noon on Christmas Eve: the
    weekend is not listed (the week's hours close it anyway), holidays carry their names."""
    cal = Calendar(
        LONDON,
        WEEKDAYS,
        time(9),
        time(17),
        frozenset({date(2026, 1, 2)}),
        country_holidays="GB",
        closed=frozenset({PartDay(date(2025, 12, 24), "from", time(12))}),
    )
    days = list(closed_days(cal, date(2025, 12, 20), date(2026, 4, 30)))
    assert [(d.day.isoformat(), d.why) for d in days] == [
        ("2025-12-24", "closed from 12:00"),
        ("2025-12-25", "Christmas Day"),
        ("2025-12-26", "Boxing Day"),
        ("2026-01-01", "New Year's Day"),
        ("2026-01-02", "holiday"),
        ("2026-04-03", "Good Friday"),
    ]


@pytest.mark.parametrize(
    ("cal", "expected"),
    [
        (
            SHOP,
            "Monday to Thursday, 09:00–12:30 and 13:30–17:30; Friday, 09:00–15:00; "
            "Saturday, 10:00–13:00 (London time)",
        ),
        (
            Calendar(
                LONDON,
                frozenset({0, 2}),
                time(9),
                time(17),
                hours={1: parse_hours("09:00-12:00"), 3: parse_hours("09:00-12:00")},
            ),
            "Monday and Wednesday, 09:00–17:00; Tuesday and Thursday, 09:00–12:00 (London time)",
        ),
        (
            Calendar(
                LONDON,
                EVERY_DAY,
                time(9),
                time(17),
                hours={6: parse_hours("08:00-10:00, 11:00-12:00, 13:00-17:00")},
            ),
            "Monday to Saturday, 09:00–17:00; Sunday, 08:00–10:00, 11:00–12:00 and "
            "13:00–17:00 (London time)",
        ),
        (
            Calendar(LONDON, WEEKDAYS, time(9), time(17), hours={0: (), 6: LUNCH}),
            "Tuesday to Friday, 09:00–17:00; Sunday, 09:00–12:30 and 13:30–17:30 (London time)",
        ),
    ],
    ids=["shop", "alternate-days", "three-periods", "closed-monday-open-sunday"],
)
def test_opening_hours_text_groups_days_with_the_same_hours(cal: Calendar, expected: str) -> None:
    """Days keeping the same hours read together, each group with its periods."""
    assert opening_hours_text(cal) == expected


# --- properties ----------------------------------------------------------------------------

ZONES = [
    ZoneInfo(key)
    for key in (
        "Europe/London",
        "America/New_York",
        "Australia/Lord_Howe",
        "America/Santiago",
        "America/Nuuk",
        "UTC",
    )
]
FIRST_HOUR = datetime(2026, 1, 1, tzinfo=UTC)


def _clock_changes(zone: ZoneInfo) -> list[datetime]:
    """UTC hours just after ``zone`` changed its offset in 2026-2027."""
    hours = [FIRST_HOUR + timedelta(hours=n) for n in range(2 * 8760)]
    offsets = [hour.astimezone(zone).utcoffset() for hour in hours]
    return [hours[n] for n in range(1, len(hours)) if offsets[n] != offsets[n - 1]]


CLOCK_CHANGES = {zone: _clock_changes(zone) for zone in ZONES}
# Hours near midnight and the usual DST hours turn up far more often than chance would have it,
# and so do a lunch break's.
INTERESTING_MINUTES = [
    0,
    30,
    60,
    90,
    100,
    120,
    150,
    180,
    210,
    540,
    720,
    780,
    1020,
    1380,
    1410,
    1439,
]
PLACES = ["GB-ENG", "DE-BY", "US-CA"]


@functools.cache
def minute_of_day(after: int = -1, upto: int = 1439) -> st.SearchStrategy[int]:
    """Minutes of the day in (after, upto], often ones where clocks change (strategies are
    made once: making them afresh for every example costs more than the tests)."""
    interesting = [m for m in INTERESTING_MINUTES if after < m <= upto]
    choice = st.integers(after + 1, upto)
    return st.sampled_from(interesting) | choice if interesting else choice


@functools.cache
def _near_a_change(zone: ZoneInfo) -> st.SearchStrategy[datetime]:
    return st.sampled_from(CLOCK_CHANGES[zone])


@st.composite
def moments(draw: st.DrawFn, zone: ZoneInfo, seconds: bool = True) -> datetime:
    """A UTC moment in 2026-2027, mostly within two days before one of ``zone``'s clock changes."""
    changes = CLOCK_CHANGES[zone]
    near_a_change = draw(st.integers(0, 3)) > 0
    if changes and near_a_change:
        base = draw(_near_a_change(zone))
    else:
        base = FIRST_HOUR + timedelta(days=draw(st.integers(0, 700)))
    moment = base - timedelta(minutes=draw(st.integers(-1440, 2 * 1440)))
    return moment + timedelta(seconds=draw(st.integers(0, 59))) if seconds else moment


def _periods(ends: list[int]) -> tuple[Period, ...]:
    ends = sorted(ends)
    return tuple(Period(_clock(a), _clock(b)) for a, b in zip(ends[::2], ends[1::2], strict=True))


_ENDS = {
    count: st.lists(minute_of_day(), min_size=2 * count, max_size=2 * count, unique=True)
    for count in range(4)
}
# A day's own hours: closed, one period (often a half day), or two or three with breaks.
DAY_HOURS = st.sampled_from([0, 1, 1, 2, 2, 3]).flatmap(_ENDS.__getitem__).map(_periods)
WEEK_HOURS: st.SearchStrategy[dict[int, tuple[Period, ...]]] = st.just({}) | st.dictionaries(
    st.integers(0, 6), DAY_HOURS, max_size=7
)
OPEN_DAYS = st.just(EVERY_DAY) | st.frozensets(st.integers(0, 6), min_size=1)
DAYS_NEAR = st.integers(-7, 21)  # days from the moment's date
EDGES: st.SearchStrategy[Literal["from", "until"]] = st.sampled_from(["from", "until"])
PART_DAYS = st.frozensets(st.tuples(DAYS_NEAR, EDGES, minute_of_day()), max_size=4)
PLACE = st.none() | st.sampled_from(PLACES)


@st.composite
def scenarios(
    draw: st.DrawFn, seconds: bool = True, zones: list[ZoneInfo] = ZONES
) -> tuple[Calendar, datetime]:
    """A random week's hours and a moment near a clock change, with holidays (runs too), part
    days and sometimes a place's public holidays nearby. The simple form (one period on each
    open day) stays common: some days, all or none take hours of their own."""
    zone = draw(st.sampled_from(zones))
    moment = draw(moments(zone, seconds))
    offsets = set(draw(st.frozensets(DAYS_NEAR, max_size=8)))
    if draw(st.booleans()):  # a three-week shutdown somewhere around the moment
        first = draw(DAYS_NEAR)
        offsets |= set(range(first, first + 21))
    opens = draw(minute_of_day(upto=1438))
    closes = draw(minute_of_day(after=opens))
    open_days, hours = draw(OPEN_DAYS), draw(WEEK_HOURS)
    closed = {
        PartDay(moment.date() + timedelta(days=n), edge, _clock(minute))
        for n, edge, minute in draw(PART_DAYS)
    }
    assume(any(hours.get(d, d in open_days) for d in range(7)))  # not every day closed
    cal = Calendar(
        zone,
        open_days,
        _clock(opens),
        _clock(closes),
        frozenset(moment.date() + timedelta(days=n) for n in offsets),
        hours=hours,
        country_holidays=draw(PLACE),
        closed=frozenset(closed),
    )
    return cal, moment


def _clock(minute: int) -> time:
    return time(minute // 60, minute % 60)


def _utc(moment: datetime) -> datetime:
    """Compare in UTC: Python compares datetimes of one zone by wall clock, wrong in a fold."""
    return moment.astimezone(UTC)


durations = st.builds(Duration, st.integers(0, 3000), st.integers(0, 12))
minutes_only = st.integers(0, 3000)


@given(scenarios(), durations)
def test_result_is_always_open_time_in_the_calendar_zone(
    scenario: tuple[Calendar, datetime], duration: Duration
) -> None:
    """A promise never lands in closed time (closing time counts as open) and reads in its zone."""
    cal, start = scenario
    result = add_business_time(cal, start, duration)
    assert is_open(cal, result)
    assert result.tzinfo is cal.timezone


@given(scenarios(), minutes_only, minutes_only)
def test_adding_minutes_in_two_steps_equals_adding_them_at_once(
    scenario: tuple[Calendar, datetime], a: int, b: int
) -> None:
    """add(add(t, a), b) == add(t, a + b) for minutes."""
    cal, start = scenario
    halfway = add_business_time(cal, start, Duration(a))
    two_steps = add_business_time(cal, halfway, Duration(b))
    assert _utc(two_steps) == _utc(add_business_time(cal, start, Duration(a + b)))


@given(scenarios(), st.integers(0, 5 * 1440), durations)
def test_a_later_start_never_gives_an_earlier_result(
    scenario: tuple[Calendar, datetime], later_by: int, duration: Duration
) -> None:
    """add is monotone in the start moment, for minutes and days."""
    cal, start = scenario
    later = start + timedelta(minutes=later_by)
    assert _utc(add_business_time(cal, start, duration)) <= _utc(
        add_business_time(cal, later, duration)
    )


@given(scenarios(), durations, durations)
def test_a_longer_duration_never_gives_an_earlier_result(
    scenario: tuple[Calendar, datetime], shorter: Duration, extra: Duration
) -> None:
    """add is monotone in the duration, for minutes and days."""
    cal, start = scenario
    assert _utc(add_business_time(cal, start, shorter)) <= _utc(
        add_business_time(cal, start, shorter + extra)
    )


@given(scenarios(), minutes_only)
def test_waiting_time_up_to_a_result_is_the_minutes_added(
    scenario: tuple[Calendar, datetime], minutes: int
) -> None:
    """business_minutes_between(t, add(t, m)) == m, whether t is open or closed."""
    cal, start = scenario
    result = add_business_time(cal, start, Duration(minutes))
    assert business_minutes_between(cal, start, result) == minutes


@given(scenarios(), st.integers(1, 3000))
def test_result_is_the_first_moment_with_that_much_open_time(
    scenario: tuple[Calendar, datetime], minutes: int
) -> None:
    """One second before the result, less than the promised open time has passed."""
    cal, start = scenario
    result = add_business_time(cal, start, Duration(minutes))
    assert business_minutes_between(cal, start, _utc(result) - timedelta(seconds=1)) < minutes


@given(scenarios())
def test_next_open_skips_only_closed_time(scenario: tuple[Calendar, datetime]) -> None:
    """next_open(t) is open, not before t, t itself exactly when t is open, and skips no opening."""
    cal, start = scenario
    opening = next_open(cal, start)
    assert is_open(cal, opening)
    assert _utc(opening) >= _utc(start)
    assert (_utc(opening) == _utc(start)) is is_open(cal, start)
    assert business_minutes_between(cal, start, opening) == 0


@given(scenarios(), st.sampled_from([timezone(timedelta(hours=5, minutes=30)), UTC, None]))
def test_the_zone_a_moment_is_given_in_does_not_matter(
    scenario: tuple[Calendar, datetime], given_in: timezone | None
) -> None:
    """The same instant in any zone gives the same result, in the calendar's zone."""
    cal, start = scenario
    restated = start.astimezone(given_in or cal.timezone)
    duration = Duration(500, 1)
    assert _utc(add_business_time(cal, restated, duration)) == _utc(
        add_business_time(cal, start, duration)
    )


@settings(deadline=None)
@given(scenarios(seconds=False), st.integers(0, 3 * 1440))
def test_open_minutes_match_a_minute_by_minute_count(
    scenario: tuple[Calendar, datetime], length: int
) -> None:
    """business_minutes_between agrees with watching the clock minute by minute."""
    cal, start = scenario
    end = start + timedelta(minutes=length)
    assert business_minutes_between(cal, start, end) == _count_by_watching(cal, start, end)


@given(scenarios(), durations)
def test_subtracting_lands_in_open_time_at_or_before_the_moment(
    scenario: tuple[Calendar, datetime], duration: Duration
) -> None:
    """sub(m, d) is open, not after m, and reads in the calendar's zone, for minutes and days."""
    cal, moment = scenario
    result = subtract_business_time(cal, moment, duration)
    assert is_open(cal, result)
    assert _utc(result) <= _utc(moment)
    assert result.tzinfo is cal.timezone


@given(scenarios(), minutes_only)
def test_subtracting_minutes_leaves_exactly_that_much_open_time(
    scenario: tuple[Calendar, datetime], minutes: int
) -> None:
    """business_minutes_between(sub(m, d), m) == d, whether m is open or closed."""
    cal, moment = scenario
    result = subtract_business_time(cal, moment, Duration(minutes))
    assert business_minutes_between(cal, result, moment) == minutes


@given(scenarios(), st.integers(1, 3000))
def test_subtracting_gives_the_latest_moment_with_that_much_open_time(
    scenario: tuple[Calendar, datetime], minutes: int
) -> None:
    """One second after sub(m, d), less than d of open time is left before m."""
    cal, moment = scenario
    result = subtract_business_time(cal, moment, Duration(minutes))
    assert business_minutes_between(cal, _utc(result) + timedelta(seconds=1), moment) < minutes


@given(scenarios(), minutes_only)
def test_adding_back_gives_the_moment_whenever_adding_can(
    scenario: tuple[Calendar, datetime], minutes: int
) -> None:
    """add(sub(m, d), d) is m exactly when m is open and, for d > 0, open just before; else the
    closing before m."""
    cal, moment = scenario
    back = add_business_time(
        cal, subtract_business_time(cal, moment, Duration(minutes)), Duration(minutes)
    )
    just_before = moment - timedelta(microseconds=1)
    addable = is_open(cal, moment) and (minutes == 0 or is_open(cal, just_before))
    assert (_utc(back) == _utc(moment)) is addable
    assert _utc(back) <= _utc(moment)
    assert business_minutes_between(cal, back, moment) == 0


@given(scenarios(), minutes_only)
def test_subtracting_undoes_adding_minutes(
    scenario: tuple[Calendar, datetime], minutes: int
) -> None:
    """add(sub(add(t, d), d), d) == add(t, d): every promise round-trips."""
    cal, start = scenario
    promise = add_business_time(cal, start, Duration(minutes))
    chase = subtract_business_time(cal, promise, Duration(minutes))
    assert _utc(add_business_time(cal, chase, Duration(minutes))) == _utc(promise)


@given(scenarios(zones=[ZONE_UTC]), durations)
def test_subtracting_undoes_adding_days_where_clocks_never_change(
    scenario: tuple[Calendar, datetime], duration: Duration
) -> None:
    """In UTC, add(sub(add(t, d), d), d) == add(t, d) for days and minutes."""
    cal, start = scenario
    promise = add_business_time(cal, start, duration)
    chase = subtract_business_time(cal, promise, duration)
    assert _utc(add_business_time(cal, chase, duration)) == _utc(promise)


@given(scenarios(zones=[ZONE_UTC]), durations)
def test_subtracting_gives_the_latest_chase_whose_promise_is_in_time(
    scenario: tuple[Calendar, datetime], duration: Duration
) -> None:
    """Rule 9, in UTC: adding d to sub(m, d) lands at or before m, and from the next open
    moment after it (a microsecond on) adding d passes m, whatever each day's hours."""
    cal, moment = scenario
    chase = subtract_business_time(cal, moment, duration)
    assert _utc(add_business_time(cal, chase, duration)) <= _utc(moment)
    later = next_open(cal, chase + timedelta(microseconds=1))
    assert _utc(add_business_time(cal, later, duration)) > _utc(moment)


@given(scenarios(), st.integers(0, 5 * 1440), durations)
def test_a_later_moment_never_gives_an_earlier_chase_of_days(
    scenario: tuple[Calendar, datetime], later_by: int, duration: Duration
) -> None:
    """sub is monotone in the moment for days too, across clock changes."""
    cal, moment = scenario
    later = moment + timedelta(minutes=later_by)
    assert _utc(subtract_business_time(cal, moment, duration)) <= _utc(
        subtract_business_time(cal, later, duration)
    )


@given(scenarios(), st.integers(0, 5 * 1440), minutes_only)
def test_a_later_moment_never_gives_an_earlier_chase(
    scenario: tuple[Calendar, datetime], later_by: int, minutes: int
) -> None:
    """sub is monotone in the moment, for minutes."""
    cal, moment = scenario
    later = moment + timedelta(minutes=later_by)
    assert _utc(subtract_business_time(cal, moment, Duration(minutes))) <= _utc(
        subtract_business_time(cal, later, Duration(minutes))
    )


@given(scenarios(), minutes_only, minutes_only)
def test_a_longer_duration_never_gives_a_later_chase(
    scenario: tuple[Calendar, datetime], shorter: int, extra: int
) -> None:
    """sub is anti-monotone in the duration, for minutes."""
    cal, moment = scenario
    assert _utc(subtract_business_time(cal, moment, Duration(shorter + extra))) <= _utc(
        subtract_business_time(cal, moment, Duration(shorter))
    )


@given(scenarios(), st.sampled_from([timezone(timedelta(hours=5, minutes=30)), UTC, None]))
def test_the_zone_a_promise_is_given_in_does_not_matter(
    scenario: tuple[Calendar, datetime], given_in: timezone | None
) -> None:
    """The same instant in any zone gives the same chase, in the calendar's zone."""
    cal, moment = scenario
    restated = moment.astimezone(given_in or cal.timezone)
    duration = Duration(500, 1)
    assert _utc(subtract_business_time(cal, restated, duration)) == _utc(
        subtract_business_time(cal, moment, duration)
    )


def _count_by_watching(cal: Calendar, start: datetime, end: datetime) -> int:
    """Open minutes in [start, end), found the slow way (rule 3 by definition, no arithmetic)."""
    spans = _watched_spans(cal, start, end)
    minutes = (start + timedelta(minutes=n) for n in range((end - start) // timedelta(minutes=1)))
    return sum(1 for m in minutes if any(opens <= m < closes for opens, closes in spans))


def _watched_spans(cal: Calendar, start: datetime, end: datetime) -> list[tuple[datetime, ...]]:
    """Each period's hours: the first minute the wall clock reads at least opens / closes."""
    first_day = start.astimezone(cal.timezone).date() - timedelta(days=1)
    days = [first_day + timedelta(days=n) for n in range((end - start).days + 4)]
    periods = [(d, n, p) for d in days for n, p in enumerate(_periods_by_hand(cal, d))]
    targets = sorted(
        (datetime.combine(d, clock), (d, n, kind))
        for d, n, period in periods
        for kind, clock in (("opens", period[0]), ("closes", period[1]))
    )
    seen: dict[tuple[date, int, str], datetime] = {}
    minute = start - timedelta(days=3)
    while len(seen) < len(targets):
        wall = minute.astimezone(cal.timezone).replace(tzinfo=None)
        for target, key in targets[len(seen) :]:
            if target > wall:
                break
            seen[key] = minute
        minute += timedelta(minutes=1)
    spans = [(seen[d, n, "opens"], seen[d, n, "closes"]) for d, n, _ in periods]
    return [span for span in spans if span[0] < span[1]]


def _periods_by_hand(cal: Calendar, day: date) -> list[tuple[time, time]]:
    """``day``'s periods from the calendar's fields, read the plain way (rule 1)."""
    weekday = day.weekday()
    if weekday in cal.hours:
        periods = [(p.opens, p.closes) for p in cal.hours[weekday]]
    else:
        periods = [(cal.opens, cal.closes)] if weekday in cal.open_days else []
    if day in cal.holidays or day in _public_holidays(cal.country_holidays, day.year):
        return []
    for part in cal.closed:
        if part.day == day and part.edge == "from":
            periods = [(a, min(b, part.clock)) for a, b in periods if a < part.clock]
        elif part.day == day:
            periods = [(max(a, part.clock), b) for a, b in periods if b > part.clock]
    return periods


@functools.cache
def _public_holidays(place: str | None, year: int) -> frozenset[date]:
    if place is None:
        return frozenset()
    country, _, subdivision = place.partition("-")
    return frozenset(holidays.country_holidays(country, subdiv=subdivision or None, years=year))


def test_a_day_added_in_the_repeated_hour_never_goes_back() -> None:
    """Open 00:00-02:00 every day, London. 01:59 BST and, a minute later, 01:00 GMT (the
    second pass of the hour clocks go back over): a day on, the later start must not land
    earlier. The second pass reads as the end of the repeated hour (rule 5)."""
    cal = Calendar(
        timezone=LONDON,
        open_days=frozenset(range(7)),
        opens=time(0),
        closes=time(2),
        holidays=frozenset(),
    )
    first_pass = datetime(2026, 10, 25, 0, 59, tzinfo=UTC)  # 01:59 BST
    second_pass = datetime(2026, 10, 25, 1, 0, tzinfo=UTC)  # 01:00 GMT
    one_day = parse_duration("1d")
    earlier = add_business_time(cal, first_pass, one_day)
    later = add_business_time(cal, second_pass, one_day)
    assert _utc(earlier) == datetime(2026, 10, 26, 1, 59, tzinfo=UTC)
    assert _utc(later) == datetime(2026, 10, 26, 2, 0, tzinfo=UTC)  # 02:00, the day's close
