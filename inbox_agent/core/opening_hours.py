"""A week of opening hours, as the owner writes it and as a customer reads it.

The rules:

1. A day's hours are written ``"09:00-17:30"``, or ``"09:00-12:30, 13:30-17:30"`` for a day
   with a break, or ``"closed"``. Each period opens and closes on whole minutes of the same
   day's wall clock, closes after it opens, and opens after the period before it closes (a
   break of at least a minute between them): a mistake raises ValueError naming the period
   in double quotes, as the config's TOML writes it, and showing how to write it. An en
   dash between the times is read as a hyphen.
2. A part day is written ``"2026-12-24 from 12:00"`` (closed from then to the end of the
   day) or ``"2026-12-31 until 10:00"`` (closed until then).
3. The week reads as days that keep the same hours, together, in runs of consecutive days
   ("Monday to Thursday"; a run may wrap from Sunday to Monday), each group followed by its
   periods, the groups in the order of their first day: "Monday to Thursday, 09:00-12:30 and
   13:30-17:30; Friday, 09:00-15:00" (en dashes between the times). ``wording`` says it in
   German and French from the same groups.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date, time
from typing import Literal, NamedTuple

WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_PERIOD = re.compile(r"([0-9:]+)\s*[-–]\s*([0-9:]+)")
_PART_DAY = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})\s+(from|until)\s+([0-9:]+)")
_HOURS_EXAMPLE = 'write e.g. "09:00-12:30, 13:30-17:30"'


class Period(NamedTuple):
    """One stretch of a day's opening hours on the local wall clock."""

    opens: time
    closes: time

    def __str__(self) -> str:
        return f"{self.opens:%H:%M}-{self.closes:%H:%M}"


class PartDay(NamedTuple):
    """One date closed ``from`` or ``until`` a wall-clock time (rule 2)."""

    day: date
    edge: Literal["from", "until"]
    clock: time

    def __str__(self) -> str:
        return f"{self.day.isoformat()} {self.edge} {self.clock:%H:%M}"


class HoursGroup(NamedTuple):
    """Weekdays that keep the same hours, as runs of consecutive days (``((0, 1, 2, 3),)``)."""

    runs: tuple[tuple[int, ...], ...]
    periods: tuple[Period, ...]


def parse_hours(text: str) -> tuple[Period, ...]:
    """A day's opening hours as written in the config (rule 1); ``"closed"`` is none."""
    if text.strip().lower() == "closed":
        return ()
    periods = []
    for part in text.split(","):
        match = _PERIOD.fullmatch(part.strip())
        if match is None:
            raise ValueError(
                f'{_q(part.strip())} is not opening hours; {_HOURS_EXAMPLE} or "closed"'
            )
        opens, closes = (_read_clock(clock, part.strip()) for clock in match.groups())
        periods.append(Period(opens, closes))
    check_periods(periods)
    return tuple(periods)


def parse_part_day(text: str) -> PartDay:
    """``2026-12-24 from 12:00`` or ``2026-12-31 until 10:00`` (rule 2)."""
    match = _PART_DAY.fullmatch(text.strip().lower())
    problem = f"{_q(text)} is not a part day"
    if match is not None:
        try:
            day = date.fromisoformat(match[1])
        except ValueError:
            problem = f"{_q(match[1])} is not a date"
        else:
            edge: Literal["from", "until"] = "from" if match[2] == "from" else "until"
            return PartDay(day, edge, _read_clock(match[3], text.strip()))
    raise ValueError(f'{problem}; write e.g. "2026-12-24 from 12:00" or "2026-12-31 until 10:00"')


def check_periods(periods: Iterable[Period]) -> None:
    """Rule 1: each period closes after it opens, and opens after the one before closes."""
    before: Period | None = None
    for period in periods:
        check_clock(_q(period), period.opens)
        check_clock(_q(period), period.closes)
        if period.closes < period.opens:
            raise ValueError(f"{_q(period)} closes before it opens; {_HOURS_EXAMPLE}")
        if period.closes == period.opens:
            raise ValueError(f"{_q(period)} closes as it opens; {_HOURS_EXAMPLE}")
        if before is not None and period.opens <= before.closes:
            how = "opens as" if period.opens == before.closes else "opens before"
            raise ValueError(
                f"{_q(period)} {how} {_q(before)} closes; write the "
                "periods in the order of the day, with a break between them, "
                'e.g. "09:00-12:30, 13:30-17:30"'
            )
        before = period


def check_clock(name: str, clock: time) -> None:
    """A wall-clock time of whole minutes, without a zone; ValueError naming ``name``."""
    if clock.tzinfo is not None:
        raise ValueError(f"{name} {clock} must be a wall-clock time without a zone")
    if clock.second or clock.microsecond:
        raise ValueError(f"{name} {clock} must be whole minutes; write e.g. 09:00")


def week_groups(week: Sequence[tuple[Period, ...]]) -> tuple[HoursGroup, ...]:
    """Rule 3: the seven days' periods (Monday first), days with the same hours together."""
    by_periods: dict[tuple[Period, ...], list[int]] = {}
    for day, periods in enumerate(week):
        if periods:
            by_periods.setdefault(periods, []).append(day)
    groups = [
        HoursGroup(tuple(tuple(run) for run in day_runs(frozenset(days))), periods)
        for periods, days in by_periods.items()
    ]
    return tuple(sorted(groups, key=lambda group: group.runs[0][0]))


def week_text(week: Sequence[tuple[Period, ...]]) -> str:
    """Rule 3 in English: ``Monday to Thursday, 09:00-12:30 and 13:30-17:30; Friday,
    09:00-15:00``, with en dashes between the times."""
    return "; ".join(
        f"{_days_text(group.runs)}, {_periods_text(group.periods)}" for group in week_groups(week)
    )


def listed(items: Sequence[str], last: str) -> str:
    """``a``, ``a and b``, ``a, b and c``, with ``last`` the language's "and"."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + f" {last} " + items[-1]


def day_runs(open_days: frozenset[int]) -> list[list[int]]:
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


def _days_text(runs: Sequence[tuple[int, ...]]) -> str:
    """``Monday to Friday``, ``Monday, Wednesday and Friday``, ``Every day``."""
    if len(runs) == 1 and len(runs[0]) == 7:
        return "Every day"
    names: list[str] = []
    for run in runs:
        words = [WEEKDAY_NAMES[d] for d in run]
        names += words if len(run) <= 2 else [f"{words[0]} to {words[-1]}"]
    return listed(names, "and")


def _periods_text(periods: Iterable[Period]) -> str:
    return listed([f"{p.opens:%H:%M}–{p.closes:%H:%M}" for p in periods], "and")


def _read_clock(text: str, where: str) -> time:
    try:
        clock = time.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{_q(where)}: {_q(text)} is not a time of day; write e.g. 09:00"
        ) from None
    check_clock(_q(where), clock)
    return clock


def _q(text: object) -> str:
    """``"09:00-12:30"``: text quoted as the config's TOML quotes it."""
    return f'"{text}"'
