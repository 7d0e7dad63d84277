"""Address headers read the way RFC 5322 writes them, never from decoded text.

An attacker controls every byte of ``From``. The classic trick is an encoded display name that
*decodes* to an address or a header::

    From: =?utf-8?q?victim=40example.com?= <eve@example.net>
    From: =?UTF-8?Q?Eve=0D=0ABcc:_victim@example.com?= <eve@example.net>

Decode the header first and parse it after, as the agent used to, and the first one reads as
``victim@example.com``; the second has a ``:`` (a group) and a second address in it. RFC 2047
section 5 is explicit that an encoded-word is never part of an addr-spec, so this module works
on the header *as it arrived* (unfolded, nothing decoded):

1. The value is split into mailboxes at top-level ``,`` (and group ``name:`` ... ``;``
   syntax), skipping over quoted strings, comments, angle brackets and encoded-words, which
   are each one opaque token here: a ``,``, ``:`` or ``@`` inside them means nothing.
2. A mailbox with an angle-addr (``<...>``) has that as its address; without one the whole
   mailbox, comments removed, is the address (``eve@example.net (Eve)``). More than one
   angle-addr in one mailbox is malformed and yields no address.
3. An address must look like one (dot-atom or quoted local part, optional ``@`` domain, at
   most 254 characters) and never contains an encoded-word; otherwise it is ``""``.
4. Only then is the display name decoded (RFC 2047 words, quoted strings), and what comes out
   is made one line with every control character removed: it is text to show, never an address
   or a header.

The stdlib's ``email.utils.getaddresses`` is not used: it parses whatever text it is handed,
decoded or not, and its results changed between patch releases (CVE-2023-27043), so what the
agent answered would depend on the Python it runs on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.header import decode_header, make_header

from inbox_agent.core.text import one_line

MAX_ADDRESS_CHARS = 254  # RFC 5321's path limit, less the angle brackets
MAX_ADDRESSES = 100  # a To list longer than this is not a conversation; the rest is dropped
_ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_QUOTED = r'"(?:[^"\\\r\n]|\\.)*"'
_ADDR_SPEC = re.compile(
    rf"(?:{_ATOM}(?:\.{_ATOM})*|{_QUOTED})(?:@(?:{_ATOM}(?:\.{_ATOM})*|\[[^\[\]\\\s]*\]))?"
)
_PLAIN = re.compile(r'[^"(<,;:=]+')  # a run the splitter can take in one step
MAX_HEADER_CHARS = 64 * 1024  # past this an address header is an attack, not a To list


@dataclass
class _Mailbox:
    """One mailbox as the splitter saw it, nothing decoded yet."""

    phrase: list[str] = field(default_factory=list)  # text outside <>, quotes kept
    comments: list[str] = field(default_factory=list)
    angles: list[str] = field(default_factory=list)


def parse_address_list(value: str) -> list[tuple[str, str]]:
    """(display name, address) for each mailbox in a raw address header.

    ``value`` is the header as it arrived (folding allowed, nothing decoded). The address is
    ``""`` where a mailbox has none that can be trusted; the display name is decoded text on
    one line, for showing only."""
    pairs = [_pair(box) for box in _mailboxes(unfold(value[:MAX_HEADER_CHARS]))]
    return pairs[:MAX_ADDRESSES]


def unfold(value: str) -> str:
    """A header value on one line: folds removed, any stray CR or LF made a space."""
    return re.sub(r"[\r\n]", " ", re.sub(r"\r?\n(?=[ \t])", "", value))


def display_text(text: str) -> str:
    """Decoded words of a display name (or a comment), as one line of plain text."""
    try:
        decoded = str(make_header(decode_header(text)))
    except Exception:  # noqa: BLE001 - unknown charset, broken base64: show the raw text
        decoded = text
    return one_line(decoded)


def _pair(box: _Mailbox) -> tuple[str, str]:
    phrase = "".join(box.phrase).strip()
    if len(box.angles) > 1:
        return display_text(_unquote(phrase)), ""
    if box.angles:
        return display_text(_unquote(phrase)), _address(_strip_route(box.angles[0]))
    return display_text(" ".join(box.comments)), _address(phrase)


def _address(text: str) -> str:
    """The addr-spec when ``text`` is one (whitespace around it allowed), else ``""``."""
    candidate = text.strip()
    if (
        len(candidate) > MAX_ADDRESS_CHARS
        or _ENCODED_WORD.search(candidate)
        or _ADDR_SPEC.fullmatch(candidate) is None
    ):
        return ""
    return candidate


def _strip_route(angle: str) -> str:
    """``@relay,@relay2:eve@example.net`` -> ``eve@example.net`` (RFC 5322 obs-route)."""
    text = angle.strip()
    if text.startswith("@") and ":" in text:
        return text.rpartition(":")[2]
    return text


def _unquote(phrase: str) -> str:
    """A phrase's quoted strings as their text (``"Doe, Jane"`` -> ``Doe, Jane``)."""
    return re.sub(_QUOTED, lambda m: re.sub(r"\\(.)", r"\1", m.group(0)[1:-1]), phrase)


def _mailboxes(value: str) -> list[_Mailbox]:
    """Split ``value`` at top-level commas and group syntax; see the module docstring."""
    boxes = [_Mailbox()]
    i = 0
    while i < len(value):
        char, box = value[i], boxes[-1]
        if char == '"':
            end = _quoted_end(value, i)
            box.phrase.append(value[i:end])
            i = end
        elif char == "(":
            end = _comment_end(value, i)
            box.comments.append(value[i + 1 : end - 1])
            box.phrase.append(" ")
            i = end
        elif char == "<":
            end = value.find(">", i)
            end = len(value) if end < 0 else end
            box.angles.append(value[i + 1 : end])
            i = end + 1
        elif (word := _ENCODED_WORD.match(value, i)) is not None:
            box.phrase.append(word.group(0))
            i = word.end()
        elif char in ",;":
            boxes.append(_Mailbox())
            i += 1
        elif char == ":" and not box.angles:
            boxes[-1] = _Mailbox()  # a group's name is not an address: its members follow
            i += 1
        else:
            run = _PLAIN.match(value, i)
            end = run.end() if run is not None else i + 1
            box.phrase.append(value[i:end])
            i = end
    return [b for b in boxes if b.angles or "".join(b.phrase).strip() or b.comments]


def _quoted_end(value: str, start: int) -> int:
    """Index after the quoted string opening at ``start`` (or the end of an unclosed one)."""
    i = start + 1
    while i < len(value):
        if value[i] == "\\":
            i += 2
        elif value[i] == '"':
            return i + 1
        else:
            i += 1
    return len(value)


def _comment_end(value: str, start: int) -> int:
    """Index after the (possibly nested) comment opening at ``start``."""
    depth, i = 0, start
    while i < len(value):
        char = value[i]
        if char == "\\":
            i += 2
            continue
        depth += {"(": 1, ")": -1}.get(char, 0)
        i += 1
        if depth == 0:
            return i
    return len(value)
