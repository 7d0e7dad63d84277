"""The staff page's server-side time per page, with 1,000 open conversations (issue 16, item 6).

Fills a data_dir (``Store.commit()``, as the daemon writes it) with ``--open`` waiting
conversations (default 1,000: a customer message, our acknowledgement, a running promise;
one in ten lapsed, one in twenty escalated, one in fifty bounced), ``--done`` answered and
closed ones besides, machine mail filed without a reply, and ``--archived`` conversations put
into the archive (the report reads them), all within the last 30 days. Then it starts the web
app in-process on a real socket on 127.0.0.1 (aiohttp's ``TestServer``), logs in, and requests
each page ``--requests`` times (default 50): every filter of ``/conversations``, a search, one
conversation live and one archived, ``/report`` (30 and 366 days), and the template pages
when they exist (``/templates``, the acknowledgement's editor, a live preview POST with the
sample and with a real conversation, its history; a page that answers 404 is skipped).
Server side means from the first middleware to the response object made: the handler, the
session check, the page rendered; not the socket, not the client.

    python bench/web_pages.py
    python bench/web_pages.py --open 10000 --requests 20

Prints median, p95 and max per page, in ms. Target (issue 16): every page under ~100 ms on
the server with 1,000 open conversations. Prints figures; there is no threshold.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from inbox_agent.adapters.memory import MemoryMailbox, MemoryMailer
from inbox_agent.adapters.store import Store
from inbox_agent.agent import cycle
from inbox_agent.core.conversations import (
    Conversation,
    FiledMessage,
    MailKind,
    Outcome,
    Promise,
    Role,
    SentMail,
)
from inbox_agent.core.ledger import SkippedMessage, Undeliverable
from inbox_agent.core.lifecycle import Status
from inbox_agent.web.app import Backend, make_app
from inbox_agent.web.auth import Users
from tests.worlds import make_settings

NOW = datetime(2026, 11, 16, 11, 0, tzinfo=UTC)  # a Monday, open
PASSWORD = "correct horse battery"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def conversation(n: int, status: Status, tag: str) -> Conversation:
    """Conversation ``n``: a customer message and our acknowledgement with its promise, made
    within the last 30 days; answered or closed ones have the staff reply that kept it."""
    token = f"{tag}{n:06d}"
    at = NOW - timedelta(days=n % 29, minutes=n % 600)
    customer = f"c{n}{tag.lower()}@customer{n % 97}.example"
    c = Conversation(token, "support", customer, f"Customer {n}", f"Order {n} {tag}", at, status)
    c.messages.append(
        FiledMessage(
            f"<m{tag}{n}@c>", f"<m{tag}{n}@c>", Role.CUSTOMER, at, customer, c.subject, "INBOX"
        )
    )
    ack = f"<inbox-agent.{token}.acknowledgement.{n}@example.com>"
    c.sent.append(SentMail(ack, MailKind.ACKNOWLEDGEMENT, customer, at))
    if status is Status.WAITING:
        lapsed = n % 10 == 0
        due = NOW - timedelta(hours=1 + n % 5) if lapsed else NOW + timedelta(hours=1 + n % 30)
        c.promises.append(Promise(made_at=at, due=due, reason="first reply"))
        if n % 20 == 0:
            c.sent.append(SentMail(f"<esc.{token}@example.com>", MailKind.ESCALATION, customer, at))
    else:
        replied = at + timedelta(hours=1 + n % 7)
        c.promises.append(
            Promise(
                made_at=at,
                due=at + timedelta(hours=8),
                reason="first reply",
                outcome=Outcome.KEPT,
                settled_at=replied,
            )
        )
        c.messages.append(
            FiledMessage(
                f"<s{tag}{n}@x>",
                f"<s{tag}{n}@x>",
                Role.STAFF,
                replied,
                "staff@example.com",
                "Re: " + c.subject,
                "Sent",
            )
        )
    return c


def fill(store: Store, options: argparse.Namespace) -> str:
    """The data_dir's ledger and archive; a token of an open conversation."""
    ledger = store.ledger
    for n in range(options.open):
        c = conversation(n, Status.WAITING, "W")
        ledger.conversations[c.id] = c
        if n % 50 == 0:
            ledger.undeliverable[c.customer] = Undeliverable(
                c.customer, NOW, c.id, "550 no such user"
            )
    for n in range(options.done):
        c = conversation(n, Status.CLOSED if n % 3 == 0 else Status.ANSWERED, "D")
        ledger.conversations[c.id] = c
    notes = ("an auto-reply (mailing list)", "a bulk message (spam filter verdict)", "a bounce")
    for n in range(options.done):
        message = FiledMessage(
            f"<k{n}@m>",
            f"<k{n}@m>",
            Role.MACHINE,
            NOW - timedelta(hours=n),
            "robot@example.net",
            f"Newsletter {n}",
            "INBOX",
            note=notes[n % len(notes)],
        )
        ledger.skipped.append(SkippedMessage(message.key, "support", message))
    store.commit()
    archived = [conversation(n, Status.CLOSED, "A") for n in range(options.archived)]
    ledger.conversations.update((c.id, c) for c in archived)
    store.move_to_archive(archived, [], NOW)  # archive first, then out of the live store
    store.commit()
    return "W000001"


