"""Bounces with no delivery-status to read, read by GNU Mailman's detectors (``flufl.bounce``).

``core.bounces`` reads what a bounce states as data: the ``message/delivery-status`` part of an
RFC 3464 report and Exim's ``X-Failed-Recipients``. Many bounces state nothing as data, only as
text for a person: qmail's "Hi. This is the qmail-send program ... <ana@example.org>:",
Exchange 2003's, Yahoo's, GMX's, Lotus Domino's paragraphs. Mailman has gathered detectors for
those since 2000 and keeps them as the ``flufl.bounce`` library; this module hands them a bounce
and checks what they say. On the shared corpus they find failed recipients in 69 of the 181
bounces our reader finds none in (BENCHMARKS.md, "Bounce detectors").

``flufl.bounce`` (6.0, read whole) is pure parsing of an ``email.message.Message``: no file,
socket, clock or data file; at import it only compiles regular expressions. It logs each
detector it runs to the ``flufl.bounce`` logger, which ``logs.setup`` quietens. Two things are
done here because of how it reads:

* **Its input is bounded.** Several of its expressions backtrack quadratically on a long line
  (``\\S+@\\S+`` once "failed addresses follow:" was seen, LLNL's ``,\\s*\\S+@[^,]+,`` on every
  line): a 40,000-character line took 4 to 7 s, a megabyte-long one would take an hour. The
  detectors read a copy of the bounce's first ``MAX_TEXT_BYTES``, each part decoded to text
  with every line cut to ``MAX_LINE_CHARS``; the worst text we could write inside those bounds
  takes 0.7 s. A report's text comes first and its recipient lines are short; the returned
  message after it is left out (a copy is no report, and a bounce forwarded inside it is not
  about our mail).
* **Its output is hostile text.** What a detector returns is what a regular expression caught
  in text anyone can write; on the corpus: JSON fragments, file paths, ``@host``, an encoded
  word. Each must be one whole address by the rules our own reader's addresses follow
  (``core.addresses``), and at most ``MAX_FAILED`` are kept.

The detectors run in Mailman's order and stop at the first that finds anything; one that
raises (a bounce without a From made one fail with IndexError) leaves nothing found.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from email import policy
from email.message import Message
from email.parser import BytesParser
from typing import AnyStr

from flufl.bounce import all_failures

from inbox_agent.core.message import address_pairs

MAX_TEXT_BYTES = 64 * 1024  # what the detectors read of a bounce; the corpus needs under 4 KiB
MAX_LINE_CHARS = 512  # "<254-character address>: 550 5.1.1 reason" fits
MAX_FAILED = 100  # a bounce naming more is not about one mail to one customer
MAX_PARTS = 200
_ENCLOSED = frozenset({"message/rfc822", "message/global"})
_STATUS_PARTS = frozenset({"message/delivery-status", "message/global-delivery-status"})
_TEXT_TYPES = frozenset({"text", "multipart", "message"})  # a multipart leaf: no boundary came
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n|$)")


@dataclass(frozen=True)
class Failures:
    """Addresses a bounce's text says could not be reached: for good, or not yet."""

    permanent: tuple[str, ...] = ()
    temporary: tuple[str, ...] = ()


def text_failures(raw: bytes) -> Failures:
    """What Mailman's detectors find in ``raw``, each address checked; never raises."""
    try:
        temporary, permanent = all_failures(detector_view(raw))
    except Exception:  # noqa: BLE001 - heuristics over the worst-formed mail there is
        return Failures()
    return Failures(_checked(permanent), _checked(temporary))


def detector_view(raw: bytes) -> Message:
    """A bounded copy of ``raw`` for the detectors: see the module docstring."""
    head = raw[:MAX_TEXT_BYTES]
    if len(raw) > MAX_TEXT_BYTES:
        head = head[: head.rfind(b"\n") + 1] or head
    msg = BytesParser(policy=policy.compat32).parsebytes(_clip_lines(head))
    for count, part in enumerate(_parts(msg)):
        if part.is_multipart():
            continue
        readable = count < MAX_PARTS and part.get_content_maintype() in _TEXT_TYPES
        text = _clip_text(_decoded(part)) if readable else ""
        del part["content-transfer-encoding"]
        part.set_payload(text)
    return msg


def _parts(msg: Message) -> list[Message]:
    """Every part of ``msg``, depth first; an enclosed message and a delivery-status part
    are listed, not entered (the first is emptied, the second is data the DSN detector
    reads as it is)."""
    found: list[Message] = []
    stack = [msg]
    while stack:
        part = stack.pop()
        found.append(part)
        content_type = part.get_content_type()
        if content_type in _ENCLOSED:
            part.set_payload("")
        payload = part.get_payload()
        if content_type not in _STATUS_PARTS and isinstance(payload, list):
            stack.extend(reversed([p for p in payload if isinstance(p, Message)]))
    return found


def _decoded(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    try:
        return payload.decode(part.get_content_charset() or "utf-8", errors="replace")
    except LookupError:
        return payload.decode("utf-8", errors="replace")


def _clip_lines(data: bytes) -> bytes:
    """Every line of ``data`` cut to ``MAX_LINE_CHARS``, its line end kept."""
    return b"".join(_clip(line, line.rstrip(b"\r\n")) for line in data.splitlines(keepends=True))


def _clip_text(text: str) -> str:
    return "".join(_clip(line, line.rstrip("\r\n")) for line in _LINE.findall(text))


def _clip(line: AnyStr, content: AnyStr) -> AnyStr:
    return content[:MAX_LINE_CHARS] + line[len(content) :]


def _checked(found: Iterable[bytes]) -> tuple[str, ...]:
    """The detectors' catches that are each one whole address, lower-case, sorted."""
    kept: list[str] = []
    for item in sorted(found)[: MAX_FAILED * 10]:
        text = item.decode("ascii", errors="replace").strip().strip("<>").lower()
        if one_address(text):
            kept.append(text)
    return tuple(kept[:MAX_FAILED])


def one_address(text: str) -> bool:
    """True when ``text`` reads, by ``core.addresses``'s rules, as exactly itself: one
    address and nothing else (no display name, no second address, no control character)."""
    pairs = address_pairs(text)
    return "@" in text and len(pairs) == 1 and pairs[0][1].lower() == text
