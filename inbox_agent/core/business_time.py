"""Business time: when the business is open, and what "within 8 hours" means in open hours.

The rules:

1. A calendar is a time zone, a week of opening hours, and the dates it departs from them.
   Each weekday (0 = Monday) has none, one or several *periods*, each a local wall-clock
   opening and closing time, in the order of the day and apart ("09:00-12:30, 13:30-17:30").
   The simple form gives each day of ``open_days`` one period, ``opens`` to ``closes``;
   ``hours`` gives a weekday its own periods instead (none: closed), and so may open a day
   not in ``open_days``. A holiday is closed all day: a date in ``holidays``, or a public
   holiday of the calendar's place (``country_holidays``, ``public_holidays``). A part day
   (``closed``) closes one date from, or until, a wall-clock time, cutting its periods there:
   "2026-12-24 from 12:00" keeps the morning, up to and including 12:00.
2. Each period is the closed interval [opens, closes]: the closing moment itself is open, so
   "by 17:30" is a valid promise, and adding more time to 17:30 continues from the next
   opening, after lunch or the next open morning. A break between two periods is closed time.
3. Wall-clock times are read in the calendar's zone. One that happens twice (clocks go back)
   means the first time; one that never happens (clocks go forward) means the moment the clock
   jumps. So opening and closing on a DST night move with the clock, never out of order; a
   period that falls entirely inside the skipped hour has no open time at all, and two
   periods whose break falls inside it run on as one.
4. Minutes count only open time. A moment in closed time counts from the next opening.
5. ``Nd`` is N open days: from the effective start (the next open moment), the same local time
   of day on the N-th following open day, clamped into that day's hours: a time of day before
   its first opening, or in one of its breaks, becomes the opening after it (as mail arriving
   then would count, rule 4); one after its last closing becomes that closing. ``1d4h`` adds
   the days first, then the hours. A start in the second pass of an hour that clocks go back
   over (01:30 GMT after 01:59 BST) reads as the end of that hour (02:00): its wall clock
   alone would put a later start before an earlier one.
6. Every datetime in is timezone-aware (a naive one raises ValueError); every datetime out is
   in the calendar's zone. Arithmetic is done in UTC, because Python adds and compares two
   datetimes of the same zone by their wall clocks, which is wrong across a DST change.
7. A calendar cannot be empty (no weekday with open time, or periods out of order, raise
   ValueError), and a search that meets more than three years of closed days in a row gives
   up with ValueError instead of running for ever: holidays alone can close every open day.
8. Subtracting counts back from a promise, to find when to chase it: ``subtract_business_time``
   of d minutes from m is the latest open moment t at or before m with at least d minutes of
   open time from t to m. So a closed m counts back from the closing before it; 0 minutes gives
   m itself, or that closing; and a count that ends exactly at an opening gives the opening
   (10:00 less 1h is 09:00, not 17:30 the evening before, as far in open time but needlessly
   early). Then the open time from t to m is exactly d, and ``add(t, d) == m`` for every m that
   adding d minutes can give: any open moment, except for d > 0 an opening straight after closed
   time, as adding stops at the closing before it.
9. Subtracting ``Nd`` undoes rule 5 in reverse: the minutes come off first (rule 8, giving
   m'), then t is the latest open moment from which adding ``Nd`` lands at or before m'. Day
   by day: with m' on day D, the N-th open day before D, at m''s local time of day, or if
   that day is closed then, its closing before (before a break, or its last closing); when it
   opens only later, the last closing of the open day before it. From m' at D's last closing,
   the N-th previous open day's last closing (every moment of that day adds up to D's last
   closing at most). Where clocks never change, then, ``add(sub(m, d), d)`` never passes m,
   and ``add(sub(add(t, d), d), d) == add(t, d)`` for every d, whatever each day's hours; on
   a day the clocks change, a time of day they skip reads as rule 3 says.

Work is done day by day, never minute by minute.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import islice
from types import MappingProxyType
from typing import NamedTuple
from zoneinfo import ZoneInfo

from inbox_agent.core.opening_hours import (
    WEEKDAY_NAMES,
    HoursGroup,
    PartDay,
    Period,
    check_clock,
    check_periods,
    week_groups,
    week_text,
)
from inbox_agent.core.public_holidays import holiday_name, place_code
from inbox_agent.core.zone_names import zone_name

_MAX_DAYS_KEPT = 4096  # days of hours a calendar keeps worked out (about 11 years)
MAX_CLOSED_DAYS = 3 * 366  # closed days in a row before a search calls the calendar broken
_ONE_DAY = timedelta(days=1)
_ONE_MINUTE = timedelta(minutes=1)
_DURATION = re.compile(r"(?:([0-9]+)\s*d)?\s*(?:([0-9]+)\s*h)?\s*(?:([0-9]+)\s*m)?")


@dataclass(frozen=True)
class Duration:
    """An amount of business time: open days, then open minutes (hours are stored as minutes)."""

    minutes: int = 0
    days: int = 0

    def __post_init__(self) -> None:
        if self.minutes < 0 or self.days < 0:
            raise ValueError(f"a duration cannot be negative ({self.days}d, {self.minutes}m)")

    def __add__(self, other: Duration) -> Duration:
        return Duration(minutes=self.minutes + other.minutes, days=self.days + other.days)

    def __str__(self) -> str:
        """The shortest text ``parse_duration`` reads back as this duration, e.g. ``1d4h30m``."""
        hours, minutes = divmod(self.minutes, 60)
        parts = [f"{n}{unit}" for n, unit in ((self.days, "d"), (hours, "h"), (minutes, "m")) if n]
        return "".join(parts) or "0m"


def parse_duration(text: str) -> Duration:
    """``30m``, ``8h``, ``2d`` or a combination in that order (``1d4h30m``); d = open days."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None or not any(match.groups()):
        raise ValueError(f"{text!r} is not a duration; write e.g. 30m, 8h or 2d")
    days, hours, minutes = (int(group or 0) for group in match.groups())
    return Duration(minutes=hours * 60 + minutes, days=days)