def timer(spent: list[float]) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    """A middleware outside every other: the server's time for each request, into ``spent``."""

    @web.middleware
    async def timing(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        try:
            return await handler(request)
        finally:
            spent.append((time.perf_counter() - started) * 1000)

    return timing


async def bench(options: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as folder:
        settings = make_settings(Path(folder))
        Users(settings.agent.data_dir).set_password("alice", PASSWORD)
        adapters = cycle.Adapters(
            mailbox=lambda _: MemoryMailbox(), mailer=lambda _: MemoryMailer()
        )
        with Store(settings.agent.data_dir) as store:
            token = fill(store, options)
            agent = cycle.Agent(settings, store, adapters, clock=lambda: NOW)

            async def apply() -> None:
                agent.apply_staff_requests()

            app = make_app(Backend(settings, lambda: agent.ledger, lambda: NOW, apply))
            spent: list[float] = []
            app.middlewares.insert(0, timer(spent))
            async with TestClient(TestServer(app, host="127.0.0.1")) as client:
                csrf = await log_in(client)
                print(
                    f"{options.open:,} open, {options.done:,} answered or closed, "
                    f"{options.archived:,} archived; {options.requests} requests a page"
                )
                print(f"{'page':<44} {'median':>8} {'p95':>8} {'max':>8}  bytes")
                for page in pages(token, csrf):
                    await measure(client, spent, page, options.requests)


Page = tuple[str, str, str, dict[str, str] | None]  # label, method, path, form


def pages(token: str, csrf: str) -> list[Page]:
    """(label, method, path, form) of every page measured."""
    listed = [
        (f"/conversations?filter={f}", "GET", f"/conversations?filter={f}", None)
        for f in ("open", "waiting", "due", "lapsed", "escalated", "bounced", "closed", "all")
    ]
    preview = {
        "csrf": csrf,
        "text": "Hello {{ customer_name }},\nwe will answer by {{ promised_by }}.\n",
    }
    return [
        *listed,
        (
            "/conversations?q=customer12 (search)",
            "GET",
            "/conversations?filter=all&q=customer12",
            None,
        ),
        (f"/conversations/{token}", "GET", f"/conversations/{token}", None),
        ("/conversations/A000001 (archived)", "GET", "/conversations/A000001", None),
        ("/report (30 days)", "GET", "/report", None),
        ("/report?since=366d", "GET", "/report?since=366d", None),
        ("/templates", "GET", "/templates", None),
        ("/templates/acknowledgement.txt.j2", "GET", "/templates/acknowledgement.txt.j2", None),
        (
            "POST .../acknowledgement.txt.j2/preview",
            "POST",
            "/templates/acknowledgement.txt.j2/preview",
            preview,
        ),
        (
            "POST .../preview, a real conversation",
            "POST",
            "/templates/acknowledgement.txt.j2/preview",
            {**preview, "conversation": token},
        ),
        (
            "/templates/acknowledgement.txt.j2/history",
            "GET",
            "/templates/acknowledgement.txt.j2/history",
            None,
        ),
    ]


async def measure(
    client: TestClient[web.Request, web.Application],
    spent: list[float],
    page: Page,
    count: int,
) -> None:
    """Request ``page`` ``count`` times; print the server's median, p95 and max."""
    label, method, path, data = page
    spent.clear()
    size = 0
    for _ in range(count):
        response = await client.request(method, path, data=data, allow_redirects=False)
        body = await response.read()
        if response.status == 404:
            print(f"{label:<44} skipped (404: not in this tree)")
            return
        assert response.status == 200, (label, response.status, body[:300])
        size = len(body)
    ordered = sorted(spent)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * len(ordered)) - 1)]
    print(
        f"{label:<44} {statistics.median(ordered):>6.1f}ms {p95:>6.1f}ms {ordered[-1]:>6.1f}ms"
        f"  {size:,}"
    )


async def log_in(client: TestClient[web.Request, web.Application]) -> str:
    """Log in as alice; the session's CSRF token."""
    form = await (await client.get("/login")).text()
    found = re.search(r'name="csrf" value="([^"]+)"', form)
    assert found
    data = {"csrf": found.group(1), "name": "alice", "password": PASSWORD}
    response = await client.post("/login", data=data, allow_redirects=False)
    assert response.status == 303
    listing = await (await client.get("/conversations")).text()
    found = re.search(r'name="csrf" value="([^"]+)"', listing)
    assert found
    return found.group(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--open", type=int, default=1_000, help="open conversations")
    parser.add_argument("--done", type=int, default=300, help="answered or closed, live")
    parser.add_argument("--archived", type=int, default=2_000, help="in the archive")
    parser.add_argument("--requests", type=int, default=50, help="requests a page")
    asyncio.run(bench(parser.parse_args()))


if __name__ == "__main__":
    main()
