"""Three weeks of a small shop's support mail, run through the real agent (the in-memory
mailbox and relay), for the report's tests and its screenshot.

Each business day of 2-20 November 2026 one to four customers write; staff answer some within
the half hour, some in three hours, some the next day (after the promise), and some never (the
agent follows up, then escalates); an out-of-office and a newsletter arrive too. The agent runs
every half hour of the day, as a daemon would, so the promises are made, chased and settled
by the real code.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path

from inbox_agent import config
from tests.worlds import LONDON, MemoryWorld, customer_mail, make_settings

FIRST_DAY = datetime(2026, 11, 2, tzinfo=LONDON)  # a Monday
DAYS = 19
NOW = datetime(2026, 11, 20, 18, 0, tzinfo=LONDON)
HOSTILE_SUBJECT = '<script>alert("x")</script><img src="http://example.invalid/x.png">Help'

_Event = tuple[datetime, bytes, str]


def three_weeks(data_dir: Path) -> tuple[config.Settings, datetime]:
    """The data_dir after three weeks; the settings and the moment it ends."""
    world = MemoryWorld(make_settings(data_dir))
    events = sorted(_events(), key=lambda e: e[0])
    for now in _cycle_moments():
        while events and events[0][0] <= now:
            arrived, raw, folder = events.pop(0)
            world.deliver(raw, arrived, folder)
        asyncio.run(world.run_once(now))
    return world.settings, NOW


def _business_days() -> list[datetime]:
    days = [FIRST_DAY + timedelta(days=n) for n in range(DAYS)]
    return [d for d in days if d.weekday() < 5]


def _cycle_moments() -> list[datetime]:
    return [
        day.replace(hour=8) + timedelta(minutes=30 * n)
        for day in (FIRST_DAY + timedelta(days=k) for k in range(DAYS))
        for n in range(21)
    ]


def _events() -> list[_Event]:
    events: list[_Event] = []
    for number, day in enumerate(_business_days()):
        for i in range(1 + (number * 7) % 4):
            events += _conversation(day, number, i)
        events.append(_machine(day, number))
    return events


def _conversation(day: datetime, number: int, i: int) -> list[_Event]:
    wrote = day.replace(hour=9, minute=10) + timedelta(hours=2 * i)
    customer = f"customer{number}x{i}@shop.example"
    subject = HOSTILE_SUBJECT if (number, i) == (2, 1) else f"Order {number * 10 + i}"
    raw = customer_mail(f"Customer {number}.{i} <{customer}>", subject, "Where is my order?", wrote)
    events: list[_Event] = [(wrote, raw, "INBOX")]
    delay = (timedelta(minutes=25), timedelta(hours=3), timedelta(days=1, hours=1), None)[
        (number + i) % 4
    ]
    if delay is not None:
        message_id = _message_id(raw)
        reply = customer_mail(
            "Alice <alice@example.com>",
            f"Re: {subject}",
            "On its way.",
            wrote + delay,
            To=customer,
            In_Reply_To=message_id,
        )
        events.append((wrote + delay, reply, "INBOX"))
    return events


def _machine(day: datetime, number: int) -> _Event:
    arrived = day.replace(hour=12, minute=40)
    if number % 2:
        raw = customer_mail(
            "Newsletter <news@list.example>",
            f"News {number}",
            "News",
            arrived,
            List_Id="<news.list.example>",
        )
    else:
        raw = customer_mail(
            "Bob <bob@away.example>",
            "Out of office",
            "Back Monday.",
            arrived,
            Auto_Submitted="auto-replied",
        )
    return arrived, raw, "INBOX"


def _message_id(raw: bytes) -> str:
    for line in raw.decode("utf-8").splitlines():
        if line.lower().startswith("message-id:"):
            return line.split(":", 1)[1].strip()
    raise ValueError("no Message-ID")
