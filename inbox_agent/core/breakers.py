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

Mail to the manager (``escalate_to``) is not counted: it is ours, not a customer's. Windows are
wall-clock time, not business time: a loop runs at night too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

DAY = timedelta(hours=24)


@dataclass(frozen=True)
class Limits:
    """The ``[limits]`` section of the config."""

    loop_window: timedelta = timedelta(hours=1)
    per_address_per_day: int = 5
    per_conversation_per_day: int = 3


@dataclass(frozen=True)
class Sent:
    """One automatic mail the agent made: to whom, in which conversation, when."""

    conversation_id: str
    to: str
    at: datetime


def loop_suspected(address: str, now: datetime, sent: Iterable[Sent],
                   limits: Limits) -> str | None:
    """Rule 1, for a message that would start a new conversation: the reason, or None."""
    recent = [s for s in sent if s.to == address and _within(s.at, now, limits.loop_window)]
    if not recent:
        return None
    minutes = max(1, int((_utc(now) - _utc(max(recent, key=_sent_at).at)).total_seconds() // 60))
    return (f"possible mail loop: {address} started a new conversation {minutes} min after our "
            f"automatic mail to it (within loop_window); filed for a person, not acknowledged")


def held_back(to: str, conversation_id: str, now: datetime, sent: Iterable[Sent],
              limits: Limits) -> str | None:
    """Rules 2 and 3, before an automatic mail to ``to``: the reason to hold it, or None."""
    last_day = [s for s in sent if s.to == to and _within(s.at, now, DAY)]
    if len(last_day) >= limits.per_address_per_day:
        return (f"held back: {len(last_day)} automatic mails to {to} in 24 h already "
                f"(per_address_per_day = {limits.per_address_per_day})")
    here = [s for s in last_day if s.conversation_id == conversation_id]
    if len(here) >= limits.per_conversation_per_day:
        return (f"held back: {len(here)} automatic mails in this conversation in 24 h already "
                f"(per_conversation_per_day = {limits.per_conversation_per_day})")
    return None


def _within(at: datetime, now: datetime, window: timedelta) -> bool:
    return timedelta(0) <= _utc(now) - _utc(at) < window


def _sent_at(sent: Sent) -> datetime:
    return _utc(sent.at)


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)
