"""Threading on every Message-ID a message names, and the ledger's indexes behind it."""

from __future__ import annotations

from datetime import UTC, datetime

from inbox_agent.core.conversations import (
    MAX_NAMED,
    Conversation,
    FiledMessage,
    Links,
    MailKind,
    Role,
    SentMail,
    find_conversation,
    linked_conversations,
    named_ids,
)
from inbox_agent.core.ledger import MAX_NAMING, Ledger, SkippedMessage
from inbox_agent.core.message import InboundEmail, parse

ARRIVED = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
SUPPORT = "support@example.com"


def _mail(
    sender: str, message_id: str, *, irt: str = "", refs: str = "", to: str = SUPPORT
) -> InboundEmail:
    headers = [f"From: {sender}", f"To: {to}", f"Message-ID: {message_id}", "Subject: hello"]
    headers += [f"In-Reply-To: {irt}"] if irt else []
    headers += [f"References: {refs}"] if refs else []
    return parse(("\r\n".join(headers) + "\r\n\r\nbody\r\n").encode(), ARRIVED)


def _file(ledger: Ledger, token: str, email: InboundEmail) -> Conversation:
    """File ``email`` in conversation ``token`` (started by its sender when new)."""
    conversation = ledger.conversations.setdefault(
        token,
        Conversation(token, "support", email.customer_address or "", "", email.subject, ARRIVED),
    )
    conversation.messages.append(
        FiledMessage(
            email.key,
            email.message_id,
            Role.CUSTOMER,
            ARRIVED,
            email.from_address,
            email.subject,
            "INBOX",
            names=named_ids(email),
        )
    )
    return conversation


def _find(ledger: Ledger, email: InboundEmail) -> str | None:
    index = ledger.index()
    links = Links(index.received, index.named, frozenset({SUPPORT, "alice@example.com"}))
    return find_conversation(email, links, ledger.conversations)


def test_two_replies_to_an_unseen_message_join_one_conversation() -> None:
    """A customer's two replies to a message the mailbox never got share a conversation (the
    id both name is JWZ's empty container)."""
    ledger = Ledger()
    _file(ledger, "AAAA", _mail("bob@x.example", "<r1@x>", irt="<lost@x>"))
    assert _find(ledger, _mail("bob@x.example", "<r2@x>", refs="<lost@x>")) == "AAAA"


def test_a_message_arriving_after_its_reply_joins_the_reply() -> None:
    """The original that a filed reply names joins that conversation, whoever wrote it."""
    ledger = Ledger()
    _file(ledger, "AAAA", _mail("bob@x.example", "<reply@x>", irt="<original@x>"))
    assert _find(ledger, _mail("carol@x.example", "<original@x>")) == "AAAA"


def test_other_customers_answering_the_same_unseen_message_are_kept_apart() -> None:
    """Two customers replying to one newsletter the agent never saw get a conversation each:
    the unseen id alone never merges two customers."""
    ledger = Ledger()
    _file(ledger, "AAAA", _mail("bob@x.example", "<b@x>", irt="<newsletter@x>"))
    assert _find(ledger, _mail("carol@x.example", "<c@x>", irt="<newsletter@x>")) is None


def test_someone_writing_to_the_conversation_joins_on_an_unseen_message() -> None:
    """A reply addressed to the conversation's customer, or from staff, joins on a shared
    unseen id: they are part of the exchange."""
    ledger = Ledger()
    _file(ledger, "AAAA", _mail("bob@x.example", "<b@x>", irt="<lost@x>"))
    colleague = _mail("carol@x.example", "<c@x>", irt="<lost@x>", to="bob@x.example")
    staff = _mail("alice@example.com", "<s@x>", irt="<lost@x>", to="dan@x.example")
    assert _find(ledger, colleague) == "AAAA"
    assert _find(ledger, staff) == "AAAA"


