"""``wording.local_moment``: the one way the tools show a moment to staff and the owner."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from inbox_agent.core.wording import describe_moment, local_moment, local_time
from tests.core.test_wording import OFFICE

LONDON = ZoneInfo("Europe/London")


def test_a_utc_moment_reads_on_the_business_clock_with_its_zone_named() -> None:
    """Stored in UTC, shown on London's clock, the zone named as customers read it."""
    assert local_moment(datetime(2026, 11, 24, 10, 5, tzinfo=UTC), LONDON) == (
        "Tue 24 Nov 2026 10:05 London time"
    )


def test_summer_time_moves_the_clock_not_the_name() -> None:
    """In July London is UTC+1: 09:00 UTC is 10:00 London time."""
    assert local_moment(datetime(2026, 7, 1, 9, 0, tzinfo=UTC), LONDON) == (
        "Wed 01 Jul 2026 10:00 London time"
    )


def test_a_moment_read_back_from_json_reads_the_same() -> None:
    """The JSON view's ISO 8601 (a fixed offset) and the stored moment read alike."""
    stored = datetime(2026, 11, 17, 9, 35, tzinfo=LONDON)
    from_json = datetime.fromisoformat(stored.isoformat())
    assert from_json.tzinfo != LONDON
    assert (
        local_moment(from_json, LONDON)
        == local_moment(stored, LONDON)
        == ("Tue 17 Nov 2026 09:35 London time")
    )


def test_seconds_round_up_as_the_customer_was_told() -> None:
    """10:04:30 reads 10:05, the minute the acknowledgement stated."""
    moment = datetime(2026, 11, 24, 10, 4, 30, tzinfo=LONDON)
    assert local_moment(moment, LONDON).endswith("10:05 London time")
    now = datetime(2026, 11, 20, 9, 0, tzinfo=LONDON)
    assert "10:05 London time" in describe_moment(moment, OFFICE, now)


def test_a_moment_something_happened_keeps_its_minute() -> None:
    """A mail that came at 16:25:09 came at 16:25: rounding up is for deadlines only (it
    would name a minute that may not have begun yet). On London's clock, zone named."""
    came = datetime(2026, 12, 2, 16, 25, 9, 500, tzinfo=UTC)
    assert local_time(came, LONDON) == "Wed 02 Dec 2026 16:25 London time"
    assert local_moment(came, LONDON) == "Wed 02 Dec 2026 16:26 London time"
    summer = datetime(2026, 7, 1, 9, 59, 59, tzinfo=UTC)
    assert local_time(summer, LONDON) == "Wed 01 Jul 2026 10:59 London time"


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        ("America/New_York", "Mon 23 Nov 2026 19:00 New York time"),
        ("Etc/UTC", "Tue 24 Nov 2026 00:00 UTC"),
        ("Etc/GMT-2", "Tue 24 Nov 2026 02:00 UTC+2"),
    ],
)
def test_other_zones_are_named_too(zone: str, expected: str) -> None:
    """Every zone says what it is; a fixed offset says its offset."""
    assert local_moment(datetime(2026, 11, 24, 0, 0, tzinfo=UTC), ZoneInfo(zone)) == expected


def test_the_year_turns_on_the_business_clock() -> None:
    """23:30 UTC on 31 December is already next year in Berlin."""
    moment = datetime(2026, 12, 31, 23, 30, tzinfo=timezone(timedelta(0)))
    assert local_moment(moment, ZoneInfo("Europe/Berlin")) == "Fri 01 Jan 2027 00:30 Berlin time"


def test_a_naive_moment_is_refused() -> None:
    """A moment without a zone is a bug in the caller, not a guess."""
    with pytest.raises(ValueError, match="no time zone"):
        local_moment(datetime(2026, 11, 24, 10, 5), LONDON)  # noqa: DTZ001 - on purpose
