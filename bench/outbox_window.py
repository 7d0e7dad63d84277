"""How wide is the RFC 1047 window? Time from the relay's 250 to the agent's record of it.

A crash inside that window is the one way a mail can go out twice (README "Delivery
guarantees"): since the outbox queue (issue 11), the record is a rename into ``sent/`` and a
folder fsync, before the Sent-folder copy. This sends N acknowledgements through the real
pipeline, against a Dovecot (else pymap) and an aiosmtpd relay on loopback as the tests start
them, and prints the window's median and 99th percentile, with the whole per-mail cost beside
it (SMTP, the record, the Sent-folder copy).

    python bench/outbox_window.py [N]      (default 200; needs dovecot-imapd or pymap)
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from inbox_agent.adapters.store import Store
from inbox_agent.agent import cycle
from inbox_agent.core.ledger import OutboxEntry, OutboxEvent
from tests.servers import ImapAccount, SmtpSink, imap_kind, start_imap_server
from tests.worlds import customer_mail, server_settings


def main(count: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="inbox-agent-bench-"))
    root.chmod(0o755)
    server = start_imap_server(root / imap_kind(), imap_kind())
    sink = SmtpSink()
    sink.start()
    try:
        server.add_user("support@example.com", "bench-password")
        account = ImapAccount(
            server, "support@example.com", "bench-password", "support@example.com"
        )
        account.append(
            "Sent", customer_mail("Support <support@example.com>", "x", "x", datetime.now(UTC))
        )
        arrived = datetime.now(UTC) - timedelta(minutes=1)
        for n in range(count):
            account.append(
                "INBOX",
                customer_mail(f"C{n} <c{n}@customer.example>", f"Q{n}", "Hello", arrived),
                arrived,
            )
        os.environ["TEST_IMAP_PASSWORD"] = "bench-password"
        os.environ["TEST_SMTP_PASSWORD"] = "anything"
        data = root / "data"
        data.mkdir()
        settings = server_settings(data, account, sink)
        windows, per_mail = asyncio.run(_measure(settings))
    finally:
        sink.stop()
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
    print(f"{len(windows)} mails, IMAP server: {imap_kind()}")
    for name, values in (
        ("250 -> recorded (the window)", windows),
        ("whole send (SMTP, record, copy)", per_mail),
    ):
        ms = sorted(v * 1000 for v in values)
        print(
            f"  {name:<42} median {statistics.median(ms):6.2f} ms   "
            f"p99 {ms[int(len(ms) * 0.99) - 1]:6.2f} ms   max {ms[-1]:6.2f} ms"
        )


async def _measure(settings: cycle.Settings) -> tuple[list[float], list[float]]:
    real = cycle.real_adapters(settings)
    windows: list[float] = []
    per_mail: list[float] = []
    marks: dict[str, float] = {}

    class TimedMailer:
        def __init__(self, inner: cycle.Mailer) -> None:
            self.inner = inner

        async def send(self, raw: bytes, sender: str, recipients: list[str]) -> None:
            marks["start"] = time.perf_counter()
            await self.inner.send(raw, sender, recipients)
            marks["250"] = time.perf_counter()

        async def close(self) -> None:
            await self.inner.close()

    class TimedMailbox:
        def __init__(self, inner: cycle.Mailbox) -> None:
            self.inner = inner

        def __getattr__(self, name: str) -> object:
            return getattr(self.inner, name)

        async def append(self, folder: str, raw: bytes, at: datetime) -> None:
            await self.inner.append(folder, raw, at)
            if "start" in marks:
                per_mail.append(time.perf_counter() - marks.pop("start"))

    adapters = cycle.Adapters(
        mailbox=lambda m: TimedMailbox(real.mailbox(m)),  # type: ignore[arg-type, return-value]
        mailer=lambda m: TimedMailer(real.mailer(m)),
    )
    with Store(settings.agent.data_dir) as store:
        agent = cycle.Agent(settings, store, adapters, clock=lambda: datetime.now(UTC))
        original = store.outbox.move

        def move(entries: Iterable[OutboxEntry], event: OutboxEvent) -> None:
            original(entries, event)
            if event is OutboxEvent.ACCEPTED and "250" in marks:
                windows.append(time.perf_counter() - marks.pop("250"))

        store.outbox.move = move  # type: ignore[method-assign]
        await agent.run_cycle()
    return windows, per_mail


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
