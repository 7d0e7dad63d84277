"""What a bounce reports on: the message that bounced, and the recipients that failed.

A delivery report names the original message in one of several places, tried in this order:
an ``Original-Message-ID`` / ``X-Original-Message-ID`` header; the returned message (a
``message/rfc822`` or ``text/rfc822-headers`` part); a ``Message-ID:`` line quoted in the text
(qmail, Exim); and last the report's own ``In-Reply-To``. Failed recipients come from
``X-Failed-Recipients`` and from the ``Original-Recipient`` (else ``Final-Recipient``) of the
delivery-status blocks whose action is ``failed``; a bounce with neither (qmail, Exchange 2003,
Yahoo and other bounces written only for a person) is read by GNU Mailman's detectors
(``core.bounce_text``). The comparison of the two on the shared corpus is in BENCHMARKS.md
("Bounce detectors").

Every function reads raw bytes, since the parsed ``InboundEmail`` keeps no MIME tree, and
never raises: a report too broken to read reports nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from email import policy
from email.message import Message
from email.parser import BytesParser, HeaderParser

from inbox_agent.core.bounce_text import MAX_FAILED, Failures, text_failures
from inbox_agent.core.message import address_pairs, header_keyword, parsed_part

_MSGID = re.compile(r"<[^<>\s]+>")


_ORIGINAL_ID_HEADERS = ("original-message-id", "x-original-message-id")
_INLINE_MSGID = re.compile(r"^[ \t>]*message-id:[ \t]*(<[^<>\s]+>)", re.IGNORECASE | re.MULTILINE)
_ENCLOSED = frozenset({"message/rfc822", "message/global"})
_HEADER_PARTS = frozenset({"text/rfc822-headers", "text/global-headers"})
_STATUS_PARTS = frozenset({"message/delivery-status", "message/global-delivery-status"})
_MAX_PARTS = 200


def bounced_message_ids(raw: bytes) -> tuple[str, ...]:
    """The Message-IDs of the message(s) a bounce (or other report) is about, in order found.

    Read from, in order: an ``Original-Message-ID`` / ``X-Original-Message-ID`` header; the
    headers of the returned message (``message/rfc822`` or ``text/rfc822-headers`` part); only
    when those give nothing, ``Message-ID:`` lines quoted in the text (bounces that paste the
    original inline: qmail, Exim, old sendmail); and last the bounce's ``In-Reply-To`` (Apache
    James, Verizon). The bounce's own Message-ID is never returned. Report parts inside an
    attached message (a bounce forwarded inside a bounce) are not entered.
    """
    try:
        msg = BytesParser(policy=policy.compat32).parsebytes(parsed_part(raw))
        own = set(_MSGID.findall(str(msg.get("message-id", ""))))
        found = list(_structured_ids(msg))
        if not found:
            found = list(_inline_ids(msg))
        if not found:  # some generators (Apache James, Verizon) only say In-Reply-To
            found = _MSGID.findall(str(msg.get("in-reply-to", "")))
        return tuple(dict.fromkeys(i for i in found if i not in own))
    except Exception:  # noqa: BLE001 - bounces are the worst-formed mail there is
        return ()


def failed_recipients(raw: bytes) -> tuple[str, ...]:
    """Addresses a bounce says could not be reached, lower-case, at most ``MAX_FAILED``: in
    the order stated, or sorted where the text detectors found them.

    What the bounce states as data (``stated_failures``); when it states none and has no
    delivery-status part that names a recipient we can read (delayed, delivered), what GNU
    Mailman's detectors read in its text for a person (``core.bounce_text``: qmail, Exchange
    2003, Yahoo, Domino, GMX and others, and reports whose delivery-status part is broken).
    """
    msg = _parsed(raw)
    if msg is None:
        return ()
    stated = _stated_failures(msg)
    if stated or _status_names_a_recipient(msg):
        return stated
    return _text_failures(msg, raw).permanent


def stated_failures(raw: bytes) -> tuple[str, ...]:
    """Failed addresses a bounce states as data, lower-case, in order, at most ``MAX_FAILED``.

    From ``X-Failed-Recipients`` and from each ``message/delivery-status`` recipient block whose
    ``Action`` is ``failed`` (or OpenSMTPD's ``error``; without an Action, whose Status is not
    2.x/4.x): its ``Original-Recipient`` (the address as we sent to it), else its
    ``Final-Recipient`` (a forward's target is not an address we wrote to). Delayed, delivered,
    relayed and expanded recipients are not failures.
    """
    msg = _parsed(raw)
    return () if msg is None else _stated_failures(msg)


_DELAY_WORDS = re.compile(
    r"delay|still (?:not |un)?deliver|will (?:continue to )?(?:retry|try)|warning|"
    r"temporar|not yet been delivered|deferred",
    re.IGNORECASE,
)


def reports_failure(raw: bytes) -> bool:
    """True when a bounce says delivery *failed*, not merely that it is late.

    A delivery-status report decides by its recipients' ``Action``: only ``failed`` ones count
    (a ``delayed`` notice is not a failure). A report without one, or whose delivery-status
    part names no recipient we can read (qmail, old sendmail, plain text, broken reports), is a
    failure unless its subject speaks of a delay or a retry, or Mailman's detectors find only
    delayed recipients in its text.
    """
    msg = _parsed(raw)
    if msg is None:
        return False
    if _stated_failures(msg):
        return True
    if _status_names_a_recipient(msg):
        return False
    text = _text_failures(msg, raw)
    return bool(text.permanent) or (not text.temporary and not _speaks_of_delay(msg))


def _text_failures(msg: Message, raw: bytes) -> Failures:
    """Mailman's reading of a report's text, where the subject has the last word on delay:
    its heuristics take a Postfix warning flattened to text ("Delayed Mail (still being
    retried)", then "<ana@example.com>: connect to ...") for a failure."""
    text = text_failures(raw)
    if text.permanent and _speaks_of_delay(msg):
        return Failures((), tuple(dict.fromkeys((*text.temporary, *text.permanent))))
    return text


def _speaks_of_delay(msg: Message) -> bool:
    try:
        return _DELAY_WORDS.search(str(msg.get("subject", ""))) is not None
    except Exception:  # noqa: BLE001 - a subject that cannot be read says nothing of a delay
        return False


def _parsed(raw: bytes) -> Message | None:
    try:
        return BytesParser(policy=policy.compat32).parsebytes(parsed_part(raw))
    except Exception:  # noqa: BLE001 - bounces are the worst-formed mail there is
        return None


def _stated_failures(msg: Message) -> tuple[str, ...]:
    try:
        found: dict[str, None] = {}
        for value in msg.get_all("x-failed-recipients") or []:
            found.update(dict.fromkeys(_addresses(str(value))))
        for part in _outer_parts(msg):
            if part.get_content_type() in _STATUS_PARTS:
                for block in _status_blocks(part):
                    if len(found) >= MAX_FAILED:
                        break
                    found.update(dict.fromkeys(_failed_in_block(block)))
        return tuple(found)[:MAX_FAILED]
    except Exception:  # noqa: BLE001 - bounces are the worst-formed mail there is
        return ()


def _status_names_a_recipient(msg: Message) -> bool:
    """True when a delivery-status part has a recipient block with an address we can read,
    whatever its Action: such a report says itself whether delivery failed."""
    try:
        return any(
            _recipient(block)
            for part in _outer_parts(msg)
            if part.get_content_type() in _STATUS_PARTS
            for block in _status_blocks(part)
        )
    except Exception:  # noqa: BLE001 - unreadable: no report part to go by
        return False


def _outer_parts(msg: Message) -> Iterator[Message]:
    """Every part of the report itself, depth first; enclosed messages are yielded, not entered."""
    stack = [msg]
    seen = 0
    while stack and seen < _MAX_PARTS:
        part = stack.pop()
        seen += 1
        yield part
        if part.get_content_type() in _ENCLOSED or part.get_content_type() in _STATUS_PARTS:
            continue
        payload = part.get_payload()
        if isinstance(payload, list):
            stack.extend(reversed([p for p in payload if isinstance(p, Message)]))


def _structured_ids(msg: Message) -> Iterator[str]:
    for name in _ORIGINAL_ID_HEADERS:
        for value in msg.get_all(name) or []:
            yield from _MSGID.findall(str(value))
    for part in _outer_parts(msg):
        if part is msg:
            continue
        content_type = part.get_content_type()
        if content_type in _ENCLOSED:
            enclosed = _enclosed_message(part)
            if enclosed is None:
                continue
            ids = _MSGID.findall(str(enclosed.get("message-id", "")))
            if not ids:  # headers cut short (a bad continuation line): the first quoted one
                ids = _INLINE_MSGID.findall(enclosed.as_string())[:1]
            yield from ids
        elif content_type in _HEADER_PARTS:
            headers = HeaderParser(policy=policy.compat32).parsestr(_text(part), headersonly=True)
            yield from _MSGID.findall(str(headers.get("message-id", "")))


def _enclosed_message(part: Message) -> Message | None:
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        return payload[0]
    text = _text(part)  # some generators base64-encode the enclosed message
    if not text:
        return None
    return HeaderParser(policy=policy.compat32).parsestr(text, headersonly=True)


def _inline_ids(msg: Message) -> Iterator[str]:
    for part in _outer_parts(msg):
        # text parts, and a multipart whose boundary never comes (all of it one text)
        if part.get_content_maintype() in ("text", "multipart") and not part.is_multipart():
            yield from _INLINE_MSGID.findall(_text(part))


def _text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        raw = part.get_payload()
        return raw if isinstance(raw, str) else ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:
        return payload.decode("utf-8", errors="replace")


def _status_blocks(part: Message) -> list[Message]:
    """The field blocks of a delivery-status part (per-message first, then per-recipient)."""
    payload = part.get_payload()
    if isinstance(payload, list) and all(isinstance(p, Message) for p in payload):
        blocks = list(payload)
        if any(b.get("final-recipient") or b.get("original-recipient") for b in blocks):
            return blocks
    text = _text(part).replace("\r\n", "\n").replace("\r", "\n")
    parser = HeaderParser(policy=policy.compat32)
    return [
        parser.parsestr(chunk.strip() + "\n", headersonly=True)
        for chunk in re.split(r"\n[ \t]*\n", text)
        if chunk.strip()
    ]


def _failed_in_block(block: Message) -> list[str]:
    action = header_keyword(str(block.get("action", "")))
    status = str(block.get("status", "")).strip()
    if action and action not in ("failed", "error"):  # error: OpenSMTPD's word for failed
        return []
    if not action and status[:1] in ("2", "4"):
        return []
    return _recipient(block)


def _recipient(block: Message) -> list[str]:
    """The address we sent to (Original-Recipient), else the one the report's server tried
    (Final-Recipient): one recipient, one address, as Mailman's DSN detector reads it."""
    for name in ("original-recipient", "final-recipient"):
        value = block.get(name)
        found = _addresses(str(value).rpartition(";")[2]) if value is not None else []
        if found:
            return found
    return []


def _addresses(value: str) -> list[str]:
    cleaned = (address.strip().strip("<>").lower() for _, address in address_pairs(value))
    return [address for address in cleaned if "@" in address]
