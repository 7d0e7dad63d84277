"""End-to-end stories of the core loop: customers write, the agent acknowledges with a promise.

Each story runs twice: in memory, and on real servers (Dovecot, else pymap, and an aiosmtpd
relay). Every ``run_once`` opens the store from disk, so each step is also a restart.
Business hours in these stories: London, Mon-Fri 09:00-17:30; a reply within 8 business hours.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.worlds import (
    World,
    body,
    by_recipient,
    customer_mail,
    ledger,
    london,
    run,
    threads,
    to_address,
)

CORPUS = Path(__file__).resolve().parents[1] / ".." / "shared" / "corpus"
ANA = "Ana Silva <ana@customer.example>"
BEN = "Ben Okafor <ben@shop.example>"
CHLOE = "Chloé Martin <chloe@client.example>"


def three_customers_write(world: World) -> None:
    """Chloé on Saturday, Ben on Sunday night, Ana on Monday morning; the agent runs as each
    mail arrives, as the daemon would."""
    world.deliver(
        customer_mail(CHLOE, "Commande 88", "Où est ma commande ?", london(14, 11, 0)),
        london(14, 11, 0),
    )
    run(world, london(14, 11, 1))
    world.deliver(
        customer_mail(BEN, "Can't log in", "The page reloads.", london(15, 22, 40)),
        london(15, 22, 40),
    )
    run(world, london(15, 22, 41))
    world.deliver(
        customer_mail(
            ANA, "Invoice 2211 shows the wrong VAT number", "Please reissue it.", london(16, 10, 5)
        ),
        london(16, 10, 5),
    )
    run(world, london(16, 10, 6))


def test_three_customers_get_one_acknowledgement_each_with_the_right_promise(world: World) -> None:
    """Three new customers, three acknowledgements, each promising the right business moment."""
    three_customers_write(world)
    sent = by_recipient(world.sent())
    assert sorted(sent) == ["ana@customer.example", "ben@shop.example", "chloe@client.example"]
    assert all(len(mails) == 1 for mails in sent.values())
    # Chloé wrote on Saturday: counted from Monday 09:00, so Monday 17:00.
    assert "by Monday 16 November, 17:00 London time" in body(sent["chloe@client.example"][0])
    # Ben wrote on Sunday night: also counted from Monday 09:00, which is tomorrow for him.
    assert "tomorrow (Monday 16 November) by 17:00 London time" in body(sent["ben@shop.example"][0])
    # Ana: Mon 10:05 + 8h of open time = Mon 17:30 (7h25) + Tue 09:35, promised as the next
    # quarter hour, 09:45.
    assert "reply to you tomorrow (Tuesday 17 November) by 09:45 London time." in body(
        sent["ana@customer.example"][0]
    )
    promised = {c["customer"]: c["promised_by"] for c in threads(world)}
    assert promised == {
        "ana@customer.example": "2026-11-17T09:45:00+00:00",
        "ben@shop.example": "2026-11-16T17:00:00+00:00",
        "chloe@client.example": "2026-11-16T17:00:00+00:00",
    }


def test_mail_first_seen_late_is_promised_from_then(world: World) -> None:
    """The agent was down from Saturday to Monday night: Chloé's Monday 17:00 has passed, so
    she is promised a moment counted from now, in one mail, not a stale one and an apology."""
    world.deliver(
        customer_mail(CHLOE, "Commande 88", "Où est ma commande ?", london(14, 11, 0)),
        london(14, 11, 0),
    )
    run(world, london(16, 23, 0))
    (ack,) = world.sent()
    assert "tomorrow (Tuesday 17 November) by 17:00 London time" in body(ack)
    (thread,) = threads(world)
    assert thread["promised_by"] == "2026-11-17T17:00:00+00:00"


def test_acknowledgement_carries_the_contract_headers(world: World) -> None:
    """Auto-Submitted, threading to the customer's mail, token subject, chosen Message-ID."""
    raw = customer_mail(ANA, "Invoice 2211", "Please reissue it.", london(16, 10, 5))
    world.deliver(raw, london(16, 10, 5))
    run(world, london(16, 10, 6))
    (ack,) = world.sent()
    (thread,) = threads(world)
    assert ack["Auto-Submitted"] == "auto-replied"
    assert ack["X-Auto-Response-Suppress"] == "All"
    assert ack["Subject"] == f"[#{thread['id']}] Re: Invoice 2211"
    assert ack["In-Reply-To"] == thread["message_ids"][0]
    assert thread["message_ids"][0] in ack["References"]
    assert ack["Message-ID"] in thread["message_ids"]
    assert ack["Date"] is not None
    (sender,) = ack["From"].addresses
    assert (sender.display_name, sender.addr_spec) == (
        "Example Co. Support",
        world.settings.mailboxes[0].address,
    )


def test_a_second_run_sends_nothing(world: World) -> None:
    """Running again with no new mail sends nothing and files nothing twice."""
    three_customers_write(world)
    run(world, london(16, 10, 10))
    run(world, london(16, 15, 59))  # a minute before the first follow-up is owed
    assert len(world.sent()) == 3
    assert len(threads(world)) == 3


