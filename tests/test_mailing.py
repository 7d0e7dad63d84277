"""A template that does not render, in the sweep and in the drain (``agent.mailing``).

A chase, or a late mail restated, tells of a change to its conversation (a new promise, a
promise counted from now). Its mail is composed on a copy first: a template that fails
changes nothing, the mail stays due, and the mistake is logged once, not every 30 s.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from datetime import datetime
from pathlib import Path

import pytest

from inbox_agent.adapters.memory import MemoryMailbox, MemoryMailer
from inbox_agent.adapters.store import Store
from inbox_agent.agent import cycle
from inbox_agent.core.ledger import OutboxState
from inbox_agent.errors import TemporarySendError
from tests.worlds import ROOT, customer_mail, ledger, london, make_settings

ACK = "acknowledgement.txt.j2"
FOLLOW_UP = "follow_up.txt.j2"
BROKEN = "Subject: Re: {{ subject }}\n\nDear {{ no_such_name }}\n"
ANA = "Ana <ana@customer.example>"


class RelayDown(MemoryMailer):
    """A relay that answers 421 to every mail."""

    async def send(self, raw: bytes, sender: str, recipients: list[str]) -> None:
        """Refuse, for now."""
        raise TemporarySendError("421 try again later")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A copy of the default templates, for the test to break and mend."""
    shutil.copytree(ROOT / "templates", tmp_path / "templates")
    return tmp_path / "templates"


def _cycles(agent: cycle.Agent, clock: dict[str, datetime], *moments: datetime) -> None:
    for moment in moments:
        clock["now"] = moment
        asyncio.run(agent.run_cycle())


def _errors(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.ERROR and text in r.getMessage()
    ]


def test_a_follow_up_whose_template_fails_changes_nothing_until_it_renders(
    tmp_path: Path, folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Ana is acknowledged; her follow-up's template never rendered. At the follow-up moment
    and after, nothing goes and her promise is untouched (one error line); mended, the
    follow-up goes at the next sweep and the promise is extended."""
    (folder / FOLLOW_UP).write_text(BROKEN, encoding="utf-8")
    settings = make_settings(tmp_path, templates=folder)
    mailbox, mailer = MemoryMailbox(), MemoryMailer()
    mailbox.deliver(customer_mail(ANA, "Invoice", "Hello", london(16, 10, 0)), london(16, 10, 0))
    adapters = cycle.Adapters(mailbox=lambda _: mailbox, mailer=lambda _: mailer)
    clock = {"now": london(16, 10, 1)}
    with (
        caplog.at_level(logging.WARNING, logger="inbox_agent"),
        Store(settings.agent.data_dir) as store,
    ):
        agent = cycle.Agent(settings, store, adapters, clock=lambda: clock["now"])
        _cycles(agent, clock, london(16, 10, 1), london(16, 17, 5), london(16, 17, 6))
        assert len(mailer.sent) == 1  # the acknowledgement
        [before] = ledger(settings).conversations.values()
        assert [(p.reason, p.outcome) for p in before.promises] == [("first reply", None)]
        assert len(_errors(caplog, "the follow-up is sent once the template renders")) == 1
        shutil.copy(ROOT / "templates" / FOLLOW_UP, folder / FOLLOW_UP)
        _cycles(agent, clock, london(16, 17, 7))
    assert len(mailer.sent) == 2
    [after] = ledger(settings).conversations.values()
    assert [p.reason for p in after.promises] == ["first reply", "follow-up 1"]


def test_a_late_mail_whose_template_fails_waits_unchanged_until_it_renders(
    tmp_path: Path, folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Ana's acknowledgement is queued while the relay is down. The agent restarts after its
    promise stopped being true, with the acknowledgement's template broken: it cannot be
    restated, so it stays in the outbox unsent, her promise untouched, nothing is chased
    before it, and it is said once. Mended, it goes, restated."""
    settings = make_settings(tmp_path, templates=folder)
    mailbox = MemoryMailbox()
    mailbox.deliver(customer_mail(ANA, "Invoice", "Hello", london(16, 10, 0)), london(16, 10, 0))
    down = cycle.Adapters(mailbox=lambda _: mailbox, mailer=lambda _: RelayDown())
    with Store(settings.agent.data_dir) as store:
        clock = {"now": london(16, 10, 1)}
        _cycles(
            cycle.Agent(settings, store, down, clock=lambda: clock["now"]), clock, london(16, 10, 1)
        )
    (folder / ACK).write_text(BROKEN, encoding="utf-8")
    mailer = MemoryMailer()
    up = cycle.Adapters(mailbox=lambda _: mailbox, mailer=lambda _: mailer)
    with (
        caplog.at_level(logging.WARNING, logger="inbox_agent"),
        Store(settings.agent.data_dir) as store,
    ):
        agent = cycle.Agent(settings, store, up, clock=lambda: clock["now"])
        _cycles(agent, clock, london(16, 17, 10), london(16, 17, 11))
        assert mailer.sent == []
        waiting = ledger(settings)
        assert [e.state for e in waiting.outbox.values()] == [OutboxState.PENDING]
        [conversation] = waiting.conversations.values()
        assert [(p.reason, p.due) for p in conversation.promises] == [
            ("first reply", london(17, 9, 30))
        ]
        assert len(_errors(caplog, "is late and cannot be restated")) == 1
        shutil.copy(ROOT / "templates" / ACK, folder / ACK)
        _cycles(agent, clock, london(16, 17, 12))
    [ack] = [r.message for r in mailer.sent]
    assert "acknowledgement" in str(ack["Message-ID"])
    [conversation] = ledger(settings).conversations.values()
    assert [p.reason for p in conversation.promises] == [
        "first reply (restated: our mail was late)"
    ]
