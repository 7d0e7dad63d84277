"""The life of a conversation, as one table.

Rules:

1. Everything that changes a conversation's status lives in ``TRANSITIONS``; nothing else in the
   program assigns ``status``. To learn what happens when, read the table.
2. A move that is not in the table is a bug in the caller, not bad input from the world: it
   raises :class:`IllegalTransition` naming the status and the event.
3. The table also says what the agent must *do* (make a promise, send an acknowledgement). It
   never does it: the caller carries the actions out.

Statuses:

- ``open``: filed, nobody promised anything (mail that was already old when the agent first saw
  it). Staff see it in ``threads --status open``.
- ``waiting``: the customer is waiting for a person; a promise is running.
- ``answered``: staff have replied; the agent stays quiet.
- ``closed``: staff closed it by hand.

A snooze is not a status: a snoozed conversation is ``waiting`` with a moment before which the
sweep leaves it alone.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """Where a conversation stands."""

    NEW = "new"  # only between "first message seen" and the first transition, never stored
    OPEN = "open"
    WAITING = "waiting"
    ANSWERED = "answered"
    CLOSED = "closed"


class Event(StrEnum):
    """What can happen to a conversation."""

    CUSTOMER_WROTE = "customer_wrote"  # a customer message the agent may answer
    CUSTOMER_WROTE_LONG_AGO = "customer_wrote_long_ago"  # older than skip_older_than when seen
    HELD_BACK = "held_back"  # would be acknowledged, but a circuit breaker says no (breakers.py)
    STAFF_REPLIED = "staff_replied"
    CHASE_DUE = "chase_due"  # a promise is about to slip: follow up or escalate
    CLOSE = "close"
    REOPEN = "reopen"
    SNOOZE = "snooze"


class Action(StrEnum):
    """What the caller must do after a transition."""

    PROMISE = "promise"  # start a new promise counted from the message's arrival
    ACKNOWLEDGE = "acknowledge"  # send the acknowledgement mail stating that promise
    KEEP_PROMISE = "keep_promise"  # the running promise stands; nothing to send
    END_PROMISE = "end_promise"  # the running promise is settled (kept, or no longer owed)
    CHASE = "chase"  # send the follow-up or escalation ``promises.chase_due`` names
    WITHDRAW_PROMISE = "withdraw_promise"  # staff closed it: the promise is no longer owed
    SET_SNOOZE = "set_snooze"  # no chasing until the given moment; the customer is told nothing


class IllegalTransition(Exception):  # noqa: N818 - named for what it is, like h11's errors
    """A caller asked for a move the table does not allow."""


S, E, A = Status, Event, Action
_ACK = (A.PROMISE, A.ACKNOWLEDGE)

TRANSITIONS: dict[tuple[Status, Event], tuple[Status, tuple[Action, ...]]] = {
    (S.NEW, E.CUSTOMER_WROTE): (S.WAITING, _ACK),
    (S.NEW, E.CUSTOMER_WROTE_LONG_AGO): (S.OPEN, ()),
    (S.OPEN, E.CUSTOMER_WROTE): (S.WAITING, _ACK),  # never acknowledged before: now we do
    (S.OPEN, E.CUSTOMER_WROTE_LONG_AGO): (S.OPEN, ()),
    (S.OPEN, E.STAFF_REPLIED): (S.ANSWERED, ()),
    (S.WAITING, E.CUSTOMER_WROTE): (S.WAITING, (A.KEEP_PROMISE,)),  # more detail, same promise
    (S.WAITING, E.CUSTOMER_WROTE_LONG_AGO): (S.WAITING, (A.KEEP_PROMISE,)),
    (S.WAITING, E.STAFF_REPLIED): (S.ANSWERED, (A.END_PROMISE,)),
    # A customer writing again after an answer waits again, without a second acknowledgement.
    (S.ANSWERED, E.CUSTOMER_WROTE): (S.WAITING, (A.PROMISE,)),
    (S.ANSWERED, E.CUSTOMER_WROTE_LONG_AGO): (S.ANSWERED, ()),
    (S.ANSWERED, E.STAFF_REPLIED): (S.ANSWERED, ()),
    # Writing into a closed conversation reopens it, and the customer hears when to expect us.
    (S.CLOSED, E.CUSTOMER_WROTE): (S.WAITING, _ACK),
    (S.CLOSED, E.CUSTOMER_WROTE_LONG_AGO): (S.CLOSED, ()),
    (S.CLOSED, E.STAFF_REPLIED): (S.CLOSED, ()),
    # A breaker held the acknowledgement back: filed for a person, nothing promised or sent.
    (S.NEW, E.HELD_BACK): (S.OPEN, ()),
    (S.OPEN, E.HELD_BACK): (S.OPEN, ()),
    (S.CLOSED, E.HELD_BACK): (S.OPEN, ()),
    (S.WAITING, E.CHASE_DUE): (S.WAITING, (A.CHASE,)),
    (S.WAITING, E.SNOOZE): (S.WAITING, (A.SET_SNOOZE,)),
    (S.OPEN, E.CLOSE): (S.CLOSED, ()),
    (S.WAITING, E.CLOSE): (S.CLOSED, (A.WITHDRAW_PROMISE,)),
    (S.ANSWERED, E.CLOSE): (S.CLOSED, ()),
    # Reopened by staff: back on the list for a person, and nothing is promised or sent.
    (S.CLOSED, E.REOPEN): (S.OPEN, ()),
}


def transition(status: Status, event: Event) -> tuple[Status, tuple[Action, ...]]:
    """The new status and the actions owed when ``event`` happens in ``status``."""
    try:
        return TRANSITIONS[(status, event)]
    except KeyError:
        problem = f"cannot {event.value} a conversation that is {status.value}"
        raise IllegalTransition(problem) from None
