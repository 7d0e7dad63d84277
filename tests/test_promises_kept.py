"""Promises kept: follow-ups before a promise lapses, escalation, staff replies, staff commands.

Each story runs in memory and on real servers (Dovecot, else pymap, and an aiosmtpd relay);
every ``run`` is one ``run --once`` at the moment given, opening the store from disk.
Business hours: London, Mon-Fri 09:00-17:30; first reply within 8h, a follow-up 1h before a
promise lapses, each follow-up promising 8h more, two follow-ups, then the manager.

Ana writes on Monday 16 November at 10:05, so the promises run (each rounded up to the next
quarter hour: 10:05 plus 8 open hours is Tue 09:35, promised as 09:45):

    acknowledgement  Mon 10:06  promises Tue 09:45   (chased from Mon 17:15)
    follow-up 1      Mon 17:15  promises Wed 09:15   (chased from Tue 16:45)
    follow-up 2      Tue 16:45  promises Wed 17:15   (chased from Wed 16:15)
    escalation       Wed 16:15  promises Thu 16:45   (the manager's; the agent sends no more)
"""

from __future__ import annotations

import logging
import shutil
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path

import pytest

from inbox_agent.adapters.store import Store
from inbox_agent.commands import staff as staff_commands
from inbox_agent.errors import CommandError
from tests.worlds import (
    ROOT,
    SUPPORT,
    MemoryWorld,
    World,
    body,
    by_recipient,
    customer_mail,
    ledger,
    london,
    make_settings,
    run,
    threads,
)

ANA = "Ana Silva <ana@customer.example>"
ANA_ADDRESS = "ana@customer.example"
MANAGER = "manager@example.com"


def ana_writes(world: World) -> EmailMessage:
    """Ana's first mail, Monday 10:05, seen a minute later; returns the acknowledgement."""
    world.deliver(
        customer_mail(
            ANA, "Invoice 2211 shows the wrong VAT number", "Please reissue it.", london(16, 10, 5)
        ),
        london(16, 10, 5),
    )
    run(world, london(16, 10, 6))
    (ack,) = world.sent()
    return ack


def the_thread(world: World) -> dict[str, object]:
    (thread,) = threads(world)
    return thread


def reply_to(
    message: EmailMessage, sender: str, body_text: str, sent: datetime, **headers: str
) -> bytes:
    """A reply to ``message`` as a mail client writes it (threading headers, Re: subject)."""
    return customer_mail(
        sender,
        f"Re: {message['Subject']}",
        body_text,
        sent,
        In_Reply_To=str(message["Message-ID"]),
        References=str(message["Message-ID"]),
        **headers,
    )


def staff(world: World, command: str, token: str, now: datetime, until: str | None = None) -> str:
    return staff_commands.carry_out(world.settings, command, token, until, now)


def mails_to(world: World, address: str) -> list[EmailMessage]:
    return by_recipient(world.sent()).get(address, [])


def test_a_follow_up_goes_out_once_just_before_the_promise_lapses(world: World) -> None:
    """Promised Tue 09:45 (09:35 computed, told as the next quarter hour): nothing at 17:14;
    the follow-up at 17:15, an open hour before, with the new promise; nothing more after."""
    ack = ana_writes(world)
    run(world, london(16, 17, 14))
    assert len(world.sent()) == 1
    run(world, london(16, 17, 15))
    run(world, london(16, 17, 16))
    run(world, london(17, 9, 0))
    (_, follow_up) = world.sent()
    text = body(follow_up)
    # Sent before the promise lapses: it *will* take longer; "not forgotten" names what.
    assert "We are sorry: your request will take longer than we told you." in text
    assert (
        "Your request about “Invoice 2211 shows the wrong VAT number” has not been forgotten"
    ) in text
    assert "You will hear from a person by Wednesday 18 November, 09:15 London time." in text
    assert follow_up["Subject"] == ack["Subject"]
    assert follow_up["In-Reply-To"] == ack["In-Reply-To"]  # Ana's own message
    assert str(ack["Message-ID"]) in str(follow_up["References"])
    assert follow_up["Auto-Submitted"] == "auto-replied"
    thread = the_thread(world)
    assert thread["promised_by"] == "2026-11-18T09:15:00+00:00"
    assert str(follow_up["Message-ID"]) in thread["message_ids"]  # type: ignore[operator]


