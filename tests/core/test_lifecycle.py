"""The conversation lifecycle table: build a status, feed an event, compare."""

import pytest

from inbox_agent.core.lifecycle import (
    TRANSITIONS,
    Action,
    Event,
    IllegalTransition,
    Status,
    transition,
)


def test_a_new_customer_is_promised_and_acknowledged() -> None:
    """The first customer message opens a promise and owes an acknowledgement."""
    assert transition(Status.NEW, Event.CUSTOMER_WROTE) == (
        Status.WAITING,
        (Action.PROMISE, Action.ACKNOWLEDGE),
    )


def test_old_mail_is_filed_open_without_acknowledgement() -> None:
    """Mail already too old when first seen is filed as open, with nothing to send."""
    assert transition(Status.NEW, Event.CUSTOMER_WROTE_LONG_AGO) == (Status.OPEN, ())


def test_writing_again_while_waiting_keeps_the_promise() -> None:
    """More detail from a waiting customer changes nothing: no second acknowledgement."""
    status, actions = transition(Status.WAITING, Event.CUSTOMER_WROTE)
    assert status is Status.WAITING
    assert Action.ACKNOWLEDGE not in actions


def test_writing_after_an_answer_waits_again_without_acknowledgement() -> None:
    """A customer's new message after a staff answer opens a new promise, silently."""
    assert transition(Status.ANSWERED, Event.CUSTOMER_WROTE) == (Status.WAITING, (Action.PROMISE,))


def test_staff_reply_settles_the_promise() -> None:
    """A staff reply answers the conversation and ends the running promise."""
    assert transition(Status.WAITING, Event.STAFF_REPLIED) == (
        Status.ANSWERED,
        (Action.END_PROMISE,),
    )


def test_an_illegal_move_names_status_and_event() -> None:
    """A move missing from the table raises, naming both."""
    with pytest.raises(IllegalTransition, match="reopen a conversation that is waiting"):
        transition(Status.WAITING, Event.REOPEN)


def test_nothing_ever_returns_to_new() -> None:
    """NEW is only a starting point: no transition leads back to it."""
    assert all(target is not Status.NEW for target, _ in TRANSITIONS.values())


def test_acknowledgements_only_start_a_conversation_or_reopen_one() -> None:
    """Only a first contact (new/open) or writing into a closed one owes an acknowledgement."""
    owing = {
        start for (start, _), (_, actions) in TRANSITIONS.items() if Action.ACKNOWLEDGE in actions
    }
    assert owing == {Status.NEW, Status.OPEN, Status.CLOSED}
