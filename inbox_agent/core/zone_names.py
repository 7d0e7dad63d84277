"""A time zone named the way people say it: "London time", "New York time", "UTC".

The rules:

1. A zone is named by its city, the last part of its key with spaces for underscores
   (``America/Argentina/Buenos_Aires`` is "Buenos Aires time").
2. "UTC" names a UTC shop and nothing else: every key that means UTC (``Etc/UTC``, ``GMT``,
   ``Zulu``, ...) says "UTC"; no other zone does. A fixed offset from UTC (``Etc/GMT-1``) is
   named by that offset, "UTC+1" (POSIX inverts the sign in the key), since it has no place.
3. Old and country-named keys the tz database keeps for compatibility (``GB``, ``US/Eastern``,
   ``Asia/Calcutta``, ``PST8PDT``) are named by the city their zone is kept under today
   ("London time", "New York time", "Kolkata time", "Los Angeles time"), never "GB time" or
   "Eastern time" (Eastern where?).
4. The zones named for a region of Europe (``CET``, ``EET``, ``WET``, ``MET``) keep their
   region: "Central European time". ``EST`` and ``MST`` (fixed, no summer time) are named as
   written.
5. A zone read from a file, with no key (or ``localtime``, ``Factory``), is "local time".

English here; ``calendar_words`` says the same in German and French from ``zone_city`` and
``zone_region``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

_ONE_MINUTE = timedelta(minutes=1)
# Keys that all mean UTC; the last component rule would otherwise say "UCT time" or "Zulu time".
_UTC_KEYS = frozenset(
    {
        "UTC",
        "Etc/UTC",
        "UCT",
        "Etc/UCT",
        "Universal",
        "Etc/Universal",
        "Zulu",
        "Etc/Zulu",
        "GMT",
        "Etc/GMT",
        "GMT0",
        "Etc/GMT0",
        "GMT+0",
        "Etc/GMT+0",
        "GMT-0",
        "Etc/GMT-0",
        "Greenwich",
        "Etc/Greenwich",
    }
)
_AS_WRITTEN = frozenset({"EST", "MST"})
_REGIONS = {
    "CET": "Central European",
    "MET": "Central European",
    "EET": "Eastern European",
    "WET": "Western European",
}
# Rule 3: the tz database's "backward" names, by the city of the zone each links to.
_CITIES = {
    "GB": "London",
    "GB-Eire": "London",
    "Eire": "Dublin",
    "Portugal": "Lisbon",
    "Poland": "Warsaw",
    "W-SU": "Moscow",
    "Turkey": "Istanbul",
    "Iceland": "Reykjavik",
    "Europe/Kiev": "Kyiv",
    "Atlantic/Faeroe": "Faroe",
    "Egypt": "Cairo",
    "Libya": "Tripoli",
    "Israel": "Jerusalem",
    "Iran": "Tehran",
    "Japan": "Tokyo",
    "ROK": "Seoul",
    "PRC": "Shanghai",
    "ROC": "Taipei",
    "Hongkong": "Hong Kong",
    "Singapore": "Singapore",
    "Asia/Calcutta": "Kolkata",
    "Asia/Saigon": "Ho Chi Minh",
    "Asia/Katmandu": "Kathmandu",
    "Asia/Rangoon": "Yangon",
    "Asia/Dacca": "Dhaka",
    "Asia/Ulan_Bator": "Ulaanbaatar",
    "Asia/Thimbu": "Thimphu",
    "NZ": "Auckland",
    "NZ-CHAT": "Chatham",
    "Kwajalein": "Kwajalein",
    "Pacific/Truk": "Chuuk",
    "Pacific/Ponape": "Pohnpei",
    "Pacific/Enderbury": "Kanton",
    "Cuba": "Havana",
    "Jamaica": "Jamaica",
    "Navajo": "Denver",
    "America/Godthab": "Nuuk",
    "US/Eastern": "New York",
    "US/Central": "Chicago",
    "US/Mountain": "Denver",
    "US/Pacific": "Los Angeles",
    "US/Alaska": "Anchorage",
    "US/Aleutian": "Adak",
    "US/Arizona": "Phoenix",
    "US/East-Indiana": "Indianapolis",
    "US/Hawaii": "Honolulu",
    "US/Indiana-Starke": "Knox",
    "US/Michigan": "Detroit",
    "US/Samoa": "Pago Pago",
    "EST5EDT": "New York",
    "CST6CDT": "Chicago",
    "MST7MDT": "Denver",
    "PST8PDT": "Los Angeles",
    "HST": "Honolulu",
    "Canada/Atlantic": "Halifax",
    "Canada/Central": "Winnipeg",
    "Canada/Eastern": "Toronto",
    "Canada/Mountain": "Edmonton",
    "Canada/Newfoundland": "St Johns",
    "Canada/Pacific": "Vancouver",
    "Canada/Saskatchewan": "Regina",
    "Canada/Yukon": "Whitehorse",
    "Australia/ACT": "Sydney",
    "Australia/NSW": "Sydney",
    "Australia/Canberra": "Sydney",
    "Australia/North": "Darwin",
    "Australia/Queensland": "Brisbane",
    "Australia/South": "Adelaide",
    "Australia/Tasmania": "Hobart",
    "Australia/Victoria": "Melbourne",
    "Australia/West": "Perth",
    "Australia/LHI": "Lord Howe",
    "Australia/Yancowinna": "Broken Hill",
    "Brazil/Acre": "Rio Branco",
    "Brazil/DeNoronha": "Noronha",
    "Brazil/East": "Sao Paulo",
    "Brazil/West": "Manaus",
    "Chile/Continental": "Santiago",
    "Chile/EasterIsland": "Easter",
    "Mexico/BajaNorte": "Tijuana",
    "Mexico/BajaSur": "Mazatlan",
    "Mexico/General": "Mexico City",
    "America/Argentina/ComodRivadavia": "Catamarca",
    "Antarctica/DumontDUrville": "Dumont d'Urville",
}
# Keys for "no zone known" (tzdata's Factory, the system's own file): no place to name.
_LOCAL_KEYS = frozenset({"Factory", "localtime"})


def zone_name(zone: ZoneInfo) -> str:
    """How a customer reads the zone: ``London time``, ``New York time``, ``UTC``."""
    key = zone.key
    if key is None or key in _LOCAL_KEYS:  # a zone read from a file has no name to show
        return "local time"
    if key in _UTC_KEYS:
        return "UTC"
    if key.startswith("Etc/GMT"):  # POSIX signs are inverted (Etc/GMT+5 is UTC-5): show the offset
        return _fixed_offset_name(zone)
    if key in _AS_WRITTEN:
        return key
    region = zone_region(zone)
    return f"{region or zone_city(zone)} time"


def zone_city(zone: ZoneInfo) -> str | None:
    """The place a zone is named for (``London``, ``New York``), in English; None for UTC, a
    fixed offset, a European region, or a zone read from a file."""
    key = zone.key
    if (
        key is None
        or key in _UTC_KEYS
        or key in _LOCAL_KEYS
        or key in _AS_WRITTEN
        or key in _REGIONS
        or key.startswith("Etc/")
    ):
        return None
    return _CITIES.get(key) or key.rsplit("/", 1)[-1].replace("_", " ")


def zone_region(zone: ZoneInfo) -> str | None:
    """``Central European`` for ``CET``, and the like (rule 4); None for any other zone."""
    return _REGIONS.get(zone.key or "")


def _fixed_offset_name(zone: ZoneInfo) -> str:
    offset = datetime(2000, 1, 1, tzinfo=zone).utcoffset() or timedelta()
    sign = "-" if offset < timedelta() else "+"
    hours, minutes = divmod(abs(offset) // _ONE_MINUTE, 60)
    return f"UTC{sign}{hours}" + (f":{minutes:02d}" if minutes else "")
