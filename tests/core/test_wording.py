"""Wording: every way a promised moment is told to a customer, with ``now`` passed in."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from inbox_agent.core.business_time import Calendar
from inbox_agent.core.wording import (
    describe_moment,
    filter_date,
    filter_time,
    filter_weekday,
    format_duration_words,
    template_filters,
)

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
WEEKDAYS = frozenset(range(5))
OFFICE = Calendar(LONDON, WEEKDAYS, time(9), time(17, 30))
NY_OFFICE = Calendar(NEW_YORK, WEEKDAYS, time(9), time(17))
UTC_OFFICE = Calendar(ZoneInfo("Etc/UTC"), WEEKDAYS, time(9), time(17))
MONDAY_9AM = datetime(2026, 11, 23, 9, 0, tzinfo=LONDON)


def london(text: str, fold: int = 0) -> datetime:
    """``text`` on London's wall clock."""
    return datetime.fromisoformat(text).replace(tzinfo=LONDON, fold=fold)


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


@pytest.mark.parametrize(
    ("moment", "now", "expected"),
    [
        (london("2026-11-23 16:00"), MONDAY_9AM, "later today, by 16:00 London time"),
        (
            london("2026-11-24 10:05"),
            MONDAY_9AM,
            "tomorrow (Tuesday 24 November) by 10:05 London time",
        ),
        (london("2026-11-25 10:05"), MONDAY_9AM, "by Wednesday 25 November, 10:05 London time"),
        (
            london("2027-01-04 09:00"),
            london("2026-12-31 10:00"),
            "by Monday 4 January 2027, 09:00 London time",
        ),
        (
            london("2027-01-01 10:00"),
            london("2026-12-31 10:00"),
            "tomorrow (Friday 1 January 2027) by 10:00 London time",
        ),
        (
            london("2026-11-23 10:00"),
            london("2026-11-23 16:00"),
            "by Monday 23 November, 10:00 London time",
        ),
        (
            london("2026-11-23 16:00"),
            london("2026-11-23 16:00"),
            "by Monday 23 November, 16:00 London time",
        ),
        (london("2026-11-20 16:00"), MONDAY_9AM, "by Friday 20 November, 16:00 London time"),
    ],
    ids=[
        "later-today",
        "tomorrow",
        "this-week",
        "next-year",
        "tomorrow-next-year",
        "earlier-today",
        "now-itself",
        "last-week",
    ],
)
def test_the_day_is_said_the_shortest_true_way(
    moment: datetime, now: datetime, expected: str
) -> None:
    """Today, tomorrow, or the date (with the year when it differs); never "later" for the past."""
    assert describe_moment(moment, OFFICE, now) == expected


@pytest.mark.parametrize(
    ("moment", "now", "cal", "expected"),
    [
        # 23:30 in London is still Monday: the moment on Tuesday is tomorrow.
        (
            london("2026-11-24 10:05"),
            datetime(2026, 11, 23, 23, 30, tzinfo=UTC),
            OFFICE,
            "tomorrow (Tuesday 24 November) by 10:05 London time",
        ),
        # 03:00 UTC on Tuesday is Monday 22:00 in New York.
        (
            datetime(2026, 11, 24, 10, 0, tzinfo=NEW_YORK),
            datetime(2026, 11, 24, 3, 0, tzinfo=UTC),
            NY_OFFICE,
            "tomorrow (Tuesday 24 November) by 10:00 New York time",
        ),
        # A UTC moment is told on the business's clock (BST in summer).
        (
            datetime(2026, 6, 2, 8, 0, tzinfo=UTC),
            datetime(2026, 6, 1, 8, 0, tzinfo=UTC),
            OFFICE,
            "tomorrow (Tuesday 2 June) by 09:00 London time",
        ),
    ],
    ids=["now-late-in-utc", "now-in-utc-new-york", "moment-in-utc"],
)
def test_today_and_tomorrow_are_the_business_zone_days(
    moment: datetime, now: datetime, cal: Calendar, expected: str
) -> None:
    """Days are counted and clocks read in the calendar's zone, whatever zone the inputs are in."""
    assert describe_moment(moment, cal, now) == expected


