"""Mail that stops being wanted before it goes, and our own copies in a Sent folder the data
folder has no record of (found by a new user trying the README's steps on one mailbox)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from inbox_agent.adapters.store import Store
from inbox_agent.commands import staff as staff_commands
from inbox_agent.errors import CommandError
from tests.test_promises_kept import ANA, ANA_ADDRESS, ana_writes, reply_to
from tests.worlds import World, customer_mail, ledger, london, run

SUBJECT = "Invoice 2211 shows the wrong VAT number"


def test_no_acknowledgement_when_staff_answered_in_the_same_poll(world: World) -> None:
    """Ana wrote at 10:05, Alice answered from the shared mailbox at 10:30, and the agent
    (down until then) reads both at 10:40: Ana has her answer, not a promise of one."""
    first = customer_mail(ANA, SUBJECT, "Please reissue it.", london(16, 10, 5))
    world.deliver(first, london(16, 10, 5))
    address = world.settings.mailboxes[0].address
    answer = customer_mail(
        f"Example Co. Support <{address}>",
        f"Re: {SUBJECT}",
        "Here is the new invoice.",
        london(16, 10, 30),
        To=ANA,
        In_Reply_To="<" + first.split(b"Message-ID: <")[1].split(b">")[0].decode() + ">",
    )
    world.deliver(answer, london(16, 10, 30), folder="Sent")
    run(world, london(16, 10, 40))
    assert world.sent() == []
    (thread,) = ledger(world.settings).conversations.values()
    assert thread.status.value == "answered"
    assert thread.sent == []  # the acknowledgement was superseded, not listed as sent
    run(world, london(17, 12, 0))
    assert world.sent() == []  # and nothing follows up


def test_our_copies_are_not_staff_replies_to_a_new_data_folder(world: World) -> None:
    """The agent ran with one data folder, then starts with an empty one on the same mailbox:
    its own acknowledgement, filed in Sent, is still its own, not a staff reply that would
    mark the promise kept and silence every follow-up."""
    ana_writes(world)  # acknowledged; the copy is in the Sent folder
    shutil.rmtree(world.settings.agent.data_dir / "outbox", ignore_errors=True)
    for path in world.settings.agent.data_dir.glob("inbox-agent.json*"):
        path.unlink()
    run(world, london(16, 11, 0))
    (thread,) = ledger(world.settings).conversations.values()
    assert thread.customer == ANA_ADDRESS
    assert thread.status.value == "waiting"  # not "answered" by our own copy
    assert all(m.role.value != "staff" for m in thread.messages)


def test_a_staff_reply_after_the_acknowledgement_still_counts(world: World) -> None:
    ack = ana_writes(world)
    address = world.settings.mailboxes[0].address
    world.deliver(
        reply_to(ack, f"Example Co. Support <{address}>", "Done.", london(16, 12, 0), To=ANA),
        london(16, 12, 0),
        folder="Sent",
    )
    run(world, london(16, 12, 5))
    (thread,) = ledger(world.settings).conversations.values()
    assert thread.status.value == "answered"


def test_a_staff_command_by_another_user_is_refused_not_lost(world: World) -> None:
    """Run as root beside a daemon running as its own user, `close` would leave a request
    file the daemon cannot read: refused at once, naming the user to run it as."""
    ana_writes(world)
    data_dir = world.settings.agent.data_dir
    if os.geteuid() != 0:
        pytest.skip("needs root to give the data folder to another user")
    os.chown(data_dir, 65534, 65534)
    try:
        token = next(iter(ledger(world.settings).conversations))
        with pytest.raises(CommandError, match="run the command as nobody"):
            staff_commands.carry_out(world.settings, "close", token, None, london(16, 11, 0))
    finally:
        os.chown(data_dir, 0, 0)


def test_a_request_the_agent_cannot_read_is_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "requests"
    folder.mkdir()
    (folder / "00000000000000000001-1.json").write_text("{not json")
    with Store(tmp_path) as store:
        assert store.pending_requests() == []
    assert "could not be read" in caplog.text
    assert "run the command again as the user the agent runs as" in caplog.text
    assert (folder / "00000000000000000001-1.unreadable").exists()
