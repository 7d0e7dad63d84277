"""Never answer a machine, even one that looks like a person: loops, limits and bounces.

Each story runs in memory and on real servers (Dovecot, else pymap, and an aiosmtpd relay).
Business hours: London, Mon-Fri 09:00-17:30; limits as shipped: loop_window 1h, five mails to
one address a day, three to one conversation.
"""

from __future__ import annotations

import json
import subprocess
import sys
from email.message import EmailMessage
from email.utils import format_datetime

from inbox_agent.commands import views
from tests.worlds import LONDON, World, body, customer_mail, ledger, london, run, threads

ANA = "Ana Silva <ana@customer.example>"
OTHER_DESK = "Other Desk <help@otherdesk.example>"


def test_a_helpdesk_answering_without_headers_stops_after_one_exchange(world: World) -> None:
    """Their system opens a "ticket" for our acknowledgement and writes back as a new
    conversation, with no Auto-Submitted and nothing to thread on: filed, not answered."""
    world.deliver(
        customer_mail(OTHER_DESK, "Order 5512", "Where is it?", london(16, 10, 5)),
        london(16, 10, 5),
    )
    run(world, london(16, 10, 6))
    world.deliver(
        customer_mail(
            OTHER_DESK, "Ticket 1001 received", "Thank you, we will answer soon.", london(16, 10, 7)
        ),
        london(16, 10, 7),
    )
    run(world, london(16, 10, 8))
    run(world, london(16, 11, 30))
    assert len(world.sent()) == 1
    statuses = sorted((str(t["subject"]), str(t["status"])) for t in threads(world))
    assert statuses == [("Order 5512", "waiting"), ("Ticket 1001 received", "open")]
    (held,) = [row for row in views.skipped(ledger(world.settings)) if row["role"] == "customer"]
    assert held["subject"] == "Ticket 1001 received"
    assert held["reason"].startswith(
        "possible mail loop: help@otherdesk.example started a new "
        "conversation 2 min after our automatic mail"
    )


def test_at_most_five_automatic_mails_to_one_address_a_day(world: World) -> None:
    """Six separate requests from one address, each over an hour apart: five
    acknowledgements; the sixth is filed open with the reason, and so is the follow-up the
    first one would be owed at the same moment."""
    for n, hour in enumerate((9, 10, 12, 13, 15, 16)):
        world.deliver(
            customer_mail(ANA, f"Question {n + 1}", "Hello", london(16, hour, 30)),
            london(16, hour, 30),
        )
        run(world, london(16, hour, 31))
    assert len(world.sent()) == 5
    by_subject = {str(t["subject"]): t for t in threads(world)}
    assert by_subject["Question 6"]["status"] == "open"
    first = ledger(world.settings).conversations[str(by_subject["Question 1"]["id"])]
    assert first.notes[-1].text.startswith(
        "follow-up held back: 5 automatic mails to ana@customer.example in 24 h already"
    )
    run(world, london(17, 9, 31))  # 24 h after the first: room again, the follow-up goes
    assert len(world.sent()) == 6
    assert "we have not managed to" in body(world.sent()[-1])  # Question 1's promise lapsed


def _bounce(returned: EmailMessage, action: str = "failed", status: str = "5.1.1") -> bytes:
    """A delivery status notification (RFC 3464) for ``returned``, as Postfix writes one."""
    subject = (
        "Undelivered Mail Returned to Sender"
        if action == "failed"
        else "Delayed Mail (still being retried)"
    )
    returned_headers = "".join(f"{k}: {v}\r\n" for k, v in returned.items())
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.customer.example>\r\n"
        f"To: {returned['From']}\r\n"
        f"Subject: {subject}\r\n"
        f"Date: {format_datetime(london(16, 10, 10))}\r\n"
        f"Message-ID: <dsn-{action}@mx.customer.example>\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="dsn"\r\n'
        "\r\n--dsn\r\nContent-Type: text/plain\r\n\r\n"
        "This is the mail system at host mx.customer.example.\r\n"
        "\r\n--dsn\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.customer.example\r\n\r\n"
        f"Final-Recipient: rfc822; {returned['To']}\r\nAction: {action}\r\n"
        f"Status: {status}\r\n"
        "\r\n--dsn\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"{returned_headers}"
        "\r\n--dsn--\r\n"
    ).encode()


