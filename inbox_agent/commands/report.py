"""``inbox-agent report [--since AGE] [--html FILE]``: how the promises went, for the owner.

The figures are ``core.report``'s, over the live store and the archive, read from the last
commit without the lock (the daemon may be running). Plain text on the terminal; ``--html``
also writes one self-contained page with inline SVG charts (``report_html``), owner-only
(0600) like everything else that holds customers' addresses and subjects.
"""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta
from itertools import chain
from pathlib import Path
from zoneinfo import ZoneInfo

from inbox_agent.adapters.files import write_whole
from inbox_agent.agent import report_html
from inbox_agent.agent.cycle import system_clock
from inbox_agent.commands.common import read_store, settings_of
from inbox_agent.config import Settings
from inbox_agent.core import report as figures
from inbox_agent.core.wording import local_moment, local_time, short_day

DEFAULT_SINCE = timedelta(days=30)
_WRITE_OUTCOME = ("the report was not written", "then run the command again")


def main(args: argparse.Namespace) -> int:
    """Print the report; write the HTML page too with ``--html``."""
    settings = settings_of(args)
    now = system_clock()
    report = gather(settings, now - (args.since or DEFAULT_SINCE), now)
    zone = settings.calendar.timezone
    print(as_text(report, zone))
    if args.html:
        path = Path(args.html)
        page = report_html.render(report, zone, title(settings))
        write_whole(path, page.encode("utf-8"), _WRITE_OUTCOME)
        print(
            f"\nHTML report written to {path} (open it in a browser; it loads nothing "
            "from the network)"
        )
    return 0


def gather(settings: Settings, since: datetime, now: datetime) -> figures.Report:
    """The report from ``since`` to ``now``, live store first, then the archive."""
    store = read_store(settings)
    ledger = store.ledger
    conversations = chain(ledger.conversations.values(), store.archive.all_conversations(since))
    skipped = chain(ledger.skipped, store.archive.all_skipped(since))
    return figures.build(conversations, skipped, since, now, settings.calendar)


def title(settings: Settings) -> str:
    """``Support report: support@example.com``: the mailboxes the report covers."""
    return "Support report: " + ", ".join(m.address for m in settings.mailboxes)


def as_text(report: figures.Report, zone: ZoneInfo) -> str:
    """The report for a terminal."""
    lines = [
        f"inbox-agent report: {local_time(report.since, zone)} to {local_time(report.now, zone)}",
        "",
    ]
    lines += _promise_lines(report.promises)
    lines += [
        "",
        "time to first staff reply, in business hours, by the week it started:",
        f"  {'week of':<10}  {'answered':>8}  {'median':>12}  {'90th pct':>12}  "
        f"{'no reply yet':>12}",
    ]
    lines += [
        f"  {short_day(w.week):<10}  {w.answered:>8}  "
        f"{report_html.duration(w.median_minutes):>12}  "
        f"{report_html.duration(w.p90_minutes):>12}  {w.unanswered:>12}"
        for w in report.first_reply
    ]
    lines += ["", "new conversations per day:"]
    top = max([n for _, n in report.per_day] + [1])
    lines += [
        f"  {short_day(day)}  {n:>4}  {'#' * round(40 * n / top)}" for day, n in report.per_day
    ]
    lines += ["", "machine mail filed without a reply, by rule:"]
    lines += [
        f"  {n:>5}  {figures.KIND_LABELS.get(kind, kind)} ({kind})"
        for kind, n in report.machine_mail
    ] or ["  none"]
    lines += ["", "missed promises, latest first:"]
    lines += [
        f"  #{m.conversation_id:<6} was due {local_moment(m.due, zone)}  {m.customer}  "
        f"{_cut(m.subject, 50)}"
        for m in report.missed
    ] or ["  none"]
    if report.missed_total > len(report.missed):
        lines.append(f"  and {report.missed_total - len(report.missed)} more")
    return "\n".join(lines)


def _promise_lines(counts: figures.PromiseCounts) -> list[str]:
    settled = counts.kept + counts.missed
    share = (
        f" ({100 * counts.kept // settled}% of those a reply or a lapse settled)" if settled else ""
    )
    return [
        f"promises made: {counts.made}",
        f"  kept       {counts.kept:>5}{share}",
        f"  extended   {counts.extended:>5}  (a follow-up gave a new moment first)",
        f"  missed     {counts.missed:>5}",
        f"  withdrawn  {counts.withdrawn:>5}  (closed by staff first)",
        f"  running    {counts.running:>5}",
    ]


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
