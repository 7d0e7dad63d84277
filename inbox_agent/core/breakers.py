"""Circuit breakers: the last line against a mail loop, when every header rule has been passed.

A system that answers mail without saying so (no ``Auto-Submitted``, no ``Precedence``, a
person's-looking From) can still ping-pong with the agent: our acknowledgement reaches it, it
opens a "ticket" and writes back as a new conversation, we acknowledge that, and so on until a
mail server is full. Header rules cannot see it; counting can. The rules, pure functions of
what the agent has sent (``SentLog``) and ``now``:

1. **Loop guard.** A *new* conversation from an address the agent mailed automatically less
   than ``loop_window`` ago is filed, not acknowledged: a person answering our mail replies to
   it (and joins its conversation); a machine starts a new one. So a ping-pong stops after one
   exchange. Staff see the conversation as ``open``, with the reason.
2. **Per address.** At most ``per_address_per_day`` automatic mails to one address in any 24
   hours, whatever the conversations.
3. **Per conversation.** At most ``per_conversation_per_day`` automatic mails to the customer
   of one conversation in any 24 hours (the usual day has an acknowledgement and perhaps a
   follow-up).
4. **Slow responder.** A system that answers each of our mails hours later, as a new
   conversation, slips past rule 1. A new conversation from an address that starts within
   ``echo_window`` after an automatic mail to it is an *echo*. Two echoes less than 48 hours
   apart make the address a suspected slow autoresponder; while its last echo is less than 48
   hours old, nothing automatic goes to it: no acknowledgement (the conversation is filed for
   a person, with the reason) and no follow-up of its earlier conversations. The manager's
   escalation report still goes; the customer's notice of it does not. Held, the robot has
   nothing to echo and falls quiet; 48 hours after its last echo the follow-ups its waiting
   conversations are owed go, and their echoes (one is enough now) hold it again: the
   conversations it started before the pattern showed are chased every two days or so, and
   nothing more reaches it. The suspicion ends when the address replies *into* a
   conversation, as a person answering our mail does and such a robot never does: echoes
   before that reply no longer count. A person who writes about a second thing a few hours
   after our acknowledgement is one echo, and gets both acknowledgements.

Mail to the manager (``escalate_to``) is not counted: it is ours, not a customer's. Windows are
wall-clock time, not business time: a loop runs at night too.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise

DAY = timedelta(hours=24)
ECHO_MEMORY = 2 * DAY  # rule 4: two echoes this close make a pattern, held this long after


@dataclass(frozen=True)
class Limits:
    """The ``[limits]`` section of the config."""

    loop_window: timedelta = timedelta(hours=1)
    per_address_per_day: int = 5
    per_conversation_per_day: int = 3
    echo_window: timedelta = timedelta(hours=4)


@dataclass(frozen=True)
class Sent:
    """One automatic mail the agent made: to whom, in which conversation, when."""

    conversation_id: str
    to: str
    at: datetime


def loop_suspected(address: str, now: datetime, sent: Iterable[Sent], limits: Limits) -> str | None:
    """Rule 1, for a message that would start a new conversation: the reason, or None."""
    recent = [s for s in sent if s.to == address and _within(s.at, now, limits.loop_window)]
    if not recent:
        return None
    minutes = max(1, int((_utc(now) - _utc(max(recent, key=_sent_at).at)).total_seconds() // 60))
    return (
        f"possible mail loop: {address} started a new conversation {minutes} min after our "
        f"automatic mail to it (within loop_window); filed for a person, not acknowledged"
    )


def held_back(
    to: str, conversation_id: str, now: datetime, sent: Iterable[Sent], limits: Limits
) -> str | None:
    """Rules 2 and 3, before an automatic mail to ``to``: the reason to hold it, or None."""
    last_day = [s for s in sent if s.to == to and _within(s.at, now, DAY)]
    if len(last_day) >= limits.per_address_per_day:
        return (
            f"held back: {len(last_day)} automatic mails to {to} in 24 h already "
            f"(per_address_per_day = {limits.per_address_per_day})"
        )
    here = [s for s in last_day if s.conversation_id == conversation_id]
    if len(here) >= limits.per_conversation_per_day:
        return (
            f"held back: {len(here)} automatic mails in this conversation in 24 h already "
            f"(per_conversation_per_day = {limits.per_conversation_per_day})"
        )
    return None


@dataclass(frozen=True)
class Wrote:
    """One message from a customer's address: when it arrived, its subject, and whether it
    started a conversation (``conversation_id``; "" while it is being filed) or was a reply
    filed into one of its conversations."""

    at: datetime
    started: bool
    subject: str = ""
    conversation_id: str = ""


def slow_responder(
    address: str, now: datetime, sent: Iterable[Sent], wrote: Iterable[Wrote], limits: Limits
) -> str | None:
    """Rule 4: why ``address`` is taken for a slow autoresponder at ``now``, or None."""
    found = sorted(echoes(address, sent, wrote, limits))
    paired = any(b - a < ECHO_MEMORY for a, b in pairwise(found))
    if not paired or _utc(now) - found[-1] >= ECHO_MEMORY:
        return None
    until = found[-1] + ECHO_MEMORY
    return (
        f"suspected slow autoresponder: {address} started {len(found)} new conversations "
        f"on the subject of our automatic mail to it, within echo_window "
        f"({_hours(limits.echo_window)}) after it, two of them less than 48 h apart; no "
        f"automatic mail to it until it replies in a conversation, or until "
        f"{until:%Y-%m-%d %H:%M} UTC if it echoes no more"
    )


def echoes(
    address: str, sent: Iterable[Sent], wrote: Iterable[Wrote], limits: Limits
) -> list[datetime]:
    """When (UTC) ``address`` started a conversation that echoes an automatic mail to it,
    counting only those after its last reply into a conversation."""
    wrote = list(wrote)
    subjects = {w.conversation_id: _about(w.subject) for w in wrote if w.started}
    ours = sorted(
        (_utc(s.at), subjects.get(s.conversation_id, "")) for s in sent if s.to == address
    )
    replied = max((_utc(w.at) for w in wrote if not w.started), default=None)
    return [
        _utc(w.at)
        for w in wrote
        if w.started
        and (replied is None or _utc(w.at) > replied)
        and _echo(w, ours, limits.echo_window)
    ]


def _echo(wrote: Wrote, ours: list[tuple[datetime, str]], window: timedelta) -> bool:
    """True when one of ``ours`` (sorted: when, what about) came at most ``window`` before
    ``wrote`` and ``wrote``'s subject repeats what it was about. Ours on no known subject
    (none, or its conversation is gone) is matched on time alone."""
    at, theirs = _utc(wrote.at), _fold(wrote.subject)
    first = bisect_left(ours, (at - window, ""))
    last = bisect_left(ours, (at, ""))  # strictly before ``at``
    return any(about in theirs for _, about in ours[first:last])


# Our subjects are "[#K7Q2] Re: <the customer's subject>"; a robot echoing one strips the token
# and adds a prefix of its own ("Ticket received: Re: ...").
_TOKEN = re.compile(r"\[#[0-9A-Z]{4,8}\]")
_REPLY_PREFIXES = re.compile(r"^(?:(?:re|fwd?|aw|sv|antw|wg|tr|vs)\s*:\s*)+")


def _fold(subject: str) -> str:
    return " ".join(_TOKEN.sub(" ", subject).casefold().split())


def _about(subject: str) -> str:
    """What a conversation's subject is about, as an echo of our mail on it would repeat it."""
    return _REPLY_PREFIXES.sub("", _fold(subject))


def _hours(window: timedelta) -> str:
    minutes = int(window.total_seconds() // 60)
    return f"{minutes // 60}h" if minutes % 60 == 0 else f"{minutes}m"


def _within(at: datetime, now: datetime, window: timedelta) -> bool:
    return timedelta(0) <= _utc(now) - _utc(at) < window


def _sent_at(sent: Sent) -> datetime:
    return _utc(sent.at)


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)
