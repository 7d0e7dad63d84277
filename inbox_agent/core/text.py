"""Text from strangers made safe to show on one line, in a header, a log or a template."""

from __future__ import annotations

import re

_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_SPACES = re.compile(r"\s+")


def one_line(text: str) -> str:
    """Collapse all whitespace, CR and LF included, to single spaces, and drop the other
    control characters (NUL, ESC, ...): a header injection and terminal-escape guard."""
    return _SPACES.sub(" ", _CONTROLS.sub(" ", text)).strip()
