"""A template broken before the agent starts never stops filing (issue 11, item 7).

Composing an acknowledgement happens while mail is filed; a template that does not render (and
has no last good version yet) used to stop the whole cycle, so nothing was filed, not even
machine mail. Now the mail stays owed on its conversation and goes once the template renders.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from inbox_agent.config import Settings
from inbox_agent.errors import TemplateError
from tests.worlds import ROOT, World, customer_mail, ledger, london, run, to_address

ACK = "acknowledgement.txt.j2"


@pytest.fixture
def broken_templates(tmp_path: Path) -> Path:
    """A copy of the default templates whose acknowledgement names a variable that is not
    there (StrictUndefined: it never renders)."""
    folder = tmp_path / "staff-templates"
    shutil.copytree(ROOT / "templates", folder)
    (folder / ACK).write_text(
        "Subject: Re: {{ subject }}\n\nDear {{ no_such_name }}\n", encoding="utf-8"
    )
    return folder


def _with_templates(settings: Settings, folder: Path) -> Settings:
    return replace(settings, agent=replace(settings.agent, templates_dir=folder))


def test_a_broken_acknowledgement_leaves_mail_owed_and_files_the_rest(
    world: World, broken_templates: Path
) -> None:
    """Ana's mail and an auto-reply arrive while the acknowledgement cannot render: both are
    filed (the auto-reply as machine mail), Ana's acknowledgement is owed and nothing is
    chased meanwhile; once staff fix the template it goes, once."""
    good = (ROOT / "templates" / ACK).read_text(encoding="utf-8")
    world.settings = _with_templates(world.settings, broken_templates)
    world.deliver(
        customer_mail("Ana <ana@customer.example>", "Invoice", "Hello", london(16, 10, 0)),
        london(16, 10, 0),
    )
    world.deliver(
        customer_mail(
            "Bot <bot@vendor.example>",
            "Out of office",
            "Away",
            london(16, 10, 0),
            Auto_Submitted="auto-replied",
        ),
        london(16, 10, 0),
    )
    report = run(world, london(16, 10, 1))
    assert [type(p) for p in report.problems] == [TemplateError]
    assert "no_such_name" in str(report.problems[0])
    on_disk = ledger(world.settings)
    assert {c.customer: c.owed for c in on_disk.conversations.values()} == {
        "ana@customer.example": ["acknowledgement"]
    }
    assert report.filed + report.skipped == 2
    run(world, london(16, 17, 10))  # past the follow-up moment: nothing is chased first
    assert world.sent() == []
    (broken_templates / ACK).write_text(good, encoding="utf-8")
    run(world, london(16, 17, 20))
    run(world, london(16, 17, 25))
    [ack] = world.sent()
    assert to_address(ack) == "ana@customer.example"
    assert "acknowledgement" in str(ack["Message-ID"])
    assert all(c.owed == [] for c in ledger(world.settings).conversations.values())
