"""The deadline sweep over N open promises: what every 30-second sweep costs.

The sweep reads every running promise from the ledger and decides what each calls for now
(DESIGN.md: deadlines live in the database, one periodic sweep reads what is due). This fills
a ledger with N waiting conversations, each with a customer message, a sent acknowledgement
and a running promise spread over the next two weeks, and times, in-process:

- ``sweep`` at a moment when nothing is due (the usual 30-second tick): the first one after
  a start, and each one after it (the chase moment of a promise is worked out once), and
- ``next_chase`` (what the daemon says at start: the next follow-up or escalation).

    python bench/sweep.py                 # N = 1,000 and 10,000
    python bench/sweep.py 10000 50000

Target (issue 11): under 50 ms for 10,000 open promises. Prints figures; no threshold.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from inbox_agent.adapters.memory import MemoryMailbox, MemoryMailer
from inbox_agent.adapters.store import Store
from inbox_agent.agent import cycle
from inbox_agent.core.conversations import (
    Conversation,
    FiledMessage,
    MailKind,
    Promise,
    Role,
    SentMail,
)
from inbox_agent.core.lifecycle import Status
from inbox_agent.core.promises import chase_moment
from tests.worlds import make_settings

NOW = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)  # a Monday morning: nothing due yet


def fill(agent: cycle.Agent, count: int) -> None:
    for n in range(count):
        token = f"T{n:06d}"
        at = NOW - timedelta(minutes=n % 600)
        c = Conversation(
            token,
            "support",
            f"c{n}@customer.example",
            f"C {n}",
            f"Question {n}",
            at,
            Status.WAITING,
        )
        c.messages.append(
            FiledMessage(
                f"<m{n}@c>", f"<m{n}@c>", Role.CUSTOMER, at, c.customer, c.subject, "INBOX"
            )
        )
        c.sent.append(
            SentMail(
                f"<inbox-agent.{token}.acknowledgement.{n}@example.com>",
                MailKind.ACKNOWLEDGEMENT,
                c.customer,
                at,
            )
        )
        due = NOW + timedelta(days=1 + n % 14, hours=3, seconds=n)  # each its own moment
        c.promises.append(Promise(made_at=at, due=due, reason="first reply"))
        agent.ledger.conversations[token] = c


def timed(work: Callable[[], object], runs: int = 7) -> float:
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings) * 1000


def main(sizes: list[int]) -> None:
    print(f"{'open promises':>14} {'first sweep':>16} {'each one after':>17} {'next_chase':>12}")
    for count in sizes:
        with tempfile.TemporaryDirectory() as folder:
            settings = make_settings(Path(folder))
            adapters = cycle.Adapters(
                mailbox=lambda _: MemoryMailbox(), mailer=lambda _: MemoryMailer()
            )
            chase_moment.cache_clear()  # a fresh start: nothing remembered yet
            with Store(Path(folder) / "data") as store:
                agent = cycle.Agent(settings, store, adapters, clock=lambda: NOW)
                fill(agent, count)
                report = cycle.CycleReport()
                first = timed(partial(agent.sweep, NOW, report), runs=1)
                sweep_ms = timed(partial(agent.sweep, NOW, report))
                assert report.queued == 0, "something was due: the bench measured a chase"
                next_ms = timed(agent.next_chase)
                print(f"{count:>14,} {first:>13.1f} ms {sweep_ms:>14.1f} ms {next_ms:>9.1f} ms")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [1_000, 10_000])
