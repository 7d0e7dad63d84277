"""A misspelt ``Subject:`` line as staff meet it: ``templates check`` names file:line, and the
agent never sends it as the first line of a customer's mail (issue 13, item 7)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from inbox_agent.errors import TemplateError
from tests.worlds import (
    ROOT,
    MemoryWorld,
    body,
    customer_mail,
    london,
    make_settings,
    run,
)

ACK = "acknowledgement.txt.j2"


def _templates(tmp_path: Path) -> Path:
    folder = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", folder)
    return folder


def _misspell(path: Path, wrong: str) -> None:
    """``path``'s first line ``Subject: ...`` made ``<wrong> ...``."""
    text = path.read_text(encoding="utf-8")
    assert text.startswith("Subject:")
    path.write_text(wrong + text.removeprefix("Subject:"), encoding="utf-8")


def test_templates_check_names_each_misspelt_subject_with_file_and_line(tmp_path: Path) -> None:
    """``Subjet:``, a German ``Betreff:`` and ``Subject :``: one line each with file:line and
    what to write, exit 1; the other files are still fine."""
    folder = _templates(tmp_path)
    make_settings(tmp_path, templates=folder)
    _misspell(folder / ACK, "Subjet:")
    _misspell(folder / "follow_up.de.txt.j2", "Betreff:")
    _misspell(folder / "escalation.txt.j2", "Subject :")
    done = subprocess.run(
        [sys.executable, "-m", "inbox_agent", "--config", "config.toml", "templates", "check"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 1
    mistakes = sorted(line for line in done.stderr.splitlines() if not line.startswith("warning:"))
    assert mistakes == [
        "templates/acknowledgement.txt.j2:1: 'Subjet:' is not a header the agent knows; the "
        "first line must be 'Subject: ...', in English whatever the mail's language, or it "
        "is sent as the first line of the body",
        "templates/escalation.txt.j2:1: write 'Subject:' with no space before the colon",
        "templates/follow_up.de.txt.j2:1: 'Betreff:' is not a header the agent knows; the "
        "first line must be 'Subject: ...', in English whatever the mail's language, or it "
        "is sent as the first line of the body",
    ]
    assert done.stdout.splitlines()[-1].endswith(" template(s) fine, 3 mistake(s)")


def test_a_misspelt_subject_is_never_sent_and_the_mail_goes_once_it_is_fixed(
    tmp_path: Path,
) -> None:
    """The acknowledgement's first line misspelt before the agent ever rendered it: Ana's mail
    is filed, the acknowledgement owed (a template mistake, file:line), nothing sent with
    "Subjet:" in it; fixed, it goes with its subject and a body that starts with the greeting."""
    folder = _templates(tmp_path)
    good = (folder / ACK).read_text(encoding="utf-8")
    _misspell(folder / ACK, "Subjet:")
    world = MemoryWorld(make_settings(tmp_path, templates=folder))
    world.deliver(
        customer_mail(
            "Ana Silva <ana@customer.example>", "Invoice 2211", "Hello", london(16, 10, 0)
        ),
        london(16, 10, 0),
    )
    report = run(world, london(16, 10, 1))
    assert [type(p) for p in report.problems] == [TemplateError]
    assert str(report.problems[0]).startswith(f"{ACK}:1: 'Subjet:' is not a header")
    assert world.sent() == []
    (folder / ACK).write_text(good, encoding="utf-8")
    run(world, london(16, 10, 2))
    [ack] = world.sent()
    assert "ana@customer.example" in str(ack["To"])
    assert str(ack["Subject"]).endswith("Re: Invoice 2211")
    assert "Subjet" not in body(ack)
    assert "Ana" in body(ack).split(",")[0]  # the greeting comes first
