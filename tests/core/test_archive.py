"""Which conversations leave the working set, and what the archive's index keeps (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from inbox_agent.core.archive import (
    KEY,
    NAMED,
    TOKEN,
    archivable,
    entries,
    last_activity,
    leads,
    skipped_archivable,
)
from inbox_agent.core.conversations import (
    Conversation,
    FiledMessage,
    MailKind,
    Note,
    Promise,
    Role,
    SentMail,
    our_token,
)
from inbox_agent.core.ledger import SkippedMessage
from inbox_agent.core.lifecycle import Status
from inbox_agent.core.message import parse

T0 = datetime(2026, 11, 16, 10, 0, tzinfo=UTC)
FORTNIGHT = timedelta(days=14)
OURS = "<inbox-agent.K7Q2.acknowledgement.0123456789abcdef@example.com>"


def conversation(status: Status, *, last: datetime = T0) -> Conversation:
    """Ana's conversation: her message at T0, our acknowledgement, a promise kept at ``last``."""
    c = Conversation(
        id="K7Q2",
        mailbox="support",
        customer="ana@customer.example",
        customer_name="Ana",
        subject="Invoice",
        created_at=T0,
        status=status,
    )
    c.messages.append(
        FiledMessage(
            "<a1@client.example>",
            "<a1@client.example>",
            Role.CUSTOMER,
            T0,
            "ana@customer.example",
            "Invoice",
            "INBOX",
            names=("<older@client.example>", OURS),
        )
    )
    c.sent.append(SentMail(OURS, MailKind.ACKNOWLEDGEMENT, "ana@customer.example", T0))
    c.promises.append(
        Promise(made_at=T0, due=T0 + timedelta(hours=8), reason="first reply", settled_at=last)
    )
    return c


@pytest.mark.parametrize(
    ("status", "quiet", "expected"),
    [
        (Status.ANSWERED, FORTNIGHT, True),
        (Status.ANSWERED, FORTNIGHT - timedelta(minutes=1), False),
        (Status.CLOSED, timedelta(days=1), True),  # closed: a quiet day is enough
        (Status.CLOSED, timedelta(hours=23), False),  # the breakers still count its mail
        (Status.WAITING, timedelta(days=400), False),
        (Status.OPEN, timedelta(days=400), False),  # a person must look at it first
    ],
)
def test_what_is_done_and_quiet_is_archived(
    status: Status, quiet: timedelta, expected: bool
) -> None:
    c = conversation(status)
    if status is Status.WAITING:
        c.promises[-1].settled_at = None
    assert archivable(c, T0 + quiet, FORTNIGHT, in_outbox=set()) is expected


def test_quiet_counts_from_the_newest_thing_that_happened() -> None:
    c = conversation(Status.ANSWERED)
    c.notes.append(Note(T0 + timedelta(days=5), "mail to ana bounced"))
    assert last_activity(c) == T0 + timedelta(days=5)
    assert not archivable(c, T0 + FORTNIGHT, FORTNIGHT, in_outbox=set())
    assert archivable(c, T0 + FORTNIGHT + timedelta(days=5), FORTNIGHT, in_outbox=set())


def test_owed_mail_or_mail_in_the_outbox_keeps_it_live() -> None:
    long_after = T0 + timedelta(days=100)
    owing = conversation(Status.CLOSED)
    owing.owed.append(MailKind.FOLLOW_UP)
    assert not archivable(owing, long_after, FORTNIGHT, in_outbox=set())
    assert not archivable(conversation(Status.CLOSED), long_after, FORTNIGHT, in_outbox={"K7Q2"})


def test_skipped_mail_leaves_after_archive_after() -> None:
    message = FiledMessage("<b@x>", "<b@x>", Role.MACHINE, T0, "mailer-daemon@x", "bounce", "INBOX")
    skipped = SkippedMessage("<b@x>", "support", message)
    assert not skipped_archivable(skipped, T0 + FORTNIGHT - timedelta(seconds=1), FORTNIGHT)
    assert skipped_archivable(skipped, T0 + FORTNIGHT, FORTNIGHT)


def test_the_index_keeps_token_keys_and_named_ids_but_not_our_own() -> None:
    found = entries(conversation(Status.ANSWERED))
    assert found == [
        TOKEN + "K7Q2",
        KEY + "<a1@client.example>",
        NAMED + "<older@client.example>",
    ]  # OURS carries its token


@pytest.mark.parametrize(
    ("message_id", "token"),
    [
        (OURS, "K7Q2"),
        ("inbox-agent.K7Q2.follow_up.00ff@example.com", "K7Q2"),  # without brackets
        ("<inbox-agent.K7Q2X.escalation_notice.ab@example.com>", "K7Q2X"),
        ("<K7Q2@example.com>", None),
        ("<inbox-agent.k7q2.acknowledgement.00@example.com>", None),  # tokens are upper case
        ("<inbox-agent.K7Q1.acknowledgement.00@example.com>", None),  # 1 is not in the alphabet
        ("<x><inbox-agent.K7Q2.acknowledgement.00@example.com>", None),
    ],
)
def test_our_token_reads_only_our_own_message_ids(message_id: str, token: str | None) -> None:
    assert our_token(message_id) == token


def test_leads_follow_the_threading_rules() -> None:
    raw = (
        b"From: ana@customer.example\r\nTo: support@example.com\r\n"
        b"Subject: Re: [#ABCD] Invoice\r\nMessage-ID: <a2@client.example>\r\n"
        b"In-Reply-To: "
        + OURS.encode()
        + b"\r\nReferences: <a1@client.example> "
        + OURS.encode()
        + b"\r\n\r\nThanks\r\n"
    )
    looked_up, tokens = leads(parse(raw, T0))
    assert KEY + "<a1@client.example>" in looked_up  # rule 1: an id received there
    assert NAMED + "<a2@client.example>" in looked_up  # rule 2: its own id named there
    assert NAMED + "<a1@client.example>" in looked_up  # rule 3: an id named there too
    assert tokens == ["K7Q2", "ABCD"]  # our mail it answers, then its subject
