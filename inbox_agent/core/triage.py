"""For one incoming message: where it is filed and what it means for its conversation.

The checklist, in order (after GNU Mailman's reply bot: decide *before* anything is sent):

1. Seen before (same Message-ID, or same bytes where there is none)? Then it is already filed.
2. Could its MIME not be read at all (nested too deep)? File it for a person with the reason:
   the parts that would show a machine are the ones that could not be read.
3. Written by a machine (``machine_mail``)? File it with the reason, never answer it. A bounce
   is filed in the conversation whose mail it returns (the original Message-ID inside the
   report) and, when delivery failed, names the address that failed.
4. Written by staff? It answers the conversation it belongs to when it is addressed to the
   customer (To or Cc; the support address in Cc or Bcc). Staff mail that is not, such as a
   note to colleagues or a reply to the agent's escalation, is filed as a staff note: the
   customer is still waiting.
5. No address to answer? File it with the reason.
6. Otherwise a customer wrote: into their conversation, or a new one. Mail that was already
   older than ``skip_older_than`` when first seen is filed without an acknowledgement, and so
   is mail a circuit breaker holds back (``breakers``: a suspected loop, a suspected slow
   autoresponder, too much mail to one address or conversation in a day).
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from inbox_agent.core.bounces import bounced_message_ids, reports_failure
from inbox_agent.core.breakers import (
    Limits,
    Sent,
    Wrote,
    held_back,
    loop_suspected,
    slow_responder,
)
from inbox_agent.core.business_time import Calendar
from inbox_agent.core.conversations import Conversation, Links, Role, find_conversation
from inbox_agent.core.lifecycle import Event, Status
from inbox_agent.core.machine_mail import Identity, MachineVerdict, classify
from inbox_agent.core.message import InboundEmail
from inbox_agent.core.promises import PromisePolicy, too_old_to_acknowledge


class Outcome(StrEnum):
    """Where a message goes."""

    DUPLICATE = "duplicate"  # filed already: nothing to do
    SKIPPED = "skipped"  # filed outside any conversation, with a reason
    JOINED = "joined"  # filed into an existing conversation
    STARTED = "started"  # starts a new conversation
    IGNORED = "ignored"  # sent mail that belongs to no conversation: not ours to keep


@dataclass(frozen=True)
class Decision:
    """What to do with one incoming message."""

    outcome: Outcome
    role: Role
    conversation_id: str | None = None
    event: Event | None = None
    note: str = ""
    undeliverable: tuple[str, ...] = ()  # addresses a bounce says our mail failed to reach


@dataclass(frozen=True)
class Context:
    """What triage needs to know about the mailbox and what is already filed."""

    identity: Identity
    staff: frozenset[str]
    links: Links  # Message-IDs received and named -> conversation id
    conversations: Mapping[str, Conversation]  # by token
    known_keys: Container[str]  # every message key filed, in or out of conversations
    calendar: Calendar
    policy: PromisePolicy
    limits: Limits = field(default_factory=Limits)
    # For the breakers, by address: the agent's automatic mail to it, the conversations it
    # started. Indexes, so that one message costs its sender's history, not everyone's.
    sent_to: Mapping[str, Sequence[Sent]] = field(default_factory=dict)
    started_by: Mapping[str, Sequence[str]] = field(default_factory=dict)


# Rules whose mail reports on a message we sent: read the report for which one, and who failed.
BOUNCE_RULES = frozenset({"bounce-report", "failed-recipients", "bounce-sender", "bounce-subject"})
# Where a customer's message would be acknowledged (lifecycle), so a breaker may hold it back.
_ACKNOWLEDGED_FROM = frozenset({Status.NEW, Status.OPEN, Status.CLOSED})


def triage(email: InboundEmail, context: Context, now: datetime) -> Decision:
    """Decide where ``email`` is filed and which lifecycle event it is."""
    if email.key in context.known_keys:
        return Decision(Outcome.DUPLICATE, Role.CUSTOMER, note="already filed")
    conversation_id = find_conversation(email, context.links, context.conversations)
    not_a_customer = _unreadable(email, conversation_id) or _not_from_a_customer(
        email, context, conversation_id
    )
    if not_a_customer is not None:
        return not_a_customer
    event, note = _customer_event(email, context, now, conversation_id)
    if conversation_id is None:
        return Decision(Outcome.STARTED, Role.CUSTOMER, None, event, note)
    return Decision(Outcome.JOINED, Role.CUSTOMER, conversation_id, event, note)


def triage_sent(email: InboundEmail, context: Context) -> Decision:
    """A message in the Sent folder: staff answering from the shared mailbox, or our own copy.

    Whoever is in From (often the support address itself), a message in the Sent folder that is
    not the agent's own and belongs to a conversation is a staff reply.
    """
    if email.key in context.known_keys:
        return Decision(Outcome.DUPLICATE, Role.STAFF, note="already filed")
    conversation_id = find_conversation(email, context.links, context.conversations)
    if email.message_id and context.identity.made(email.message_id):
        return Decision(Outcome.IGNORED, Role.AGENT, conversation_id, note="the agent's own copy")
    if conversation_id is None:
        return Decision(Outcome.IGNORED, Role.STAFF, note="sent mail outside any conversation")
    return _staff_mail(email, context, conversation_id)


def _not_from_a_customer(
    email: InboundEmail, context: Context, conversation_id: str | None
) -> Decision | None:
    """Where machine mail, staff mail and unanswerable mail is filed; None for a customer's."""
    verdict = classify(email, context.identity)
    if verdict is not None and verdict.rule in BOUNCE_RULES:
        return _bounce(email, context, conversation_id, verdict)
    if verdict is not None:
        role = Role.AGENT if verdict.rule == "own-message" else Role.MACHINE
        return _file(conversation_id, role, None, verdict.reason)
    if email.from_address in context.staff:
        if conversation_id is None:
            return _file(None, Role.STAFF, None, "staff mail outside any conversation")
        return _staff_mail(email, context, conversation_id)
    if email.customer_address is None:
        return _file(conversation_id, Role.CUSTOMER, None, "no sender address that can be answered")
    return None