@pytest.mark.parametrize(
    ("cal", "expected"),
    [
        (OFFICE, "later today, by 16:00 London time"),
        (NY_OFFICE, "later today, by 11:00 New York time"),
        (UTC_OFFICE, "later today, by 16:00 UTC"),
        (
            Calendar(ZoneInfo("America/Argentina/Buenos_Aires"), WEEKDAYS, time(9), time(17)),
            "later today, by 13:00 Buenos Aires time",
        ),
    ],
    ids=["london", "new-york", "utc", "buenos-aires"],
)
def test_the_zone_is_named_the_way_a_customer_reads_it(cal: Calendar, expected: str) -> None:
    """The zone is its city with spaces for underscores, or plain UTC."""
    now = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    moment = datetime(2026, 11, 23, 16, 0, tzinfo=UTC)
    assert describe_moment(moment, cal, now) == expected


@pytest.mark.parametrize(
    ("moment", "offset", "expected"),
    [
        (
            london("2026-11-25 10:05"),
            hours(1),
            "by Wednesday 25 November, 10:05 London time (11:05 your time)",
        ),
        (
            london("2026-11-25 16:05"),
            hours(9),
            "by Wednesday 25 November, 16:05 London time (Thursday 01:05 your time)",
        ),
        (
            london("2026-11-25 03:00"),
            hours(-5),
            "by Wednesday 25 November, 03:00 London time (Tuesday 22:00 your time)",
        ),
        (
            london("2026-11-25 10:05"),
            hours(5.5),
            "by Wednesday 25 November, 10:05 London time (15:35 your time)",
        ),
        (
            london("2026-11-23 16:00"),
            hours(-5),
            "later today, by 16:00 London time (11:00 your time)",
        ),
        (
            london("2026-11-24 10:05"),
            hours(1),
            "tomorrow (Tuesday 24 November) by 10:05 London time (11:05 your time)",
        ),
    ],
    ids=[
        "same-date",
        "their-date-later",
        "their-date-earlier",
        "half-hour-zone",
        "later-today",
        "tomorrow",
    ],
)
def test_a_customer_elsewhere_is_also_told_their_own_clock(
    moment: datetime, offset: timedelta, expected: str
) -> None:
    """A different customer offset adds their time, and their weekday when their date differs."""
    assert describe_moment(moment, OFFICE, MONDAY_9AM, offset) == expected


@pytest.mark.parametrize(
    ("moment", "offset"),
    [
        (london("2026-11-25 10:05"), None),
        (london("2026-11-25 10:05"), timedelta(0)),  # London in winter is UTC+0
        (london("2026-06-03 10:05"), hours(1)),  # London in summer is UTC+1
        (london("2026-11-25 10:05"), hours(25)),  # no clock is 25 hours ahead: a broken header
        (london("2026-11-25 10:05"), hours(-24)),
    ],
    ids=["no-offset", "same-in-winter", "same-in-summer", "impossible-ahead", "impossible-behind"],
)
def test_no_customer_clock_when_it_reads_the_same_or_is_unknown(
    moment: datetime, offset: timedelta | None
) -> None:
    """No "(your time)" when the offset is missing, matches the business's then, or is absurd."""
    assert describe_moment(moment, OFFICE, MONDAY_9AM, offset).endswith("London time")


def test_a_customer_on_utc_in_summer_is_told_their_clock() -> None:
    """In British summer time a UTC+0 customer reads an hour earlier than London."""
    text = describe_moment(
        london("2026-06-03 10:05"), OFFICE, london("2026-06-01 09:00"), timedelta(0)
    )
    assert text == "by Wednesday 3 June, 10:05 London time (09:05 your time)"


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (london("2026-11-25 10:04"), "by Wednesday 25 November, 10:04 London time"),
        (london("2026-11-25 10:04:01"), "by Wednesday 25 November, 10:05 London time"),
        (london("2026-11-25 10:04:59.999999"), "by Wednesday 25 November, 10:05 London time"),
        (london("2026-11-25 23:59:30"), "by Thursday 26 November, 00:00 London time"),
    ],
    ids=["whole-minute", "one-second-past", "just-before", "rolls-into-next-day"],
)
def test_moments_are_told_rounded_up_to_the_minute(moment: datetime, expected: str) -> None:
    """Seconds round up, so a customer is never told an earlier time than the one kept."""
    assert describe_moment(moment, OFFICE, MONDAY_9AM) == expected


