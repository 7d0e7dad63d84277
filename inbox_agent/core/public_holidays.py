"""Public holidays by place, from the ``holidays`` package (maintained calendars for about 150
countries and their subdivisions, computed by rule: no data files, no network).

The rules:

1. A place is an ISO 3166 country code, with a subdivision after a hyphen where the country
   has them: ``GB``, ``GB-ENG``, ``DE-BY``, ``US-CA``. Case does not matter, and the
   package's own aliases are read as its codes (``UK`` is ``GB``, ``DE-Bayern`` is
   ``DE-BY``); an unknown country or subdivision raises ValueError naming close matches.
2. A country without a subdivision has the holidays the package keeps for the whole
   country. For ``GB`` that is only what all four nations share (New Year's Day, Good
   Friday, the two May bank holidays, Christmas Day, Boxing Day, and their substitute
   days): England's Easter Monday and August bank holiday come with ``GB-ENG``, Scotland's
   2 January and St Andrew's Day with ``GB-SCT``. For ``DE`` it is the nine federal
   holidays: Epiphany is Bavaria's (``DE-BY``), not Berlin's (``DE-BE``).
3. A holiday the law moves to another day (a substitute day when Christmas falls on a
   Saturday) closes that day: the package's default, "observed".
4. Names are English where the package has them, else the country's own language, never
   the process's locale (which the package would otherwise read from the environment):
   the same config names the same days on every machine.
5. A place's holidays are computed once per year and kept (the package only computes; it
   reads its own translation catalogues, nothing of the world's).
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Mapping
from datetime import date
from types import MappingProxyType

import holidays
from holidays import registry

_ENGLISH = ("en_US", "en_GB")


@functools.lru_cache(maxsize=512)
def place_code(text: str) -> str:
    """Rule 1: ``text`` as the package's codes, ``DE-BY``; ValueError naming close matches."""
    country, _, subdivision = text.strip().partition("-")
    entity = _country(country)
    if not subdivision:
        return entity.country
    return f"{entity.country}-{_subdivision(entity, subdivision)}"


def holiday_name(place: str, day: date) -> str | None:
    """The name of ``day``'s public holiday at ``place`` (a ``place_code``), or None."""
    return _holidays_in(place, day.year).get(day)


def subdivisions(place: str) -> tuple[str, ...]:
    """The subdivisions of ``place``'s country, as the package codes them: what a country
    alone leaves out (rule 2)."""
    return tuple(_country(place.partition("-")[0]).subdivisions)


@functools.lru_cache(maxsize=256)
def _holidays_in(place: str, year: int) -> Mapping[date, str]:
    """Rule 5: one place's holidays in one year, kept; two on one day read "A; B"."""
    country, _, subdivision = place.partition("-")
    table = holidays.country_holidays(
        country, subdiv=subdivision or None, years=year, language=_language(country)
    )
    return MappingProxyType(dict(table))


@functools.lru_cache(maxsize=256)
def _language(country: str) -> str | None:
    """Rule 4: English where the package has it, else the country's own language."""
    entity = _country(country)
    own = entity.default_language
    if own is not None and own.startswith("en"):
        return own
    return next((lang for lang in _ENGLISH if lang in entity.supported_languages), own)


def _country(code: str) -> holidays.HolidayBase:
    try:
        return holidays.country_holidays(code.strip().upper())
    except NotImplementedError:
        pass
    known = holidays.list_supported_countries(include_aliases=True)
    close = difflib.get_close_matches(code.strip().upper(), known, n=3, cutoff=0.5)
    names = _place_names()
    named = difflib.get_close_matches(_squeezed(code), names, n=6, cutoff=0.7)
    by_code = {names[n][0]: f"{names[n][0]} ({names[n][1]})" for n in reversed(named)}
    close = list(reversed(by_code.values()))[:3] or close
    hint = f"; did you mean {_either(close)}?" if close else ""
    raise ValueError(
        f"{code.strip()!r} is not a country the holidays package knows{hint} "
        "(write an ISO 3166 code, e.g. GB, DE-BY or US-CA)"
    )


@functools.cache
def _place_names() -> dict[str, tuple[str, str]]:
    """Countries and subdivisions by their names, for someone who wrote a name, not a code:
    ``{"unitedkingdom": ("GB", "United Kingdom"), "england": ("GB-ENG", "England"), ...}``."""
    names: dict[str, tuple[str, str]] = {}
    for entry in registry.COUNTRIES.values():
        entity = getattr(holidays, entry[0])
        for alias, code in getattr(entity, "subdivisions_aliases", {}).items():
            names.setdefault(_squeezed(alias), (f"{entry[1]}-{code}", alias))
        names[_squeezed(entry[0])] = (entry[1], re.sub(r"(?<=[a-z])(?=[A-Z])", " ", entry[0]))
    return names


def _squeezed(name: str) -> str:
    return "".join(name.split()).lower()


def _subdivision(entity: holidays.HolidayBase, text: str) -> str:
    country, listed = entity.country, list(entity.subdivisions)
    if not listed:
        raise ValueError(
            f"{country} has no subdivisions in the holidays package; write {country} alone"
        )
    codes = {code.upper(): code for code in listed}
    codes |= {alias.upper(): code for alias, code in entity.subdivisions_aliases.items()}
    wanted = text.strip().upper()
    if wanted in codes:
        return codes[wanted]
    close = difflib.get_close_matches(wanted, listed, n=3, cutoff=0.5)
    hint = f"; did you mean {_either([f'{country}-{c}' for c in close])}?" if close else ""
    shown = ", ".join(listed) if len(listed) <= 20 else f"{len(listed)} of them"
    raise ValueError(
        f"{country} has no subdivision {text.strip()!r}{hint} ({country}'s subdivisions: {shown})"
    )


def _either(options: list[str]) -> str:
    return options[0] if len(options) == 1 else ", ".join(options[:-1]) + " or " + options[-1]