def test_a_customer_reply_joins_without_a_second_acknowledgement(world: World) -> None:
    """A reply to the acknowledgement joins the conversation; nothing more is sent."""
    world.deliver(
        customer_mail(ANA, "Invoice 2211", "Please reissue it.", london(16, 10, 5)),
        london(16, 10, 5),
    )
    run(world, london(16, 10, 6))
    (ack,) = world.sent()
    world.deliver(
        customer_mail(
            ANA,
            "Re: " + str(ack["Subject"]),
            "VAT no. GB123",
            london(16, 11, 0),
            In_Reply_To=str(ack["Message-ID"]),
            References=str(ack["Message-ID"]),
        ),
        london(16, 11, 0),
    )
    run(world, london(16, 11, 1))
    assert len(world.sent()) == 1
    (thread,) = threads(world)
    assert len(thread["message_ids"]) == 3  # two from Ana, one acknowledgement
    assert thread["promised_by"] == "2026-11-17T09:45:00+00:00"  # the first promise stands


def test_the_same_message_delivered_twice_is_one_message(world: World) -> None:
    """A duplicate delivery (same Message-ID, e.g. To and Cc both us) is filed once."""
    raw = customer_mail(ANA, "Invoice 2211", "Please reissue it.", london(16, 10, 5))
    world.deliver(raw, london(16, 10, 5))
    world.deliver(raw, london(16, 10, 6))
    report = run(world, london(16, 10, 7))
    assert report.duplicates == 1
    assert len(world.sent()) == 1
    (thread,) = threads(world)
    assert len(thread["message_ids"]) == 2  # Ana's message and the acknowledgement


def test_restart_keeps_all_state(world: World) -> None:
    """After a restart the conversations, promises and checkpoints are all there."""
    three_customers_write(world)
    before = threads(world)
    on_disk = ledger(world.settings)
    assert on_disk.checkpoints  # where reading stopped is remembered
    assert all(e.state == "sent" for e in on_disk.outbox.values())
    run(world, london(16, 10, 30))
    assert threads(world) == before
    assert len(world.sent()) == 3


def test_uidvalidity_change_refiles_nothing(world: World) -> None:
    """A mailbox renumbered (new UIDVALIDITY) is read again but nothing is filed or sent twice."""
    three_customers_write(world)
    old_validity = next(iter(ledger(world.settings).checkpoints.values())).uidvalidity
    world.renumber()
    report = run(world, london(16, 10, 30))
    assert len(world.sent()) == 3
    assert len(threads(world)) == 3
    assert sum(len(t["message_ids"]) for t in threads(world)) == 6
    assert next(iter(ledger(world.settings).checkpoints.values())).uidvalidity != old_validity
    assert report.duplicates == 3


def test_old_mail_is_filed_without_acknowledgement(world: World) -> None:
    """Mail older than skip_older_than when first seen is filed open, not acknowledged."""
    world.deliver(customer_mail(ANA, "Old question", "Hello?", london(2, 10, 0)), london(2, 10, 0))
    world.deliver(
        customer_mail(BEN, "New question", "Hello!", london(16, 10, 0)), london(16, 10, 0)
    )
    run(world, london(16, 10, 5))
    assert [to_address(m) for m in world.sent()] == ["ben@shop.example"]
    status = {t["customer"]: t["status"] for t in threads(world)}
    assert status == {"ana@customer.example": "open", "ben@shop.example": "waiting"}


def test_a_malformed_message_does_not_stop_the_ones_after_it(world: World) -> None:
    """Broken mail is filed and the good mail behind it is still acknowledged."""
    broken = [
        b"",
        b"\x00\xff\xfe garbage with no headers at all",
        b"From: =?bogus?q?x?= <\r\nSubject: =?utf-8?b?!!!?=\r\nContent-Type: multipart/"
        b'mixed; boundary="never-closed"\r\n\r\n--never-closed\r\nContent-Type: text/'
        b"plain; charset=no-such-charset\r\n\r\n\xe9\xe9\r\n",
    ]
    delivered = sum(world.deliver(raw, london(16, 10, n)) for n, raw in enumerate(broken))
    world.deliver(
        customer_mail(BEN, "After the garbage", "Still here", london(16, 10, 30)),
        london(16, 10, 30),
    )
    report = run(world, london(16, 10, 31))
    assert [to_address(m) for m in world.sent()] == ["ben@shop.example"]
    assert report.fetched == delivered + 1
    on_disk = ledger(world.settings)
    filed = len(on_disk.skipped) + sum(len(c.messages) for c in on_disk.conversations.values())
    assert filed == delivered + 1  # nothing lost
    kept = sorted((world.settings.agent.data_dir / "unparsed").glob("*.eml"))
    assert len(kept) == len(on_disk.skipped) == delivered  # each broken one, byte for byte
    assert all(hashlib.sha256(path.read_bytes()).hexdigest() == path.stem for path in kept)
    assert all("the bytes are kept in unparsed/" in s.message.note for s in on_disk.skipped)


@pytest.mark.skipif(not (CORPUS / "malformed").is_dir(), reason="shared corpus not present")
def test_the_malformed_corpus_is_all_filed(world: World) -> None:
    """Every file in the shared malformed corpus is filed; none crashes the cycle."""
    files = sorted((CORPUS / "malformed").rglob("*.eml"))
    delivered = sum(
        world.deliver(path.read_bytes(), london(16, 9, n % 60)) for n, path in enumerate(files)
    )
    assert delivered >= len(files) - 2  # only empty files cannot be stored on a server
    report = run(world, london(16, 12, 0))
    assert report.fetched == delivered
    on_disk = ledger(world.settings)
    filed = len(on_disk.skipped) + sum(len(c.messages) for c in on_disk.conversations.values())
    assert filed + report.duplicates == delivered  # every one filed, or a copy of one filed