@dataclass(frozen=True)
class Calendar:
    """When the business is open (rule 1); checked when made, so every search over it ends."""

    timezone: ZoneInfo
    open_days: frozenset[int]  # 0 = Monday: the days of the simple form
    opens: time  # local wall clock: the simple form's one period
    closes: time  # local wall clock, after opens on the same day
    holidays: frozenset[date] = frozenset()
    hours: Mapping[int, tuple[Period, ...]] = field(default_factory=dict)  # weekday: periods
    country_holidays: str | None = None  # a place, "DE-BY" (public_holidays rule 1)
    closed: frozenset[PartDay] = frozenset()
    _week: tuple[tuple[Period, ...], ...] = field(init=False, repr=False, compare=False)
    _parts: Mapping[date, tuple[PartDay, ...]] = field(init=False, repr=False, compare=False)
    # Each day's hours as UTC spans, worked out once: a report walks the same days for every
    # conversation. Bounded (cleared when full); what it holds follows from the fields alone.
    _spans: dict[date, tuple[_Span, ...]] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        # Accept any iterables, but keep frozen ones so the calendar stays hashable.
        hours = {day: tuple(Period(*p) for p in periods) for day, periods in self.hours.items()}
        object.__setattr__(self, "open_days", frozenset(self.open_days))
        object.__setattr__(self, "holidays", frozenset(self.holidays))
        object.__setattr__(self, "hours", MappingProxyType(dict(sorted(hours.items()))))
        object.__setattr__(self, "closed", frozenset(PartDay(*part) for part in self.closed))
        self._check()
        if self.country_holidays is not None:
            object.__setattr__(self, "country_holidays", place_code(self.country_holidays))
        simple = (Period(self.opens, self.closes),)
        week = tuple(self.hours.get(d, simple if d in self.open_days else ()) for d in range(7))
        if not any(week):
            raise ValueError(
                'no open days; list at least one in days, e.g. ["mon", "tue"], '
                "or give one its hours"
            )
        parts: dict[date, tuple[PartDay, ...]] = {}
        for part in sorted(self.closed):
            parts[part.day] = (*parts.get(part.day, ()), part)
        object.__setattr__(self, "_week", week)
        object.__setattr__(self, "_parts", MappingProxyType(parts))

    def __hash__(self) -> int:
        return hash(
            (
                self.timezone,
                self.open_days,
                self.opens,
                self.closes,
                self.holidays,
                tuple(self.hours.items()),
                self.country_holidays,
                self.closed,
            )
        )

    @property
    def week(self) -> tuple[tuple[Period, ...], ...]:
        """Each weekday's periods, Monday first: ``hours`` where given, else the simple form."""
        return self._week

    def _check(self) -> None:
        _check_weekdays("open days", self.open_days)
        _check_weekdays("days in hours", self.hours)
        check_clock("start", self.opens)
        check_clock("end", self.closes)
        if self.closes <= self.opens:
            raise ValueError(
                f"end {self.closes:%H:%M} is not after start {self.opens:%H:%M}; "
                "business hours must close later on the same day"
            )
        for day, periods in self.hours.items():
            try:
                check_periods(periods)
            except ValueError as exc:
                raise ValueError(f"{WEEKDAY_NAMES[day]}: {exc}") from None
        for part in self.closed:
            check_clock(f"closed {part.day}", part.clock)


