"""Days, months, clocks and zones in each language the shipped templates speak: en, de, fr.

The names are fixed here, never taken from the process locale, so a moment always reads the
same whatever machine renders it. ``wording`` builds whole phrases from these pieces; templates
and the manager's report use the tables (``WEEKDAYS``, ``MONTHS``) and the pieces directly.

Conventions, as a native writer of each language puts them in a business mail:

- English: "Tuesday 24 November", "16:30", "London time".
- German: "Dienstag, 24. November", "16:30 Uhr" (DIN 5008, two-digit hours), and the zone as
  the city's adjective where German has one in everyday use ("Londoner Zeit", "New Yorker
  Zeit"), else "Ortszeit" and the city's German name ("Ortszeit Tokio"); "UTC" stays "UTC".
- French: "mardi 24 novembre" (lower case; "1er" for the first), "16 h 30" and "9 h" (the
  Imprimerie nationale form that French business prose uses; "16:30" reads as a timetable),
  and "heure de Londres" / "heure d'Amsterdam" / "heure UTC". The spaces inside a French clock
  and between a day's number and its month are no-break spaces (U+00A0), so a line never
  breaks inside "16 h 30" or "24 novembre".

A language tag is reduced to its primary subtag ("de-AT" is German); an unknown one reads
English, the language every template exists in.
"""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from inbox_agent.core.opening_hours import WEEKDAY_NAMES
from inbox_agent.core.zone_names import zone_city, zone_name, zone_region

LANGUAGES = ("en", "de", "fr")
NBSP = "\u00a0"  # no-break space
NNBSP = "\u202f"  # narrow no-break space: before French ; : ! ? and inside « »

WEEKDAYS: dict[str, tuple[str, ...]] = {
    "en": WEEKDAY_NAMES,
    "de": ("Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"),
    "fr": ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"),
}
MONTHS: dict[str, tuple[str, ...]] = {
    "en": (
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ),
    "de": (
        "Januar",
        "Februar",
        "März",
        "April",
        "Mai",
        "Juni",
        "Juli",
        "August",
        "September",
        "Oktober",
        "November",
        "Dezember",
    ),
    "fr": (
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ),
}

# Cities whose German adjective is in everyday use ("um 16:30 Uhr Londoner Zeit").
_GERMAN_ADJECTIVES = {
    "London": "Londoner",
    "Berlin": "Berliner",
    "Paris": "Pariser",
    "Vienna": "Wiener",
    "Zurich": "Zürcher",
    "Amsterdam": "Amsterdamer",
    "Brussels": "Brüsseler",
    "Luxembourg": "Luxemburger",
    "Dublin": "Dubliner",
    "Madrid": "Madrider",
    "Prague": "Prager",
    "Warsaw": "Warschauer",
    "Stockholm": "Stockholmer",
    "Copenhagen": "Kopenhagener",
    "Oslo": "Osloer",
    "Budapest": "Budapester",
    "Moscow": "Moskauer",
    "New York": "New Yorker",
    "Chicago": "Chicagoer",
}
# German names of zone cities that differ from the English; used after "Ortszeit".
_GERMAN_CITIES = {
    "Rome": "Rom",
    "Lisbon": "Lissabon",
    "Athens": "Athen",
    "Tokyo": "Tokio",
    "Bucharest": "Bukarest",
    "Belgrade": "Belgrad",
    "Singapore": "Singapur",
    "Mexico City": "Mexiko-Stadt",
    "Sao Paulo": "São Paulo",
    "Havana": "Havanna",
    "Cairo": "Kairo",
    "Reykjavik": "Reykjavík",
}
_FRENCH_CITIES = {
    "London": "Londres",
    "Vienna": "Vienne",
    "Brussels": "Bruxelles",
    "Lisbon": "Lisbonne",
    "Warsaw": "Varsovie",
    "Moscow": "Moscou",
    "Athens": "Athènes",
    "Copenhagen": "Copenhague",
    "Bucharest": "Bucarest",
    "Montreal": "Montréal",
    "Mexico City": "Mexico",
    "Singapore": "Singapour",
    "Sao Paulo": "São Paulo",
    "Havana": "La Havane",
    "Cairo": "Le Caire",
    "Algiers": "Alger",
    "Reunion": "La Réunion",
}
_REGIONS = {  # zone_names rule 4
    "de": {
        "Central European": "mitteleuropäischer Zeit",
        "Eastern European": "osteuropäischer Zeit",
        "Western European": "westeuropäischer Zeit",
    },
    "fr": {
        "Central European": "heure d'Europe centrale",
        "Eastern European": "heure d'Europe de l'Est",
        "Western European": "heure d'Europe de l'Ouest",
    },
}
_FRENCH_ELIDES = frozenset("AEIOUYÂÉÈÊÎÔ")


def language_of(tag: str | None) -> str:
    """``de`` for "de", "de-AT", "DE_ch"; ``en`` for anything not shipped or missing."""
    primary = (tag or "").replace("_", "-").split("-")[0].strip().lower()
    return primary if primary in LANGUAGES else "en"


def date_words(day: date, language: str, year: bool = False) -> str:
    """ "Tuesday 24 November", "Dienstag, 24. November", "mardi 24 novembre"; the year after
    it when ``year``. ``language`` is a tag, as for ``language_of``."""
    lang = language_of(language)
    weekday, month = WEEKDAYS[lang][day.weekday()], MONTHS[lang][day.month - 1]
    tail = f" {day.year}" if year else ""
    if lang == "de":
        return f"{weekday}, {day.day}. {month}{tail}"
    if lang == "fr":
        number = "1er" if day.day == 1 else str(day.day)
        return f"{weekday} {number}{NBSP}{month}{tail}"
    return f"{weekday} {day.day} {month}{tail}"


def clock_words(hour: int, minute: int, language: str) -> str:
    """ "16:30", "16:30 Uhr", "16 h 30" (no-break spaces; "9 h" on the hour)."""
    lang = language_of(language)
    if lang == "fr":
        return f"{hour}{NBSP}h" + (f"{NBSP}{minute:02d}" if minute else "")
    clock = f"{hour:02d}:{minute:02d}"
    return f"{clock} Uhr" if lang == "de" else clock


def zone_words(zone: ZoneInfo, language: str) -> str:
    """The business's zone as the customer's language names it: "London time", "Londoner
    Zeit", "heure de Londres"; "UTC" / "heure UTC" for a UTC shop."""
    lang = language_of(language)
    city, name, region = zone_city(zone), zone_name(zone), zone_region(zone)
    if region and lang in _REGIONS:
        return _REGIONS[lang][region]
    if lang == "de":
        if city is None:
            return "Ortszeit" if zone.key is None else name
        adjective = _GERMAN_ADJECTIVES.get(city)
        return f"{adjective} Zeit" if adjective else f"Ortszeit {_GERMAN_CITIES.get(city, city)}"
    if lang == "fr":
        if city is None:
            return "heure locale" if zone.key is None else f"heure {name}"
        place = _FRENCH_CITIES.get(city, city)
        return f"heure d'{place}" if place[0] in _FRENCH_ELIDES else f"heure de {place}"
    return name
