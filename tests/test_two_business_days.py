"""Two business days of a support mailbox on real servers, with the clock moved through them.

Dovecot (else pymap) holds the mailbox, aiosmtpd records what goes out, and the agent runs
``run --once`` every ``STEP`` of simulated time from Saturday to Wednesday evening, as the
daemon's sweep would. Customers write at all hours; staff answer some of them from the Sent
folder, some with the support address in Cc, and leave one a note that is not an answer.

What must hold, read from what went over the wire:

- every promise whose moment came within the run was either kept by a staff reply or, before
  it lapsed, followed by a mail from the agent with a new promise;
- nobody received the same mail twice, and each conversation was acknowledged once;
- every customer message is filed.
"""

from __future__ import annotations

import email.utils
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage

import pytest

from inbox_agent.core.conversations import Conversation, Role
from inbox_agent.core.promises import ESCALATED
from tests.worlds import ServerWorld, customer_mail, ledger, london, run, to_address

STEP = timedelta(minutes=15)
START, END = london(14, 0, 0), london(18, 18, 0)  # Saturday 00:00 to Wednesday 18:00
ALICE = "Alice <alice@example.com>"
MANAGER = "manager@example.com"
SENT_ID = re.compile(r"<inbox-agent\.(?P<token>[A-Z0-9]+)\.(?P<kind>[a-z_]+)\.")


@dataclass
class Event:
    """Something that happens at ``at``: mail arrives, or staff act on what they see."""

    at: datetime
    act: Callable[[ServerWorld], object]


def customer(name: str, subject: str, at: datetime, **headers: str) -> Event:
    raw = customer_mail(name, subject, f"{subject}, please help.", at, **headers)
    return Event(at, lambda world: world.deliver(raw, at))


def staff_reply(customer_address: str, at: datetime, *, via: str) -> Event:
    """Staff answer the customer's latest conversation, from the Sent folder or in Cc."""

    def act(world: ServerWorld) -> None:
        conversation = _conversation_of(world, customer_address)
        support = world.settings.mailboxes[0].address
        last = [m for m in conversation.messages if m.role is Role.CUSTOMER][-1]
        sender, folder, extra = (
            (f"Support <{support}>", "Sent", {})
            if via == "sent"
            else (ALICE, "INBOX", {"Cc": support})
        )
        raw = customer_mail(
            sender,
            f"Re: [#{conversation.id}] {conversation.subject}",
            "Here is what we found.",
            at,
            To=customer_address,
            In_Reply_To=str(last.message_id),
            **extra,
        )
        world.deliver(raw, at, folder)

    return Event(at, act)


def staff_note(customer_address: str, at: datetime) -> Event:
    """Alice writes to the team about it: filed, but the customer is still waiting."""

    def act(world: ServerWorld) -> None:
        conversation = _conversation_of(world, customer_address)
        support = world.settings.mailboxes[0].address
        raw = customer_mail(
            ALICE,
            f"Re: [#{conversation.id}] {conversation.subject}",
            "I will look at this tomorrow.",
            at,
            To=support,
        )
        world.deliver(raw, at)

    return Event(at, act)


def customer_reply(name: str, address: str, at: datetime) -> Event:
    """The customer replies to the last mail in their conversation, as a mail client does."""

    def act(world: ServerWorld) -> None:
        conversation = _conversation_of(world, address)
        raw = customer_mail(
            name,
            f"Re: [#{conversation.id}] {conversation.subject}",
            "One more thing.",
            at,
            In_Reply_To=conversation.message_ids[-1],
        )
        world.deliver(raw, at)

    return Event(at, act)


def _conversation_of(world: ServerWorld, address: str) -> Conversation:
    found = [c for c in ledger(world.settings).conversations.values() if c.customer == address]
    assert found, f"no conversation for {address}"
    return max(found, key=lambda c: c.created_at)


