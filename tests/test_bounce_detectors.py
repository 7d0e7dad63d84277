"""Bounces read by the book: what GNU Mailman's detectors add, told as stories.

Each story runs in memory and on real servers (Dovecot, else pymap, and an aiosmtpd relay):
Ana writes, we acknowledge, and a report about our acknowledgement comes back. What the agent
does with it rests on two readings (``core.bounces``): which of our mails it returns (its
Message-ID, quoted in the report) and whether delivery failed or is only late. Only the
address our returned mail went to is ever marked undeliverable; the addresses a report names
decide nothing else.
"""

from __future__ import annotations

from email.message import EmailMessage

from tests.worlds import World, customer_mail, ledger, london, run

ANA = "Ana Silva <ana@customer.example>"


def _acknowledged(world: World) -> EmailMessage:
    world.deliver(
        customer_mail(ANA, "Invoice", "Please reissue it.", london(16, 10, 5)), london(16, 10, 5)
    )
    run(world, london(16, 10, 6))
    (ack,) = world.sent()
    return ack


def _quoted(returned: EmailMessage) -> str:
    return "".join(f"{k}: {v}\r\n" for k, v in returned.items())


def _report(subject: str, sender: str, body: str) -> bytes:
    return (
        f"From: {sender}\r\nTo: support@example.com\r\nSubject: {subject}\r\n"
        "Date: Mon, 16 Nov 2026 10:10:00 +0000\r\n"
        "Message-ID: <report.1@mx.customer.example>\r\n" + body
    ).encode()


def test_a_report_whose_delivery_status_part_we_cannot_read_still_stops_the_chasing(
    world: World,
) -> None:
    """Mimecast writes ``Action : failed`` (a space before the colon), so its
    delivery-status part names nobody we can read; its text says who failed, and Mailman's
    detectors read it. Ana's address is marked undeliverable and no follow-up goes. (Before,
    a report with such a part counted as "not a failure" and the chasing went on.)"""
    ack = _acknowledged(world)
    body = (
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="MC"\r\n'
        "\r\n--MC\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n"
        "This is a delivery failure notification message indicating that\r\n"
        "an email you addressed to email address :\r\n-- ana@customer.example\r\n\r\n"
        "could not be delivered. The problem appears to be :\r\n"
        "-- Recipient email address is possibly incorrect\r\n"
        "\r\n--MC\r\nContent-Type: message/delivery-status; charset=UTF-8\r\n\r\n"
        "Reporting-MTA : dns;eu-smtp-inbound-delivery-1.mimecast.com\r\n"
        "Action : failed\r\nStatus : 5.0.0\r\n"
        "Final-Recipient : rfc/822;ana@customer.example\r\n"
        f"\r\n--MC\r\nContent-Type: text/rfc822-headers\r\n\r\n{_quoted(ack)}"
        "\r\n--MC--\r\n"
    )
    world.deliver(
        _report(
            "[Postmaster] Email Delivery Failure",
            "Postmaster <postmaster@mx.customer.example>",
            body,
        ),
        london(16, 10, 10),
    )
    run(world, london(16, 10, 11))
    run(world, london(16, 17, 15))  # the follow-up moment
    assert len(world.sent()) == 1
    on_disk = ledger(world.settings)
    assert list(on_disk.undeliverable) == ["ana@customer.example"]
    (conversation,) = on_disk.conversations.values()
    assert "delivery failed to ana@customer.example" in conversation.messages[1].note


def test_a_delay_written_only_as_text_stops_nothing(world: World) -> None:
    """A delay notice with a plain subject and no delivery-status part: Mailman's warning
    detector reads "has been delayed ... will be retried" as a temporary failure, so Ana's
    address stays good and her follow-up goes. (Before, the subject alone decided, and it
    speaks of no delay.)"""
    ack = _acknowledged(world)
    body = (
        "\r\nDelivery to the following recipient has been delayed:\r\n\r\n"
        "     ana@customer.example\r\n\r\n"
        "Message will be retried for 2 more day(s)\r\n\r\n"
        f"----- Original message -----\r\n\r\n{_quoted(ack)}\r\nWe will reply soon.\r\n"
    )
    world.deliver(
        _report(
            "Delivery Status Notification",
            "Mail Delivery Subsystem <mailer-daemon@mx.customer.example>",
            body,
        ),
        london(16, 10, 10),
    )
    run(world, london(16, 10, 11))
    run(world, london(16, 17, 15))
    assert not ledger(world.settings).undeliverable
    assert len(world.sent()) == 2


def test_a_hostile_report_marks_only_the_address_our_mail_went_to(world: World) -> None:
    """A qmail-style report of our acknowledgement that names 10,000 recipients, among them
    other customers, our own address, a display name, an encoded word and a header smuggled
    after a CR: it is a failure, and only Ana, to whom the returned mail went, is marked."""
    ack = _acknowledged(world)
    names = [
        "bo@customer.example",
        "support@example.com",
        "Ana Lima <cy@customer.example",
        "=?utf-8?q?eve=40attacker.example?=",
        "di@customer.example\rBcc: eve@x.example",
        *(f"user{n}@customer.example" for n in range(10_000)),
        "ana@customer.example",
    ]
    recipients = "".join(f"<{n}>:\r\nSorry, no mailbox here by that name.\r\n\r\n" for n in names)
    body = (
        "\r\nHi. This is the qmail-send program at mx.customer.example.\r\n"
        "I'm afraid I wasn't able to deliver your message to the following addresses.\r\n"
        f"\r\n{recipients}--- Below this line is a copy of the message.\r\n\r\n"
        f"{_quoted(ack)}\r\nWe will reply soon.\r\n"
    )
    world.deliver(
        _report("failure notice", "MAILER-DAEMON@mx.customer.example", body), london(16, 10, 10)
    )
    run(world, london(16, 10, 11))
    on_disk = ledger(world.settings)
    assert list(on_disk.undeliverable) == ["ana@customer.example"]
    (conversation,) = on_disk.conversations.values()
    assert conversation.messages[1].note.endswith("; delivery failed to ana@customer.example")
