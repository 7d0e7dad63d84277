"""Which conversation a message joins, tokens, and the subject line."""

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inbox_agent.core.conversations import (
    MAX_TOKEN_LENGTH,
    TOKEN_ALPHABET,
    TOKEN_DIGITS,
    TOKEN_LETTERS,
    Conversation,
    Links,
    find_conversation,
    new_token,
    subject_tokens,
    subject_with_token,
)
from inbox_agent.core.message import parse

ARRIVED = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def _taken(*tokens: str) -> dict[str, Conversation]:
    return {t: Conversation(t, "support", "c@x.example", "", "", ARRIVED) for t in tokens}


def _mail(headers: str) -> bytes:
    return (headers.strip() + "\r\n\r\nbody\r\n").encode()


def test_in_reply_to_joins_the_conversation_of_the_answered_message() -> None:
    """In-Reply-To pointing at a filed Message-ID joins that conversation."""
    email = parse(_mail("From: a@x.example\r\nIn-Reply-To: <m1@x>\r\nSubject: Re: hi"), ARRIVED)
    assert find_conversation(email, Links({"<m1@x>": "K7Q2"}), _taken("K7Q2")) == "K7Q2"


def test_references_are_searched_from_the_nearest_back() -> None:
    """When In-Reply-To is unknown, the nearest known Reference wins."""
    email = parse(
        _mail("From: a@x.example\r\nIn-Reply-To: <gone@x>\r\nReferences: <m1@x> <m2@x> <gone@x>"),
        ARRIVED,
    )
    assert (
        find_conversation(
            email, Links({"<m1@x>": "AAAA", "<m2@x>": "BBBB"}), _taken("AAAA", "BBBB")
        )
        == "BBBB"
    )


def test_an_agent_message_id_joins_too() -> None:
    """A reply to the agent's own acknowledgement joins the conversation it was sent in."""
    email = parse(_mail("From: a@x.example\r\nIn-Reply-To: <inbox-agent.K7Q2.ack@ex>"), ARRIVED)
    assert (
        find_conversation(email, Links({"<inbox-agent.K7Q2.ack@ex>": "K7Q2"}), _taken("K7Q2"))
        == "K7Q2"
    )


def test_subject_token_joins_when_headers_were_lost() -> None:
    """A client that drops References still joins through [#TOKEN] in the subject."""
    email = parse(_mail("From: a@x.example\r\nSubject: Re: [#k7q2] my order"), ARRIVED)
    assert find_conversation(email, Links({}), _taken("K7Q2")) == "K7Q2"


def test_unknown_token_and_no_references_start_a_new_conversation() -> None:
    """A token that does not exist is just text: the message starts a conversation."""
    email = parse(_mail("From: a@x.example\r\nSubject: [#ZZZZ] hello"), ARRIVED)
    assert find_conversation(email, Links({}), _taken("K7Q2")) is None


def test_tokens_are_short_stable_and_unique() -> None:
    """The same seed gives the same token; a taken token is never handed out again."""
    first = new_token("<m1@x>", set())
    assert first == new_token("<m1@x>", set())
    assert len(first) == 4
    assert set(first) <= set(TOKEN_ALPHABET)
    assert new_token("<m1@x>", {first}) != first


LOOK_ALIKES = set("0O1IL") | {"U"}


@given(st.text(max_size=200), st.sets(st.text(TOKEN_ALPHABET, min_size=4, max_size=4), max_size=50))
def test_a_token_always_mixes_letters_and_digits(seed: str, taken: set[str]) -> None:
    """Any seed, any tokens taken: the token has a letter and a digit, no look-alike, is not
    taken, is the same for the same seed, and is read back from the subject it goes in."""
    token = new_token(seed, taken)
    assert set(token) & set(TOKEN_DIGITS)
    assert set(token) & set(TOKEN_LETTERS)
    assert not set(token) & LOOK_ALIKES
    assert 4 <= len(token) <= MAX_TOKEN_LENGTH
    assert token not in taken
    assert token == new_token(seed, taken)
    assert subject_tokens(subject_with_token("Order 6547", token)) == [token]


def test_the_alphabet_has_no_look_alikes() -> None:
    """0/O, 1/I/L and U/V cannot be confused: only one of each is in the alphabet, if any."""
    assert not set(TOKEN_ALPHABET) & LOOK_ALIKES
    assert sorted(TOKEN_ALPHABET) == sorted(TOKEN_DIGITS + TOKEN_LETTERS)
    assert set(TOKEN_DIGITS) <= set("23456789")


@pytest.mark.parametrize("stored", ["6547", "9872", "KWTZ", "K7Q2", "ABCDEFGH"])
def test_tokens_stored_before_the_mixing_rule_are_still_read(stored: str) -> None:
    """A conversation whose token is all digits or all letters (made before tokens always
    mixed) is still found from its subject."""
    subject = f"Re: [#{stored}] Re: Order 6547"
    assert subject_tokens(subject) == [stored]
    email = parse(_mail(f"From: a@x.example\r\nSubject: {subject}"), ARRIVED)
    assert find_conversation(email, Links({}), _taken(stored)) == stored


def test_crowded_tokens_grow_but_stay_readable() -> None:
    """When every short token a seed could get is taken, longer ones are made, never longer
    than the subject pattern reads."""
    taken: set[str] = set()
    tokens = [new_token("<crowded@x>", taken)]
    for _ in range(3):
        taken.add(tokens[-1])
        tokens.append(new_token("<crowded@x>", taken))
    assert len(set(tokens)) == 4
    everything = _AllShort()
    long = new_token("<crowded@x>", everything)
    assert len(long) == 5
    assert subject_tokens(subject_with_token("x", long)) == [long]


class _AllShort:
    """Every four-character token is taken."""

    def __contains__(self, token: object) -> bool:
        return isinstance(token, str) and len(token) == 4


def test_tokens_stay_unique_when_many_are_taken() -> None:
    """Thousands of conversations never share a token."""
    taken: set[str] = set()
    for n in range(5_000):
        taken.add(new_token(f"<m{n}@x>", taken))
    assert len(taken) == 5_000


def test_subject_gets_token_and_one_re() -> None:
    """The token goes first, Re: is not doubled, an old token is not repeated."""
    assert subject_with_token("Invoice", "K7Q2") == "[#K7Q2] Re: Invoice"
    assert subject_with_token("Re: Invoice", "K7Q2") == "[#K7Q2] Re: Invoice"
    assert subject_with_token("[#K7Q2] Re: Invoice", "K7Q2") == "[#K7Q2] Re: Invoice"
    assert subject_with_token("", "K7Q2") == "[#K7Q2] Re: (no subject)"
