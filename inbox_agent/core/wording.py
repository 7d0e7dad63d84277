"""How a promised moment is told to a customer, in words that cannot be misread, in English,
German and French (``calendar_words`` holds the names and each language's conventions).

The rules:

1. A moment is told in the business's zone, named the way a customer reads it in their
   language ("London time", "Londoner Zeit", "heure de Londres"; "UTC" only for a UTC shop),
   on a 24-hour clock. The zone is always named, even when the customer's clock reads the
   same: their offset is a guess from one Date header, and a mail is forwarded and read
   elsewhere; the name costs two words and is never wrong.
2. Moments are shown rounded *up* to the whole minute: a customer is never told an earlier time
   than the one the agent keeps the promise to. (``promises`` already makes every promise a
   quarter hour; this rule is for any other moment a template shows.)
3. The day is said the shortest unambiguous way, counted from ``now`` in the business's zone,
   today, tomorrow (with its date), or the date; a moment that is not after ``now`` is always
   told with its date, since "later today" would be false. The year is added when it differs
   from now's. The phrase is the one a template puts after "reply" / "Sie hören" /
   "une réponse":

   - en: "later today, by 16:30 London time"; "tomorrow (Tuesday 24 November) by 16:30 London
     time"; "by Thursday 26 November, 16:30 London time"; "by Monday 4 January 2027, ...".
   - de: "bis heute, 16:30 Uhr Londoner Zeit"; "bis morgen, Dienstag, 24. November, 16:30 Uhr
     Londoner Zeit"; "bis Donnerstag, 26. November, 16:30 Uhr Londoner Zeit" (so that "Sie
     hören {{ promised_by_text }}, von uns" reads naturally; the closing comma is the
     template's).
   - fr: "aujourd'hui, d'ici 16 h 30, heure de Londres"; "demain (mardi 24 novembre) d'ici
     16 h 30, heure de Londres"; "d'ici le jeudi 26 novembre, 16 h 30, heure de Londres".

4. When the customer's UTC offset (from their Date header) differs from the business's at that
   moment, their own clock follows, with their weekday when their date differs: "(17:30 your
   time)", "(Thursday 01:05 your time)"; "(17:30 Uhr bei Ihnen)", "(Donnerstag, 01:05 Uhr bei
   Ihnen)"; "(17 h 30 chez vous)", "(jeudi à 1 h 05 chez vous)". An offset no clock can have
   (24 hours or more, from a broken header) is ignored rather than trusted.
5. The language is a tag ("de", "de-AT", "fr-CH"); anything else reads English.
6. Opening hours read as the week's groups of days that keep the same hours
   (``opening_hours`` rule 3), the zone after them, an en dash between two times:

   - en: "Monday to Thursday, 09:00-12:30 and 13:30-17:30; Friday, 09:00-15:00 (London
     time)"; "Every day, ...".
   - de: "Montag bis Donnerstag 09:00-12:30 und 13:30-17:30 Uhr; Freitag 09:00-15:00 Uhr
     (Londoner Zeit)"; "täglich ...".
   - fr: "du lundi au jeudi de 9 h à 12 h 30 et de 13 h 30 à 17 h 30 ; le vendredi de 9 h
     à 15 h (heure de Londres)"; "tous les jours ..." (no-break spaces as in every French
     clock, a narrow one before the semicolon).

A template that wants its own word order uses ``describe_moment_parts``: the same moment as
``when`` ("today", "tomorrow" or "date"), ``date``, ``clock``, ``zone`` and ``their_clock`` in
the customer's language, which ``describe_moment`` itself joins.

The ``filter_*`` functions are plain functions for Jinja2, each taking an optional language
(``{{ promised_by|date("de") }}``); ``template_filters`` binds them to a calendar's zone so a
stored UTC moment still reads in business time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from typing import NamedTuple
from zoneinfo import ZoneInfo

from inbox_agent.core.business_time import Calendar, opening_hours_text, weekly_hours
from inbox_agent.core.calendar_words import (
    MONTHS,
    NNBSP,
    WEEKDAYS,
    clock_words,
    date_words,
    language_of,
    zone_words,
)
from inbox_agent.core.opening_hours import HoursGroup, Period, listed
from inbox_agent.core.zone_names import zone_name

MONTH_NAMES = MONTHS["en"]
_ONE_MINUTE = timedelta(minutes=1)
_LONGEST_OFFSET = timedelta(hours=24)  # datetime.timezone's own limit, exclusive


class MomentParts(NamedTuple):
    """A promised moment in pieces, in one language, for templates with their own word order.

    ``when`` is "today" or "tomorrow" (only for a moment after ``now``), else "date"; ``date``
    is the day ("Dienstag, 24. November", the year when it is not now's); ``clock`` "16:30 Uhr";
    ``zone`` "Londoner Zeit"; ``their_clock`` "17:30 Uhr bei Ihnen", or "" when the customer's
    clock reads the same or is unknown."""

    when: str
    date: str
    clock: str
    zone: str
    their_clock: str


def describe_moment(
    moment: datetime,
    cal: Calendar,
    now: datetime,
    customer_offset: timedelta | None = None,
    language: str | None = None,
) -> str:
    """E.g. ``by Tuesday 24 November, 10:05 London time (11:05 your time)``; rule 3."""
    lang = language_of(language)
    parts = describe_moment_parts(moment, cal, now, customer_offset, lang)
    phrase = _PHRASES[lang][parts.when].format(date=parts.date, clock=parts.clock, zone=parts.zone)
    return f"{phrase} ({parts.their_clock})" if parts.their_clock else phrase


def describe_moment_parts(
    moment: datetime,
    cal: Calendar,
    now: datetime,
    customer_offset: timedelta | None = None,
    language: str | None = None,
) -> MomentParts:
    """The pieces ``describe_moment`` joins (see ``MomentParts``)."""
    lang = language_of(language)
    shown = _shown(moment, cal.timezone)
    now_utc = _aware(now).astimezone(UTC)  # compared in UTC: same-zone compares use wall clocks
    today = now_utc.astimezone(cal.timezone).date()
    return MomentParts(
        when=_when(shown.date(), today, shown.astimezone(UTC) > now_utc),
        date=date_words(shown.date(), lang, year=shown.year != today.year),
        clock=clock_words(shown.hour, shown.minute, lang),
        zone=zone_words(cal.timezone, lang),
        their_clock=_their_clock_words(shown, customer_offset, lang),
    )


_PHRASES = {
    "en": {
        "today": "later today, by {clock} {zone}",
        "tomorrow": "tomorrow ({date}) by {clock} {zone}",
        "date": "by {date}, {clock} {zone}",
    },
    "de": {
        "today": "bis heute, {clock} {zone}",
        "tomorrow": "bis morgen, {date}, {clock} {zone}",
        "date": "bis {date}, {clock} {zone}",
    },
    "fr": {
        "today": "aujourd'hui, d'ici {clock}, {zone}",
        "tomorrow": "demain ({date}) d'ici {clock}, {zone}",
        "date": "d'ici le {date}, {clock}, {zone}",
    },
}
_THEIR_CLOCK = {
    "en": "{day}{clock} your time",
    "de": "{day}{clock} bei Ihnen",
    "fr": "{day}{clock} chez vous",
}
_THEIR_DAY = {"en": "{} ", "de": "{}, ", "fr": "{} à "}


def _when(day: date, today: date, is_future: bool) -> str:
    """Rule 3: "today" and "tomorrow" only for a moment still ahead."""
    if is_future and day == today:
        return "today"
    if is_future and day == today + timedelta(days=1):
        return "tomorrow"
    return "date"


def _their_clock_words(shown: datetime, offset: timedelta | None, lang: str) -> str:
    """Rule 4: the customer's own clock, when it reads differently from the business's."""
    theirs = _their_clock(shown, offset)
    if theirs is None:
        return ""
    day = (
        _THEIR_DAY[lang].format(WEEKDAYS[lang][theirs.weekday()])
        if theirs.date() != shown.date()
        else ""
    )
    return _THEIR_CLOCK[lang].format(day=day, clock=clock_words(theirs.hour, theirs.minute, lang))


def format_duration_words(minutes: int) -> str:
    """``45 minutes``, ``1 hour``, ``3 hours and 15 minutes``, ``0 minutes``."""
    if minutes < 0:
        raise ValueError(f"{minutes} minutes: a duration cannot be negative")
    hours, rest = divmod(minutes, 60)
    parts = [counted(hours, "hour")] if hours else []
    if rest or not hours:
        parts.append(counted(rest, "minute"))
    return " and ".join(parts)


def opening_hours_words(cal: Calendar, language: str | None = None) -> str:
    """Rule 6: the week's opening hours in ``language``, e.g. ``Montag bis Freitag
    09:00-17:30 Uhr (Londoner Zeit)``."""
    lang = language_of(language)
    if lang == "en":
        return opening_hours_text(cal)
    join = f"{NNBSP}; " if lang == "fr" else "; "
    groups = join.join(_group_words(group, lang) for group in weekly_hours(cal))
    return f"{groups} ({zone_words(cal.timezone, lang)})"


def _group_words(group: HoursGroup, lang: str) -> str:
    """One group of days and its periods, in German or French (rule 6)."""
    days = _days_words(group.runs, lang)
    if lang == "de":
        times = listed([f"{p.opens:%H:%M}–{p.closes:%H:%M}" for p in group.periods], "und")
        return f"{days} {times} Uhr"
    return f"{days} " + listed([_french_period(p) for p in group.periods], "et")


# A run of three days or more, one day, "and", and every day: "Montag bis Freitag".
_DAY_RUNS = {
    "de": ("{} bis {}", "{}", "und", "täglich"),
    "fr": ("du {} au {}", "le {}", "et", "tous les jours"),
}


def _days_words(runs: tuple[tuple[int, ...], ...], lang: str) -> str:
    through, one, conjunction, every = _DAY_RUNS[lang]
    if len(runs[0]) == 7:
        return every
    names, words = WEEKDAYS[lang], []
    for run in runs:
        words += (
            [through.format(names[run[0]], names[run[-1]])]
            if len(run) > 2
            else [one.format(names[day]) for day in run]
        )
    return listed(words, conjunction)


def _french_period(period: Period) -> str:
    opens, closes = period
    return (
        f"de {clock_words(opens.hour, opens.minute, 'fr')} "
        f"à {clock_words(closes.hour, closes.minute, 'fr')}"
    )


def filter_date(moment: datetime, language: str | None = None) -> str:
    """``Tuesday 24 November`` (``Dienstag, 24. November``, ``mardi 24 novembre``), in the
    moment's own zone."""
    return date_words(_shown(moment, None).date(), language_of(language))


def filter_time(moment: datetime, language: str | None = None) -> str:
    """``10:05`` (``10:05 Uhr``, ``10 h 05``): 24-hour clock, rounded up to the minute, in the
    moment's own zone."""
    shown = _shown(moment, None)
    return clock_words(shown.hour, shown.minute, language_of(language))


def filter_weekday(moment: datetime, language: str | None = None) -> str:
    """``Tuesday`` (``Dienstag``, ``mardi``), in the moment's own zone."""
    return WEEKDAYS[language_of(language)][_shown(moment, None).weekday()]


MomentFilter = Callable[[datetime, str | None], str]


def template_filters(cal: Calendar) -> dict[str, Callable[..., str]]:
    """Jinja2 filters ``date``, ``time`` and ``weekday`` that read moments in ``cal``'s zone,
    each with an optional language: ``{{ promised_by|weekday("fr") }}``."""

    def in_zone(show: MomentFilter) -> Callable[..., str]:
        def shown(moment: datetime, language: str | None = None) -> str:
            return show(_aware(moment).astimezone(cal.timezone), language)

        return shown

    return {
        "date": in_zone(filter_date),
        "time": in_zone(filter_time),
        "weekday": in_zone(filter_weekday),
    }


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


def counted(n: int, noun: str, plural: str = "") -> str:
    """``1 mailbox``, ``2 mailboxes``: ``n`` and ``noun`` agreeing (``plural``, else the
    noun with an s). English only: for staff and the log; customers' words are ``durations``'."""
    return f"{n} {noun}" if n == 1 else f"{n} {plural or noun + 's'}"


def local_moment(moment: datetime, zone: ZoneInfo) -> str:
    """A moment as staff and the owner read it in every tool (``threads``, ``thread``,
    ``status``, ``report``, ``snooze``'s answer, the log): ``Tue 24 Nov 2026 10:05 London
    time``. Always the business's zone, named, whatever zone the moment was stored in; rounded
    up to the minute as the customer was told it (rule 2); names fixed here, not the locale's.
    ISO 8601 with its offset is for ``--json`` only."""
    return _on_the_clock(_shown(moment, zone), zone)


def local_time(moment: datetime, zone: ZoneInfo) -> str:
    """A moment something happened (a mail arrived, was sent or saved, a promise was made or
    settled, a poll ran), worded as ``local_moment`` but cut down to its minute: rounding
    up is for deadlines (a promise is never said to be earlier than it is), and would show a
    mail that came at 16:25:09 as 16:26, a minute that may not have begun yet."""
    return _on_the_clock(_aware(moment).astimezone(zone), zone)  # %H:%M drops the seconds


def _on_the_clock(shown: datetime, zone: ZoneInfo) -> str:
    """``Tue 24 Nov 2026 10:05 London time``: ``shown``, already on ``zone``'s clock."""
    return f"{short_day(shown.date())} {shown.year} {shown:%H:%M} {zone_name(zone)}"


def short_day(day: date) -> str:
    """``Tue 24 Nov``: a day in tables and charts, the names fixed here."""
    weekday, month = WEEKDAYS["en"][day.weekday()], MONTH_NAMES[day.month - 1]
    return f"{weekday[:3]} {day.day:02d} {month[:3]}"