def test_no_follow_up_after_a_staff_reply_from_the_sent_folder(world: World) -> None:
    """Staff answered from the shared mailbox at 15:00: answered, the promise kept, no chase."""
    ack = ana_writes(world)
    world.deliver(
        reply_to(
            ack,
            f"Example Co. Support <{world.settings.mailboxes[0].address}>",
            "Here is the new invoice.",
            london(16, 15, 0),
            To=ANA,
        ),
        london(16, 15, 0),
        folder="Sent",
    )
    run(world, london(16, 17, 15))
    run(world, london(17, 12, 0))
    assert len(world.sent()) == 1
    thread = the_thread(world)
    assert thread["status"] == "answered"
    assert thread["promised_by"] is None
    (promise,) = ledger(world.settings).conversations[str(thread["id"])].promises
    assert promise.kept


def test_no_follow_up_after_a_staff_reply_copied_to_the_mailbox(world: World) -> None:
    """Alice (a staff address) replied with the support address in Cc: that is the answer."""
    ack = ana_writes(world)
    world.deliver(
        reply_to(
            ack,
            "Alice <alice@example.com>",
            "Sorted, see attached.",
            london(16, 16, 0),
            To=ANA,
            Cc=SUPPORT,
        ),
        london(16, 16, 0),
    )
    run(world, london(16, 17, 15))
    run(world, london(17, 12, 0))
    assert len(world.sent()) == 1
    assert the_thread(world)["status"] == "answered"


def test_the_manager_is_told_after_the_allowed_follow_ups(world: World) -> None:
    """Two follow-ups, then the escalation to the manager and a notice to Ana; then silence.
    Promises Tue 09:45, Wed 09:15, Wed 17:15, each chased an open hour before."""
    ana_writes(world)
    for moment in (
        london(16, 17, 15),
        london(17, 16, 44),
        london(17, 16, 45),
        london(18, 16, 14),
        london(18, 16, 15),
        london(19, 9, 0),
        london(20, 17, 0),
    ):
        run(world, moment)
    to_ana = mails_to(world, ANA_ADDRESS)
    (escalation,) = mails_to(world, MANAGER)
    assert len(to_ana) == 4  # acknowledgement, two follow-ups, the manager's notice
    notice = body(to_ana[-1])
    assert (
        "Your request about “Invoice 2211 shows the wrong VAT number” is now with a "
        "manager, who has taken it over personally"
    ) in notice
    assert "tomorrow (Thursday 19 November) by 16:45 London time" in notice
    thread = the_thread(world)
    report = body(escalation)
    assert "Customer: Ana Silva <ana@customer.example>" in report
    assert "Subject: Invoice 2211 shows the wrong VAT number" in report
    assert "This request is now yours: nobody has answered it after 2 follow-ups" in report
    # Mon 10:05 -> Wed 16:15: 7h25 on Monday, 8h30 on Tuesday, 7h15 on Wednesday.
    assert (
        "Waiting: since Monday 16 November, 10:05 London time (23 hours and 10 minutes of "
        "business time)"
    ) in report
    support = world.settings.mailboxes[0].address  # support-N@ on the test server
    assert (
        f"write to ana@customer.example with {support} in Cc and [#{thread['id']}] kept "
        "in the subject"
    ) in report
    # Escalated at 16:15, an hour before the promise it extends: not "past what we promised".
    assert "Promised: a reply later today, by 17:15 London time (in 1 hour)" in report
    assert "past" not in report
    assert len(report.split()) <= 150
    assert f"inbox-agent thread {thread['id']}" in report
    assert f"[#{thread['id']}]" in str(escalation["Subject"])
    # The manager's report is internal: the customer's mail never refers to it.
    assert str(escalation["Message-ID"]) not in str(to_ana[-1]["References"])
    reasons = [p.reason for p in ledger(world.settings).conversations[str(thread["id"])].promises]
    assert reasons == ["first reply", "follow-up 1", "follow-up 2", "escalation"]


