"""The outbox's transition table: the moves it allows, and every other one refused."""

from itertools import product

import pytest

from inbox_agent.core.ledger import TRANSITIONS, OutboxEvent, OutboxMoveError, OutboxState, move

S, E = OutboxState, OutboxEvent


@pytest.mark.parametrize(
    ("state", "event", "after"),
    [
        (S.PENDING, E.SEND, S.SENDING),
        (S.SENDING, E.ACCEPTED, S.SENT),
        (S.SENDING, E.DEFERRED, S.PENDING),
        (S.SENDING, E.REFUSED, S.FAILED),
        (S.PENDING, E.SUPERSEDED, S.SUPERSEDED),
    ],
)
def test_the_moves_an_outgoing_mail_can_make(
    state: OutboxState, event: OutboxEvent, after: OutboxState
) -> None:
    """Recorded, sending, then the relay's answer decides; only a pending mail is restated."""
    assert move(state, event) is after


def test_every_other_move_is_refused_naming_the_state() -> None:
    """A sent mail cannot be sent again, a failed one never retried, nothing leaves
    superseded: the table is the whole story."""
    refused = [(s, e) for s, e in product(S, E) if (s, e) not in TRANSITIONS]
    assert (S.SENT, E.SEND) in refused
    assert (S.FAILED, E.SEND) in refused
    for state, event in refused:
        with pytest.raises(OutboxMoveError, match=f"that is {state} cannot be {event}"):
            move(state, event)


def test_final_states_have_no_way_out() -> None:
    """sent, failed and superseded are where a mail ends."""
    assert {s for s, _ in TRANSITIONS} == {S.PENDING, S.SENDING}
