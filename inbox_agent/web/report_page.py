"""``/report?since=30d``: the owner's report (``inbox-agent report``) as a staff page.

The figures are ``core.report``'s over the live ledger (the daemon's, in memory) and the
archive, as the CLI's are over the last commit and the archive; the figures and charts are
``agent.report_html``'s own template, placed inside the staff page. The archive is read in a
thread (``web.archived``); the live ledger is copied on the event loop, where the daemon
changes it, so the report never sees a half-applied cycle.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from itertools import chain
from pathlib import Path

from aiohttp import web
from markupsafe import Markup

from inbox_agent.agent import report_html
from inbox_agent.core import report as figures
from inbox_agent.core.business_time import Calendar
from inbox_agent.core.conversations import Conversation
from inbox_agent.core.ledger import Ledger, SkippedMessage
from inbox_agent.web import archived
from inbox_agent.web.pages import BACKEND, render

DEFAULT_DAYS = 30
MAX_DAYS = 366
SINCE = re.compile(r"([1-9][0-9]{0,2})d")
BAD_SINCE = f"The period must be whole days from 1d to {MAX_DAYS}d, e.g. 30d."


async def report_page(request: web.Request) -> web.StreamResponse:
    """The page; a ``since`` out of bounds is the form again (400), with what to write."""
    asked = request.query.get("since", f"{DEFAULT_DAYS}d")
    days = days_of(asked)
    if days is None:
        return render(
            request, "report.html.j2", 400, days=None, asked=asked[:20], problem=BAD_SINCE
        )
    backend = request.app[BACKEND]
    now = backend.clock()
    since = now - timedelta(days=days)
    calendar = backend.settings.calendar
    report = await gather(backend.ledger(), backend.settings.agent.data_dir, since, now, calendar)
    return render(
        request,
        "report.html.j2",
        days=days,
        asked=f"{days}d",
        problem="",
        charts=Markup(report_html.charts(report, calendar.timezone)),  # noqa: S704 - escaped there
    )


def days_of(text: str) -> int | None:
    """``30d`` -> 30; None for anything but whole days from 1 to ``MAX_DAYS``."""
    found = SINCE.fullmatch(text.strip())
    days = int(found.group(1)) if found else 0
    return days if 1 <= days <= MAX_DAYS else None


async def gather(
    ledger: Ledger, data_dir: Path, since: datetime, now: datetime, calendar: Calendar
) -> figures.Report:
    """``commands.report.gather`` over the live ledger, with the archive."""
    live: list[Conversation] = list(ledger.conversations.values())
    live_skipped: list[SkippedMessage] = list(ledger.skipped)
    archived_conversations, archived_skipped = await archived.conversations(data_dir, since)
    return figures.build(
        chain(live, archived_conversations),
        chain(live_skipped, archived_skipped),
        since,
        now,
        calendar,
    )