def test_catch_up_after_downtime(world: World) -> None:
    """Down through the follow-up moment but not the promise: the follow-up goes at once.
    Down past the next promise: an honest apology and a promise counted from now."""
    ana_writes(world)
    run(world, london(17, 9, 20))  # down since Monday 10:06; Tue 09:45 has not passed
    late = body(world.sent()[-1])
    assert "will take longer than we told you" in late
    run(world, london(18, 12, 0))  # down again, past Wed 09:15
    (_, _, apology) = world.sent()
    text = body(apology)
    assert "We told you that a member of our team would reply to you" in text
    assert "and we have not managed to. We are sorry for the wait." in text
    assert "has not been forgotten: it is with our team, and we are still working on it" in text
    # Counted from now (Wed 12:00 + 8h = Thu 11:30), not from the lapsed Wed 09:15.
    assert "tomorrow (Thursday 19 November) by 11:30 London time" in text
    promises = ledger(world.settings).conversations[str(the_thread(world)["id"])].promises
    assert [p.outcome.value if p.outcome else None for p in promises] == [
        "extended",
        "missed",
        None,
    ]


def test_a_snoozed_conversation_is_not_chased_until_the_snooze_ends(world: World) -> None:
    """Snoozed until Tuesday 12:00: no follow-up on Monday, the customer told nothing; after
    the snooze the promise has lapsed, so the next mail says so."""
    ana_writes(world)
    token = str(the_thread(world)["id"])
    assert staff(world, "snooze", token, london(16, 11, 0), "2026-11-17 12:00") == (
        f"[#{token}] snoozed until Tue 17 Nov 2026 12:00 London time"
    )
    run(world, london(16, 17, 15))
    run(world, london(17, 11, 59))
    assert len(world.sent()) == 1
    assert the_thread(world)["snoozed_until"] == "2026-11-17T12:00:00+00:00"
    run(world, london(17, 12, 0))
    assert len(world.sent()) == 2
    assert "we have not managed to" in body(world.sent()[-1])


def test_closed_by_staff_then_the_customer_writes_again(world: World) -> None:
    """Closed: no chase. Ana writes into it: reopened and acknowledged again with a promise."""
    ack = ana_writes(world)
    token = str(the_thread(world)["id"])
    assert staff(world, "close", token, london(16, 12, 0)) == f"[#{token}] closed"
    run(world, london(16, 17, 15))
    assert len(world.sent()) == 1
    world.deliver(reply_to(ack, ANA, "It is still wrong.", london(17, 10, 0)), london(17, 10, 0))
    run(world, london(17, 10, 1))
    (_, second_ack) = world.sent()
    assert "reply to you tomorrow (Wednesday 18 November) by 09:30 London time" in body(second_ack)
    thread = the_thread(world)
    assert (thread["status"], thread["promised_by"]) == ("waiting", "2026-11-18T09:30:00+00:00")
    outcomes = [
        p.outcome.value if p.outcome else None
        for p in ledger(world.settings).conversations[token].promises
    ]
    assert outcomes == ["withdrawn", None]


def test_reopened_by_staff_nothing_is_sent(world: World) -> None:
    """Staff reopen a closed conversation: it is open for a person; the customer hears nothing."""
    ana_writes(world)
    token = str(the_thread(world)["id"])
    staff(world, "close", token, london(16, 12, 0))
    assert staff(world, "reopen", token, london(16, 13, 0)) == f"[#{token}] reopened"
    run(world, london(17, 12, 0))
    assert len(world.sent()) == 1
    assert the_thread(world)["status"] == "open"
    with pytest.raises(CommandError, match="cannot reopen a conversation that is open"):
        staff(world, "reopen", token, london(17, 13, 0))


def test_a_customer_writing_after_the_answer_waits_again_without_an_acknowledgement(
    world: World,
) -> None:
    """Answered on Monday; Ana writes on Tuesday: a new promise from her message, no second
    acknowledgement, and that promise is chased like the first."""
    ack = ana_writes(world)
    world.deliver(
        reply_to(ack, "Alice <alice@example.com>", "Done.", london(16, 15, 0), To=ANA, Cc=SUPPORT),
        london(16, 15, 0),
    )
    run(world, london(16, 15, 1))
    world.deliver(
        reply_to(ack, ANA, "The VAT number is still wrong.", london(17, 11, 0)), london(17, 11, 0)
    )
    run(world, london(17, 11, 1))
    assert len(world.sent()) == 1
    thread = the_thread(world)
    # Tue 11:00 + 8h: Tue 17:30 (6h30), then Wed 10:30; chased from Wed 09:30.
    assert (thread["status"], thread["promised_by"]) == ("waiting", "2026-11-18T10:30:00+00:00")
    run(world, london(18, 9, 30))
    (_, follow_up) = world.sent()
    assert "will take longer than we told you" in body(follow_up)


