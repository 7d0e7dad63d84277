"""Business time: when the business is open, and what "within 8 hours" means in open hours.

The rules:

1. A calendar is a time zone, the open weekdays (0 = Monday), one local wall-clock opening and
   closing time for every open day, and holidays (dates that are closed all day).
2. An open day's hours are the closed interval [opens, closes]: the closing moment itself is
   open, so "by 17:30" is a valid promise, and adding more time to 17:30 continues from the
   next opening.
3. Wall-clock times are read in the calendar's zone. One that happens twice (clocks go back)
   means the first time; one that never happens (clocks go forward) means the moment the clock
   jumps. So opening and closing on a DST night move with the clock, never out of order, and a
   day whose hours fall entirely inside the skipped hour has no open time at all.
4. Minutes count only open time. A moment in closed time counts from the next opening.
5. ``Nd`` is N open days: from the effective start (the next open moment), the same local time
   of day on the N-th following open day, clamped into that day's hours. ``1d4h`` adds the days
   first, then the hours. A start in the second pass of an hour that clocks go back over (01:30
   GMT after 01:59 BST) reads as the end of that hour (02:00): its wall clock alone would put
   a later start before an earlier one.
6. Every datetime in is timezone-aware (a naive one raises ValueError); every datetime out is
   in the calendar's zone. Arithmetic is done in UTC, because Python adds and compares two
   datetimes of the same zone by their wall clocks, which is wrong across a DST change.
7. A calendar cannot be empty (no open days, or closing not after opening, raise ValueError),
   and a search that meets more than three years of closed days in a row gives up with
   ValueError instead of running for ever: holidays alone can close every open day.
8. Subtracting counts back from a promise, to find when to chase it: ``subtract_business_time``
   of d minutes from m is the latest open moment t at or before m with at least d minutes of
   open time from t to m. So a closed m counts back from the closing before it; 0 minutes gives
   m itself, or that closing; and a count that ends exactly at an opening gives the opening
   (10:00 less 1h is 09:00, not 17:30 the evening before, as far in open time but needlessly
   early). Then the open time from t to m is exactly d, and ``add(t, d) == m`` for every m that
   adding d minutes can give: any open moment, except for d > 0 an opening straight after closed
   time, as adding stops at the closing before it. Subtracting ``Nd`` undoes rule 5 in reverse:
   the minutes come off first, then the same local time of day on the N-th previous open day,
   clamped into that day's hours.

Work is done day by day, never minute by minute.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import islice
from typing import NamedTuple
from zoneinfo import ZoneInfo

from inbox_agent.core.zone_names import zone_name

WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
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
    """When the business is open; checked when made, so every search over it ends."""

    timezone: ZoneInfo
    open_days: frozenset[int]  # 0 = Monday
    opens: time  # local wall clock
    closes: time  # local wall clock, after opens on the same day
    holidays: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        # Accept any iterable, but keep frozensets so the calendar stays hashable.
        object.__setattr__(self, "open_days", frozenset(self.open_days))
        object.__setattr__(self, "holidays", frozenset(self.holidays))
        _check_open_days(self.open_days)
        _check_clock("start", self.opens)
        _check_clock("end", self.closes)
        if self.closes <= self.opens:
            raise ValueError(
                f"end {self.closes:%H:%M} is not after start {self.opens:%H:%M}; "
                "business hours must close later on the same day"
            )


def _check_open_days(open_days: frozenset[int]) -> None:
    if not open_days:
        raise ValueError('no open days; list at least one in days, e.g. ["mon", "tue"]')
    strange = sorted(d for d in open_days if d not in range(7))
    if strange:
        raise ValueError(f"open days {strange} are not weekdays; use 0 (Monday) to 6 (Sunday)")


def _check_clock(name: str, clock: time) -> None:
    if clock.tzinfo is not None:
        raise ValueError(f"{name} {clock} must be a wall-clock time without a zone")
    if clock.second or clock.microsecond:
        raise ValueError(f"{name} {clock} must be whole minutes; write e.g. 09:00")


def is_open(cal: Calendar, moment: datetime) -> bool:
    """True from opening to closing time, both included, on an open day."""
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
    """Rule 8: the latest open moment ``duration`` of business time before ``moment``."""
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


def opening_hours_text(cal: Calendar) -> str:
    """E.g. ``Monday to Friday, 09:00-17:30 (London time)``, with an en dash between the times."""
    days = _days_text(cal.open_days)
    return f"{days}, {cal.opens:%H:%M}–{cal.closes:%H:%M} ({zone_name(cal.timezone)})"


class _Span(NamedTuple):
    """Open time on one local ``day``, as UTC instants; ``start`` may be later than opening."""

    day: date
    start: datetime
    end: datetime

    @property
    def length(self) -> timedelta:
        return self.end - self.start


def _add_days(cal: Calendar, instant: datetime, days: int) -> datetime:
    """Rule 5: the same local time of day on the ``days``-th following open day."""
    first = next(_spans_from(cal, instant))
    if days == 0:
        return first.start
    target = next(islice(_open_spans(cal, first.day + _ONE_DAY), days - 1, None))
    return _same_clock(cal, first.start, target)


def _subtract_days(cal: Calendar, instant: datetime, days: int) -> datetime:
    """Rule 8: the same local time of day on the ``days``-th previous open day."""
    last = next(_spans_until(cal, instant))
    if days == 0:
        return last.end
    target = next(islice(_open_spans(cal, last.day - _ONE_DAY, -_ONE_DAY), days - 1, None))
    return _same_clock(cal, last.end, target)


def _same_clock(cal: Calendar, instant: datetime, target: _Span) -> datetime:
    """``instant``'s local time of day on ``target``'s day, clamped into its hours."""
    wanted = _instant(cal.timezone, target.day, _time_of_day(cal, instant))
    return min(max(wanted, target.start), target.end)


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
    """Rule 4: spend ``minutes`` of open time, one day's span at a time."""
    remaining = timedelta(minutes=minutes)
    spans = _spans_from(cal, instant)
    while True:
        span = next(spans)
        if remaining <= span.length:
            return span.start + remaining
        remaining -= span.length