def test_a_bounce_is_filed_with_its_conversation_and_stops_the_follow_ups(world: World) -> None:
    """Our acknowledgement bounced: the report is filed in Ana's conversation, her address is
    marked undeliverable, and no follow-up goes into the bounce. When she writes again, it
    resumes (her promise has lapsed by then, so the next mail says so)."""
    world.deliver(
        customer_mail(ANA, "Invoice", "Please reissue it.", london(16, 10, 5)), london(16, 10, 5)
    )
    run(world, london(16, 10, 6))
    (ack,) = world.sent()
    world.deliver(_bounce(ack), london(16, 10, 10))
    run(world, london(16, 10, 11))
    run(world, london(16, 17, 15))  # the follow-up moment: an hour before Tue 09:45
    assert len(world.sent()) == 1
    on_disk = ledger(world.settings)
    (conversation,) = on_disk.conversations.values()
    assert [m.role.value for m in conversation.messages] == ["customer", "machine"]
    assert "delivery failed to ana@customer.example" in conversation.messages[1].note
    assert "ana@customer.example" in on_disk.undeliverable
    assert [n.text.split(":")[0] for n in conversation.notes] == [
        "mail to ana@customer.example bounced",
        "follow-up not sent",
    ]
    assert "(bounced)" in views.threads_table(
        views.select(on_disk, "all"), on_disk.undeliverable, zone=LONDON
    )
    world.deliver(
        customer_mail(
            ANA,
            f"Re: {ack['Subject']}",
            "Here I am.",
            london(17, 10, 0),
            In_Reply_To=str(ack["Message-ID"]),
        ),
        london(17, 10, 0),
    )
    run(world, london(17, 10, 1))
    assert "ana@customer.example" not in ledger(world.settings).undeliverable
    assert len(world.sent()) == 2
    assert "we have not managed to" in body(world.sent()[-1])


def test_a_delay_notice_is_filed_but_stops_nothing(world: World) -> None:
    """ "Still being retried" is not a failure: the follow-up goes out as usual."""
    world.deliver(
        customer_mail(ANA, "Invoice", "Please reissue it.", london(16, 10, 5)), london(16, 10, 5)
    )
    run(world, london(16, 10, 6))
    (ack,) = world.sent()
    world.deliver(_bounce(ack, action="delayed", status="4.4.1"), london(16, 10, 10))
    run(world, london(16, 17, 15))
    assert not ledger(world.settings).undeliverable
    assert len(world.sent()) == 2
    (thread,) = threads(world)
    assert len(thread["message_ids"]) == 4  # Ana's, the notice, two of ours


def test_skipped_lists_machine_mail_with_reasons(world: World) -> None:
    """``inbox-agent skipped --json --since``: the machine mail, why, where it was filed."""
    world.deliver(
        customer_mail(ANA, "Invoice", "Please reissue it.", london(16, 10, 5)), london(16, 10, 5)
    )
    world.deliver(
        customer_mail(
            "Ana Silva <ana@customer.example>",
            "Automatic reply: away",
            "Back Monday.",
            london(16, 10, 6),
            Auto_Submitted="auto-replied",
        ),
        london(16, 10, 6),
    )
    world.deliver(
        customer_mail(
            "News <news@shop.example>",
            "Our sale",
            "50% off",
            london(16, 10, 7),
            List_Id="<news.shop.example>",
        ),
        london(16, 10, 7),
    )
    run(world, london(16, 10, 8))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "inbox_agent",
            "--config",
            str(world.settings.source),
            "skipped",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert [(r["subject"], r["reason"]) for r in rows] == [
        ("Automatic reply: away", "Auto-Submitted: auto-replied (RFC 3834)"),
        ("Our sale", "List-Id: <news.shop.example> (mailing list)"),
    ]
    recent = subprocess.run(
        [
            sys.executable,
            "-m",
            "inbox_agent",
            "--config",
            str(world.settings.source),
            "skipped",
            "--since",
            "1d",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert recent.stdout.strip() == "nothing skipped"  # the clock of the test is November