def test_an_unknown_conversation_is_a_one_line_error(world: World) -> None:
    """A typo in the token says so and how to find the right one."""
    ana_writes(world)
    with pytest.raises(
        CommandError, match="no conversation 'ZZZZ'; `inbox-agent threads --status all`"
    ):
        staff(world, "close", "ZZZZ", london(16, 12, 0))


def test_a_staff_command_while_the_daemon_runs_is_queued_then_applied(world: World) -> None:
    """The daemon owns the store: ``close`` is checked now, queued, and applied by the next
    cycle; a mistake is still reported at once."""
    ana_writes(world)
    token = str(the_thread(world)["id"])
    with Store(world.settings.agent.data_dir):  # the running daemon holds the lock
        note = staff(world, "close", token, london(16, 12, 0))
        with pytest.raises(CommandError, match="no conversation 'ZZZZ'"):
            staff(world, "snooze", "ZZZZ", london(16, 12, 0), "4h")
    assert note == f"[#{token}] closed: queued; the running agent applies it within 30 seconds"
    assert the_thread(world)["status"] == "waiting"  # nothing written behind the owner's back
    run(world, london(16, 12, 1))
    assert the_thread(world)["status"] == "closed"
    assert not list((world.settings.agent.data_dir / "requests").glob("*.json"))
    run(world, london(16, 17, 15))
    assert len(world.sent()) == 1


def test_a_broken_follow_up_template_changes_nothing_until_it_is_fixed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The follow-up does not render: no mail, the promise not marked extended, logged with
    file:line; once staff fix it, the follow-up goes out (in time: the promise still stands)."""
    templates = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", templates)
    good = (templates / "follow_up.txt.j2").read_text(encoding="utf-8")
    (templates / "follow_up.txt.j2").write_text(good + "{{ customer_nam }}\n", encoding="utf-8")
    world = MemoryWorld(make_settings(tmp_path, templates=templates))
    ana_writes(world)
    with caplog.at_level(logging.ERROR, logger="inbox_agent"):
        run(world, london(16, 17, 15))
        run(world, london(16, 17, 16))
    assert len(world.sent()) == 1
    (promise,) = ledger(world.settings).conversations[str(the_thread(world)["id"])].promises
    assert promise.outcome is None  # still running: nothing was told
    assert "'customer_nam' is undefined" in caplog.text
    (templates / "follow_up.txt.j2").write_text(good, encoding="utf-8")
    run(world, london(16, 17, 20))
    assert len(world.sent()) == 2
    assert "will take longer than we told you" in body(world.sent()[-1])


def test_writing_again_after_the_last_promise_ran_out_makes_a_new_one(world: World) -> None:
    """Escalated on Wednesday; the manager's promise (Thursday 16:45) runs out with no reply;
    Ana writes again on Friday: a new promise from her message, and it is chased again."""
    ack = ana_writes(world)
    for moment in (london(16, 17, 15), london(17, 16, 45), london(18, 16, 15), london(19, 17, 0)):
        run(world, moment)
    token = str(the_thread(world)["id"])
    assert [
        p.outcome.value if p.outcome else None
        for p in ledger(world.settings).conversations[token].promises
    ][-1] == "missed"
    assert the_thread(world)["promised_by"] is None
    world.deliver(reply_to(ack, ANA, "Is anyone there?", london(20, 10, 0)), london(20, 10, 0))
    run(world, london(20, 10, 1))
    thread = the_thread(world)
    assert thread["promised_by"] == "2026-11-23T09:30:00+00:00"  # Fri 10:00 + 8h: Mon 09:30
    sent_before = len(world.sent())
    run(world, london(20, 17, 0))  # the chase moment of that promise: Fri 17:00
    assert len(world.sent()) == sent_before + 1
