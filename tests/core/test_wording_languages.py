"""Wording in every shipped language: a moment told in English, German and French, the names
of days, months and zones, and the Jinja filters in a language."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from inbox_agent.core.business_time import Calendar
from inbox_agent.core.calendar_words import (
    MONTHS,
    NBSP,
    WEEKDAYS,
    clock_words,
    date_words,
    language_of,
    zone_words,
)
from inbox_agent.core.opening_hours import parse_hours
from inbox_agent.core.wording import (
    MomentParts,
    describe_moment,
    describe_moment_parts,
    opening_hours_words,
    template_filters,
)
from tests.core.test_wording import MONDAY_9AM, OFFICE, london
from tests.core.test_wording import WEEKDAYS as OPEN_DAYS

TODAY = london("2026-11-23 16:30")
TOMORROW = london("2026-11-24 16:30")
THURSDAY = london("2026-11-26 16:30")
NEXT_YEAR = london("2027-01-04 09:00")
NEW_YEARS_EVE = london("2026-12-31 10:00")
AN_HOUR_AHEAD = timedelta(hours=1)


def nb(text: str) -> str:
    """French as the tests write it, "~" standing for the no-break space the mail has inside a
    clock ("16~h~30") and between a day's number and its month ("24~novembre")."""
    return text.replace("~", NBSP)


CASES = {
    "en": [
        (TODAY, MONDAY_9AM, "later today, by 16:30 London time"),
        (TOMORROW, MONDAY_9AM, "tomorrow (Tuesday 24 November) by 16:30 London time"),
        (THURSDAY, MONDAY_9AM, "by Thursday 26 November, 16:30 London time"),
        (NEXT_YEAR, NEW_YEARS_EVE, "by Monday 4 January 2027, 09:00 London time"),
        (
            london("2027-01-01 10:00"),
            NEW_YEARS_EVE,
            "tomorrow (Friday 1 January 2027) by 10:00 London time",
        ),
    ],
    "de": [
        (TODAY, MONDAY_9AM, "bis heute, 16:30 Uhr Londoner Zeit"),
        (TOMORROW, MONDAY_9AM, "bis morgen, Dienstag, 24. November, 16:30 Uhr Londoner Zeit"),
        (THURSDAY, MONDAY_9AM, "bis Donnerstag, 26. November, 16:30 Uhr Londoner Zeit"),
        (NEXT_YEAR, NEW_YEARS_EVE, "bis Montag, 4. Januar 2027, 09:00 Uhr Londoner Zeit"),
        (
            london("2027-01-01 10:00"),
            NEW_YEARS_EVE,
            "bis morgen, Freitag, 1. Januar 2027, 10:00 Uhr Londoner Zeit",
        ),
    ],
    "fr": [
        (TODAY, MONDAY_9AM, "aujourd'hui, d'ici 16~h~30, heure de Londres"),
        (TOMORROW, MONDAY_9AM, "demain (mardi 24~novembre) d'ici 16~h~30, heure de Londres"),
        (THURSDAY, MONDAY_9AM, "d'ici le jeudi 26~novembre, 16~h~30, heure de Londres"),
        (NEXT_YEAR, NEW_YEARS_EVE, "d'ici le lundi 4~janvier 2027, 9~h, heure de Londres"),
        (
            london("2027-01-01 10:00"),
            NEW_YEARS_EVE,
            "demain (vendredi 1er~janvier 2027) d'ici 10~h, heure de Londres",
        ),
    ],
}
DAYS = ["today", "tomorrow", "a-weekday", "another-year", "tomorrow-another-year"]


@pytest.mark.parametrize(
    ("language", "moment", "now", "expected"),
    [(lang, *case) for lang, cases in CASES.items() for case in cases],
    ids=[f"{lang}-{day}" for lang in CASES for day in DAYS],
)
def test_each_language_says_the_day_its_own_way(
    language: str, moment: datetime, now: datetime, expected: str
) -> None:
    """Today, tomorrow with its date, a weekday, and a date in another year (with the year),
    each as a native writer puts it after "reply" / "Sie hören" / "une réponse"."""
    wanted = nb(expected)
    assert describe_moment(moment, OFFICE, now, language=language) == wanted


