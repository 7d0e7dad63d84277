"""How conversations are shown to staff: ``threads`` and ``thread ID``, as text or JSON.

The JSON fields are a contract (DESIGN.md): ``id``, ``status``, ``customer``, ``subject``,
``promised_by`` (ISO 8601 with offset, or null) and ``message_ids`` at least. The text views
show every moment the one way people read them everywhere (``wording.local_moment``): in the
business's time zone, named.
"""

from __future__ import annotations

from collections.abc import Container, Iterable
from datetime import datetime
from itertools import chain
from typing import Any
from zoneinfo import ZoneInfo

from inbox_agent.adapters.records import conversation_to_doc
from inbox_agent.core.conversations import Conversation, FiledMessage, Role
from inbox_agent.core.ledger import Ledger, SkippedMessage
from inbox_agent.core.wording import local_moment, local_time

STATUSES = ("open", "waiting", "answered", "closed", "all")
ARCHIVED_STATUSES = ("answered", "closed", "all")  # the statuses the archive holds


def select(
    ledger: Ledger, status: str, archived: Iterable[Conversation] = ()
) -> list[Conversation]:
    """Conversations with ``status`` ("all" for every one), live and ``archived`` (a live
    copy wins over an archived one), oldest first."""
    live = ledger.conversations
    every = chain(live.values(), (c for c in archived if c.id not in live))
    chosen = [c for c in every if status in ("all", c.status.value)]
    return sorted(chosen, key=lambda c: c.created_at)


def summary(conversation: Conversation, *, archived: bool = False) -> dict[str, Any]:
    """One conversation as ``threads --json`` lists it."""
    promised_by = conversation.promised_by
    return {
        "archived": archived,
        "id": conversation.id,
        "status": conversation.status.value,
        "customer": conversation.customer,
        "customer_name": conversation.customer_name,
        "subject": conversation.subject,
        "mailbox": conversation.mailbox,
        "created_at": conversation.created_at.isoformat(),
        "promised_by": promised_by.isoformat() if promised_by else None,
        "snoozed_until": (
            conversation.snoozed_until.isoformat() if conversation.snoozed_until else None
        ),
        "message_ids": conversation.message_ids,
    }


def detail(conversation: Conversation, ledger: Ledger) -> dict[str, Any]:
    """One conversation as ``thread ID --json`` shows it: messages, mail sent, promises."""
    doc = conversation_to_doc(conversation)
    for sent in doc["sent"]:
        entry = ledger.outbox.get(sent["message_id"])
        # A mail listed in the conversation but no longer in the outbox is done: sent.
        sent["state"] = entry.state if entry else "sent"
        sent["sent_at"] = entry.sent_at.isoformat() if entry and entry.sent_at else None
        sent["last_error"] = entry.last_error if entry else ""
    archived = conversation.id not in ledger.conversations
    return {**doc, **summary(conversation, archived=archived)}


