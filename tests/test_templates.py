"""Templates as staff meet them: check, preview, hot reload, per-mailbox and per-language.

The CLI runs as a process from the folder that holds ``config.toml`` and ``templates/``, as
staff would run it; the stories run the real agent on the in-memory mailbox.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import subprocess
import sys
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from inbox_agent.adapters.store import Store
from inbox_agent.agent import cycle
from inbox_agent.agent.composing import Composer, sample_conversation
from inbox_agent.core.conversations import MailKind
from tests.worlds import (
    ROOT,
    MemoryWorld,
    body,
    customer_mail,
    london,
    make_settings,
    run,
    to_address,
)

ANA = "Ana Silva <ana@customer.example>"


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A folder with the default templates and a config pointing at them."""
    shutil.copytree(ROOT / "templates", tmp_path / "templates")
    make_settings(tmp_path, templates=tmp_path / "templates")
    return tmp_path


def cli(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "inbox_agent", "--config", "config.toml", *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")
    stat = path.stat()  # a later mtime, as an editor saving a second later would leave it
    os.utime(path, (stat.st_atime + 2, stat.st_mtime + 2))


def test_templates_check_passes_the_defaults(workdir: Path) -> None:
    """Every shipped template, in English, German and French, renders with sample data, and
    no language lacks a kind."""
    done = cli(workdir, "templates", "check")
    assert done.returncode == 0, done.stderr
    for kind in ("acknowledgement", "follow_up", "escalation", "escalation_notice"):
        for variant in ("", ".de", ".fr"):
            assert f"ok    templates/{kind}{variant}.txt.j2\n" in done.stdout
    assert done.stdout.splitlines()[-1] == "12 template(s) fine, 0 mistake(s)"
    assert done.stderr == ""


def without_templates_dir(folder: Path) -> None:
    """The stories' config with no templates_dir, in ``folder``."""
    make_settings(folder)
    config = folder / "config.toml"
    lines = config.read_text(encoding="utf-8").splitlines(keepends=True)
    config.write_text(
        "".join(li for li in lines if not li.startswith("templates_dir")), encoding="utf-8"
    )


def test_no_templates_dir_means_the_folder_beside_the_config_else_the_defaults(
    tmp_path: Path,
) -> None:
    """Unset, templates_dir is templates/ beside the config where there is one, else the
    default templates that come with inbox-agent (in a checkout, its templates/; from a
    wheel, its package data: tests/test_wheel.py); templates check says which first."""
    without_templates_dir(tmp_path)
    defaults = cli(tmp_path, "templates", "check")
    assert defaults.returncode == 0, defaults.stderr
    assert defaults.stdout.splitlines()[0] == (
        f"templates: the defaults that come with inbox-agent, in {ROOT / 'templates'}"
    )
    assert f"ok    {ROOT / 'templates'}/acknowledgement.txt.j2\n" in defaults.stdout
    shutil.copytree(ROOT / "templates", tmp_path / "templates")
    beside = cli(tmp_path, "templates", "check")
    assert beside.returncode == 0, beside.stderr
    assert beside.stdout.splitlines()[0] == "templates: templates"
    assert "ok    templates/acknowledgement.txt.j2\n" in beside.stdout


def test_a_templates_dir_that_is_not_there_is_a_mistake_not_the_defaults(workdir: Path) -> None:
    """A folder named but missing (a typo, a volume not mounted) is never replaced by the
    defaults: check and templates check fail, the folder's line first, with what to do."""
    shutil.rmtree(workdir / "templates")
    done = cli(workdir, "templates", "check")
    assert done.returncode == 1
    first, *rest = done.stderr.splitlines()
    assert first == (
        f"ConfigError: config.toml: [agent] templates_dir: no folder "
        f"{workdir / 'templates'}; copy the default templates there to edit "
        f"them ({ROOT / 'templates'}), or remove templates_dir to use them as "
        "they are"
    )
    assert rest[0] == "templates/acknowledgement.txt.j2: missing; every mailbox needs it"
    check = cli(workdir, "check")
    assert check.returncode == 1
    assert check.stdout.splitlines()[1] == f"FAIL  {first}"


def test_templates_check_warns_of_a_language_that_lacks_a_kind(workdir: Path) -> None:
    """French for some kinds but not all: a warning naming the files missing, not a mistake
    (those mails still go, in the default language); a mailbox folder's Italian too."""
    for kind in ("escalation", "escalation_notice"):
        (workdir / "templates" / f"{kind}.fr.txt.j2").unlink()
    (workdir / "templates" / "support").mkdir()
    shutil.copy(
        workdir / "templates" / "follow_up.txt.j2",
        workdir / "templates" / "support" / "follow_up.it.txt.j2",
    )
    done = cli(workdir, "templates", "check")
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [
        "warning: templates/escalation.fr.txt.j2, templates/escalation_notice.fr.txt.j2: "
        "missing, though other kinds have a 'fr' variant; these mails go out in the default "
        "language instead",
        "warning: templates/support/acknowledgement.it.txt.j2, "
        "templates/support/escalation.it.txt.j2, templates/support/escalation_notice.it.txt.j2: "
        "missing, though other kinds have a 'it' variant; these mails go out in the default "
        "language instead",
    ]


def test_templates_check_names_file_line_and_the_name_meant(workdir: Path) -> None:
    """A misspelt variable and a syntax error: one line each, file:line, exit 1."""
    edit(
        workdir / "templates" / "acknowledgement.txt.j2",
        "{{ mailbox_name }}. We",
        "{{ mailbox_nam }}. We",
    )
    edit(workdir / "templates" / "follow_up.txt.j2", "{% endif %}", "{% endfi %}")
    done = cli(workdir, "templates", "check")
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert lines[0] == (
        "templates/acknowledgement.txt.j2:5: 'mailbox_nam' is undefined "
        "(did you mean 'mailbox_name'?)"
    )
    assert lines[1].startswith("templates/follow_up.txt.j2:")
    assert "endfi" in lines[1]
    assert done.stdout.splitlines()[-1] == "10 template(s) fine, 2 mistake(s)"


def test_templates_check_catches_a_tag_mark_left_as_text(workdir: Path) -> None:
    """Jinja passes "Kind regards, %}" as text: check names the file and line."""
    edit(workdir / "templates" / "acknowledgement.txt.j2", "Kind regards,", "Kind regards, %}")
    done = cli(workdir, "templates", "check")
    assert done.returncode == 1
    line = 1 + (workdir / "templates" / "acknowledgement.txt.j2").read_text().split(
        "Kind regards, %}"
    )[0].count("\n")
    assert done.stderr.splitlines()[0] == (
        f"templates/acknowledgement.txt.j2:{line}: '%}}' would reach the customer as written; "
        "a tag opened or closed once too often?"
    )


def test_preview_prints_the_mail_as_it_would_be_sent(workdir: Path) -> None:
    """Headers and text; the German variant with --lang de."""
    done = cli(workdir, "templates", "preview", "acknowledgement")
    assert done.returncode == 0, done.stderr
    head, _, text = done.stdout.partition("\n\n")
    assert "Subject: [#K7Q2] Re: Invoice 2211 shows the wrong VAT number" in head
    assert "Auto-Submitted: auto-replied" in head
    assert text.startswith("Hello Ana,")
    german = cli(workdir, "templates", "preview", "acknowledgement", "--lang", "de")
    assert "Guten Tag Ana Silva,\n\nvielen Dank" in german.stdout
    assert "Subject: [#K7Q2] AW: Rechnung 2211" in german.stdout
    missing = cli(workdir, "templates", "preview", "acknowledgement", "--html")
    assert "(this template has no HTML part)" in missing.stdout
    wrong = cli(workdir, "templates", "preview", "welcome")
    assert wrong.returncode == 1
    assert wrong.stderr.startswith("CommandError: no template 'welcome'; one of")


def test_an_html_variant_makes_the_mail_multipart(workdir: Path) -> None:
    """acknowledgement.html.j2 beside the text: --html shows it, autoescaped."""
    (workdir / "templates" / "acknowledgement.html.j2").write_text(
        "<p>Hello {{ customer_name }}, about <b>{{ subject }}</b></p>\n", encoding="utf-8"
    )
    done = cli(workdir, "templates", "preview", "acknowledgement", "--html")
    assert done.returncode == 0, done.stderr
    assert (
        "<p>Hello Ana Silva, about <b>Invoice 2211 shows the wrong VAT number</b></p>"
        in done.stdout
    )


def test_a_broken_edit_keeps_the_last_good_version_in_use(
    workdir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The daemon renders the acknowledgement, staff break it, the next customer still gets
    the last good version (one log line with file:line); fixed, the new wording is used at
    once, without a restart."""
    templates = workdir / "templates" / "acknowledgement.txt.j2"
    world = MemoryWorld(make_settings(workdir, templates=workdir / "templates"))

    async def cycles() -> None:
        clock = {"now": london(16, 10, 1)}
        adapters = cycle.Adapters(mailbox=lambda _: world.mailbox, mailer=lambda _: world.mailer)
        with Store(world.settings.agent.data_dir) as store:
            agent = cycle.Agent(world.settings, store, adapters, clock=lambda: clock["now"])
            for n, minute in enumerate((0, 10, 20, 30)):
                if n == 1:
                    edit(templates, "Thank you for writing", "Thank you for {{ writing")
                if n == 3:
                    edit(templates, "Thank you for {{ writing", "Many thanks for writing")
                world.deliver(
                    customer_mail(
                        f"C{n} <c{n}@customer.example>", f"Q{n}", "Hi", london(16, 11, minute)
                    ),
                    london(16, 11, minute),
                )
                clock["now"] = london(16, 11, minute + 1)
                await agent.run_cycle()

    with caplog.at_level(logging.WARNING, logger="inbox_agent"):
        asyncio.run(cycles())
    texts = [body(m) for m in world.sent()]
    assert [("Thank you for writing" in t, "Many thanks" in t) for t in texts] == [
        (True, False),
        (True, False),
        (True, False),
        (False, True),
    ]
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert errors[0].startswith("acknowledgement.txt.j2:5: ")
    assert "the last version that worked is used until it is fixed" in errors[0]
    assert any(r.getMessage() == "acknowledgement.txt.j2 works again" for r in caplog.records)


def test_the_customers_language_and_the_mailbox_pick_the_variant(tmp_path: Path) -> None:
    """Content-Language: de gets the German acknowledgement and fr the French, even though
    this mailbox has its own English wording, which everyone else gets (Italian has no
    variant)."""
    shutil.copytree(ROOT / "templates", tmp_path / "templates")
    override = tmp_path / "templates" / "support"
    override.mkdir()
    (override / "acknowledgement.txt.j2").write_text(
        "Subject: Re: {{ subject }}\n\nSupport desk: we have it, {{ promised_by_text }}.\n",
        encoding="utf-8",
    )
    world = MemoryWorld(make_settings(tmp_path, templates=tmp_path / "templates"))
    world.deliver(
        customer_mail(
            "Jonas <jonas@kunde.example>",
            "Rechnung",
            "Hallo",
            london(16, 10, 0),
            Content_Language="de-DE",
        ),
        london(16, 10, 0),
    )
    world.deliver(customer_mail(ANA, "Invoice", "Hello", london(16, 10, 1)), london(16, 10, 1))
    world.deliver(
        customer_mail(
            "Luc <luc@client.example>",
            "Facture",
            "Bonjour",
            london(16, 10, 2),
            Content_Language="fr",
        ),
        london(16, 10, 2),
    )
    world.deliver(
        customer_mail(
            "Giulia <giulia@cliente.example>",
            "Fattura",
            "Buongiorno",
            london(16, 10, 3),
            Content_Language="it",
        ),
        london(16, 10, 3),
    )
    run(world, london(16, 10, 5))
    by_to = {to_address(m): body(m) for m in world.sent()}
    assert by_to["jonas@kunde.example"].startswith("Guten Tag Jonas,")
    assert (
        "bis morgen, Dienstag, 17. November, 09:30 Uhr Londoner Zeit"
        in by_to["jonas@kunde.example"]
    )
    assert by_to["ana@customer.example"].startswith("Support desk: we have it, tomorrow")
    assert by_to["luc@client.example"].startswith("Bonjour Luc, Merci d'avoir écrit")
    assert by_to["giulia@cliente.example"].startswith("Support desk: we have it")


def test_a_line_break_in_a_customers_name_or_subject_never_becomes_a_header(tmp_path: Path) -> None:
    """Name and subject with CR/LF and a header after it: the mail has no such header, and
    template syntax typed by the customer is shown, not run."""

    settings = make_settings(tmp_path)
    conversation = sample_conversation(settings, london(16, 10, 0))
    conversation.customer_name = "Ana\r\nBcc: victim@example.net"
    conversation.subject = "Help\r\nBcc: victim@example.net {{ 7 * 7 }}"
    mail = Composer(settings).compose(
        conversation, MailKind.ACKNOWLEDGEMENT, conversation.customer, london(16, 10, 0)
    )
    message = message_from_bytes(mail.raw, policy=policy.default)
    assert message["Bcc"] is None
    assert "\n" not in str(message["Subject"])
    assert str(message["Subject"]).endswith("Help Bcc: victim@example.net {{ 7 * 7 }}")
    assert "49" not in body(message)
