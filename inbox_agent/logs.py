"""Log lines that customer text cannot forge, recolour or fill with mail.

Names, subjects, Message-IDs and reasons come from strangers and go into log lines. One CR or
LF in a subject would start a fake line ("2026-12-02 ERROR ..."), an ESC sequence would
recolour or clear the operator's terminal, a bidi override would reorder what they read. The
formatter escapes every such character in the message, visibly (``\\r``, ``\\n``, ``\\x1b``,
``\\u202e``), once, for every logger, so no call site has to remember it.

``--log-format json`` writes one JSON object a line instead, for journald, Loki and the like:
``time`` (ISO 8601, UTC), ``level``, ``mailbox``, ``conversation`` (the token), ``event`` (what
happened: ``filed``, ``queued``, ``sent``, ...), ``message`` (the plain line's text, escaped
the same way), and ``traceback`` when there is one. The main call sites pass the fields with
``extra=logs.fields(...)``; elsewhere ``conversation`` is read from a leading ``[#TOKEN]``, and
what is not known is null.

Libraries that log whole protocol exchanges at DEBUG (imapclient's IMAP lines, aiosmtplib's
and aiosmtpd's SMTP data, asyncio) would put customers' mail bodies in the log under ``-v``:
they stay at WARNING whatever the verbosity. Our own debug lines name a message by its
Message-ID (or content key) and size, never by what it says.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from types import TracebackType
from typing import Literal

FORMAT = "%(asctime)s %(levelname)-7s %(message)s"
FORMATS = ("plain", "json")
LogFormat = Literal["plain", "json"]
# Loggers that would carry mail content (protocol lines, message data) at DEBUG / INFO.
CONTENT_LOGGERS = ("imapclient", "aiosmtplib", "mail.log", "asyncio")
# Loggers whose detail is only wanted with -v, and holds no mail content.
CHATTY_LOGGERS = ("apscheduler",)
# Loggers of libraries whose failures the agent handles: flufl.bounce logs each detector it
# runs (INFO) and a traceback when one breaks on a broken bounce, which core.bounce_text reads
# as nothing found.
HANDLED_LOGGERS = ("flufl.bounce",)

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# C0 and C1 controls and DEL; Unicode line and paragraph separators; bidi embeddings,
# overrides and isolates (they reorder what the terminal shows).
_UNSAFE = [
    *range(0x00, 0x20),
    *range(0x7F, 0xA0),
    0x2028,
    0x2029,
    *range(0x202A, 0x202F),
    *range(0x2066, 0x206A),
]


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

    def format(self, record: logging.LogRecord) -> str:
        # logging caches the traceback's text on the record for every handler after the
        # first: a plain Formatter's copy (pytest's capture, another library's handler) would
        # carry raw control characters into this line, so it is made again here, escaped.
        if record.exc_info:
            record.exc_text = None
        elif record.exc_text:
            record.exc_text = record.exc_text.translate(_ESCAPES_KEEPING_LF)
        return super().format(record)

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


def fields(
    event: str, mailbox: str | None = None, conversation: str | None = None
) -> dict[str, str | None]:
    """``extra=`` for a log call: what happened, and to which mailbox and conversation."""
    return {"event": event, "mailbox": mailbox, "conversation": conversation}


_LEADING_TOKEN = re.compile(r"\[#([2-9A-Z]{4,8})\]")


class JsonFormatter(SafeFormatter):
    """One JSON object a line; every text in it escaped as :class:`SafeFormatter` does."""

    def format(self, record: logging.LogRecord) -> str:
        message = escape_controls(record.getMessage())
        token = _LEADING_TOKEN.match(message)  # "[#K7Q2] ..." lines name their conversation
        line: dict[str, str | None] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "mailbox": _text(getattr(record, "mailbox", None)),
            "conversation": _text(
                getattr(record, "conversation", None) or (token.group(1) if token else None)
            ),
            "event": _text(getattr(record, "event", None)),
            "message": message,
        }
        if record.exc_info:
            line["traceback"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["traceback"] = record.exc_text.translate(_ESCAPES_KEEPING_LF)
        # ensure_ascii=False keeps names readable; the escaping above already wrote out every
        # character that could break or forge a line, and JSON escapes the line breaks left.
        return json.dumps(line, ensure_ascii=False)


def _text(value: object) -> str | None:
    return None if value is None else escape_controls(str(value))


def setup(verbose: bool, log_format: LogFormat = "plain") -> None:
    """Root logging to standard error through :class:`SafeFormatter`, or one JSON object a
    line (:class:`JsonFormatter`); in JSON, warnings and a crash's traceback are log lines
    too, so every line a reader parses is JSON."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else SafeFormatter(FORMAT))
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler])
    if log_format == "json":
        logging.captureWarnings(True)
        sys.excepthook = _log_crash
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.WARNING)
    for name in CONTENT_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in HANDLED_LOGGERS:
        logging.getLogger(name).setLevel(logging.CRITICAL)


def _log_crash(
    kind: type[BaseException], error: BaseException, traceback: TracebackType | None
) -> None:
    """An exception nobody caught, as a JSON line (the default hook prints plain text)."""
    logging.getLogger("inbox_agent").critical(
        "unexpected error: %s", error, exc_info=(kind, error, traceback), extra=fields("crash")
    )