@pytest.mark.parametrize(
    ("language", "offset", "expected"),
    [
        ("en", AN_HOUR_AHEAD, "later today, by 16:30 London time (17:30 your time)"),
        ("de", AN_HOUR_AHEAD, "bis heute, 16:30 Uhr Londoner Zeit (17:30 Uhr bei Ihnen)"),
        ("fr", AN_HOUR_AHEAD, "aujourd'hui, d'ici 16~h~30, heure de Londres (17~h~30 chez vous)"),
        ("en", timedelta(hours=9), "later today, by 16:30 London time (Tuesday 01:30 your time)"),
        (
            "de",
            timedelta(hours=9),
            "bis heute, 16:30 Uhr Londoner Zeit (Dienstag, 01:30 Uhr bei Ihnen)",
        ),
        (
            "fr",
            timedelta(hours=9),
            "aujourd'hui, d'ici 16~h~30, heure de Londres (mardi à 1~h~30 chez vous)",
        ),
    ],
    ids=["en", "de", "fr", "en-their-date", "de-their-date", "fr-their-date"],
)
def test_the_customers_own_clock_in_their_language(
    language: str, offset: timedelta, expected: str
) -> None:
    """A customer an hour ahead reads their clock too; nine hours ahead, their weekday too."""
    wanted = nb(expected)
    assert describe_moment(TODAY, OFFICE, MONDAY_9AM, offset, language) == wanted


@pytest.mark.parametrize("language", ["de", "fr", "en"])
def test_the_same_clock_adds_nothing_in_any_language(language: str) -> None:
    """A customer on London's clock (UTC+0 in November) is not told their time twice."""
    text = describe_moment(TODAY, OFFICE, MONDAY_9AM, timedelta(0), language)
    assert "(" not in text


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("de", "de"),
        ("de-AT", "de"),
        ("DE_ch", "de"),
        ("fr-CA", "fr"),
        ("fr", "fr"),
        ("en-GB", "en"),
        ("es", "en"),
        ("", "en"),
        (None, "en"),
        ("deutsch", "en"),
    ],
)
def test_a_language_tag_is_read_by_its_primary_subtag(tag: str | None, expected: str) -> None:
    """Regional variants read as their language; a language not shipped reads English."""
    assert language_of(tag) == expected


def test_an_unshipped_language_reads_english() -> None:
    """Spanish has no wording yet, so a Spanish customer gets the English phrase, not a mix."""
    assert (
        describe_moment(TODAY, OFFICE, MONDAY_9AM, language="es")
        == "later today, by 16:30 London time"
    )


@pytest.mark.parametrize(
    ("key", "de", "fr_text"),
    [
        ("Europe/London", "Londoner Zeit", "heure de Londres"),
        ("Europe/Berlin", "Berliner Zeit", "heure de Berlin"),
        ("Europe/Paris", "Pariser Zeit", "heure de Paris"),
        ("Europe/Vienna", "Wiener Zeit", "heure de Vienne"),
        ("Europe/Zurich", "Zürcher Zeit", "heure de Zurich"),
        ("Europe/Amsterdam", "Amsterdamer Zeit", "heure d'Amsterdam"),
        ("America/New_York", "New Yorker Zeit", "heure de New York"),
        ("Asia/Tokyo", "Ortszeit Tokio", "heure de Tokyo"),
        ("Europe/Athens", "Ortszeit Athen", "heure d'Athènes"),
        ("America/Argentina/Buenos_Aires", "Ortszeit Buenos Aires", "heure de Buenos Aires"),
        ("UTC", "UTC", "heure UTC"),
        ("Etc/GMT+5", "UTC-5", "heure UTC-5"),
    ],
)
def test_zones_are_named_as_each_language_says_them(key: str, de: str, fr_text: str) -> None:
    """German uses the city's adjective where one is in use, else "Ortszeit" and the German
    city name; French says "heure de" (elided before a vowel) with the French city name."""
    zone = ZoneInfo(key)
    assert (zone_words(zone, "de"), zone_words(zone, "fr")) == (de, fr_text)


def test_a_utc_shop_is_told_as_utc_in_every_language() -> None:
    """A UTC shop names UTC; nothing else does (the other zones above have city names)."""
    utc_office = Calendar(ZoneInfo("Etc/UTC"), OPEN_DAYS, time(9), time(17))
    moment, now = datetime(2026, 11, 23, 16, 30, tzinfo=UTC), datetime(2026, 11, 23, 9, tzinfo=UTC)
    assert [describe_moment(moment, utc_office, now, language=lang) for lang in CASES] == [
        "later today, by 16:30 UTC",
        "bis heute, 16:30 Uhr UTC",
        nb("aujourd'hui, d'ici 16~h~30, heure UTC"),
    ]


@pytest.mark.parametrize(
    ("hour", "minute", "expected"),
    [
        (16, 30, ["16:30", "16:30 Uhr", "16~h~30"]),
        (9, 0, ["09:00", "09:00 Uhr", "9~h"]),
        (0, 5, ["00:05", "00:05 Uhr", "0~h~05"]),
    ],
)
def test_clocks_in_each_language(hour: int, minute: int, expected: list[str]) -> None:
    """24-hour clocks; French writes "16 h 30" and "9 h" with no-break spaces inside."""
    assert [clock_words(hour, minute, lang) for lang in CASES] == [nb(e) for e in expected]


