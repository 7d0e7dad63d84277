"""``inbox-agent threads``, ``thread ID`` and ``skipped``: what the agent has filed, read from
the last commit (they work while the daemon runs)."""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import timedelta

from inbox_agent.agent.cycle import system_clock
from inbox_agent.commands import views
from inbox_agent.commands.common import read_store, settings_of, token


def list_threads(args: argparse.Namespace) -> int:
    """``threads [--status S] [--json]``: the live store, and the archive where the status
    asked for is one archived conversations have (answered, closed, all). Without a status:
    the live store alone, the work in hand."""
    settings = settings_of(args)
    store = read_store(settings)
    archived = (
        store.archive.all_conversations() if args.status in views.ARCHIVED_STATUSES else iter(())
    )
    chosen = views.select(store.ledger, args.status or "all", archived)
    if args.json:
        print(
            json.dumps(
                [views.summary(c, archived=c.id not in store.ledger.conversations) for c in chosen],
                indent=2,
                ensure_ascii=False,
            )
        )
    else:
        print(
            views.threads_table(chosen, store.ledger.undeliverable, zone=settings.calendar.timezone)
        )
    return 0


def show_thread(args: argparse.Namespace) -> int:
    """``thread ID [--json]``, live or archived."""
    settings = settings_of(args)
    store = read_store(settings)
    wanted = token(args.id)
    conversation = store.ledger.conversations.get(wanted) or store.archive.conversation(wanted)
    if conversation is None:
        print(
            f"NotFound: no conversation {args.id!r}; `inbox-agent threads --status all` lists them",
            file=sys.stderr,
        )
        return 1
    if args.json:
        print(json.dumps(views.detail(conversation, store.ledger), indent=2, ensure_ascii=False))
    else:
        print(views.thread_text(conversation, store.ledger, settings.calendar.timezone))
    return 0


def list_skipped(args: argparse.Namespace) -> int:
    """``skipped [--since AGE] [--json]``, the archive's included."""
    settings = settings_of(args)
    store = read_store(settings)
    since = system_clock() - args.since if args.since else None
    rows = views.skipped(
        store.ledger,
        since,
        store.archive.all_skipped(since),
        store.archive.all_conversations(since),
    )
    print(
        json.dumps(rows, indent=2, ensure_ascii=False)
        if args.json
        else views.skipped_table(rows, settings.calendar.timezone)
    )
    return 0


def age(text: str) -> timedelta:
    """``7d``, ``24h``, ``30m`` or a mix, as clock time (not business time)."""
    parts = re.fullmatch(r"\s*(?:(\d+)\s*d)?\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m)?\s*", text.lower())
    if not text.strip() or parts is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not an age; write e.g. 7d, 24h or 30m")
    days, hours, minutes = (int(p or 0) for p in parts.groups())
    return timedelta(days=days, hours=hours, minutes=minutes)
