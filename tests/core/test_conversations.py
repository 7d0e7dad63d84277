"""Which conversation a message joins, tokens, and the subject line."""

from datetime import UTC, datetime

from inbox_agent.core.conversations import (
    TOKEN_ALPHABET,
    Conversation,
    Links,
    find_conversation,
    new_token,
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
    email = parse(_mail("From: a@x.example\r\nIn-Reply-To: <gone@x>\r\n"
                        "References: <m1@x> <m2@x> <gone@x>"), ARRIVED)
    assert find_conversation(email, Links({"<m1@x>": "AAAA", "<m2@x>": "BBBB"}),
                             _taken("AAAA", "BBBB")) == "BBBB"


def test_an_agent_message_id_joins_too() -> None:
    """A reply to the agent's own acknowledgement joins the conversation it was sent in."""
    email = parse(_mail("From: a@x.example\r\nIn-Reply-To: <inbox-agent.K7Q2.ack@ex>"), ARRIVED)
    assert find_conversation(email, Links({"<inbox-agent.K7Q2.ack@ex>": "K7Q2"}),
                             _taken("K7Q2")) == "K7Q2"


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