def test_french_dates_say_premier_and_keep_the_number_with_its_month() -> None:
    """The first of a month is "1er"; a no-break space keeps the day's number with its month;
    German puts a comma after the weekday and a period after the day's number."""
    first = date(2027, 1, 1)
    assert date_words(first, "fr") == f"vendredi 1er{NBSP}janvier"
    assert date_words(first, "fr", year=True) == f"vendredi 1er{NBSP}janvier 2027"
    assert date_words(first, "de", year=True) == "Freitag, 1. Januar 2027"
    assert date_words(first, "en") == "Friday 1 January"


def test_the_name_tables_cover_every_day_and_month_in_each_language() -> None:
    """Seven days and twelve months per language, each name distinct; French in lower case."""
    for lang in CASES:
        assert len(set(WEEKDAYS[lang])) == 7
        assert len(set(MONTHS[lang])) == 12
    assert all(name.islower() for name in (*WEEKDAYS["fr"], *MONTHS["fr"]))


def test_the_parts_give_a_template_its_own_word_order() -> None:
    """``describe_moment_parts`` returns the pieces ``describe_moment`` joins."""
    parts = describe_moment_parts(TOMORROW, OFFICE, MONDAY_9AM, AN_HOUR_AHEAD, "de")
    assert parts == MomentParts(
        when="tomorrow",
        date="Dienstag, 24. November",
        clock="16:30 Uhr",
        zone="Londoner Zeit",
        their_clock="17:30 Uhr bei Ihnen",
    )
    late = describe_moment_parts(london("2026-11-23 08:00"), OFFICE, MONDAY_9AM, None, "fr")
    assert (late.when, late.their_clock) == ("date", "")


def test_the_template_filters_take_a_language() -> None:
    """``{{ moment|date("fr") }}`` and friends read business time in the language asked,
    English when none is given."""
    filters = template_filters(OFFICE)
    moment = datetime(2026, 6, 1, 23, 30, tzinfo=UTC)  # 00:30 on Tuesday in London (BST)
    assert [filters[name](moment, "de") for name in ("date", "time", "weekday")] == [
        "Dienstag, 2. Juni",
        "00:30 Uhr",
        "Dienstag",
    ]
    assert [filters[name](moment, "fr") for name in ("date", "time", "weekday")] == [
        f"mardi 2{NBSP}juin",
        f"0{NBSP}h{NBSP}30",
        "mardi",
    ]
    assert filters["date"](moment) == "Tuesday 2 June"


SPLIT_WEEK = Calendar(
    ZoneInfo("Europe/London"),
    OPEN_DAYS,
    time(9),
    time(17, 30),
    hours={
        **dict.fromkeys(range(4), parse_hours("09:00-12:30, 13:30-17:30")),
        4: parse_hours("09:00-15:00"),
    },
)


@pytest.mark.parametrize(
    ("cal", "language", "expected"),
    [
        (
            SPLIT_WEEK,
            "en",
            "Monday to Thursday, 09:00–12:30 and 13:30–17:30; Friday, 09:00–15:00 (London time)",
        ),
        (
            SPLIT_WEEK,
            "de",
            "Montag bis Donnerstag 09:00–12:30 und 13:30–17:30 Uhr; Freitag "
            "09:00–15:00 Uhr (Londoner Zeit)",
        ),
        (
            SPLIT_WEEK,
            "fr",
            nb(
                "du lundi au jeudi de 9~h à 12~h~30 et de 13~h~30 à 17~h~30\u202f; "
                "le vendredi de 9~h à 15~h (heure de Londres)"
            ),
        ),
        (OFFICE, "de-AT", "Montag bis Freitag 09:00–17:30 Uhr (Londoner Zeit)"),
        (OFFICE, "fr", nb("du lundi au vendredi de 9~h à 17~h~30 (heure de Londres)")),
        (
            Calendar(ZoneInfo("Europe/Paris"), frozenset(range(7)), time(10), time(16)),
            "de",
            "täglich 10:00–16:00 Uhr (Pariser Zeit)",
        ),
        (
            Calendar(ZoneInfo("Europe/Paris"), frozenset(range(7)), time(10), time(16)),
            "fr",
            nb("tous les jours de 10~h à 16~h (heure de Paris)"),
        ),
        (
            Calendar(ZoneInfo("Europe/Paris"), frozenset({0, 2, 5, 6}), time(10), time(16)),
            "fr",
            nb("le mercredi et du samedi au lundi de 10~h à 16~h (heure de Paris)"),
        ),
        (
            Calendar(ZoneInfo("Europe/Paris"), frozenset({0, 2, 5, 6}), time(10), time(16)),
            "de",
            "Mittwoch und Samstag bis Montag 10:00–16:00 Uhr (Pariser Zeit)",
        ),
    ],
)
def test_opening_hours_in_each_language(cal: Calendar, language: str, expected: str) -> None:
    """The week's hours, breaks and short days included, as each language writes them."""
    assert opening_hours_words(cal, language) == expected
