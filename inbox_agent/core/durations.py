"""A length of time in words, in each language the shipped templates speak (en, de, fr).

For the manager's report and any template that says how long something took or is left:
"23 hours of business time", "promised by 17:00 (in 59 minutes)", "(2 hours ago)".

- Minutes and hours only, the way people say a wait: "1 hour and 5 minutes", "1 Stunde und
  5 Minuten", "1 heure et 5 minutes"; never "0 hours". Under a minute is "less than a minute"
  (never "0 minutes", which reads as if nothing happened).
- Relative to now: "in 59 minutes", "59 minutes ago", "now"; "in 59 Minuten", "vor 2
  Stunden", "jetzt"; "dans 59 minutes", "il y a 2 heures", "maintenant".
- French keeps a number and its unit on one line with a no-break space (U+00A0), as
  ``calendar_words`` does inside "16 h 30".
- A language tag reads as ``calendar_words.language_of`` reads it: anything not shipped is
  English.
"""

from __future__ import annotations

from inbox_agent.core.calendar_words import NBSP, language_of

# (one, more than one); German "in" and "vor" take the dative, which for these words is the
# same form ("vor 1 Stunde", "vor 2 Stunden").
_UNITS = {
    "en": {"hour": ("hour", "hours"), "minute": ("minute", "minutes")},
    "de": {"hour": ("Stunde", "Stunden"), "minute": ("Minute", "Minuten")},
    "fr": {"hour": ("heure", "heures"), "minute": ("minute", "minutes")},
}
_AND = {"en": "and", "de": "und", "fr": "et"}
_UNDER_A_MINUTE = {
    "en": "less than a minute",
    "de": "weniger als eine Minute",
    "fr": "moins d'une minute",
}
_NOW = {"en": "now", "de": "jetzt", "fr": "maintenant"}
_AHEAD = {"en": "in {}", "de": "in {}", "fr": "dans {}"}
_PAST = {"en": "{} ago", "de": "vor {}", "fr": "il y a {}"}


def duration_words(minutes: int, language: str | None = None) -> str:
    """``45 minutes``, ``1 hour``, ``3 hours and 15 minutes`` in ``language``."""
    if minutes < 0:
        raise ValueError(f"{minutes} minutes: a duration cannot be negative")
    lang = language_of(language)
    if minutes == 0:
        return _UNDER_A_MINUTE[lang]
    hours, rest = divmod(minutes, 60)
    parts = [_count(hours, "hour", lang)] if hours else []
    if rest:
        parts.append(_count(rest, "minute", lang))
    return f" {_AND[lang]} ".join(parts)


def relative_words(minutes_ahead: int, language: str | None = None) -> str:
    """``in 59 minutes`` for a moment ahead of now, ``2 hours ago`` for one past, ``now``."""
    lang = language_of(language)
    if minutes_ahead == 0:
        return _NOW[lang]
    pattern = _AHEAD[lang] if minutes_ahead >= 0 else _PAST[lang]
    return pattern.format(duration_words(abs(minutes_ahead), lang))


def _count(n: int, unit: str, lang: str) -> str:
    one, many = _UNITS[lang][unit]
    space = NBSP if lang == "fr" else " "  # French keeps a number with its unit on one line
    return f"{n}{space}{one if n == 1 else many}"
