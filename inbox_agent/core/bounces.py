"""What a bounce reports on: the message that bounced, and the recipients that failed.

A delivery report names the original message in one of several places, tried in this order:
an ``Original-Message-ID`` / ``X-Original-Message-ID`` header; the returned message (a
``message/rfc822`` or ``text/rfc822-headers`` part); a ``Message-ID:`` line quoted in the text
(qmail, Exim); and last the report's own ``In-Reply-To``. Failed recipients come from
``X-Failed-Recipients`` and from ``Original-Recipient`` / ``Final-Recipient`` of the
delivery-status blocks whose action is ``failed``.

Both functions read raw bytes, since the parsed ``InboundEmail`` keeps no MIME tree, and
never raise: a report too broken to read reports nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from email import policy
from email.message import Message
from email.parser import BytesParser, HeaderParser

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
    """Addresses a bounce says could not be reached, lower-case, in order.

    From ``X-Failed-Recipients`` and from each ``message/delivery-status`` recipient block whose
    ``Action`` is ``failed`` (or, without an Action, whose Status is not 2.x/4.x):
    ``Original-Recipient`` (the address as we sent to it) then ``Final-Recipient``. Delayed,
    delivered, relayed and expanded recipients are not failures.
    """
    try:
        msg = BytesParser(policy=policy.compat32).parsebytes(parsed_part(raw))
        found: list[str] = []
        for value in msg.get_all("x-failed-recipients") or []:
            found.extend(_addresses(str(value)))
        for part in _outer_parts(msg):
            if part.get_content_type() in _STATUS_PARTS:
                for block in _status_blocks(part):
                    found.extend(_failed_in_block(block))
        return tuple(dict.fromkeys(found))
    except Exception:  # noqa: BLE001 - bounces are the worst-formed mail there is
        return ()


_DELAY_WORDS = re.compile(
    r"delay|still (?:not |un)?deliver|will (?:continue to )?(?:retry|try)|warning|"
    r"temporar|not yet been delivered|deferred", re.IGNORECASE)


def reports_failure(raw: bytes) -> bool:
    """True when a bounce says delivery *failed*, not merely that it is late.

    A delivery-status report decides by its recipients' ``Action``: only ``failed`` ones count
    (a ``delayed`` notice is not a failure). A report without one (qmail, old sendmail, plain
    text) counts as a failure unless its subject speaks of a delay or a retry.
    """
    try:
        if failed_recipients(raw):
            return True
        msg = BytesParser(policy=policy.compat32).parsebytes(parsed_part(raw))
        if any(p.get_content_type() in _STATUS_PARTS for p in _outer_parts(msg)):
            return False
        return _DELAY_WORDS.search(str(msg.get("subject", ""))) is None
    except Exception:  # noqa: BLE001 - bounces are the worst-formed mail there is
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
    return [parser.parsestr(chunk.strip() + "\n", headersonly=True)
            for chunk in re.split(r"\n[ \t]*\n", text) if chunk.strip()]


def _failed_in_block(block: Message) -> list[str]:
    action = header_keyword(str(block.get("action", "")))
    status = str(block.get("status", "")).strip()
    if action and action != "failed":
        return []
    if not action and status[:1] in ("2", "4"):
        return []
    found: list[str] = []
    for name in ("original-recipient", "final-recipient"):
        value = block.get(name)
        if value is not None:
            found.extend(_addresses(str(value).rpartition(";")[2]))
    return found


def _addresses(value: str) -> list[str]:
    cleaned = (address.strip().strip("<>").lower() for _, address in address_pairs(value))
    return [address for address in cleaned if "@" in address]
