"""The archive, as stories on real servers and in memory: done work leaves the live store,
`threads --status all` and `thread ID` still find it, and a reply brings it back under
today's rules (issue 11, item 4).

London business hours, Mon-Fri 09:00-17:30; ``archive_after`` is the default 14 days.
"""

from __future__ import annotations

import getpass
import json
from email.message import EmailMessage
from typing import Any

import pytest

from inbox_agent.adapters.store import DB_FILE
from inbox_agent.cli import main
from inbox_agent.commands import staff as staff_commands
from tests.test_promises_kept import ANA, ANA_ADDRESS, ana_writes, reply_to
from tests.worlds import World, body, by_recipient, customer_mail, ledger, london, run


def answered_by_staff(world: World) -> tuple[EmailMessage, str]:
    """Ana writes on Monday 16 November; Alice answers from the Sent folder at 15:00."""
    ack = ana_writes(world)
    address = world.settings.mailboxes[0].address
    world.deliver(
        reply_to(
            ack,
            f"Example Co. Support <{address}>",
            "Here is the invoice.",
            london(16, 15, 0),
            To=ANA,
        ),
        london(16, 15, 0),
        folder="Sent",
    )
    run(world, london(16, 15, 1))
    (thread,) = ledger(world.settings).conversations.values()
    assert thread.status.value == "answered"
    return ack, thread.id


def cli_json(world: World, *args: str, capsys: pytest.CaptureFixture[str]) -> Any:
    assert main(["--config", str(world.settings.source), *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_an_answered_conversation_quiet_for_two_weeks_leaves_the_live_store(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    _, token = answered_by_staff(world)
    run(world, london(30, 14, 59))  # a minute short of 14 days since the staff reply
    assert token in ledger(world.settings).conversations
    run(world, london(30, 16, 0))  # the pass runs at most hourly in a daemon
    assert ledger(world.settings).conversations == {}
    live = (world.settings.agent.data_dir / DB_FILE).read_text(encoding="utf-8")
    assert "ana@customer.example" not in live  # the live file holds open work only
    listed = cli_json(world, "threads", "--status", "all", capsys=capsys)
    assert [(t["id"], t["status"], t["archived"]) for t in listed] == [(token, "answered", True)]
    assert cli_json(world, "threads", capsys=capsys) == []  # open work only, by default
    shown = cli_json(world, "thread", token, capsys=capsys)
    assert shown["customer"] == ANA_ADDRESS
    assert len(shown["messages"]) == 2


def test_a_reply_to_an_archived_conversation_brings_it_back_and_she_waits_again(
    world: World,
) -> None:
    ack, token = answered_by_staff(world)
    run(world, london(1, 10, 0, month=12))  # archived
    assert ledger(world.settings).conversations == {}
    world.deliver(
        reply_to(ack, ANA, "The VAT number is still wrong.", london(2, 10, 0, 12)),
        london(2, 10, 0, 12),
    )
    report = run(world, london(2, 10, 1, month=12))
    (thread,) = ledger(world.settings).conversations.values()
    assert thread.id == token  # the same conversation, not a new one
    assert thread.status.value == "waiting"
    # 8 business hours from Wednesday 10:00: 7h30 that day, then Thursday 09:30.
    assert thread.promised_by == london(3, 9, 30, month=12)
    assert any("brought back from the archive" in note for note in report.notes)
    assert len(world.sent()) == 1  # answered before: she waits again, no second acknowledgement
    assert [m.role.value for m in thread.messages] == ["customer", "staff", "customer"]


def test_writing_into_a_closed_archived_conversation_is_acknowledged_again(world: World) -> None:
    ack = ana_writes(world)
    token = next(iter(ledger(world.settings).conversations))
    staff_commands.carry_out(world.settings, "close", token, None, london(16, 11, 0))
    run(world, london(17, 11, 5))  # closed and quiet for a day: archived
    assert ledger(world.settings).conversations == {}
    world.deliver(
        reply_to(ack, ANA, "Sorry, it is not solved.", london(18, 9, 30)), london(18, 9, 30)
    )
    run(world, london(18, 9, 31))
    (thread,) = ledger(world.settings).conversations.values()
    assert thread.id == token
    assert thread.status.value == "waiting"
    assert thread.promised_by == london(18, 17, 30)  # 8 business hours from 09:30
    (_, again) = by_recipient(world.sent())[ANA_ADDRESS]  # acknowledged again
    assert f"[#{token}]" in str(again["Subject"])
    assert "17:30" in body(again)


def test_mail_read_again_after_archiving_files_nothing_twice(world: World) -> None:
    """A restored mailbox (new UIDVALIDITY, same mail): nothing is brought back or sent."""
    answered_by_staff(world)
    run(world, london(1, 10, 0, month=12))
    world.renumber()
    report = run(world, london(1, 10, 5, month=12))
    assert report.filed == 0
    assert report.duplicates >= 1
    assert ledger(world.settings).conversations == {}
    assert len(world.sent()) == 1


def test_staff_reopen_an_archived_conversation(world: World) -> None:
    _, token = answered_by_staff(world)
    staff_commands.carry_out(world.settings, "close", token, None, london(16, 16, 0))
    run(world, london(18, 10, 0))
    assert ledger(world.settings).conversations == {}
    staff_commands.carry_out(world.settings, "reopen", token, None, london(18, 11, 0))
    (thread,) = ledger(world.settings).conversations.values()
    assert (thread.id, thread.status.value) == (token, "open")
    # who did what stays with the conversation, through the archive and back
    user = f"{getpass.getuser()} (command line)"
    assert [(n.at, n.text) for n in thread.notes][-3:] == [
        (london(16, 16, 0), f"closed, by {user}"),
        (london(18, 11, 0), "brought back from the archive"),
        (london(18, 11, 0), f"reopened, by {user}"),
    ]


def test_a_new_customer_after_archiving_starts_a_new_conversation(world: World) -> None:
    _, token = answered_by_staff(world)
    run(world, london(1, 10, 0, month=12))
    world.deliver(
        customer_mail(
            "Ben Okafor <ben@shop.example>",
            "Can't log in",
            "The page reloads.",
            london(2, 9, 0, 12),
        ),
        london(2, 9, 0, 12),
    )
    run(world, london(2, 9, 1, month=12))
    (thread,) = ledger(world.settings).conversations.values()
    assert thread.customer == "ben@shop.example"
    assert thread.id != token
