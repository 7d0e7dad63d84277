"""Staff commands on a conversation: ``close``, ``reopen`` and ``snooze``.

The daemon owns the store (one writer, DESIGN.md), so a command cannot simply write to it
while the daemon runs. A command therefore takes the store itself when it is free and applies
at once; when the daemon holds it, the command is checked against the last committed state (so
a mistake is reported now, not later) and left in ``data_dir/requests/`` for the daemon, which
applies it within one sweep (30 s).
"""

from __future__ import annotations

import os
import pwd
import re
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from inbox_agent.adapters.store import StaffRequest, Store, queue_request
from inbox_agent.config import Settings
from inbox_agent.core.business_time import (
    Calendar,
    add_business_time,
    next_open,
    parse_duration,
)
from inbox_agent.core.conversations import Outcome
from inbox_agent.core.lifecycle import Action, Event, IllegalTransition, transition
from inbox_agent.core.wording import local_moment
from inbox_agent.errors import CommandError, StoreLockedError

EVENTS = {"close": Event.CLOSE, "reopen": Event.REOPEN, "snooze": Event.SNOOZE}


def request(settings: Settings, command: StaffRequest, now: datetime) -> str:
    """Carry out ``command`` now, or queue it for the running daemon; says which."""
    data_dir, zone = settings.agent.data_dir, settings.calendar.timezone
    _as_the_owner(data_dir)
    try:
        store = Store(data_dir).open()
    except StoreLockedError:
        last_commit = Store(data_dir, read_only=True).open()
        last_commit.close()
        apply(last_commit, command, now, zone)  # on a copy: reports a mistake now, changes nothing
        queue_request(data_dir, command)
        return f"{_done(command, zone)}: queued; the running agent applies it within 30 seconds"
    try:
        note = apply(store, command, now, zone)
        store.commit()
    finally:
        store.close()
    return note


def apply(store: Store, command: StaffRequest, now: datetime, zone: ZoneInfo) -> str:
    """Change the conversation as ``command`` asks (an archived one is brought back to the
    live store first); returns what was done, its moment in the business's ``zone``."""
    conversation = store.bring_back(command.conversation_id, now)
    if conversation is None:
        raise CommandError(
            f"no conversation {command.conversation_id!r}; "
            "`inbox-agent threads --status all` lists them"
        )
    try:
        status, actions = transition(conversation.status, EVENTS[command.command])
    except IllegalTransition as exc:
        raise CommandError(f"[#{conversation.id}]: {exc}") from None
    conversation.status = status
    for action in actions:
        if action is Action.WITHDRAW_PROMISE:
            conversation.settle(now, Outcome.WITHDRAWN)
        elif action is Action.SET_SNOOZE:
            conversation.snoozed_until = command.until
    if command.command == "close":
        conversation.snoozed_until = None
    conversation.note(now, _what_was_done(command, zone))  # the timeline says who, and when
    return _done(command, zone)


def _as_the_owner(data_dir: Path) -> None:
    """A request left by another user (root, say) is a file the agent's user cannot read: it
    would be lost. Refused now, naming who must run it."""
    try:
        owner = data_dir.stat().st_uid
    except FileNotFoundError:
        return  # nothing to change yet: "no conversation" follows
    if owner != os.geteuid():
        try:
            name = pwd.getpwuid(owner).pw_name
        except KeyError:
            name = str(owner)
        raise CommandError(
            f"{data_dir} belongs to {name}, the agent's user; run the command "
            f"as {name} (e.g. runuser -u {name} -- inbox-agent ...)"
        )


def parse_until(text: str, calendar: Calendar, now: datetime, field: str = "--until") -> datetime:
    """``--until``: business time from now (``4h``, ``2d``), a date (its first opening, or
    the next one when the business is closed that day) or a local date and time
    (``2026-11-24 14:00``), in the business's time zone. A mistake names ``field`` (the
    option, or the staff page's "Snooze until")."""
    text = text.strip()
    if re.fullmatch(r"[0-9dhm ]+", text):
        try:
            duration = parse_duration(text)
        except ValueError as exc:
            raise CommandError(f"{field} {text!r}: {exc}") from None
        if not duration.days and not duration.minutes:
            raise CommandError(f"{field} {text!r} is no time at all; write e.g. 4h or 2d")
        return add_business_time(calendar, now, duration)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        day = example_day(calendar, now)
        raise CommandError(
            f"{field} {text!r} is not a moment; write e.g. 4h, 2d, {day} or '{day} 14:00'"
        ) from None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=calendar.timezone)
    if len(text) <= len("2026-11-24"):  # the day's start: next_open finds its first opening
        try:
            moment = next_open(calendar, moment)
        except ValueError as exc:
            raise CommandError(f"{field} {text!r}: {exc}") from None
    if moment <= now:
        raise CommandError(f"{field} {text!r} is not in the future")
    return moment


def example_day(calendar: Calendar, now: datetime) -> str:
    """Tomorrow in the business's zone, ``2026-11-24``: an example date that is never past."""
    return (now.astimezone(calendar.timezone) + timedelta(days=1)).date().isoformat()


def _done(command: StaffRequest, zone: ZoneInfo) -> str:
    return f"[#{command.conversation_id}] {_what_was_done(command, zone, by=False)}"


def _what_was_done(command: StaffRequest, zone: ZoneInfo, *, by: bool = True) -> str:
    """``snoozed until Thu 03 Dec 2026 16:30 London time, by alice (staff page)``."""
    verb = {"close": "closed", "reopen": "reopened", "snooze": "snoozed"}[command.command]
    until = f" until {local_moment(command.until, zone)}" if command.until else ""
    who = f", by {command.by}" if by and command.by else ""
    return f"{verb}{until}{who}"