def threads_table(
    conversations: list[Conversation], undeliverable: Container[str] = (), *, zone: ZoneInfo
) -> str:
    """A plain table for a terminal, moments in the business's ``zone``; a customer whose mail
    bounced is marked ``(bounced)``."""
    if not conversations:
        return "no conversations"
    rows = [("ID", "STATUS", "CUSTOMER", "PROMISED BY", "SUBJECT")]
    for c in conversations:
        due = c.promised_by
        customer = c.customer + (" (bounced)" if c.customer in undeliverable else "")
        rows.append(
            (
                c.id,
                c.status.value,
                customer,
                local_moment(due, zone) if due else "-",
                _cut(c.subject, 50),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join(
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4]
        for row in rows
    )


def thread_text(conversation: Conversation, ledger: Ledger, zone: ZoneInfo) -> str:
    """Everything about one conversation, for a person reading a terminal (moments in the
    business's ``zone``)."""
    data = detail(conversation, ledger)

    def shown(iso: str | None) -> str:  # a deadline: rounded up to its minute
        return _local(iso, zone)

    def happened(iso: str | None) -> str:  # a moment something happened: its minute
        return _local(iso, zone, happened=True)

    lines = [
        f"[#{data['id']}] {data['subject']}",
        f"customer: {data['customer_name']} <{data['customer']}>".strip(),
        f"status:   {data['status']}" + (" (archived)" if data["archived"] else ""),
        f"promised: {shown(data['promised_by'])}"
        + (f"  (snoozed until {shown(data['snoozed_until'])})" if data["snoozed_until"] else ""),
        "",
        "messages:",
    ]
    lines += [
        f"  {happened(m['arrived_at'])}  {m['role']:<8} {m['sender'] or '?'}  {m['subject']}"
        + (f"  ({m['note']})" if m["note"] else "")
        for m in data["messages"]
    ]
    lines += ["", "sent by the agent:"]
    lines += [
        f"  {happened(s['created_at'])}  {s['kind']:<16} to {s['to']}  [{s['state']}]"
        + (f" {s['last_error']}" if s["last_error"] else "")
        for s in data["sent"]
    ]
    if not data["sent"]:
        lines.append("  nothing")
    if data["notes"]:
        lines += ["", "notes:"]
        lines += [f"  {happened(n['at'])}  {n['text']}" for n in data["notes"]]
    lines += ["", "promises:"]
    lines += [
        f"  made {happened(p['made_at'])}  due {shown(p['due'])}  ({p['reason']}): "
        + _kept(p, zone)
        for p in data["promises"]
    ]
    if not data["promises"]:
        lines.append("  none")
    return "\n".join(lines)


def _kept(promise: dict[str, Any], zone: ZoneInfo) -> str:
    if promise["outcome"] is None:
        return "running"
    return f"{promise['outcome']} {_local(promise['settled_at'], zone, happened=True)}"


def _local(iso: str | None, zone: ZoneInfo, *, happened: bool = False) -> str:
    """A moment the JSON view holds as ISO 8601, as people read it; ``-`` for none."""
    if iso is None:
        return "-"
    word = local_time if happened else local_moment
    return word(datetime.fromisoformat(iso), zone)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def skipped(
    ledger: Ledger,
    since: datetime | None = None,
    archived_skipped: Iterable[SkippedMessage] = (),
    archived: Iterable[Conversation] = (),
) -> list[dict[str, Any]]:
    """Mail filed without an answer, and why, oldest first: ``inbox-agent skipped``.

    Machine mail (and our own mail come back) wherever it was filed, and customer mail that was
    held back (too old when first seen, a circuit breaker, no address to answer); live and
    archived (a live conversation wins over its archived copy).
    """
    live = ledger.conversations
    found: list[tuple[str | None, str, FiledMessage]] = [
        (None, s.mailbox, s.message) for s in chain(ledger.skipped, archived_skipped)
    ]
    for conversation in chain(live.values(), (c for c in archived if c.id not in live)):
        found += [
            (conversation.id, conversation.mailbox, m)
            for m in conversation.messages
            if m.role in (Role.MACHINE, Role.AGENT) or (m.role is Role.CUSTOMER and m.note)
        ]
    rows = [
        {
            "arrived_at": m.arrived_at.isoformat(),
            "mailbox": mailbox,
            "conversation": conversation_id,
            "role": m.role.value,
            "sender": m.sender,
            "subject": m.subject,
            "reason": m.note or "(no reason recorded)",
            "message_id": m.message_id,
        }
        for conversation_id, mailbox, m in found
        if since is None or m.arrived_at >= since
    ]
    return sorted(rows, key=lambda row: datetime.fromisoformat(row["arrived_at"]))


def skipped_table(rows: list[dict[str, Any]], zone: ZoneInfo) -> str:
    """``inbox-agent skipped`` for a terminal: one line a message, the reason last."""
    if not rows:
        return "nothing skipped"
    return "\n".join(
        f"{_local(row['arrived_at'], zone)}  "
        f"{'#' + row['conversation'] if row['conversation'] else '-':<6}"
        f"  {_cut(row['sender'] or '?', 32):<32}  {_cut(row['subject'], 40):<40}  {row['reason']}"
        for row in rows
    )
