"""Raw bytes from the mail server -> :class:`InboundEmail`. Never raises.

Mail comes from the outside world, so anything may be wrong with it: no headers, a charset that
does not exist, an encoded-word that does not decode, a MIME tree that ends half way. Each header
and each part is read on its own; whatever cannot be read is recorded in ``defects`` and left
empty, so one bad header never hides the rest of the message.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import parsedate_to_datetime

from inbox_agent.core.addresses import parse_address_list, unfold
from inbox_agent.core.text import one_line

MAX_TEXT_CHARS = 20_000
# The stdlib parser peaks at about 8x the bytes it reads (it splits them into lines first), so
# it reads only the first few MB: headers, the text part and a bounce's report come first in
# any mail. The whole message is still hashed and kept in ``raw``.
MAX_PARSE_BYTES = 4 * 1024 * 1024
# A subject or name is quoted back to the customer and shown to staff; past these lengths it is
# noise (or an attack on the reply's size), so it is cut with an ellipsis.
MAX_SUBJECT_CHARS = 250
MAX_NAME_CHARS = 120
# A Message-ID is echoed in In-Reply-To and References and stored: it must be a sane msg-id
# (RFC 5322's characters: printable ASCII, no spaces or angle brackets; at most 998 octets, a
# header line's limit). The "@" RFC 5322 asks for is not required: real mailers omit it (the
# corpus has bounce services' ids without one) and threading on them is harmless.
MAX_MSGID_CHARS = 998
_MSGID = re.compile(rf"<[!-;=?-~]{{1,{MAX_MSGID_CHARS - 2}}}>")
_MSGID_SHAPE = re.compile(r"<[^<>]*>?")
# References are trimmed as mail clients trim them (RFC 5322 s3.6.4 keeps the first and the
# last): enough to thread by, and a References header of 50,000 ids costs nothing.
MAX_REFERENCES = 20
# Headers that hold addresses or Message-IDs are kept as they arrived (unfolded) and never
# decoded as a whole: an encoded-word never forms an addr-spec (RFC 2047 s5), and decoding
# first would let ``=?utf-8?q?victim=40example.com?=`` read as an address (core/addresses).
STRUCTURED_HEADERS = frozenset(
    {
        "from",
        "sender",
        "reply-to",
        "return-path",
        "to",
        "cc",
        "bcc",
        "delivered-to",
        "x-original-to",
        "resent-from",
        "resent-sender",
        "resent-to",
        "resent-cc",
        "errors-to",
        "x-failed-recipients",
        "message-id",
        "in-reply-to",
        "references",
    }
)
_LANGUAGE = re.compile(r"[a-z]{1,8}(?:-[a-z0-9]{1,8}){0,3}")
# What the agent will put in RCPT TO: an ASCII dot-atom local part and a dotted host name.
# Quoted local parts, address literals and non-ASCII (SMTPUTF8) addresses exist, but a relay
# refusing them would only bounce, so such mail is filed and left to staff.
_DELIVERABLE = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)


@dataclass(frozen=True)
class InboundEmail:
    """One message as the agent sees it: the headers it decides on and a text excerpt."""

    sha256: str
    arrived_at: datetime
    message_id: str | None = None
    in_reply_to: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    subject: str = ""
    from_address: str | None = None
    from_name: str = ""
    reply_to: str | None = None
    to_addresses: tuple[str, ...] = ()
    cc_addresses: tuple[str, ...] = ()
    date: datetime | None = None
    content_type: str = "text/plain"
    part_types: tuple[str, ...] = ()
    content_language: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    text: str = ""
    size: int = 0
    defects: tuple[str, ...] = field(default=())
    raw: bytes = field(default=b"", repr=False, compare=False)  # for reading bounce reports

    @property
    def key(self) -> str:
        """What makes two deliveries the same message: the Message-ID, else the content hash."""
        return self.message_id or f"sha256:{self.sha256}"

    @property
    def customer_address(self) -> str | None:
        """Where a reply goes: Reply-To where present, else From; with no From at all, the
        Return-Path (RFC 3834 section 4 answers there); None if nothing can be sent to."""
        return_path = None if self.from_address else self.return_path
        for candidate in (self.reply_to, self.from_address, return_path):
            if candidate and is_deliverable_address(candidate):
                return candidate
        return None

    @property
    def return_path(self) -> str | None:
        """The envelope sender the receiving server recorded; None for ``<>`` or none."""
        ids = [a for _, a in address_pairs(self.header("return-path") or "")]
        return normalise_address(ids[0]) if ids else None

    @property
    def thread_ids(self) -> tuple[str, ...]:
        """Message-IDs this message refers to, nearest first (In-Reply-To, then References)."""
        seen: dict[str, None] = {}
        for ref in (*self.in_reply_to, *reversed(self.references)):
            seen.setdefault(ref, None)
        return tuple(seen)

    def header(self, name: str) -> str | None:
        """The first value of a header (case-insensitive), or None."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key == wanted), None)

    def header_values(self, name: str) -> list[str]:
        """Every value of a header (case-insensitive)."""
        wanted = name.lower()
        return [value for key, value in self.headers if key == wanted]