def _check_weekdays(name: str, days: Iterable[int]) -> None:
    strange = sorted(d for d in days if d not in range(7))
    if strange:
        raise ValueError(f"{name} {strange} are not weekdays; use 0 (Monday) to 6 (Sunday)")


def day_periods(cal: Calendar, day: date) -> tuple[Period, ...]:
    """``day``'s opening hours on the wall clock (rule 1): its weekday's periods, none on a
    holiday, cut by its part days."""
    periods = cal.week[day.weekday()]
    if not periods or day in cal.holidays or public_holiday(cal, day) is not None:
        return ()
    for part in cal._parts.get(day, ()):
        periods = tuple(_cut(periods, part))
    return periods


def public_holiday(cal: Calendar, day: date) -> str | None:
    """The name of ``day``'s public holiday at the calendar's place, or None."""
    if cal.country_holidays is None:
        return None
    return holiday_name(cal.country_holidays, day)


def _cut(periods: Iterable[Period], part: PartDay) -> Iterator[Period]:
    """Rule 1: ``periods`` less the part of the day ``part`` closes."""
    for opens, closes in periods:
        if part.edge == "from" and opens < part.clock:
            yield Period(opens, min(closes, part.clock))
        elif part.edge == "until" and closes > part.clock:
            yield Period(max(opens, part.clock), closes)


class ClosedDay(NamedTuple):
    """A date the week's hours would open but the calendar closes, whole or in part."""

    day: date
    why: str  # the holiday's name, "holiday", or "closed from 12:00"


def closed_days(cal: Calendar, first: date, last: date) -> Iterator[ClosedDay]:
    """Days from ``first`` to ``last`` that the week's hours open and the calendar closes all
    day (a holiday) or in part (a part day), with why: what the owner should see the agent
    believes."""
    day = first
    while day <= last:
        if cal.week[day.weekday()]:
            why = public_holiday(cal, day) or ("holiday" if day in cal.holidays else None)
            parts = cal._parts.get(day, ())
            if why is None and parts:
                why = "closed " + " and ".join(f"{p.edge} {p.clock:%H:%M}" for p in parts)
            if why is not None:
                yield ClosedDay(day, why)
        day += _ONE_DAY


def is_open(cal: Calendar, moment: datetime) -> bool:
    """True from opening to closing time, both included, in any period of an open day."""
    instant = _utc(moment)
    return next(_spans_from(cal, instant)).start == instant


def next_open(cal: Calendar, moment: datetime) -> datetime:
    """``moment`` itself if the business is open then, else the next opening."""
    return _local(cal, next(_spans_from(cal, _utc(moment))).start)


def add_business_time(cal: Calendar, moment: datetime, duration: Duration) -> datetime:
    """The moment ``duration`` of business time after ``moment`` (days first, then minutes)."""
    instant = _add_days(cal, _utc(moment), duration.days)
    return _local(cal, _add_minutes(cal, instant, duration.minutes))


def subtract_business_time(cal: Calendar, moment: datetime, duration: Duration) -> datetime:
    """Rules 8 and 9: the latest open moment ``duration`` of business time before ``moment``."""
    instant = _subtract_minutes(cal, _utc(moment), duration.minutes)
    return _local(cal, _subtract_days(cal, instant, duration.days))


