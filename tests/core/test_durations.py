"""Lengths of time in words, in English, German and French (``core.durations``)."""

from __future__ import annotations

import pytest

from inbox_agent.core.durations import duration_words, relative_words


@pytest.mark.parametrize(
    ("minutes", "language", "expected"),
    [
        (45, "en", "45 minutes"),
        (1, "en", "1 minute"),
        (60, "en", "1 hour"),
        (195, "en", "3 hours and 15 minutes"),
        (1380, "en", "23 hours"),
        (65, "de", "1 Stunde und 5 Minuten"),
        (120, "de-AT", "2 Stunden"),
        (1, "de", "1 Minute"),
        (65, "fr", "1\u00a0heure et 5\u00a0minutes"),
        (150, "fr-CH", "2\u00a0heures et 30\u00a0minutes"),
        (45, "pt", "45 minutes"),  # a language not shipped reads English
        (45, None, "45 minutes"),
    ],
)
def test_a_wait_in_words(minutes: int, language: str | None, expected: str) -> None:
    """Hours and minutes as people say them; never "0 hours"."""
    assert duration_words(minutes, language) == expected


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", "less than a minute"),
        ("de", "weniger als eine Minute"),
        ("fr", "moins d'une minute"),
    ],
)
def test_no_wait_is_never_zero_minutes(language: str, expected: str) -> None:
    """A wait under a minute does not read "0 minutes", as if nothing had happened."""
    assert duration_words(0, language) == expected


@pytest.mark.parametrize(
    ("minutes", "language", "expected"),
    [
        (59, "en", "in 59 minutes"),
        (-120, "en", "2 hours ago"),
        (0, "en", "now"),
        (59, "de", "in 59 Minuten"),
        (-60, "de", "vor 1 Stunde"),
        (-125, "de", "vor 2 Stunden und 5 Minuten"),
        (59, "fr", "dans 59\u00a0minutes"),
        (-120, "fr", "il y a 2\u00a0heures"),
        (0, "fr", "maintenant"),
    ],
)
def test_a_moment_relative_to_now(minutes: int, language: str, expected: str) -> None:
    """ "promised by 16:00 (in 59 minutes)", or how long ago it passed."""
    assert relative_words(minutes, language) == expected


def test_a_negative_wait_is_a_mistake() -> None:
    """A duration below zero is the caller's error, not a text."""
    with pytest.raises(ValueError, match="cannot be negative"):
        duration_words(-1)