EVENTS = sorted(
    [
        customer("Old Customer <old@customer.example>", "From last month", london(2, 10, 0)),
        customer("Ben Okafor <ben@shop.example>", "Refund", london(14, 14, 0)),  # Saturday
        customer("Chloé Martin <chloe@client.example>", "Commande 88", london(15, 23, 50)),
        customer("Ana Silva <ana@customer.example>", "Order missing", london(16, 9, 15)),
        customer("Dev Patel <dev@firm.example>", "API keys", london(16, 13, 0)),
        customer("Eve Moreau <eve@home.example>", "Password reset", london(16, 22, 0)),
        staff_reply("ben@shop.example", london(16, 11, 0), via="sent"),
        staff_reply("chloe@client.example", london(16, 16, 30), via="cc"),  # after a follow-up
        staff_note("dev@firm.example", london(16, 14, 0)),
        staff_reply("dev@firm.example", london(17, 14, 0), via="sent"),
        customer_reply("Dev Patel <dev@firm.example>", "dev@firm.example", london(17, 15, 0)),
        customer_reply("Eve Moreau <eve@home.example>", "eve@home.example", london(17, 10, 0)),
        staff_reply("eve@home.example", london(18, 10, 0), via="cc"),
    ],
    key=lambda e: e.at,
)


@pytest.fixture
def world(server_world: ServerWorld) -> ServerWorld:
    """Real servers only: these stories are about what crosses the wire."""
    return server_world


def test_two_business_days_every_promise_is_kept_or_restated_in_time(world: ServerWorld) -> None:
    """Saturday to Wednesday evening, a run every 10 minutes: no promise lapses unannounced."""
    pending = list(EVENTS)
    now, runs = START, 0
    while now <= END:
        while pending and pending[0].at <= now:
            pending.pop(0).act(world)
        run(world, now)
        now, runs = now + STEP, runs + 1
    on_disk = ledger(world.settings)
    wire = _sent_by_conversation(world.sent())
    kinds = {
        c.customer: [kind for _, kind, to in wire[c.id] if to == c.customer]
        for c in on_disk.conversations.values()
    }
    assert kinds == {
        "old@customer.example": [],  # already older than skip_older_than: filed, open
        "ben@shop.example": ["acknowledgement"],  # answered from the Sent folder in time
        "chloe@client.example": ["acknowledgement", "follow_up"],  # answered after it
        "ana@customer.example": ["acknowledgement", "follow_up", "follow_up", "escalation_notice"],
        "dev@firm.example": ["acknowledgement", "follow_up", "follow_up"],  # wrote again
        "eve@home.example": ["acknowledgement", "follow_up"],
    }
    assert [to_address(m) for m in world.sent() if to_address(m) == MANAGER] == [MANAGER]
    message_ids = [str(m["Message-ID"]) for m in world.sent()]
    assert len(message_ids) == len(set(message_ids))  # nothing went out twice
    for message in world.sent():  # DESIGN.md "Outgoing mail", on every kind of mail
        assert message["Auto-Submitted"] == "auto-replied"
        assert message["X-Auto-Response-Suppress"] == "All"
        assert message["In-Reply-To"]
        assert message["References"]
        assert message["Date"]
        assert re.search(r"\[#[A-Z0-9]{4}\]", str(message["Subject"]))
    for conversation in on_disk.conversations.values():
        _each_promise_kept_or_restated_in_time(conversation, wire[conversation.id])
    customer_mail_filed = sum(
        1 for c in on_disk.conversations.values() for m in c.messages if m.role is Role.CUSTOMER
    )
    assert customer_mail_filed == 8
    print(
        f"\n{runs} runs from {START:%a %H:%M} to {END:%a %H:%M}; "
        f"{len(message_ids)} mails sent; every promise kept or restated in time"
    )


def _sent_by_conversation(sent: list[EmailMessage]) -> dict[str, list[tuple[datetime, str, str]]]:
    """(Date, kind, To) of every mail that went out, by conversation token."""
    by_token: dict[str, list[tuple[datetime, str, str]]] = defaultdict(list)
    for message in sent:
        match = SENT_ID.match(str(message["Message-ID"]))
        assert match, message["Message-ID"]
        when = email.utils.parsedate_to_datetime(str(message["Date"]))
        by_token[match["token"]].append((when, match["kind"], to_address(message)))
    return by_token


def _each_promise_kept_or_restated_in_time(
    conversation: Conversation, wire: list[tuple[datetime, str, str]]
) -> None:
    staff_replies = [m.arrived_at for m in conversation.messages if m.role is Role.STAFF]
    for promise in conversation.promises:
        if promise.due > END or promise.reason.startswith(ESCALATED):
            continue  # still running when the run ended, or the manager's to keep
        kept = any(promise.made_at <= at <= promise.due for at in staff_replies)
        restated = any(
            promise.made_at < at < promise.due
            and kind != "acknowledgement"
            and to == conversation.customer
            for at, kind, to in wire
        )
        assert kept or restated, (conversation.id, conversation.customer, promise)