def test_the_second_01_30_of_an_autumn_night_reads_as_01_30() -> None:
    """A moment in the repeated hour reads as the clock showed it."""
    moment = london("2026-10-25 01:30", fold=1)
    assert describe_moment(moment, OFFICE, london("2026-10-24 12:00")) == (
        "tomorrow (Sunday 25 October) by 01:30 London time"
    )


def test_later_today_is_judged_in_utc_inside_the_repeated_hour() -> None:
    """In the repeated hour the first 01:40 comes before the second 01:30, whatever walls say."""
    now = london("2026-10-25 01:30", fold=1)
    assert describe_moment(london("2026-10-25 01:40"), OFFICE, now) == (
        "by Sunday 25 October, 01:40 London time"
    )


@pytest.mark.parametrize(
    ("moment", "now"),
    [
        (datetime(2026, 11, 23, 10, 0), MONDAY_9AM),  # noqa: DTZ001 - the naive input under test
        (MONDAY_9AM, datetime(2026, 11, 23, 10, 0)),  # noqa: DTZ001 - the naive input under test
    ],
    ids=["naive-moment", "naive-now"],
)
def test_naive_datetimes_are_refused(moment: datetime, now: datetime) -> None:
    """A moment or now without a zone cannot be told truthfully, so it raises ValueError."""
    with pytest.raises(ValueError, match="no time zone"):
        describe_moment(moment, OFFICE, now)


@pytest.mark.parametrize(
    ("minutes", "expected"),
    [
        (0, "0 minutes"),
        (1, "1 minute"),
        (45, "45 minutes"),
        (60, "1 hour"),
        (61, "1 hour and 1 minute"),
        (180, "3 hours"),
        (195, "3 hours and 15 minutes"),
        (1500, "25 hours"),
    ],
)
def test_format_duration_words_says_hours_and_minutes(minutes: int, expected: str) -> None:
    """Durations read as hours and minutes, singular where one, zero as "0 minutes"."""
    assert format_duration_words(minutes) == expected


def test_format_duration_words_refuses_negative_minutes() -> None:
    """A negative duration is a bug upstream, so it raises ValueError."""
    with pytest.raises(ValueError, match="negative"):
        format_duration_words(-5)


@pytest.mark.parametrize(
    ("moment", "date_text", "time_text", "weekday"),
    [
        (london("2026-11-24 10:05"), "Tuesday 24 November", "10:05", "Tuesday"),
        (london("2026-11-24 10:04:30"), "Tuesday 24 November", "10:05", "Tuesday"),
        (datetime(2026, 6, 1, 23, 30, tzinfo=UTC), "Monday 1 June", "23:30", "Monday"),
        (london("2027-01-01 00:00"), "Friday 1 January", "00:00", "Friday"),
    ],
)
def test_filters_read_the_moment_in_its_own_zone(
    moment: datetime, date_text: str, time_text: str, weekday: str
) -> None:
    """The plain filters show a moment's date, clock (rounded up) and weekday in its own zone."""
    assert (filter_date(moment), filter_time(moment), filter_weekday(moment)) == (
        date_text,
        time_text,
        weekday,
    )


def test_template_filters_read_moments_on_the_business_clock() -> None:
    """The calendar-bound filters show a stored UTC moment in business time."""
    filters = template_filters(OFFICE)
    moment = datetime(2026, 6, 1, 23, 30, tzinfo=UTC)  # 00:30 on Tuesday in London (BST)
    assert (filters["date"](moment), filters["time"](moment), filters["weekday"](moment)) == (
        "Tuesday 2 June",
        "00:30",
        "Tuesday",
    )


def test_filters_refuse_naive_datetimes() -> None:
    """A naive datetime in a template is an error, not a guess."""
    with pytest.raises(ValueError, match="no time zone"):
        template_filters(OFFICE)["time"](datetime(2026, 6, 1, 12, 0))  # noqa: DTZ001 - under test
