"""[business_hours] beyond the simple form: hours per weekday (split days, closed days, days
of their own), public holidays by place, and part days closed; each mistake one line naming
the key."""

from __future__ import annotations

import re
from datetime import date, time
from pathlib import Path

import pytest

from inbox_agent.config import Settings, parse
from inbox_agent.core.business_time import opening_hours_text
from inbox_agent.core.opening_hours import PartDay, Period
from inbox_agent.errors import ConfigError

SOURCE = Path("/etc/inbox-agent/config.toml")
MAILBOX = """
[[mailbox]]
address = "support@example.com"
[mailbox.imap]
host = "imap.example.com"
username = "support@example.com"
password_env = "IMAP_PW"
[mailbox.smtp]
host = "smtp.example.com"
username = "support@example.com"
password_env = "SMTP_PW"
"""
SHOP = """
[business_hours]
timezone = "Europe/London"
days = ["mon", "tue", "wed", "thu", "fri"]
start = "09:00"
end = "17:30"
hours = { mon = "09:00-12:30, 13:30-17:30", fri = "09:00-15:00", Saturday = "10:00-13:00", wed = "closed" }
holidays = ["2026-08-28"]
country_holidays = "gb-eng"
closed = ["2026-12-24 from 12:00", "2026-12-31 until 10:00"]
"""  # noqa: E501 - one TOML line, as an owner writes it


def _parse(business_hours: str) -> Settings:
    return parse(business_hours + MAILBOX, SOURCE)


def test_hours_per_weekday_places_and_part_days_are_read() -> None:
    """Listed weekdays take their own periods ("closed" none, a day not in days opens); the
    others keep start and end; the place is kept as the package's code."""
    cal = _parse(SHOP).calendar
    assert cal.week == (
        (Period(time(9), time(12, 30)), Period(time(13, 30), time(17, 30))),
        (Period(time(9), time(17, 30)),),
        (),
        (Period(time(9), time(17, 30)),),
        (Period(time(9), time(15)),),
        (Period(time(10), time(13)),),
        (),
    )
    assert cal.country_holidays == "GB-ENG"
    assert cal.holidays == frozenset({date(2026, 8, 28)})
    assert cal.closed == frozenset(
        {
            PartDay(date(2026, 12, 24), "from", time(12)),
            PartDay(date(2026, 12, 31), "until", time(10)),
        }
    )
    assert opening_hours_text(cal) == (
        "Monday, 09:00–12:30 and 13:30–17:30; Tuesday and Thursday, 09:00–17:30; "
        "Friday, 09:00–15:00; Saturday, 10:00–13:00 (London time)"
    )


def test_hours_may_be_a_table_of_its_own() -> None:
    """[business_hours.hours] is the same table, one weekday a line."""
    cal = _parse('[business_hours]\n[business_hours.hours]\nsun = "10:00-16:00"\n').calendar
    assert cal.week[6] == (Period(time(10), time(16)),)
    assert cal.week[0] == (Period(time(9), time(17, 30)),)  # the defaults


def test_without_the_new_keys_nothing_changes() -> None:
    """The simple form alone: no hours, no place, no part days."""
    cal = _parse('[business_hours]\ndays = ["mon"]\n').calendar
    assert (dict(cal.hours), cal.country_holidays, cal.closed) == ({}, None, frozenset())


@pytest.mark.parametrize(
    ("business_hours", "expected"),
    [
        (
            'hours = { mon = "13:30-12:30" }',
            '[business_hours] hours.mon: "13:30-12:30" closes before it opens; '
            'write e.g. "09:00-12:30, 13:30-17:30"',
        ),
        (
            'hours = { tue = "13:30-17:30, 09:00-12:30" }',
            '[business_hours] hours.tue: "09:00-12:30" opens before "13:30-17:30" closes; '
            "write the periods in the order of the day, with a break between them",
        ),
        (
            'hours = { wed = "9 to 5" }',
            '[business_hours] hours.wed: "9 to 5" is not opening hours; write e.g. '
            '"09:00-12:30, 13:30-17:30" or "closed"',
        ),
        (
            'hours = { thu = "09:00-12:30:30" }',
            "[business_hours] hours.thu: "
            '"09:00-12:30:30" 12:30:30 must be whole minutes; write e.g. 09:00',
        ),
        (
            'hours = { funday = "09:00-17:00" }',
            "[business_hours] hours.funday is not a weekday; write mon, tue, ... sun",
        ),
        (
            'hours = { mon = "09:00-17:00", Monday = "closed" }',
            "[business_hours] hours.Monday names mon a second time; keep one",
        ),
        (
            "hours = { fri = 9 }",
            "[business_hours] hours.fri = 9 should be a string in quotes, e.g. "
            '"09:00-12:30, 13:30-17:30" or "closed"',
        ),
        ('hours = "09:00-17:00"', "[business_hours] hours = '09:00-17:00' should be a table"),
        ('days = ["mon"]\nhours = { mon = "closed" }', "[business_hours]: no open days"),
        (
            'country_holidays = "GB-EN"',
            "[business_hours] country_holidays = 'GB-EN': GB has no subdivision 'EN'; did you mean "
            "GB-ENG? (GB's subdivisions: ENG, NIR, SCT, WLS)",
        ),
        (
            'country_holidays = "Germany"',
            "[business_hours] country_holidays = 'Germany': 'Germany' is not a country the "
            "holidays package knows; did you mean DE (Germany)?",
        ),
        (
            'contry_holidays = "GB"',
            "[business_hours] contry_holidays is not a known key; did you mean 'country_holidays'?",
        ),
        (
            'closed = ["2026-12-24 at 12:00"]',
            '[business_hours] closed: "2026-12-24 at 12:00" is not a part day; write e.g. '
            '"2026-12-24 from 12:00" or "2026-12-31 until 10:00"',
        ),
        (
            'closed = ["2026-12-32 from 12:00"]',
            '[business_hours] closed: "2026-12-32" is not a date',
        ),
        (
            "closed = [2026-12-24]",
            "[business_hours] closed = [datetime.date(2026, 12, 24), ...]: "
            'each should be a string in quotes, e.g. "2026-12-24 from 12:00"',
        ),
    ],
)
def test_mistakes_are_one_line_naming_the_key(business_hours: str, expected: str) -> None:
    """Each mistake: the file, the key (hours.mon for a weekday's hours), what to write."""
    with pytest.raises(ConfigError) as caught:
        _parse(f"[business_hours]\n{business_hours}\n")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{SOURCE}: {expected}"), message


def test_the_example_configs_commented_calendar_keys_read_as_written() -> None:
    """config.example.toml's commented hours, country_holidays and closed are valid as they
    stand once uncommented."""
    text = (Path(__file__).resolve().parents[2] / "config.example.toml").read_text("utf-8")
    for key in ("hours", "country_holidays", "closed"):
        text, count = re.subn(rf"(?m)^# ({key} = .*)$", r"\1", text)
        assert count == 1, key
    cal = parse(text, SOURCE).calendar
    assert cal.week[0] == (Period(time(9), time(12, 30)), Period(time(13, 30), time(17, 30)))
    assert cal.country_holidays == "GB-ENG"
    assert len(cal.closed) == 2