def test_a_received_id_wins_over_a_merely_named_one() -> None:
    """When one conversation received a message and another only names it, the message that
    answers it joins the one that received it, however near the named id is."""
    ledger = Ledger()
    _file(ledger, "AAAA", _mail("bob@x.example", "<known@x>"))
    _file(ledger, "BBBB", _mail("bob@x.example", "<b@x>", irt="<unseen@x>"))
    email = _mail("bob@x.example", "<m@x>", irt="<unseen@x>", refs="<known@x> <unseen@x>")
    assert _find(ledger, email) == "AAAA"
    assert ledger.by_message_id()["<known@x>"] == "AAAA"
    assert ledger.by_message_id()["<unseen@x>"] == "BBBB"


def test_a_message_linking_two_conversations_joins_one_and_lists_both() -> None:
    """A message whose ids lead to two conversations is never a merge: it joins the first by
    the rules, and ``linked_conversations`` names the other for a note."""
    ledger = Ledger()
    _file(ledger, "AAAA", _mail("bob@x.example", "<a1@x>"))
    _file(ledger, "BBBB", _mail("carol@x.example", "<b1@x>"))
    email = _mail("bob@x.example", "<m@x>", irt="<b1@x>", refs="<a1@x> <b1@x>")
    index = ledger.index()
    links = Links(index.received, index.named)
    assert linked_conversations(email, links, ledger.conversations) == ["BBBB", "AAAA"]
    assert find_conversation(email, links, ledger.conversations) == "BBBB"
    assert len(ledger.conversations) == 2


def test_what_a_message_names_is_bounded() -> None:
    """A References header of hundreds of ids is recorded as at most ``MAX_NAMED`` ids,
    In-Reply-To first, so one message cannot bloat the index."""
    refs = " ".join(f"<r{n}@x>" for n in range(500))
    names = named_ids(_mail("bob@x.example", "<m@x>", irt="<p@x>", refs=refs))
    assert len(names) <= MAX_NAMED
    assert names[0] == "<p@x>"


def test_an_id_many_conversations_name_lists_only_the_first_few() -> None:
    """An id named by many conversations (a broadcast) keeps ``MAX_NAMING`` of them."""
    ledger = Ledger()
    for n in range(MAX_NAMING + 5):
        _file(ledger, f"C{n:03d}", _mail(f"c{n}@x.example", f"<m{n}@x>", irt="<news@x>"))
    assert len(ledger.index().named["<news@x>"]) == MAX_NAMING


def test_the_index_catches_up_with_what_was_added() -> None:
    """Messages, our mail and skipped mail added after the index was built are found; the
    index object is kept, not built again."""
    ledger = Ledger()
    conversation = _file(ledger, "AAAA", _mail("bob@x.example", "<a1@x>"))
    index = ledger.index()
    _file(ledger, "AAAA", _mail("bob@x.example", "<a2@x>", irt="<gone@x>"))
    _file(ledger, "BBBB", _mail("carol@x.example", "<b1@x>"))
    conversation.sent.append(
        SentMail("<ours@x>", MailKind.ACKNOWLEDGEMENT, "bob@x.example", ARRIVED)
    )
    ledger.skipped.append(SkippedMessage("<spam@x>", "support", conversation.messages[0]))
    assert ledger.index() is index
    assert index.received["<a2@x>"] == index.received["<ours@x>"] == "AAAA"
    assert index.named["<gone@x>"] == ["AAAA"]
    assert index.by_customer == {"bob@x.example": ["AAAA"], "carol@x.example": ["BBBB"]}
    assert [s.to for s in index.sent_to["bob@x.example"]] == ["bob@x.example"]
    assert ledger.known_keys() == {"<a1@x>", "<a2@x>", "<b1@x>", "<spam@x>"}


def test_a_conversation_leaving_the_ledger_rebuilds_the_index() -> None:
    """A conversation taken out of the ledger (archived) is no longer found."""
    ledger = Ledger()
    _file(ledger, "AAAA", _mail("bob@x.example", "<a1@x>", irt="<gone@x>"))
    _file(ledger, "BBBB", _mail("carol@x.example", "<b1@x>"))
    ledger.index()
    del ledger.conversations["AAAA"]
    assert ledger.by_message_id() == {"<b1@x>": "BBBB"}
    assert _find(ledger, _mail("bob@x.example", "<a2@x>", irt="<a1@x>")) is None
