"""``inbox-agent run``: the daemon in the foreground, ``--once`` a single cycle, ``--dry-run``
everything but sending."""

from __future__ import annotations

import argparse
import asyncio
import logging

from inbox_agent import logs
from inbox_agent.agent import cycle
from inbox_agent.commands.common import settings_of, templates_in_use

log = logging.getLogger("inbox_agent")


def main(args: argparse.Namespace) -> int:
    """Run until stopped (SIGTERM, SIGINT), or one cycle with ``--once``."""
    settings = settings_of(args)
    if not args.once:  # said as the daemon starts; run --once logs its cycle alone
        log.info("templates: %s", templates_in_use(settings), extra=logs.fields("templates"))
    asyncio.run(cycle.run(settings, once=args.once, dry_run=args.dry_run))
    return 0