def parse(raw: bytes, arrived_at: datetime) -> InboundEmail:
    """Parse a message from the server. Never raises; problems land in ``defects``.

    Mail whose MIME cannot be read at all (nested 2,000 deep: RecursionError) still keeps its
    bytes in ``raw`` and what its top-level headers say (sender, Message-ID, subject), so the
    copy kept for a person and ``skipped`` both show who wrote."""
    digest = hashlib.sha256(raw).hexdigest()
    defects: list[str] = []
    head = _head(raw, defects)
    try:
        # One parse serves everything: the default policy keeps each header's raw text in
        # raw_items() (as compat32 does) and gives get_body() for the text.
        msg: Message = BytesParser(policy=policy.default).parsebytes(head)
    except Exception as exc:  # noqa: BLE001 - the parser must never take the agent down
        defects.append(f"unparseable: {type(exc).__name__}: {str(exc)[:200]}")
        msg = _headers_only(head)
    readable = not any(d.startswith("unparseable") for d in defects)
    if not raw.strip():
        defects.append("empty message")
    headers = _read_headers(msg, defects)
    firsts: dict[str, str] = {}
    for name, value in headers:
        firsts.setdefault(name, value)
    first = firsts.get
    from_name, from_address = _first_address(first("from"))
    _, reply_to = _first_address(first("reply-to"))
    return InboundEmail(
        sha256=digest,
        arrived_at=arrived_at,
        message_id=_single_msgid(first("message-id")),
        in_reply_to=message_ids(first("in-reply-to"))[-MAX_REFERENCES:],
        references=_trimmed(message_ids(first("references"))),
        subject=_capped(one_line(first("subject") or ""), MAX_SUBJECT_CHARS),
        from_address=from_address,
        from_name=from_name,
        reply_to=reply_to,
        to_addresses=_all_addresses(headers, "to"),
        cc_addresses=_all_addresses(headers, "cc"),
        date=_date(first("date"), defects),
        content_type=_content_type(msg, defects),
        part_types=tuple(_part_types(msg, defects)) if readable else (),
        content_language=_language(first("content-language")),
        headers=tuple(headers),
        text=_plain_text(msg, defects) if readable else "",
        size=len(raw),
        defects=tuple(defects + [f"MIME: {type(d).__name__}" for d in msg.defects]),
        raw=raw,
    )


def parsed_part(raw: bytes) -> bytes:
    """What a parser may read of a message: all of it, or its first ``MAX_PARSE_BYTES`` (whole
    lines) when it is bigger."""
    if len(raw) <= MAX_PARSE_BYTES:
        return raw
    return raw[: raw.rfind(b"\n", 0, MAX_PARSE_BYTES) + 1 or MAX_PARSE_BYTES]


def _head(raw: bytes, defects: list[str]) -> bytes:
    head = parsed_part(raw)
    if len(head) < len(raw):
        defects.append(f"read in part: the first {len(head):,} of {len(raw):,} bytes")
    return head


def _headers_only(raw: bytes) -> Message:
    """The top-level headers alone, for mail whose body the parser cannot read."""
    try:
        return BytesParser(policy=policy.compat32).parsebytes(raw, headersonly=True)
    except Exception:  # noqa: BLE001 - nothing readable at all: no headers
        return Message()


def header_keyword(value: str) -> str:
    """The first token of a header value, lower-case: ``auto-replied (vacation)`` -> ..."""
    token = re.split(r"[\s;,(]", value.strip(), maxsplit=1)[0]
    return token.lower()


def address_pairs(value: str) -> list[tuple[str, str]]:
    """(display name, address) pairs of a raw address header (``core.addresses``); the
    address is ``""`` where a mailbox has none that can be trusted."""
    return parse_address_list(value)


