"""``inbox-agent run``: the daemon in the foreground, ``--once`` a single cycle, ``--dry-run``
everything but sending."""

from __future__ import annotations

import argparse
import asyncio

from inbox_agent.agent import cycle
from inbox_agent.commands.common import settings_of


def main(args: argparse.Namespace) -> int:
    """Run until stopped (SIGTERM, SIGINT), or one cycle with ``--once``."""
    asyncio.run(cycle.run(settings_of(args), once=args.once, dry_run=args.dry_run))
    return 0
