"""Zones named as people say them: by city, "UTC" only for UTC, old keys by today's city."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo, available_timezones

import pytest

from inbox_agent.core.calendar_words import zone_words
from inbox_agent.core.zone_names import zone_city, zone_name

UTC_KEYS = (
    "UTC",
    "Etc/UTC",
    "UCT",
    "Universal",
    "Zulu",
    "GMT",
    "Etc/GMT",
    "GMT0",
    "Greenwich",
    "Etc/Greenwich",
)


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("Europe/London", "London time"),
        ("America/New_York", "New York time"),
        ("America/Argentina/Buenos_Aires", "Buenos Aires time"),
        ("Asia/Kathmandu", "Kathmandu time"),
        ("Etc/GMT+5", "UTC-5"),
        ("Etc/GMT-14", "UTC+14"),
    ],
)
def test_a_zone_is_named_by_its_city_or_its_offset(key: str, expected: str) -> None:
    """Zones are named by their city, and Etc/GMT±N by their real offset (POSIX inverts it)."""
    assert zone_name(ZoneInfo(key)) == expected


@pytest.mark.parametrize("key", UTC_KEYS)
def test_every_name_for_utc_says_utc(key: str) -> None:
    """A UTC shop says "UTC", whichever of the tz database's names for it is configured."""
    assert zone_name(ZoneInfo(key)) == "UTC"
    assert zone_city(ZoneInfo(key)) is None


def test_no_zone_but_utc_is_called_plain_utc() -> None:
    """Across the whole tz database, only the UTC keys are named "UTC"; the rest name a
    place, a region, an offset from UTC or (EST, MST) the abbreviation people write."""
    named_utc = {key for key in available_timezones() if zone_name(ZoneInfo(key)) == "UTC"}
    assert named_utc <= set(UTC_KEYS) | {
        "Etc/UCT",
        "Etc/Universal",
        "Etc/Zulu",
        "GMT+0",
        "GMT-0",
        "Etc/GMT+0",
        "Etc/GMT-0",
        "Etc/GMT0",
    }


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("GB", "London time"),
        ("GB-Eire", "London time"),
        ("Eire", "Dublin time"),
        ("US/Eastern", "New York time"),
        ("US/Pacific", "Los Angeles time"),
        ("PST8PDT", "Los Angeles time"),
        ("Canada/Eastern", "Toronto time"),
        ("Asia/Calcutta", "Kolkata time"),
        ("Hongkong", "Hong Kong time"),
        ("Australia/NSW", "Sydney time"),
        ("Brazil/East", "Sao Paulo time"),
        ("CET", "Central European time"),
        ("EET", "Eastern European time"),
        ("EST", "EST"),
        ("Factory", "local time"),
    ],
)
def test_old_and_country_keys_are_named_by_todays_city(key: str, expected: str) -> None:
    """ "GB time", "Eastern time" or "NSW time" would puzzle a customer: the city of the zone
    the old key links to is named instead; Europe's region zones keep their region."""
    assert zone_name(ZoneInfo(key)) == expected


def test_every_zone_in_the_database_has_a_name_a_person_can_read() -> None:
    """No name is empty, none keeps an underscore or a key's run-together words, none says
    "<country code> time" or repeats the word time."""
    for key in available_timezones():
        name = zone_name(ZoneInfo(key))
        assert name.endswith(" time") or name.startswith(("UTC", "EST", "MST")), (key, name)
        assert "_" not in name, key
        assert name.count("time") <= 1, (key, name)
        assert not re.search(r"[a-z][A-Z]", name.replace("McMurdo", "")), (key, name)
        assert not name.split()[0].isupper() or name.startswith(("UTC", "EST", "MST")), (key, name)


@pytest.mark.parametrize(
    ("key", "de", "fr"),
    [
        ("GB", "Londoner Zeit", "heure de Londres"),
        ("CET", "mitteleuropäischer Zeit", "heure d'Europe centrale"),
        ("WET", "westeuropäischer Zeit", "heure d'Europe de l'Ouest"),
        ("US/Eastern", "New Yorker Zeit", "heure de New York"),
    ],
)
def test_german_and_french_name_the_same_place(key: str, de: str, fr: str) -> None:
    """The other languages name the same city or region as English does."""
    assert (zone_words(ZoneInfo(key), "de"), zone_words(ZoneInfo(key), "fr")) == (de, fr)
