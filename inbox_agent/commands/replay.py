"""``inbox-agent replay PATH [--mailbox NAME] [--until WHEN] [--limit N] [--json]``: what the
agent would have done with exported mail (an mbox file or a folder of .eml files), decided by
the real agent with the clock following the mail (``agent.replaying``). It sends nothing and
writes nothing: not the mailbox, not the data_dir (its store is a temporary folder, removed).

Plain text, grouped by conversation, every moment in the business's time zone with its name;
then the mail filed without a reply and why, and one summary line. ``--json``: one object,
moments in ISO 8601 with their offset.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from inbox_agent.adapters.export import read_export
from inbox_agent.agent import replayed as shown
from inbox_agent.agent import staff
from inbox_agent.agent.cycle import system_clock
from inbox_agent.agent.replayed import Event, Replayed, Skip, Story
from inbox_agent.agent.replaying import replay
from inbox_agent.commands.common import settings_of
from inbox_agent.core.business_time import Calendar
from inbox_agent.core.wording import counted, local_moment, local_time
from inbox_agent.core.zone_names import zone_name
from inbox_agent.errors import CommandError
from inbox_agent.logs import escape_controls

DEFAULT_LIMIT = 10_000
_WORDS = {
    "customer_wrote": "customer wrote",
    "customer_wrote_again": "customer wrote again",
    "acknowledged": "acknowledged",
    "followed_up": "followed up",
    "escalated": "escalated to",
    "escalation_notice": "told the customer a manager has taken over",
    "staff_replied": "staff replied",
    "staff_note": "staff note",
    "machine_mail": "machine mail",
    "not_acknowledged": "customer wrote, not acknowledged",
    "note": "note",
}
_DATED = {
    "Date": "their Date header",
    "From_ line": "the mbox From_ line",
    "file time": "the file's time",
}


def limit(text: str) -> int:
    """``--limit``: a whole number of messages, at least 1."""
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of messages; write e.g. 10000")
    return int(text)


def main(args: argparse.Namespace) -> int:
    """Replay the export and print what the agent would have done."""
    settings = settings_of(args)
    mails = read_export(Path(args.path), args.limit, system_clock())
    until = _until(args.until, settings.calendar, mails[-1].moment) if args.until else None
    agent_log = logging.getLogger("inbox_agent")
    level = agent_log.level
    if not args.verbose:  # the agent's own log would repeat the story line by line
        agent_log.setLevel(logging.ERROR)
    try:
        result = asyncio.run(replay(settings, mails, mailbox=args.mailbox, until=until))
    finally:
        agent_log.setLevel(level)
    if args.json:
        print(json.dumps(as_json(result, args.path), indent=2, ensure_ascii=False))
    else:
        print("\n".join(escape_controls(line) for line in as_text(result, args.path)))
    return 0


def _until(text: str, calendar: Calendar, last: datetime) -> datetime:
    """``--until``: as ``snooze --until`` reads it, counted from the export's last message
    ("2d": two business days after it), and after it."""
    try:
        return staff.parse_until(text, calendar, last)
    except CommandError as exc:
        raise CommandError(
            f"{exc} (for replay: after the export's last message, "
            f"{local_time(last, calendar.timezone)})"
        ) from None


def as_text(result: Replayed, source: str) -> Iterator[str]:
    """The replay for a person: a heading, each conversation, the skipped mail, the counts."""
    zone = result.settings.calendar.timezone
    yield from _heading(result, source)
    for story in shown.stories(result):
        yield ""
        yield from _story_lines(story, zone)
    outside = [s for s in shown.skips(result) if s.conversation is None]
    if outside:
        yield ""
        yield "Filed without a reply, in no conversation:"
        yield from (_skip_line(s, zone) for s in outside)
    if result.problems:
        yield ""
        yield from (f"problem: {p}" for p in result.problems)
    yield ""
    yield _summary_line(shown.summary(result))


def _heading(result: Replayed, source: str) -> Iterator[str]:
    zone = result.settings.calendar.timezone
    span = (
        ""
        if result.started is None
        else f", {local_time(result.started, zone)} to {local_time(result.ended, zone)}"
    )
    dated = ", ".join(f"{n} by {_DATED[how]}" for how, n in result.dated_by.items())
    yield (
        f"Replay of {source}: {counted(result.messages, 'message')} into mailbox "
        f"{result.mailbox.name}{span}"
    )
    yield (
        f"Dated {dated}; times are {zone_name(zone)} ({zone.key}). Nothing was sent, nothing saved."
    )


def _story_lines(story: Story, zone: ZoneInfo) -> Iterator[str]:
    c = story.conversation
    name = f"{c.customer_name} <{c.customer}>" if c.customer_name else c.customer
    yield f"[#{c.id}] {name}: {c.subject or '(no subject)'}"
    for event in story.events:
        yield f"  {local_time(event.at, zone)}  {_event_text(event, zone)}"
    if story.waiting is not None:
        nxt = (
            f"; next chase due {local_moment(story.next_chase, zone)}"
            if story.next_chase is not None
            else "; nothing more would be sent"
        )
        yield (
            f"  still waiting when the replay ends: promised "
            f"{local_moment(story.waiting.due, zone)}{nxt}"
        )


def _event_text(event: Event, zone: ZoneInfo) -> str:
    if event.event.startswith("promise_"):
        outcome = event.event.removeprefix("promise_")
        due = local_moment(event.promised_by, zone) if event.promised_by else "?"
        return f"the promise of {due} was {outcome}"
    text = _WORDS.get(event.event, event.event)
    if event.who and event.event not in ("acknowledged", "followed_up", "escalation_notice"):
        text += f" ({event.who})" if event.event != "escalated" else f" {event.who}"
    if event.promise_text:
        text += f", promising a reply {event.promise_text}"
    if event.reason:
        text += f": {event.reason}"
    return text


def _skip_line(skip: Skip, zone: ZoneInfo) -> str:
    label = "" if skip.reason.startswith(skip.label) else f"{skip.label}: "
    return (
        f"  {local_time(skip.at, zone)}  {skip.sender or '?'}  {skip.subject!r}  "
        f"{label}{skip.reason or '(no reason recorded)'}"
    )


def _summary_line(counts: dict[str, Any]) -> str:
    reasons = ", ".join(f"{label} {n}" for label, n in counts["skipped_by_reason"].items())
    return (
        f"{counted(counts['conversations'], 'conversation')}, "
        f"{counts['acknowledged']} acknowledged, "
        f"{counts['followed_up']} followed up, {counts['escalated']} escalated, "
        f"{counts['skipped']} skipped" + (f" ({reasons})" if reasons else "")
    )


def as_json(result: Replayed, source: str) -> dict[str, Any]:
    """The replay as one object: the same content, moments in ISO 8601 with their offset."""
    zone = result.settings.calendar.timezone
    return {
        "source": source,
        "mailbox": result.mailbox.name,
        "timezone": result.settings.calendar.timezone.key,
        "messages": result.messages,
        "dated_by": result.dated_by,
        "from": _iso(result.started, zone),
        "until": _iso(result.ended, zone),
        "conversations": [_story_json(s, zone) for s in shown.stories(result)],
        "skipped": [_skip_json(s, zone) for s in shown.skips(result)],
        "problems": result.problems,
        "summary": shown.summary(result),
    }


def _story_json(story: Story, zone: ZoneInfo) -> dict[str, Any]:
    c = story.conversation
    waiting = (
        None
        if story.waiting is None
        else {
            "promised_by": _iso(story.waiting.due, zone),
            "next_chase_at": _iso(story.next_chase, zone),
        }
    )
    return {
        "id": c.id,
        "customer": c.customer,
        "customer_name": c.customer_name,
        "subject": c.subject,
        "started_at": _iso(c.created_at, zone),
        "status": str(c.status),
        "events": [_event_json(e, zone) for e in story.events],
        "waiting": waiting,
    }


def _event_json(event: Event, zone: ZoneInfo) -> dict[str, Any]:
    return {
        "at": _iso(event.at, zone),
        "event": event.event,
        "who": event.who or None,
        "promised_by": _iso(event.promised_by, zone),
        "promise_text": event.promise_text or None,
        "reason": event.reason or None,
    }


def _skip_json(skip: Skip, zone: ZoneInfo) -> dict[str, Any]:
    return {
        "at": _iso(skip.at, zone),
        "sender": skip.sender,
        "subject": skip.subject,
        "reason": skip.reason,
        "label": skip.label,
        "conversation": skip.conversation,
    }


def _iso(moment: datetime | None, zone: ZoneInfo) -> str | None:
    """ISO 8601 in the business's zone, with its offset then."""
    return moment.astimezone(zone).isoformat() if moment is not None else None