def _unreadable(email: InboundEmail, conversation_id: str | None) -> Decision | None:
    """Mail whose MIME could not be parsed: its headers were salvaged, but a machine's signs
    may sit in the parts that could not be read (a bounce's report), so a person looks first
    and nobody is answered."""
    unreadable = next((d for d in email.defects if d.startswith("unparseable")), None)
    if unreadable is None:
        return None
    return _file(
        conversation_id,
        Role.CUSTOMER,
        None,
        f"could not be read ({unreadable}); filed for a person, not answered",
    )


def _staff_mail(email: InboundEmail, context: Context, conversation_id: str) -> Decision:
    """A staff reply when it went to the customer; otherwise a note, and they still wait."""
    customer = context.conversations[conversation_id].customer
    if customer in (*email.to_addresses, *email.cc_addresses):
        return Decision(Outcome.JOINED, Role.STAFF, conversation_id, Event.STAFF_REPLIED)
    return Decision(
        Outcome.JOINED,
        Role.STAFF,
        conversation_id,
        None,
        "staff note: not addressed to the customer, who is still waiting",
    )


def _bounce(
    email: InboundEmail, context: Context, conversation_id: str | None, verdict: MachineVerdict
) -> Decision:
    """File a bounce with the conversation it returns, and say whose address failed."""
    reported = bounced_message_ids(email.raw)
    received = context.links.received
    ours = [i for i in reported if i in received]
    conversation_id = conversation_id or (received[ours[0]] if ours else None)
    failed: tuple[str, ...] = ()
    if conversation_id is not None and reports_failure(email.raw):
        sent = context.conversations[conversation_id].sent
        failed = tuple(dict.fromkeys(s.to for s in sent if s.message_id in reported))
    note = verdict.reason + (f"; delivery failed to {', '.join(failed)}" if failed else "")
    decision = _file(conversation_id, Role.MACHINE, None, note)
    return Decision(decision.outcome, decision.role, conversation_id, None, note, failed)


def _customer_event(
    email: InboundEmail, context: Context, now: datetime, conversation_id: str | None
) -> tuple[Event, str]:
    if too_old_to_acknowledge(email.arrived_at, now, context.calendar, context.policy):
        return (
            Event.CUSTOMER_WROTE_LONG_AGO,
            "already older than skip_older_than when first seen: not acknowledged",
        )
    reason = _breaker(email, context, now, conversation_id)
    if reason is not None:
        return Event.HELD_BACK, reason
    return Event.CUSTOMER_WROTE, ""


def _breaker(
    email: InboundEmail, context: Context, now: datetime, conversation_id: str | None
) -> str | None:
    """Why an acknowledgement this message would get is held back, if it is."""
    conversation = context.conversations.get(conversation_id) if conversation_id else None
    if conversation is not None and conversation.status not in _ACKNOWLEDGED_FROM:
        return None  # no acknowledgement is owed: nothing to hold back
    address = email.customer_address or ""
    sent = context.sent_to.get(address, ())
    if conversation is None:
        loop = loop_suspected(address, now, sent, context.limits)
        if loop is not None:
            return loop
    robot = _slow_responder(email, context, now, conversation is None)
    if robot is not None:
        return f"{robot}; filed for a person, not acknowledged"
    return held_back(address, conversation_id or "", now, sent, context.limits)


def _slow_responder(
    email: InboundEmail, context: Context, now: datetime, starts: bool
) -> str | None:
    """Rule 4 of ``breakers``, with this message counted as what its sender wrote."""
    address = email.customer_address or ""
    ours = context.sent_to.get(address, ())
    if not ours:  # nothing of ours to echo
        return None
    theirs = (
        context.conversations[c]
        for c in context.started_by.get(address, ())
        if c in context.conversations
    )
    wrote = [*customer_writing(theirs, address), Wrote(email.arrived_at, starts, email.subject)]
    return slow_responder(address, now, ours, wrote, context.limits)


def customer_writing(conversations: Iterable[Conversation], address: str) -> list[Wrote]:
    """What ``address`` wrote, as ``breakers`` rule 4 reads it: every conversation it started,
    and every later customer message filed into one of them (a reply)."""
    wrote: list[Wrote] = []
    for conversation in conversations:
        if conversation.customer == address:
            wrote.append(
                Wrote(conversation.created_at, True, conversation.subject, conversation.id)
            )
            wrote += [
                Wrote(m.arrived_at, started=False)
                for m in conversation.messages[1:]
                if m.role is Role.CUSTOMER
            ]
    return wrote


def _file(conversation_id: str | None, role: Role, event: Event | None, note: str) -> Decision:
    outcome = Outcome.SKIPPED if conversation_id is None else Outcome.JOINED
    return Decision(outcome, role, conversation_id, event, note)
