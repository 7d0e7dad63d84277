"""Log lines that customer text cannot forge, recolour or fill with mail.

Names, subjects, Message-IDs and reasons come from strangers and go into log lines. One CR or
LF in a subject would start a fake line ("2026-12-02 ERROR ..."), an ESC sequence would
recolour or clear the operator's terminal, a bidi override would reorder what they read. The
formatter escapes every such character in the message, visibly (``\\r``, ``\\n``, ``\\x1b``,
``\\u202e``), once, for every logger, so no call site has to remember it.

Libraries that log whole protocol exchanges at DEBUG (imapclient's IMAP lines, aiosmtplib's
and aiosmtpd's SMTP data, asyncio) would put customers' mail bodies in the log under ``-v``:
they stay at WARNING whatever the verbosity. Our own debug lines name a message by its
Message-ID (or content key) and size, never by what it says.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator

FORMAT = "%(asctime)s %(levelname)-7s %(message)s"
# Loggers that would carry mail content (protocol lines, message data) at DEBUG / INFO.
CONTENT_LOGGERS = ("imapclient", "aiosmtplib", "mail.log", "asyncio")
# Loggers whose detail is only wanted with -v, and holds no mail content.
CHATTY_LOGGERS = ("apscheduler",)

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# C0 and C1 controls and DEL; Unicode line and paragraph separators; bidi embeddings,
# overrides and isolates (they reorder what the terminal shows).
_UNSAFE = [*range(0x00, 0x20), *range(0x7F, 0xA0), 0x2028, 0x2029, *range(0x202A, 0x202F),
           *range(0x2066, 0x206A)]


def _escape(code: int) -> str:
    char = chr(code)
    if char in _NAMED:
        return _NAMED[char]
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


_ESCAPES = {code: _escape(code) for code in _UNSAFE}
_ESCAPES_KEEPING_LF = {code: text for code, text in _ESCAPES.items() if code != ord("\n")}


def escape_controls(text: str) -> str:
    """``text`` on one line: control and bidi characters written out as escapes."""
    return text.translate(_ESCAPES)


class SafeFormatter(logging.Formatter):
    """A Formatter whose message is one line with control characters escaped.

    A traceback (``exc_info``, ``stack_info``) keeps its line breaks, so it stays readable;
    any other control character in it (an exception quoting a subject) is escaped.
    """

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        return escape_controls(super().formatMessage(record))

    def formatException(self, ei: logging._SysExcInfoType) -> str:  # noqa: N802
        text = super().formatException(ei)
        # An exception's message may quote customer text: its line breaks are escaped too, or
        # "ValueError: bad subject\n2026-12-02 ERROR ..." would forge a line in the traceback.
        for message in _messages(ei[1]):
            text = text.replace(message, escape_controls(message))
        return text.translate(_ESCAPES_KEEPING_LF)

    def formatStack(self, stack_info: str) -> str:  # noqa: N802
        return super().formatStack(stack_info).translate(_ESCAPES_KEEPING_LF)


def _messages(exc: BaseException | None) -> Iterator[str]:
    """The messages, with line breaks, of ``exc`` and the exceptions chained to it."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        try:
            message = str(exc)
        except Exception:  # noqa: BLE001 - the traceback module prints a placeholder then
            message = ""
        if message != escape_controls(message):
            yield message
        exc = exc.__cause__ or exc.__context__


def setup(verbose: bool) -> None:
    """Root logging to standard error through :class:`SafeFormatter`."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(SafeFormatter(FORMAT))
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler])
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.WARNING)
    for name in CONTENT_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