def business_minutes_between(cal: Calendar, start: datetime, end: datetime) -> int:
    """Whole open minutes from ``start`` to ``end``: how long a customer has waited (0 if none)."""
    first, last = _utc(start), _utc(end)
    waited = timedelta()
    for span in _spans_from(cal, first):
        if span.start >= last:
            break
        waited += min(span.end, last) - span.start
    return waited // _ONE_MINUTE


def weekly_hours(cal: Calendar) -> tuple[HoursGroup, ...]:
    """The week's hours, days that keep the same hours together (``opening_hours`` rule 3;
    holidays aside): what ``opening_hours_text`` says, and ``wording`` in other languages."""
    return week_groups(cal.week)


def opening_hours_text(cal: Calendar) -> str:
    """E.g. ``Monday to Friday, 09:00-17:30 (London time)``, or with a break and a short
    Friday ``Monday to Thursday, 09:00-12:30 and 13:30-17:30; Friday, 09:00-15:00 (London
    time)``, with en dashes between the times."""
    return f"{week_text(cal.week)} ({zone_name(cal.timezone)})"


class _Span(NamedTuple):
    """Open time on one local ``day``, as UTC instants; ``start`` may be later than opening."""

    day: date
    start: datetime
    end: datetime

    @property
    def length(self) -> timedelta:
        return self.end - self.start


def _add_days(cal: Calendar, instant: datetime, days: int) -> datetime:
    """Rule 5: the same local time of day on the ``days``-th following open day, clamped."""
    first = next(_spans_from(cal, instant))
    if days == 0:
        return first.start
    target = next(islice(_open_days(cal, first.day + _ONE_DAY), days - 1, None))
    wanted = _instant(cal.timezone, target[0].day, _time_of_day(cal, first.start))
    for span in target:
        if wanted <= span.end:
            return max(wanted, span.start)  # before an opening: that opening
    return target[-1].end


def _subtract_days(cal: Calendar, instant: datetime, days: int) -> datetime:
    """Rule 9: the latest moment whose ``days`` open days later is at or before ``instant``."""
    last = next(_spans_until(cal, instant))
    if days == 0:
        return last.end
    earlier = _open_days(cal, last.day - _ONE_DAY, -_ONE_DAY)
    target = next(islice(earlier, days - 1, None))
    if last.end == _day_hours(cal, last.day)[-1].end:
        return target[-1].end
    wanted = _instant(cal.timezone, target[0].day, _time_of_day(cal, last.end))
    for span in reversed(target):
        if span.start <= wanted:
            return min(wanted, span.end)  # after a closing: that closing
    return next(earlier)[-1].end


def _time_of_day(cal: Calendar, instant: datetime) -> time:
    """Rule 5's local time of day; in a repeated hour's second pass, the end of that hour."""
    local = instant.astimezone(cal.timezone)
    if not local.fold or local.replace(fold=0).utcoffset() == local.utcoffset():
        return local.time()
    moment = local
    while moment.fold:  # at most the repeated stretch, minute by minute: a rare path
        moment = (moment.astimezone(UTC) + _ONE_MINUTE).astimezone(cal.timezone)
        moment = moment.replace(second=0, microsecond=0)
    return moment.time()


def _add_minutes(cal: Calendar, instant: datetime, minutes: int) -> datetime:
    """Rule 4: spend ``minutes`` of open time, one period at a time."""
    remaining = timedelta(minutes=minutes)
    spans = _spans_from(cal, instant)
    while True:
        span = next(spans)
        if remaining <= span.length:
            return span.start + remaining
        remaining -= span.length


def _subtract_minutes(cal: Calendar, instant: datetime, minutes: int) -> datetime:
    """Rule 8: take back ``minutes`` of open time, one period at a time, latest first."""
    remaining = timedelta(minutes=minutes)
    spans = _spans_until(cal, instant)
    while True:
        span = next(spans)
        if remaining <= span.length:  # equal: the span's opening, not the closing before it
            return span.end - remaining
        remaining -= span.length


def _spans_from(cal: Calendar, instant: datetime) -> Iterator[_Span]:
    """The open time left at and after ``instant``, period by period; the first may start late."""
    # Start a day early: hours closing inside a skipped midnight hour end on the next date.
    for span in _open_spans(cal, _local_date(cal, instant) - _ONE_DAY):
        if instant <= span.end:
            yield span._replace(start=max(span.start, instant))


