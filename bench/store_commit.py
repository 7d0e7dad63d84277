"""What one commit costs as the database grows (the outbox commits twice per mail sent).

TinyDB rewrites the whole file on every commit (DESIGN.md), so the cost grows with what is
kept. This fills a store with N conversations, each with a customer message, a staff reply
and one sent acknowledgement (with or without its bytes, which are dropped after 30 days),
and prints the file size and the median time of a commit, fsync included.

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
from inbox_agent.core.conversations import Conversation, FiledMessage, Role, SentMail
from inbox_agent.core.ledger import OutboxEntry
from inbox_agent.core.lifecycle import Status

RAW = b"From: support@example.com\r\n" + b"x" * 2_000  # about an acknowledgement's size


def fill(store: Store, count: int, keep_bytes: bool) -> None:
    now = datetime(2026, 11, 16, 10, 0, tzinfo=UTC)
    for n in range(count):
        token = f"T{n:05d}"
        at = now + timedelta(minutes=n)
        conversation = Conversation(token, "support", f"c{n}@customer.example", f"C {n}",
                                    f"Question {n}", at, Status.ANSWERED)
        conversation.messages += [
            FiledMessage(f"<m{n}@c>", f"<m{n}@c>", Role.CUSTOMER, at, f"c{n}@customer.example",
                         f"Question {n}", "INBOX"),
            FiledMessage(f"<s{n}@c>", f"<s{n}@c>", Role.STAFF, at, "alice@example.com",
                         f"Re: Question {n}", "Sent")]
        mid = f"<inbox-agent.{token}.acknowledgement.{n}@example.com>"
        conversation.sent.append(SentMail(mid, "acknowledgement", conversation.customer, at))
        store.ledger.conversations[token] = conversation
        store.ledger.outbox[mid] = OutboxEntry(mid, token, "support", "acknowledgement",
                                               conversation.customer,
                                               RAW if keep_bytes else b"", at, state="sent",
                                               sent_at=at)


def main() -> None:
    print(f"{'conversations':>14} {'bytes kept':>10} {'file':>9} {'commit (median of 5)':>22}")
    for count in (100, 1_000, 5_000):
        for keep_bytes in (True, False):
            with tempfile.TemporaryDirectory() as folder, Store(Path(folder)) as store:
                fill(store, count, keep_bytes)
                timings = []
                for _ in range(5):
                    started = time.perf_counter()
                    store.commit()
                    timings.append(time.perf_counter() - started)
                size = (Path(folder) / DB_FILE).stat().st_size
                print(f"{count:>14} {'yes' if keep_bytes else 'no':>10} "
                      f"{size / 1e6:>7.1f}MB {statistics.median(timings) * 1000:>19.1f} ms")


if __name__ == "__main__":
    main()
