"""``inbox-agent close ID``, ``reopen ID`` and ``snooze ID --until WHEN``: at once when the store
is free, else queued for the running daemon."""

from __future__ import annotations

import argparse
import getpass
from datetime import datetime

from inbox_agent.adapters.store import StaffRequest
from inbox_agent.agent import staff
from inbox_agent.agent.cycle import system_clock
from inbox_agent.commands.common import settings_of, token
from inbox_agent.config import Settings


def main(args: argparse.Namespace) -> int:
    """Carry out (or queue) the staff command and say what happened."""
    print(carry_out(settings_of(args), args.command, token(args.id), args.until, system_clock()))
    return 0


def carry_out(
    settings: Settings, command: str, conversation_id: str, until: str | None, now: datetime
) -> str:
    """``command`` on ``conversation_id``, now if the store is free, else via the daemon."""
    moment = staff.parse_until(until, settings.calendar, now) if until else None
    asked = StaffRequest(command, conversation_id, moment, by=f"{_user()} (command line)")
    return staff.request(settings, asked, now)


def _user() -> str:
    """Who runs the command, as the system names them; "someone" when it cannot tell."""
    try:
        return getpass.getuser()[:40] or "someone"  # a request file keeps 80 characters
    except (OSError, KeyError):  # no name for the uid (a container), no LOGNAME
        return "someone"
