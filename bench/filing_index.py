"""What filing costs as the live ledger grows: the lookups per folder and per message.

A ledger of N conversations (a customer's message, a staff reply, our acknowledgement each) is
held in memory; then one folder is filed as a cycle does: ``Filing`` is set up (the indexes),
and M new mails are filed, half replies into existing conversations, half new conversations
from customers we have mailed before (so triage's breakers look at their history). Printed:
the set-up time, the time per mail filed, and the machine. Nothing is committed or sent.

    python bench/filing_index.py [--conversations 5000] [--mails 200]
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from inbox_agent.adapters.base import FetchedMessage
from inbox_agent.adapters.memory import MemoryMailbox, MemoryMailer
from inbox_agent.adapters.store import Store
from inbox_agent.agent import cycle
from inbox_agent.agent.context import CycleReport
from inbox_agent.agent.filing import Filing
from inbox_agent.core.conversations import Conversation, FiledMessage, MailKind, Role, SentMail
from inbox_agent.core.lifecycle import Status
from tests.worlds import customer_mail, make_settings

NOW = datetime(2026, 11, 16, 10, 0, tzinfo=UTC)


def fill(store: Store, count: int) -> None:
    """``count`` answered conversations, each with our acknowledgement to its customer."""
    for n in range(count):
        token, at = f"T{n:05d}", NOW - timedelta(days=3, minutes=n)
        customer = f"c{n}@customer.example"
        conversation = Conversation(
            token, "support", customer, f"C {n}", f"Question {n}", at, Status.ANSWERED
        )
        conversation.messages += [
            FiledMessage(
                f"<m{n}@c>", f"<m{n}@c>", Role.CUSTOMER, at, customer, f"Question {n}", "INBOX"
            ),
            FiledMessage(
                f"<s{n}@c>",
                f"<s{n}@c>",
                Role.STAFF,
                at,
                "alice@example.com",
                f"Re: Question {n}",
                "Sent",
            ),
        ]
        conversation.sent.append(
            SentMail(f"<ack{n}@example.com>", MailKind.ACKNOWLEDGEMENT, customer, at)
        )
        store.ledger.conversations[token] = conversation


def mails(count: int, conversations: int) -> list[FetchedMessage]:
    """Half replies into existing conversations, half new ones from known customers."""
    step = max(1, conversations // max(1, count))
    fetched = []
    for k in range(count):
        n = (k * step) % conversations
        at = NOW - timedelta(minutes=count - k)
        extra = {"In_Reply_To": f"<ack{n}@example.com>"} if k % 2 else {}
        subject = f"Re: Question {n}" if k % 2 else f"Another question {k}"
        raw = customer_mail(f"c{n}@customer.example", subject, "Hello", at, **extra)
        fetched.append(FetchedMessage(k + 1, at, raw))
    return fetched


def measure(conversations: int, count: int) -> tuple[float, float]:
    """Seconds to set ``Filing`` up, and per mail filed."""
    with tempfile.TemporaryDirectory() as folder:
        settings = make_settings(Path(folder))
        with Store(settings.agent.data_dir) as store:
            fill(store, conversations)
            adapters = cycle.Adapters(
                mailbox=lambda _: MemoryMailbox(), mailer=lambda _: MemoryMailer()
            )
            agent = cycle.Agent(settings, store, adapters, clock=lambda: NOW)
            mailbox = settings.mailboxes[0]
            Filing(agent, mailbox, "INBOX")  # the first one builds what later ones reuse
            started = time.perf_counter()
            filing = Filing(agent, mailbox, "INBOX")
            setup = time.perf_counter() - started
            report = CycleReport()
            fetched = mails(count, conversations)
            started = time.perf_counter()
            for message in fetched:
                filing.file(message, NOW, report)
            per_mail = (time.perf_counter() - started) / count
            assert report.filed == count, report.summary()
    return setup, per_mail


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, nargs="+", default=[500, 5_000])
    parser.add_argument("--mails", type=int, default=200)
    args = parser.parse_args()
    print(
        f"{platform.python_implementation()} {platform.python_version()}, "
        f"{platform.machine()}, {platform.system()} {platform.release()}"
    )
    print(f"{'conversations':>14} {'Filing set-up':>14} {'per mail filed':>15}")
    for conversations in args.conversations:
        setup, per_mail = measure(conversations, args.mails)
        print(f"{conversations:>14,} {setup * 1e3:>11.2f} ms {per_mail * 1e3:>12.3f} ms")


if __name__ == "__main__":
    main()
