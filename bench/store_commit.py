"""What one commit of the database costs as the working set grows.

TinyDB rewrites the whole file on every commit (DESIGN.md), so the cost grows with what the
database holds. Since the outbox became a queue folder (issue 11), a commit happens once per
chunk of mail filed and once per sweep, not per mail sent, and a commit that changes nothing
writes nothing. This fills a store with N conversations (a customer message, a staff reply
and one sent acknowledgement's record each), changes one conversation before each commit
(so that each one writes), and prints the file's size and the median time of a commit, fsync
included.

    python bench/store_commit.py
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from inbox_agent.adapters.store import DB_FILE, Store
from inbox_agent.core.conversations import (
    Conversation,
    FiledMessage,
    MailKind,
    Role,
    SentMail,
)
from inbox_agent.core.lifecycle import Status

NOW = datetime(2026, 11, 16, 10, 0, tzinfo=UTC)


def fill(store: Store, count: int) -> None:
    for n in range(count):
        token = f"T{n:05d}"
        at = NOW + timedelta(minutes=n)
        conversation = Conversation(
            token,
            "support",
            f"c{n}@customer.example",
            f"C {n}",
            f"Question {n}",
            at,
            Status.ANSWERED,
        )
        conversation.messages += [
            FiledMessage(
                f"<m{n}@c>",
                f"<m{n}@c>",
                Role.CUSTOMER,
                at,
                f"c{n}@customer.example",
                f"Question {n}",
                "INBOX",
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
        mid = f"<inbox-agent.{token}.acknowledgement.{n}@example.com>"
        conversation.sent.append(SentMail(mid, MailKind.ACKNOWLEDGEMENT, conversation.customer, at))
        store.ledger.conversations[token] = conversation


def main() -> None:
    print(f"{'conversations':>14} {'file':>9} {'commit (median of 5)':>22}")
    for count in (100, 1_000, 5_000):
        with tempfile.TemporaryDirectory() as folder, Store(Path(folder)) as store:
            fill(store, count)
            timings = []
            for n in range(5):
                store.ledger.conversations["T00000"].note(NOW, f"change {n}")
                started = time.perf_counter()
                store.commit()
                timings.append(time.perf_counter() - started)
            size = (Path(folder) / DB_FILE).stat().st_size
            print(f"{count:>14} {size / 1e6:>7.1f}MB {statistics.median(timings) * 1000:>19.1f} ms")


if __name__ == "__main__":
    main()