def _subtract_minutes(cal: Calendar, instant: datetime, minutes: int) -> datetime:
    """Rule 8: take back ``minutes`` of open time, one day's span at a time, latest first."""
    remaining = timedelta(minutes=minutes)
    spans = _spans_until(cal, instant)
    while True:
        span = next(spans)
        if remaining <= span.length:  # equal: the span's opening, not the closing before it
            return span.end - remaining
        remaining -= span.length


def _spans_from(cal: Calendar, instant: datetime) -> Iterator[_Span]:
    """The open time left at and after ``instant``, day by day; the first may start late."""
    # Start a day early: hours closing inside a skipped midnight hour end on the next date.
    for span in _open_spans(cal, _local_date(cal, instant) - _ONE_DAY):
        if instant <= span.end:
            yield span._replace(start=max(span.start, instant))


def _spans_until(cal: Calendar, instant: datetime) -> Iterator[_Span]:
    """The open time at and before ``instant``, latest day first; the first may end early."""
    # Start a day late, the mirror of _spans_from: clocks going back over midnight can show a
    # date again after the next date's hours have begun.
    for span in _open_spans(cal, _local_date(cal, instant) + _ONE_DAY, -_ONE_DAY):
        if span.start <= instant:
            yield span._replace(end=min(span.end, instant))


def _open_spans(cal: Calendar, first: date, step: timedelta = _ONE_DAY) -> Iterator[_Span]:
    """Every open day's hours from ``first``, a ``step`` at a time; ValueError if long closed."""
    day, closed = first, 0
    while True:
        span = _day_hours(cal, day)
        if span is not None:
            closed = 0
            yield span
        else:
            closed += 1
            if closed > MAX_CLOSED_DAYS:
                way = "after" if step > timedelta() else "before"
                raise ValueError(
                    f"no open day in the {MAX_CLOSED_DAYS} days {way} {first}; "
                    "check the holidays in [business_hours]"
                )
        day += step


def _day_hours(cal: Calendar, day: date) -> _Span | None:
    """``day``'s hours, or None when it is closed (weekday, holiday, or all inside a DST jump)."""
    if day.weekday() not in cal.open_days or day in cal.holidays:
        return None
    start = _instant(cal.timezone, day, cal.opens)
    end = _instant(cal.timezone, day, cal.closes)
    return _Span(day, start, end) if start < end else None


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


def _days_text(open_days: Iterable[int]) -> str:
    """``Monday to Friday``, ``Monday, Wednesday and Friday``, ``Every day``."""
    runs = _day_runs(frozenset(open_days))
    if len(runs) == 1 and len(runs[0]) == 7:
        return "Every day"
    names: list[str] = []
    for run in runs:
        words = [WEEKDAY_NAMES[d] for d in run]
        names += words if len(run) <= 2 else [f"{words[0]} to {words[-1]}"]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _day_runs(open_days: frozenset[int]) -> list[list[int]]:
    """Runs of consecutive open days in week order; a run may wrap from Sunday to Monday."""
    if len(open_days) == 7:
        return [list(range(7))]
    first = min(d for d in open_days if (d - 1) % 7 not in open_days)
    runs: list[list[int]] = []
    for day in ((first + i) % 7 for i in range(7)):
        if day not in open_days:
            continue
        if runs and runs[-1][-1] == (day - 1) % 7:
            runs[-1].append(day)
        else:
            runs.append([day])
    return runs
