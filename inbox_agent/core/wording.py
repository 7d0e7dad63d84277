"""How a promised moment is told to a customer, in words that cannot be misread.

The rules:

1. A moment is told in the business's zone, named the way a customer reads it ("London time",
   "New York time", "UTC"; see ``business_time.zone_name``), on a 24-hour clock.
2. Moments are shown rounded *up* to the whole minute: a customer is never told an earlier time
   than the one the agent keeps the promise to.
3. The day is said the shortest unambiguous way, counted from ``now`` in the business's zone:
   "later today, by 16:00 London time"; "tomorrow (Tuesday 24 November) by 10:05 London time";
   otherwise "by Tuesday 24 November, 10:05 London time". A moment that is not after ``now`` is
   always told with its date, since "later today" would be false. The year is added when it
   differs from now's: "by Monday 4 January 2027, 09:00 London time".
4. When the customer's UTC offset (from their Date header) differs from the business's at that
   moment, their own clock follows: "(11:05 your time)", with their weekday when their date
   differs: "(Wednesday 01:05 your time)". An offset no clock can have (24 hours or more, from a
   broken header) is ignored rather than trusted.
5. Day and month names are fixed here, not taken from the process locale, so the same moment
   always reads the same: English, and German for ``language = "de"`` (any ``de-*`` too):
   "morgen (Dienstag, 24. November) bis 09:35 Uhr Ortszeit London". Other languages read
   English until a table is added here.

The ``filter_*`` functions are plain functions for Jinja2; ``template_filters`` binds them to a
calendar's zone so a stored UTC moment still reads in business time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

from inbox_agent.core.business_time import WEEKDAY_NAMES, Calendar, zone_name

MONTH_NAMES = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)
_ONE_MINUTE = timedelta(minutes=1)
_LONGEST_OFFSET = timedelta(hours=24)  # datetime.timezone's own limit, exclusive


def describe_moment(
    moment: datetime, cal: Calendar, now: datetime, customer_offset: timedelta | None = None,
    language: str | None = None,
) -> str:
    """E.g. ``by Tuesday 24 November, 10:05 London time (11:05 your time)``."""
    shown = _shown(moment, cal.timezone)
    now_utc = _aware(now).astimezone(UTC)  # compared in UTC: same-zone compares use wall clocks
    today = now_utc.astimezone(cal.timezone).date()
    is_future = shown.astimezone(UTC) > now_utc
    if (language or "").split("-")[0] == "de":
        return _german(shown, today, is_future, cal) + _your_time_de(shown, customer_offset)
    clock = f"{filter_time(shown)} {zone_name(cal.timezone)}"
    return _day_and_clock(shown, today, is_future, clock) + _your_time(shown, customer_offset)


WEEKDAYS_DE = ("Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag")
MONTHS_DE = ("Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August",
             "September", "Oktober", "November", "Dezember")


def _german(shown: datetime, today: date, is_future: bool, cal: Calendar) -> str:
    """Rule 3 in German: "heute bis", "morgen (...) bis", or "bis <date>,"."""
    zone = zone_name(cal.timezone)
    place = "UTC" if zone == "UTC" else f"Ortszeit {zone.removesuffix(' time')}"
    clock = f"{filter_time(shown)} Uhr {place}"
    year = f" {shown.year}" if shown.year != today.year else ""
    day_text = (f"{WEEKDAYS_DE[shown.weekday()]}, {shown.day}. {MONTHS_DE[shown.month - 1]}"
                f"{year}")
    if is_future and shown.date() == today:
        return f"heute bis {clock}"
    if is_future and shown.date() == today + timedelta(days=1):
        return f"morgen ({day_text}) bis {clock}"
    return f"bis {day_text}, {clock}"


def _your_time_de(shown: datetime, offset: timedelta | None) -> str:
    theirs = _their_clock(shown, offset)
    if theirs is None:
        return ""
    weekday = f"{WEEKDAYS_DE[theirs.weekday()]} " if theirs.date() != shown.date() else ""
    return f" ({weekday}{filter_time(theirs)} Uhr bei Ihnen)"


def format_duration_words(minutes: int) -> str:
    """``45 minutes``, ``1 hour``, ``3 hours and 15 minutes``, ``0 minutes``."""
    if minutes < 0:
        raise ValueError(f"{minutes} minutes: a duration cannot be negative")
    hours, rest = divmod(minutes, 60)
    parts = [_count(hours, "hour")] if hours else []
    if rest or not hours:
        parts.append(_count(rest, "minute"))
    return " and ".join(parts)


def filter_date(moment: datetime) -> str:
    """``Tuesday 24 November``, in the moment's own zone."""
    shown = _shown(moment, None)
    return f"{WEEKDAY_NAMES[shown.weekday()]} {shown.day} {MONTH_NAMES[shown.month - 1]}"


