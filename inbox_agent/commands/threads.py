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
from inbox_agent.commands.common import read_ledger, settings_of, token


def list_threads(args: argparse.Namespace) -> int:
    """``threads [--status S] [--json]``."""
    ledger = read_ledger(settings_of(args))
    chosen = views.select(ledger, args.status)
    if args.json:
        print(json.dumps([views.summary(c) for c in chosen], indent=2, ensure_ascii=False))
    else:
        print(views.threads_table(chosen, ledger.undeliverable))
    return 0


def show_thread(args: argparse.Namespace) -> int:
    """``thread ID [--json]``."""
    ledger = read_ledger(settings_of(args))
    conversation = ledger.conversations.get(token(args.id))
    if conversation is None:
        print(f"NotFound: no conversation {args.id!r}; `inbox-agent threads` lists them",
              file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(views.detail(conversation, ledger), indent=2, ensure_ascii=False))
    else:
        print(views.thread_text(conversation, ledger))
    return 0


def list_skipped(args: argparse.Namespace) -> int:
    """``skipped [--since AGE] [--json]``."""
    ledger = read_ledger(settings_of(args))
    since = system_clock() - args.since if args.since else None
    rows = views.skipped(ledger, since)
    print(json.dumps(rows, indent=2, ensure_ascii=False) if args.json
          else views.skipped_table(rows))
    return 0


def age(text: str) -> timedelta:
    """``7d``, ``24h``, ``30m`` or a mix, as clock time (not business time)."""
    parts = re.fullmatch(r"\s*(?:(\d+)\s*d)?\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m)?\s*",
                         text.lower())
    if not text.strip() or parts is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not an age; write e.g. 7d, 24h or 30m")
    days, hours, minutes = (int(p or 0) for p in parts.groups())
    return timedelta(days=days, hours=hours, minutes=minutes)
