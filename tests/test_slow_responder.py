"""A slow autoresponder that looks like a person: recognised by its echoes, then left alone.

It has no Auto-Submitted, Precedence or list headers and a person's From; it answers each of
our mails two hours after it arrives, as a new conversation (no In-Reply-To or References,
the token stripped from the subject, its own prefix added). ``loop_window`` (1 h) cannot see
it. ``breakers`` rule 4 can: a new conversation on the subject of our mail to it, starting
within ``echo_window`` (4 h) after that mail, is an echo; from the second echo in 48 h nothing
automatic goes to it until 48 h after its last echo, or until it replies into a conversation.

Each story runs in memory and on real servers (Dovecot, else pymap, and an aiosmtpd relay); the
agent runs every 15 simulated minutes, as the daemon's sweep would, and what the relay received
is counted per address. London business hours, Mon-Fri 09:00-17:30, limits as shipped.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path

from tests.worlds import (
    MemoryWorld,
    World,
    by_recipient,
    customer_mail,
    ledger,
    london,
    make_settings,
    run,
    to_address,
)

STEP = timedelta(minutes=15)
ANSWERS_AFTER = timedelta(hours=2)
DESK = "Other Desk <help@otherdesk.example>"
DESK_ADDRESS = "help@otherdesk.example"
PAT = "Pat Lee <pat@person.example>"
PAT_ADDRESS = "pat@person.example"
MANAGER = "manager@example.com"
_TOKEN = re.compile(r"\[#[A-Z0-9]+\]\s*")


@dataclass
class SlowResponder:
    """Answers each of our mails to ``address`` ``ANSWERS_AFTER`` after the relay got it (seen
    after the run that sent it), as a new conversation; mail before ``wakes`` goes unanswered."""

    sender: str
    address: str
    wakes: datetime | None = None  # None: from the start
    heard: int = 0  # how many of the relay's mails it has looked at
    due: list[tuple[datetime, EmailMessage]] = field(default_factory=list)

    def hear(self, world: World, now: datetime) -> None:
        sent = world.sent()
        for mail in sent[self.heard :]:
            if to_address(mail) == self.address and (self.wakes is None or now >= self.wakes):
                self.due.append((now + ANSWERS_AFTER, mail))
        self.heard = len(sent)

    def answer(self, world: World, now: datetime) -> None:
        while self.due and self.due[0][0] <= now:
            at, ours = self.due.pop(0)
            subject = _TOKEN.sub("", str(ours["Subject"]))
            world.deliver(
                customer_mail(
                    self.sender,
                    f"Ticket received: {subject}",
                    "Thank you, your request has been logged.",
                    at,
                ),
                at,
            )


def simulate(
    world: World,
    start: datetime,
    end: datetime,
    responder: SlowResponder,
    mail: list[tuple[datetime, bytes]],
) -> None:
    """Run the agent every ``STEP`` from ``start`` to ``end``; ``mail`` arrives on time and the
    responder answers what reached it."""
    pending = sorted(mail)
    now = start
    while now <= end:
        while pending and pending[0][0] <= now:
            at, raw = pending.pop(0)
            world.deliver(raw, at)
        responder.answer(world, now)
        run(world, now)
        responder.hear(world, now)
        now += STEP


def cli(world: World, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "inbox_agent", "--config", str(world.settings.source), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def kinds(world: World, address: str) -> list[str]:
    """The kinds of mail the relay received for ``address``, from our Message-IDs."""
    return [str(m["Message-ID"]).split(".")[2] for m in by_recipient(world.sent())[address]]


def sent_at(world: World, address: str) -> list[datetime]:
    """When each mail to ``address`` was written (its Date header)."""
    return [parsedate_to_datetime(str(m["Date"])) for m in by_recipient(world.sent())[address]]


def test_a_slow_autoresponder_gets_two_mails_in_48_hours_and_a_person_two_acknowledgements(
    world: World,
) -> None:
    """Monday 09:00 to Wednesday 09:00. The desk writes once and then answers everything we
    send it two hours later; Pat writes about two things, the second 2.5 h after our
    acknowledgement of the first. Without rule 4 the desk got 10 mails in these 48 h
    (per_address_per_day stopped it, not the pattern); with it, 2: the acknowledgement of its
    first mail and of its first echo. Its second echo is filed open with the reason, and the
    follow-ups its two waiting conversations are owed are held. Pat gets both
    acknowledgements and every follow-up."""
    start = london(16, 9, 0)
    desk = SlowResponder(DESK, DESK_ADDRESS)
    first = customer_mail(DESK, "Order 5512", "Where is my order?", start)
    question = customer_mail(PAT, "Invoice address", "Please change it.", london(16, 10, 0))
    other = customer_mail(PAT, "Gift wrapping", "Can you wrap order 88?", london(16, 12, 45))
    simulate(
        world,
        start,
        start + timedelta(hours=48),
        desk,
        [(start, first), (london(16, 10, 0), question), (london(16, 12, 45), other)],
    )

    assert kinds(world, DESK_ADDRESS) == ["acknowledgement", "acknowledgement"]
    assert kinds(world, PAT_ADDRESS) == [
        "acknowledgement",
        "acknowledgement",
        "follow_up",
        "follow_up",
        "follow_up",
    ]
    assert MANAGER not in by_recipient(world.sent())
    on_disk = ledger(world.settings)
    desks = sorted(
        (c for c in on_disk.conversations.values() if c.customer == DESK_ADDRESS),
        key=lambda c: c.created_at,
    )
    assert [c.status.value for c in desks] == ["waiting", "waiting", "open"]
    held = [n.text for c in desks[:2] for n in c.notes]
    assert len(held) == 2
    assert all(
        n.startswith(
            "follow-up held back: suspected slow autoresponder: "
            "help@otherdesk.example started 2 new conversations on the "
            "subject of our automatic mail to it"
        )
        for n in held
    )
    skipped = [r for r in json.loads(cli(world, "skipped", "--json")) if r["role"] == "customer"]
    assert [(r["sender"], r["conversation"]) for r in skipped] == [(DESK_ADDRESS, desks[2].id)]
    assert skipped[0]["reason"].endswith(
        "until it replies in a conversation, or until 2026-11-18 13:00 UTC if it echoes no "
        "more; filed for a person, not acknowledged"
    )
    assert "follow-up held back: suspected slow autoresponder" in cli(world, "thread", desks[0].id)


def test_the_manager_still_hears_of_a_slow_responder_and_a_reply_lifts_the_hold(
    world: World,
) -> None:
    """The desk answers nothing at first: its conversation gets both follow-ups. Then it starts
    echoing (the second follow-up, then our acknowledgement of that echo) and is held. When
    the first conversation escalates, the manager's report goes and the desk's notice does
    not. When it replies into a conversation, as a person would, the hold ends: the follow-up
    held in its second conversation goes."""

    def deliver(subject: str, at: datetime, **headers: str) -> None:
        world.deliver(customer_mail(DESK, subject, "Thank you.", at, **headers), at)
        run(world, at)

    deliver("Order 5512", london(16, 9, 0))
    run(world, london(16, 16, 0))  # follow-up 1
    run(world, london(17, 15, 30))  # follow-up 2
    deliver("Ticket received: Re: Order 5512", london(17, 17, 30))  # echo 1: acknowledged
    deliver(
        "Ticket received: Re: Ticket received: Re: Order 5512", london(17, 19, 30)
    )  # echo 2: held
    run(world, london(18, 15, 0))  # the escalation of the first
    run(world, london(18, 16, 0))  # the follow-up of the second, held
    assert kinds(world, DESK_ADDRESS) == [
        "acknowledgement",
        "follow_up",
        "follow_up",
        "acknowledgement",
    ]
    assert kinds(world, MANAGER) == ["escalation"]
    first, second, third = sorted(
        (c for c in ledger(world.settings).conversations.values()), key=lambda c: c.created_at
    )
    assert third.status.value == "open"
    assert first.notes[-1].text.startswith(
        "escalation notice held back: suspected slow autoresponder: help@otherdesk.example"
    )
    assert second.notes[-1].text.startswith("follow-up held back: suspected slow autoresponder")

    ack = by_recipient(world.sent())[DESK_ADDRESS][0]
    deliver("Re: Order 5512", london(18, 16, 30), In_Reply_To=str(ack["Message-ID"]))
    assert kinds(world, DESK_ADDRESS)[4:] == ["follow_up"]


def test_over_five_days_a_slow_responder_never_gets_more_than_two_mails_in_48_hours(
    tmp_path: Path,
) -> None:
    """Monday 09:00 to Saturday 09:00, in memory (480 runs: on the servers it would take
    a minute).
    When the hold runs out, 48 h after the last echo, the follow-ups its two conversations are
    owed go; their echoes hold it again at once. Its other conversations were never promised
    anything. So two mails every two days or so, never three in any 48 h."""
    world = MemoryWorld(make_settings(tmp_path))
    start = london(16, 9, 0)
    first = customer_mail(DESK, "Order 5512", "Where is my order?", start)
    simulate(
        world, start, start + timedelta(days=5), SlowResponder(DESK, DESK_ADDRESS), [(start, first)]
    )
    moments = sent_at(world, DESK_ADDRESS)
    assert kinds(world, DESK_ADDRESS) == ["acknowledgement", "acknowledgement"] + ["follow_up"] * 4
    assert max(sum(1 for t in moments if m <= t < m + timedelta(hours=48)) for m in moments) == 2