def _spans_until(cal: Calendar, instant: datetime) -> Iterator[_Span]:
    """The open time at and before ``instant``, latest first; the first may end early."""
    # Start a day late, the mirror of _spans_from: clocks going back over midnight can show a
    # date again after the next date's hours have begun.
    for span in _open_spans(cal, _local_date(cal, instant) + _ONE_DAY, -_ONE_DAY):
        if span.start <= instant:
            yield span._replace(end=min(span.end, instant))


def _open_spans(cal: Calendar, first: date, step: timedelta = _ONE_DAY) -> Iterator[_Span]:
    """Every period of every open day from ``first``, in time order along ``step``."""
    for spans in _open_days(cal, first, step):
        yield from spans if step > timedelta() else reversed(spans)


def _open_days(
    cal: Calendar,
    first: date,
    step: timedelta = _ONE_DAY,
) -> Iterator[tuple[_Span, ...]]:
    """Every open day's periods from ``first``, a ``step`` at a time; ValueError if long closed."""
    day, closed = first, 0
    while True:
        spans = _day_hours(cal, day)
        if spans:
            closed = 0
            yield spans
        else:
            closed += 1
            if closed > MAX_CLOSED_DAYS:
                way = "after" if step > timedelta() else "before"
                raise ValueError(
                    f"no open day in the {MAX_CLOSED_DAYS} days {way} {first}; "
                    "check the holidays in [business_hours]"
                )
        day += step


def _day_hours(cal: Calendar, day: date) -> tuple[_Span, ...]:
    """``day``'s periods as UTC instants, in order; none when it is closed (rule 3: a period
    all inside a DST jump has none, and a break inside one joins its periods)."""
    known = cal._spans.get(day)
    if known is None:
        if len(cal._spans) >= _MAX_DAYS_KEPT:
            cal._spans.clear()
        known = cal._spans[day] = _work_out_day_hours(cal, day)
    return known


def _work_out_day_hours(cal: Calendar, day: date) -> tuple[_Span, ...]:
    spans: list[_Span] = []
    for opens, closes in day_periods(cal, day):
        start = _instant(cal.timezone, day, opens)
        end = _instant(cal.timezone, day, closes)
        if spans and start <= spans[-1].end:
            spans[-1] = spans[-1]._replace(end=max(end, spans[-1].end))
        elif start < end:
            spans.append(_Span(day, start, end))
    return tuple(spans)


def _instant(zone: ZoneInfo, day: date, clock: time) -> datetime:
    """Rule 3: the UTC instant ``zone``'s clocks show ``clock`` on ``day``."""
    local = datetime.combine(day, clock, tzinfo=zone)  # fold=0: the first of two readings
    instant = local.astimezone(UTC)
    if _wall(instant, zone) == local.replace(tzinfo=None):
        return instant
    return _jump_over(zone, local)


def _jump_over(zone: ZoneInfo, skipped: datetime) -> datetime:
    """The instant the clocks jump forward past ``skipped``, a reading they never show."""
    # For a skipped reading fold=1 applies the offset after the jump (an instant before it) and
    # fold=0 the offset before (an instant after it). Jumps fall on whole seconds: bisect those.
    wanted = skipped.replace(tzinfo=None)
    before = int(skipped.replace(fold=1).timestamp())
    after = int(skipped.replace(fold=0).timestamp())
    while after - before > 1:
        middle = (before + after) // 2
        if _wall(datetime.fromtimestamp(middle, UTC), zone) < wanted:
            before = middle
        else:
            after = middle
    return datetime.fromtimestamp(after, UTC)


def _wall(instant: datetime, zone: ZoneInfo) -> datetime:
    """What ``zone``'s clocks show at ``instant``, as a naive datetime."""
    return instant.astimezone(zone).replace(tzinfo=None)


def _local_date(cal: Calendar, instant: datetime) -> date:
    return instant.astimezone(cal.timezone).date()


def _local(cal: Calendar, instant: datetime) -> datetime:
    return instant.astimezone(cal.timezone)


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment.isoformat()} has no time zone; pass an aware datetime")
    return moment.astimezone(UTC)
