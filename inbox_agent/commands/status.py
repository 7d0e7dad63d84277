"""``inbox-agent status [--within AGE] [--json]``: the agent at a glance, read from the last
commit and the poll health file without the lock, so it works while the daemon runs.

The figures are ``core.status``'s; this module reads what they are made from and shows them:
moments as people read them (``wording.local_moment``), ISO 8601 with offsets in ``--json``.
The JSON keys ``mailboxes`` (``name``, ``last_poll_at``, ``last_error``), ``open``,
``due_next`` (``id``, ``promised_by``), ``lapsed`` and ``outbox_pending`` are a contract
(DESIGN.md).
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from inbox_agent.adapters.health import read_health
from inbox_agent.agent.cycle import system_clock
from inbox_agent.agent.outages import LONGEST_WAIT
from inbox_agent.commands.common import read_store, settings_of
from inbox_agent.config import Settings
from inbox_agent.core.status import (
    REWRITE_AFTER,
    FolderWatchShown,
    MailboxHealth,
    Overview,
    PromiseShown,
    overview,
    quiet_too_long,
)
from inbox_agent.core.wording import local_moment, local_time

DEFAULT_WITHIN = timedelta(hours=8)  # "due soon": a working day ahead, in clock time


def main(args: argparse.Namespace) -> int:
    """Print the status, as text or JSON."""
    settings = settings_of(args)
    now = system_clock()
    status = gather(settings, now, args.within or DEFAULT_WITHIN)
    zone, quiet = settings.calendar.timezone, expected_within(settings)
    print(
        json.dumps(as_json(status, zone, quiet), indent=2, ensure_ascii=False)
        if args.json
        else as_text(status, zone, quiet)
    )
    return 0


def expected_within(settings: Settings) -> timedelta:
    """How long a running agent may leave a mailbox's record unchanged: two polls, the
    longest backoff of an outage, and the minute the record may wait to be written."""
    poll = timedelta(seconds=settings.agent.poll_interval_seconds)
    return 2 * poll + LONGEST_WAIT + REWRITE_AFTER


def gather(settings: Settings, now: datetime, within: timedelta) -> Overview:
    """The status of the agent whose data_dir ``settings`` names, at ``now``."""
    store = read_store(settings)
    known = read_health(settings.agent.data_dir)
    health = [known.get(m.name, MailboxHealth(m.name)) for m in settings.mailboxes]
    return overview(
        store.ledger.conversations.values(), store.ledger.outbox.values(), health, now, within
    )


def as_json(status: Overview, zone: ZoneInfo, quiet: timedelta = timedelta.max) -> dict[str, Any]:
    """``status --json``: one object."""
    backlog = status.outbox
    return {
        "now": status.now.isoformat(),
        "timezone": zone.key,
        "mailboxes": [
            {
                "name": m.name,
                "last_poll_at": _iso(m.last_poll_at),
                "last_error": m.last_error,
                "last_error_at": _iso(m.last_error_at),
                "failing": m.failing,
                "watches": [
                    {"folder": w.folder, "state": w.state, "problem": w.problem} for w in m.watches
                ],
                "quiet_too_long": quiet_too_long(m, status.now, quiet),
            }
            for m in status.mailboxes
        ],
        "open": status.open,
        "due_within_minutes": int(status.within.total_seconds() // 60),
        "due_next": [_promise(p) for p in status.due_next],
        "lapsed": [_promise(p) for p in status.lapsed],
        "outbox_pending": backlog.pending,
        "outbox": {
            "pending": backlog.pending,
            "waiting_to_retry": backlog.waiting_to_retry,
            "sending": backlog.sending,
            "failed": backlog.failed,
        },
    }


def as_text(status: Overview, zone: ZoneInfo, quiet: timedelta = timedelta.max) -> str:
    """``status`` for a terminal."""
    lines = [f"inbox-agent status at {local_time(status.now, zone)}", "", "mailboxes:"]
    for mailbox in status.mailboxes:
        lines += _mailbox_lines(mailbox, status.now, zone)
        if quiet_too_long(mailbox, status.now, quiet):
            lines.append(
                "    nothing recorded for longer than a running agent would leave "
                "it: is `inbox-agent run` running?"
            )
    lines += [
        "",
        f"conversations waiting for a person: {status.open}",
        f"promises due in the next {_span(status.within)}: {len(status.due_next)}",
    ]
    lines += [_promise_line(p, zone) for p in status.due_next]
    lines.append(f"promises lapsed (customer still waiting): {len(status.lapsed)}")
    lines += [_promise_line(p, zone) for p in status.lapsed]
    backlog = status.outbox
    lines += [
        "",
        f"outbox: {backlog.pending} to send ({backlog.waiting_to_retry} waiting to "
        f"retry), {backlog.sending} with the relay, {backlog.failed} failed",
    ]
    if backlog.failed:
        lines.append(
            "  failed mail waits for a person: `inbox-agent threads` lists its "
            "conversation, `inbox-agent thread ID` shows the relay's answer"
        )
    return "\n".join(lines)


def _mailbox_lines(mailbox: MailboxHealth, now: datetime, zone: ZoneInfo) -> list[str]:
    polled = (
        f"last good poll {local_time(mailbox.last_poll_at, zone)} "
        f"({_ago(mailbox.last_poll_at, now)})"
        if mailbox.last_poll_at
        else "no good poll recorded yet"
    )
    lines = [f"  {mailbox.name}: " + ("FAILING; " if mailbox.failing else "") + polled]
    if mailbox.last_error and mailbox.last_error_at:
        state = "" if mailbox.failing else " (recovered since)"
        lines.append(
            f"    last error {local_time(mailbox.last_error_at, zone)}{state}: {mailbox.last_error}"
        )
    return lines + _watch_lines(mailbox.watches)


def _watch_lines(watches: tuple[FolderWatchShown, ...]) -> list[str]:
    """How new mail is noticed (rule 7); nothing when no daemon watches."""
    watching = [w.folder for w in watches if w.state == "watching"]
    lines = (
        [f"    new mail seen as it arrives (IMAP IDLE on {', '.join(watching)})"]
        if watching
        else []
    )
    lines += [
        f"    IMAP IDLE on {w.folder} reconnecting ({w.problem}); polled meanwhile"
        for w in watches
        if w.state == "reconnecting"
    ]
    lines += [f"    {w.folder} polled: {w.problem}" for w in watches if w.state == "unsupported"]
    return lines


def _promise_line(promise: PromiseShown, zone: ZoneInfo) -> str:
    snoozed = (
        f"  (snoozed until {local_moment(promise.snoozed_until, zone)})"
        if promise.snoozed_until
        else ""
    )
    return (
        f"  #{promise.id:<6} {local_moment(promise.promised_by, zone)}  {promise.customer}"
        f"  {_cut(promise.subject, 50)}{snoozed}"
    )


def _promise(promise: PromiseShown) -> dict[str, Any]:
    return {
        "id": promise.id,
        "promised_by": promise.promised_by.isoformat(),
        "customer": promise.customer,
        "subject": promise.subject,
        "snoozed_until": _iso(promise.snoozed_until),
    }


def _ago(moment: datetime, now: datetime) -> str:
    """``just now``, ``4 min ago``, ``2 h 5 min ago``, ``3 days ago``; ``in the future``
    for a clock that went back."""
    minutes = int((now - moment).total_seconds() // 60)
    if minutes < 0:
        return "in the future: check this machine's clock"
    if minutes < 1:
        return "just now"
    if minutes < 60:
        return f"{minutes} min ago"
    hours, rest = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {rest} min ago"
    return f"{hours // 24} days ago"


def _span(within: timedelta) -> str:
    minutes = int(within.total_seconds() // 60)
    hours, rest = divmod(minutes, 60)
    return f"{hours}h" + (f"{rest:02d}" if rest else "") if hours else f"{rest} min"


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
