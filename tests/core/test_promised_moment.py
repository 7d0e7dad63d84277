"""Every promised moment is a quarter hour a person would say, never earlier than computed."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inbox_agent.core.business_time import Calendar
from inbox_agent.core.promises import (
    ESCALATION_NOTICE,
    FOLLOW_UP,
    Chase,
    chase_due,
    first_reply_due,
    promised_moment,
    restated_due,
)
from tests.core.test_promises import CALENDAR, LONDON, POLICY, at, waiting

QUARTER = timedelta(minutes=15)
# Zones with every kind of offset in use: whole hours with DST, half and three-quarter hours,
# a half-hour DST shift (Lord Howe), and the far side of the date line.
ZONES = [
    ZoneInfo(key)
    for key in (
        "Europe/London",
        "America/New_York",
        "Asia/Kolkata",
        "Asia/Kathmandu",
        "Pacific/Chatham",
        "Australia/Lord_Howe",
        "America/St_Johns",
        "Pacific/Kiritimati",
        "Etc/UTC",
    )
]
INSTANTS = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1))  # noqa: DTZ001 - naive bounds, zones added below


@given(INSTANTS, st.sampled_from(ZONES))
def test_a_promised_moment_is_the_next_quarter_hour_on_the_local_clock(
    naive_utc: datetime, zone: ZoneInfo
) -> None:
    """Never earlier than computed, less than 15 minutes later, on :00/:15/:30/:45 with no
    seconds on the business's own clock, and in the computed moment's zone."""
    computed = naive_utc.replace(tzinfo=UTC).astimezone(zone)
    promised = promised_moment(computed)
    # As instants: two datetimes of one zone compare and add on the wall clock, which jumps
    # an hour at a DST change (01:45:00.000001 EST is promised 03:00 EDT, 15 minutes later).
    instant, computed_instant = promised.astimezone(UTC), computed.astimezone(UTC)
    assert computed_instant <= instant < computed_instant + QUARTER
    assert promised.minute % 15 == 0
    assert (promised.second, promised.microsecond) == (0, 0)
    assert promised.tzinfo is zone


@pytest.mark.parametrize(
    ("computed", "expected_utc"),
    [
        # London, 25 October 2026: 01:00-02:00 happens twice (BST, then GMT).
        (datetime(2026, 10, 25, 1, 50, tzinfo=LONDON), datetime(2026, 10, 25, 1, 0, tzinfo=UTC)),
        (
            datetime(2026, 10, 25, 1, 50, tzinfo=LONDON, fold=1),
            datetime(2026, 10, 25, 2, 0, tzinfo=UTC),
        ),
        # 29 March 2026: 00:59:01 GMT rounds to 01:00 UTC, which London shows as 02:00 BST.
        (datetime(2026, 3, 29, 0, 59, 1, tzinfo=LONDON), datetime(2026, 3, 29, 1, 0, tzinfo=UTC)),
    ],
    ids=["first-repeated-hour", "second-repeated-hour", "spring-forward"],
)
def test_rounding_across_a_clock_change_keeps_the_instant_right(
    computed: datetime, expected_utc: datetime
) -> None:
    """In the repeated autumn hour each 01:50 rounds to its own 02:00 instant, and the spring
    gap is jumped, not landed in: rounding is done on the instant, not the wall clock."""
    promised = promised_moment(computed)
    assert promised.astimezone(UTC) == expected_utc
    assert promised.minute % 15 == 0


def test_the_second_0150_of_an_autumn_night_reads_0200_gmt() -> None:
    """The repeated 01:50 rounds to the wall clock's 02:00 (GMT), not back to 01:00."""
    promised = promised_moment(datetime(2026, 10, 25, 1, 50, tzinfo=LONDON, fold=1))
    assert (promised.hour, promised.minute, promised.utcoffset()) == (2, 0, timedelta(0))


def test_a_naive_moment_is_refused() -> None:
    """A promise without a zone cannot be rounded truthfully."""
    with pytest.raises(ValueError, match="no time zone"):
        promised_moment(datetime(2026, 11, 16, 10, 7))  # noqa: DTZ001 - the naive input under test


@pytest.mark.parametrize("minute", [1, 7, 14, 15, 29, 44, 59])
def test_every_kind_of_promise_is_rounded(minute: int) -> None:
    """The first reply, a follow-up's and an escalation's new promise, a lapsed promise's
    new one, and a late mail's restated one: each on a quarter hour, at most 14 minutes on."""
    now = at(16, 10, minute)
    made = [
        first_reply_due(now, CALENDAR, POLICY),
        restated_due("acknowledgement", now, CALENDAR, POLICY),
        restated_due(FOLLOW_UP, now, CALENDAR, POLICY),
        restated_due(ESCALATION_NOTICE, now, CALENDAR, POLICY),
    ]
    for follow_ups, now_chase in ((0, at(17, 8, 0)), (2, at(17, 8, 0)), (0, at(17, 11, 0))):
        due = chase_due(
            waiting(at(17, 9, minute), follow_ups=follow_ups), now_chase, CALENDAR, POLICY
        )
        assert due is not None
        made.append(due.new_due)
    assert all(m.minute % 15 == 0 and m.second == 0 for m in made), made


def test_a_follow_up_promise_counts_from_the_moment_the_customer_read() -> None:
    """Arrival Mon 10:07 computes Tue 09:37, promised 09:45; the follow-up is owed one open
    hour before 09:45 (Mon 17:15), and its new promise is 09:45 plus 8 open hours."""
    first = first_reply_due(at(16, 10, 7), CALENDAR, POLICY)
    assert first == at(17, 9, 45)
    assert chase_due(waiting(first), at(16, 17, 14), CALENDAR, POLICY) is None
    due = chase_due(waiting(first), at(16, 17, 15), CALENDAR, POLICY)
    assert due is not None
    assert (due.chase, due.new_due) == (Chase.FOLLOW_UP, at(18, 9, 15))


def test_a_calendar_in_kathmandu_promises_its_own_quarter_hours() -> None:
    """UTC+05:45: Mon 10:07 plus 8 open hours is 18:07 in Kathmandu, promised as 18:15 there
    (12:30 UTC: a quarter hour on both clocks)."""
    kathmandu = ZoneInfo("Asia/Kathmandu")
    cal = Calendar(kathmandu, frozenset(range(5)), time(9), time(20))
    due = first_reply_due(datetime(2026, 11, 16, 10, 7, tzinfo=kathmandu), cal, POLICY)
    assert (due.hour, due.minute, due.tzinfo) == (18, 15, kathmandu)
    assert due.astimezone(UTC) == datetime(2026, 11, 16, 12, 30, tzinfo=UTC)