def filter_time(moment: datetime) -> str:
    """``10:05`` (24-hour clock, rounded up to the minute), in the moment's own zone."""
    shown = _shown(moment, None)
    return f"{shown.hour:02d}:{shown.minute:02d}"


def filter_weekday(moment: datetime) -> str:
    """``Tuesday``, in the moment's own zone."""
    return WEEKDAY_NAMES[_shown(moment, None).weekday()]


def template_filters(cal: Calendar) -> dict[str, Callable[[datetime], str]]:
    """Jinja2 filters ``date``, ``time`` and ``weekday`` that read moments in ``cal``'s zone."""

    def in_zone(show: Callable[[datetime], str]) -> Callable[[datetime], str]:
        return lambda moment: show(_aware(moment).astimezone(cal.timezone))

    return {"date": in_zone(filter_date), "time": in_zone(filter_time),
            "weekday": in_zone(filter_weekday)}


def _day_and_clock(shown: datetime, today: date, is_future: bool, clock: str) -> str:
    """Rule 3: "later today", "tomorrow (...)", or the date."""
    day = shown.date()
    if is_future and day == today:
        return f"later today, by {clock}"
    if is_future and day == today + timedelta(days=1):
        return f"tomorrow ({_date_text(shown, today.year)}) by {clock}"
    return f"by {_date_text(shown, today.year)}, {clock}"


def _date_text(shown: datetime, this_year: int) -> str:
    year = f" {shown.year}" if shown.year != this_year else ""
    return filter_date(shown) + year


def _your_time(shown: datetime, offset: timedelta | None) -> str:
    """Rule 4: the customer's own clock, when it reads differently from the business's."""
    theirs = _their_clock(shown, offset)
    if theirs is None:
        return ""
    weekday = f"{WEEKDAY_NAMES[theirs.weekday()]} " if theirs.date() != shown.date() else ""
    return f" ({weekday}{filter_time(theirs)} your time)"


def _their_clock(shown: datetime, offset: timedelta | None) -> datetime | None:
    """``shown`` on the customer's clock; None when it reads the same, or is unknown."""
    if offset is None or abs(offset) >= _LONGEST_OFFSET or offset == shown.utcoffset():
        return None
    return shown.astimezone(timezone(offset))


def _shown(moment: datetime, zone: tzinfo | None) -> datetime:
    """Rule 2: ``moment`` rounded up to the whole minute, in ``zone`` (else its own zone)."""
    instant = _aware(moment).astimezone(UTC)
    past_minute = instant - instant.replace(second=0, microsecond=0)
    if past_minute:
        instant += _ONE_MINUTE - past_minute  # in UTC: wall-clock arithmetic breaks across DST
    return instant.astimezone(zone or moment.tzinfo)


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment.isoformat()} has no time zone; pass an aware datetime")
    return moment


def _count(n: int, unit: str) -> str:
    return f"{n} {unit}" if n == 1 else f"{n} {unit}s"


def local_moment(moment: datetime, zone: ZoneInfo) -> str:
    """A moment as staff and the owner read it in every tool (``threads``, ``thread``,
    ``status``, ``report``, ``snooze``'s answer, the log): ``Tue 24 Nov 2026 10:05 London
    time``. Always the business's zone, named, whatever zone the moment was stored in; rounded
    up to the minute as the customer was told it (rule 2); names fixed here, not the locale's.
    ISO 8601 with its offset is for ``--json`` only."""
    shown = _shown(moment, zone)
    return f"{short_day(shown.date())} {shown.year} {shown:%H:%M} {zone_name(zone)}"


def short_day(day: date) -> str:
    """``Tue 24 Nov``: a day in tables and charts, the names fixed here."""
    return f"{WEEKDAY_NAMES[day.weekday()][:3]} {day.day:02d} {MONTH_NAMES[day.month - 1][:3]}"