def message_ids(value: str | None) -> tuple[str, ...]:
    """Every sane ``<id>`` in a Message-ID, In-Reply-To or References value; an id that is
    too long or has characters a msg-id cannot have is left out, never echoed or stored."""
    if not value:
        return ()
    found = (m.group(0) for m in _MSGID_SHAPE.finditer(value))
    return tuple(i for i in found if _MSGID.fullmatch(i))


def _trimmed(references: tuple[str, ...]) -> tuple[str, ...]:
    """The first reference (the thread's root) and the newest, at most ``MAX_REFERENCES``."""
    if len(references) <= MAX_REFERENCES:
        return references
    return (references[0], *references[-(MAX_REFERENCES - 1) :])


def _capped(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def is_deliverable_address(address: str) -> bool:
    """True for an address the agent can safely hand to an SMTP relay."""
    return len(address) <= 254 and _DELIVERABLE.fullmatch(address) is not None


def normalise_address(address: str | None) -> str | None:
    """Lower-case an address for comparison; None for anything that is not an address."""
    if not address or "@" not in address or len(address) > 256:
        return None
    return address.strip().strip("<>").lower()


def _read_headers(msg: Message, defects: list[str]) -> list[tuple[str, str]]:
    headers: list[tuple[str, str]] = []
    for name, value in msg.raw_items():
        key = name.lower()
        if key in STRUCTURED_HEADERS:
            text = value if isinstance(value, str) else str(value)
            headers.append((key, unfold(_valid_text(text, name, defects))))
        else:
            headers.append((key, _decode_header(name, value, defects)))
    return headers


def _decode_header(name: str, value: object, defects: list[str]) -> str:
    text = _valid_text(value if isinstance(value, str) else str(value), name, defects)
    try:
        return _valid_text(str(make_header(decode_header(text))), name, defects)
    except Exception:  # noqa: BLE001 - unknown charset or broken encoded-word: keep raw text
        defects.append(f"undecodable {name} header")
        return text


def _valid_text(text: str, where: str, defects: list[str]) -> str:
    """Text that can be encoded again: raw 8-bit bytes read as UTF-8, else replaced.

    The compat32 parser keeps undecodable 8-bit header bytes as lone surrogates; left in, they
    would break the first ``encode()`` downstream (a reply's subject, the JSON database).
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        defects.append(f"8-bit {where} not in UTF-8")
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return text


def _first_address(value: str | None) -> tuple[str, str | None]:
    """The first mailbox of a raw address header with a real address: (name, address)."""
    for name, address in address_pairs(value or ""):
        normal = normalise_address(address)
        if normal:
            return _capped(one_line(name), MAX_NAME_CHARS), normal
    return "", None


def _all_addresses(headers: list[tuple[str, str]], name: str) -> tuple[str, ...]:
    pairs = (pair for key, value in headers if key == name for pair in address_pairs(value))
    return tuple(dict.fromkeys(a for _, addr in pairs if (a := normalise_address(addr))))


def _single_msgid(value: str | None) -> str | None:
    ids = message_ids(value)
    return ids[0] if ids else None


def _date(value: str | None, defects: list[str]) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        defects.append("unreadable Date")
        return None
    return parsed if parsed.tzinfo is not None else None


def _language(value: str | None) -> str | None:
    """The first language tag of Content-Language, when it is one (``de-DE``); else None."""
    if not value:
        return None
    first = value.split(",")[0].strip().lower()[:40]
    return first if _LANGUAGE.fullmatch(first) else None


def _content_type(msg: Message, defects: list[str]) -> str:
    try:
        return msg.get_content_type()
    except Exception:  # noqa: BLE001 - a broken Content-Type reads as plain text (RFC 2045)
        defects.append("unreadable Content-Type")
        return "text/plain"


def _part_types(msg: Message, defects: list[str]) -> Iterator[str]:
    try:
        for part in msg.walk():
            yield part.get_content_type()
    except Exception:  # noqa: BLE001
        defects.append("unreadable MIME tree")


def _plain_text(msg: Message, defects: list[str]) -> str:
    """The first text/plain part (else text/html), decoded; empty when there is none."""
    try:
        if not isinstance(msg, EmailMessage):
            return ""
        body = msg.get_body(preferencelist=("plain", "html"))
        if body is None:
            return ""
        content = body.get_content()
    except Exception:  # noqa: BLE001 - bad charset, bad transfer encoding, broken multipart
        defects.append("unreadable body")
        return ""
    if not isinstance(content, str):
        return ""
    return _valid_text(content[:MAX_TEXT_CHARS], "body", defects)
