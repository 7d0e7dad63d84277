"""Editing templates as the staff page will: the set, preview, check, save, history, restore.

``agent.template_editing`` is called here as the pages will call it, on a copy of the default
templates; a real conversation comes from a store the real agent filled (in-memory mailbox).
"""

from __future__ import annotations

import shutil
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path

import pytest

from inbox_agent.adapters.templates import TemplatesFolder
from inbox_agent.agent import template_editing as editing
from inbox_agent.agent.composing import Composer, sample_conversation
from inbox_agent.commands.templates import check_templates
from inbox_agent.config import Settings
from inbox_agent.core.conversations import MailKind
from tests.worlds import ROOT, MemoryWorld, customer_mail, ledger, london, make_settings, run

ACK = "acknowledgement.txt.j2"
NOW = london(16, 10, 7)  # a Monday, mid-morning
SILENT_LOOP = "{% for a in 'x' * 100000 %}{% for b in 'x' * 100000 %}{% endfor %}{% endfor %}"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """A data folder and a copy of the default templates, as an installation of one's own."""
    shutil.copytree(ROOT / "templates", tmp_path / "templates")
    return make_settings(tmp_path, templates=tmp_path / "templates")


def source(settings: Settings, name: str = ACK) -> str:
    return (settings.agent.templates_dir / name).read_text(encoding="utf-8")


def test_the_set_lists_every_kind_language_and_mailbox_variant(settings: Settings) -> None:
    """Every kind in the default, German and French; HTML and the mailbox's own folder as
    names that can be added; what is in the folder marked so."""
    (settings.agent.templates_dir / "follow_up.html.j2").write_text("<p>{{ subject }}</p>\n")
    by_name = {e.name: e for e in editing.editable_templates(settings)}
    for kind in MailKind:
        for lang in ("", ".de", ".fr"):
            assert by_name[f"{kind.value}{lang}.txt.j2"].exists
            assert f"support/{kind.value}{lang}.txt.j2" in by_name
            assert f"{kind.value}{lang}.html.j2" in by_name
    assert by_name["acknowledgement.de.txt.j2"].language == "de"
    assert by_name["follow_up.html.j2"].exists
    assert by_name["follow_up.html.j2"].html
    assert not by_name["acknowledgement.html.j2"].exists
    mailbox_own = by_name["support/escalation.fr.txt.j2"]
    assert (mailbox_own.kind, mailbox_own.language, mailbox_own.mailbox) == (
        MailKind.ESCALATION,
        "fr",
        "support",
    )
    assert not mailbox_own.exists


@pytest.mark.parametrize("kind", list(MailKind))
@pytest.mark.parametrize("language", [None, "de", "fr"])
def test_a_preview_with_sample_data_shows_the_promised_moment(
    settings: Settings, kind: MailKind, language: str | None
) -> None:
    name = f"{kind.value}{'.' + language if language else ''}.txt.j2"
    shown = editing.preview(settings, name, source(settings, name), NOW)
    assert shown.problems == ()
    headers = dict(shown.headers)
    assert "[#K7Q2]" in headers["Subject"]
    assert headers["To"] == (
        "manager@example.com" if kind == MailKind.ESCALATION else "Ana Silva <ana@customer.example>"
    )
    assert headers["From"].endswith("<support@example.com>")
    assert headers["Date"]
    assert shown.promised_by_text
    assert shown.promised_by_text in shown.text
    moment = {None: "17 November", "de": "17. November", "fr": "17\xa0novembre"}[language]
    assert moment in shown.text or "today" in shown.text or "heute" in shown.text
    assert shown.html is None


def test_a_preview_shows_the_html_part_where_there_is_one(settings: Settings) -> None:
    html = "<p>Dear {{ customer_name }}, by {{ promised_by_text }}</p>\n"
    (settings.agent.templates_dir / "acknowledgement.html.j2").write_text(html)
    edited = source(settings).replace("Hello", "Hi there", 1)
    shown = editing.preview(settings, ACK, edited, NOW)
    assert shown.html is not None
    assert "<p>Dear Ana Silva, by tomorrow" in shown.html
    assert shown.problems == ()
    assert shown.text.startswith("Hi there")
    candidate = "<p>{{ customer_name | upper }} {{ promised_by_text }}</p>\n"
    shown = editing.preview(settings, "acknowledgement.html.j2", candidate, NOW)
    assert shown.html is not None
    assert shown.html.startswith("<p>ANA SILVA tomorrow")


def test_a_preview_for_a_real_conversation_from_the_store(settings: Settings) -> None:
    """As ``templates preview --thread``: the conversation's customer, subject and promise,
    the ledger's conversation untouched, and nothing written."""
    world = MemoryWorld(settings)
    world.deliver(customer_mail("Ben Okafor <ben@client.example>", "Broken login", "Hi", NOW), NOW)
    run(world, NOW)
    conversation = next(iter(ledger(settings).conversations.values()))
    before = asdict(conversation)
    files = sorted(p for p in Path(settings.agent.data_dir).rglob("*"))
    candidate = (
        "Subject: Re: {{ subject }}\n\nHello {{ customer_first_name }}, {{ promised_by_text }}.\n"
    )
    later = london(16, 11, 0)
    shown = editing.preview(settings, "acknowledgement.de.txt.j2", candidate, later, conversation)
    assert shown.problems == ()
    assert dict(shown.headers)["To"] == "Ben Okafor <ben@client.example>"
    assert dict(shown.headers)["Subject"] == f"[#{conversation.id}] Re: Broken login"
    assert shown.text.startswith("Hello Ben, ")
    assert "Londoner Zeit" in shown.text
    assert "acknowledgement.txt.j2, not this template" in shown.note  # Ben writes English
    assert asdict(conversation) == before
    assert sorted(p for p in Path(settings.agent.data_dir).rglob("*")) == files


def test_a_typo_is_reported_with_its_line_and_saving_is_refused(settings: Settings) -> None:
    original = source(settings)
    typo = original.replace("{{ promised_by_text }}", "{{ promised_by_txt }}")
    line = 1 + typo[: typo.index("promised_by_txt")].count("\n")
    problems = editing.check(settings, ACK, typo, NOW)
    assert [(p.file, p.line) for p in problems] == [(ACK, line)]
    assert "did you mean 'promised_by_text'" in problems[0].message
    shown = editing.preview(settings, ACK, typo, NOW)
    assert shown.problems == tuple(problems)
    assert shown.text == ""
    broken = "Subject: Re: {{ subject }}\n\nHello\n{% if customer_name %}\n"
    assert [p.line for p in editing.check(settings, ACK, broken, NOW)] == [4]
    assert editing.check(settings, ACK, "Subjet: {{ subject }}\n\nHello\n", NOW)[0].line == 1
    with pytest.raises(editing.TemplateEditError) as refused:
        editing.save(settings, ACK, typo, NOW)
    assert refused.value.problems == tuple(problems)
    assert f"{ACK}:{line}: 'promised_by_txt' is undefined" in str(refused.value)
    assert source(settings) == original
    assert editing.versions(settings, ACK) == []


@pytest.mark.parametrize(
    ("slip", "said"),
    [
        (
            "Thank you, {{ customer_name }.",
            "unexpected '}'; there may be a }} without its {{ before it",
        ),
        (
            "Thank you, {{ customer name }}.",
            "expected token 'end of print statement', got 'name'; a }} may be missing, or "
            "there is more than one name inside {{ }}",
        ),
        (
            "{% if customer_name now %}Hi{% endif %}",
            "expected token 'end of statement block', got 'now'; a %} may be missing, or "
            "there is a word too many inside {% %}",
        ),
        (
            "Thank you, {{ customer_name",
            "unexpected end of template, expected 'end of print statement'; a {{ is not "
            "closed with }}",
        ),
        (
            "Thank you{{ ! }}.",
            "unexpected char '!'; inside {{ }} and {% %} only names, quotes and operators "
            "may stand",
        ),
    ],
)
def test_a_syntax_slip_is_said_with_what_was_likely_meant(
    settings: Settings, slip: str, said: str
) -> None:
    """Jinja's words, without the character offset it counts from the file's start (the line
    is given), and a hint for the commonest slips."""
    text = f"Subject: Re: {{{{ subject }}}}\n\nHello,\n{slip}\n"
    (problem,) = editing.check(settings, ACK, text, NOW)
    assert (problem.line, problem.message) == (4, said)


@pytest.mark.parametrize(
    ("slip", "mark"),
    [("Kind regards, %}", "%}"), ("Thank you }} for writing.", "}}"), ("Hello #} there", "#}")],
)
def test_a_tag_mark_left_as_text_is_a_mistake(settings: Settings, slip: str, mark: str) -> None:
    """Jinja passes these as text, so the customer would read them: refused, with the line."""
    text = f"Subject: Re: {{{{ subject }}}}\n\nHello,\n{slip}\n"
    (problem,) = editing.check(settings, ACK, text, NOW)
    assert (problem.line, problem.message) == (
        4,
        f"'{mark}' would reach the customer as written; a tag opened or closed once too often?",
    )


def test_a_mark_written_on_purpose_is_no_mistake(settings: Settings) -> None:
    """Braces the template writes as an expression are meant: ``{{ '{{' }}``."""
    text = "Subject: Re: {{ subject }}\n\nHello,\n{{ '{{' }} is how a tag opens.\n"
    assert editing.check(settings, ACK, text, NOW) == []


def test_a_save_keeps_the_old_version_with_a_diff_and_restore_brings_it_back(
    settings: Settings,
) -> None:
    original = source(settings)
    edited = original.replace("Hello", "Good day", 1)
    kept = editing.save(settings, ACK, edited, NOW)
    assert source(settings) == edited
    assert kept is not None
    assert kept.text == original
    (version,) = editing.versions(settings, ACK)
    assert version.id == kept.id
    assert version.text == original
    assert "\n-{% if customer_first_name %}Hello {{" in version.diff
    assert "\n+{% if customer_first_name %}Good day {{" in version.diff
    assert editing.save(settings, ACK, edited, london(16, 10, 8)) is None  # unchanged: no version

    editing.restore(settings, ACK, version.id, london(16, 10, 9))
    assert source(settings) == original
    newest, oldest = editing.versions(settings, ACK)
    assert newest.text == edited
    assert oldest.text == original
    assert newest.saved_at > oldest.saved_at
    assert "\n-{% if customer_first_name %}Good day" in newest.diff
    assert oldest.diff == ""


def test_the_history_is_bounded(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(editing, "MAX_VERSIONS", 3)
    original = source(settings)
    for n in range(6):
        editing.save(settings, ACK, original.replace("Hello", f"Hello {n}", 1), london(16, 10, n))
    assert [v.text.split("%}", 1)[1][:7] for v in editing.versions(settings, ACK)] == [
        "Hello 4",
        "Hello 3",
        "Hello 2",
    ]


@pytest.mark.parametrize(
    "name",
    [
        "../x",
        "/etc/passwd",
        f"{ACK}/../../x",
        "../config.toml",
        "support/../acknowledgement.txt.j2",
        "./acknowledgement.txt.j2",
        "acknowledgement.txt.j2\x00",
        "README.md",
        "anything.txt.j2",
        "",
    ],
)
def test_a_name_not_in_the_set_is_refused(settings: Settings, name: str) -> None:
    good = source(settings)
    for attempt in (
        lambda: editing.preview(settings, name, good, NOW),
        lambda: editing.check(settings, name, good, NOW),
        lambda: editing.save(settings, name, good, NOW),
        lambda: editing.versions(settings, name),
        lambda: editing.restore(settings, name, "x", NOW),
    ):
        with pytest.raises(editing.TemplateEditError, match="is not one of the templates"):
            attempt()
    assert not (settings.agent.templates_dir.parent / "x").exists()


def test_a_version_that_is_not_in_the_history_is_refused(settings: Settings) -> None:
    editing.save(settings, ACK, source(settings).replace("Hello", "Hi", 1), NOW)
    for version in ("../../config.toml", "../acknowledgement.de.txt.j2/x.j2", "x"):
        with pytest.raises(editing.TemplateEditError, match="no version"):
            editing.restore(settings, ACK, version, NOW)


def test_a_silent_loop_is_stopped_and_reported(settings: Settings) -> None:
    candidate = f"Subject: Re: {{{{ subject }}}}\n\n{SILENT_LOOP}\n"
    problems = editing.check(settings, ACK, candidate, NOW)
    assert len(problems) == 1
    assert problems[0].line == 3
    assert "over 1,000,000 steps" in problems[0].message
    shown = editing.preview(settings, ACK, candidate, NOW)
    assert "over 1,000,000 steps" in shown.problems[0].message


def test_a_template_over_the_size_limit_is_refused(settings: Settings) -> None:
    huge = "Subject: x\n\n" + "y" * 1_000_000
    (problem,) = editing.check(settings, ACK, huge, NOW)
    assert "a template is at most 1,000,000" in problem.message
    with pytest.raises(editing.TemplateEditError):
        editing.save(settings, ACK, huge, NOW)


def test_the_history_stays_out_of_the_templates_folder(settings: Settings) -> None:
    """The loader, ``templates check`` and the set list the same templates after saves."""
    folder = settings.agent.templates_dir
    listed = TemplatesFolder(folder).list_templates()
    good, mistakes = check_templates(settings, NOW)
    for n in range(3):
        editing.save(settings, ACK, source(settings).replace("Hello", f"Hi {n}", 1), NOW)
    editing.save(settings, "support/follow_up.de.txt.j2", source(settings, "follow_up.txt.j2"), NOW)
    assert TemplatesFolder(folder).list_templates() == sorted(
        [*listed, "support/follow_up.de.txt.j2"]
    )
    after_good, after_mistakes = check_templates(settings, NOW)
    assert after_mistakes == mistakes == []
    assert len(after_good) == len(good) + 1
    inside = [p.relative_to(folder).as_posix() for p in folder.rglob("*")]
    assert not [p for p in inside if "history" in p or p.endswith(".tmp")]
    assert len(list(editing.history_folder(settings, editing.find(settings, ACK)).iterdir())) == 2


def test_the_agent_writes_with_the_new_text_right_after_a_save(settings: Settings) -> None:
    """Hot reload, as for a file saved in an editor: the same composer, the next mail."""
    composer = Composer(settings)
    sample = sample_conversation(settings, NOW)
    first = composer.compose(sample, MailKind.ACKNOWLEDGEMENT, sample.customer, NOW)
    editing.save(settings, ACK, source(settings).replace("Hello", "Salutations", 1), NOW)
    second = composer.compose(sample, MailKind.ACKNOWLEDGEMENT, sample.customer, NOW)
    assert b"Salutations" not in first.raw
    assert b"Salutations" in second.raw
    editing.restore(settings, ACK, editing.versions(settings, ACK)[0].id, NOW)
    third = composer.compose(sample, MailKind.ACKNOWLEDGEMENT, sample.customer, NOW)
    assert b"Salutations" not in third.raw


def test_the_packaged_defaults_are_not_edited_but_can_be_copied(tmp_path: Path) -> None:
    packaged = make_settings(tmp_path, templates=ROOT / "templates")
    before = source(packaged)
    with pytest.raises(editing.TemplateEditError) as refused:
        editing.save(packaged, ACK, before.replace("Hello", "Hi", 1), NOW)
    assert "set [agent] templates_dir to a folder of your own" in str(refused.value)
    assert "\n" not in str(refused.value)
    assert source(packaged) == before
    copied = editing.copy_defaults(tmp_path / "mine")
    assert ACK in copied
    assert "escalation.fr.txt.j2" in copied
    assert (tmp_path / "mine" / ACK).read_text(encoding="utf-8") == before
    assert editing.copy_defaults(tmp_path / "mine") == []  # what is there is left alone


def test_a_link_is_edited_where_it_leads(settings: Settings) -> None:
    folder = settings.agent.templates_dir
    (folder / "support").mkdir()
    (folder / "support" / ACK).symlink_to(Path("..") / ACK)
    with pytest.raises(editing.TemplateEditError, match=r"is a link to .*; edit that template"):
        editing.save(settings, f"support/{ACK}", source(settings), NOW)
    assert (folder / "support" / ACK).is_symlink()


def test_a_new_mailbox_variant_is_used_for_that_mailbox(settings: Settings) -> None:
    name = f"support/{ACK}"
    text = "Subject: Re: {{ subject }}\n\nSupport desk: {{ promised_by_text }}.\n"
    assert editing.save(settings, name, text, NOW) is None  # nothing replaced
    sample = sample_conversation(settings, NOW)
    mail = Composer(settings).compose(sample, MailKind.ACKNOWLEDGEMENT, sample.customer, NOW)
    assert b"Support desk: tomorrow" in mail.raw
    assert (settings.agent.templates_dir / name).stat().st_mode & 0o777 == 0o644
    assert isinstance(editing.versions(settings, name), list)


def test_times_are_utc_in_the_history(settings: Settings) -> None:
    editing.save(settings, ACK, source(settings).replace("Hello", "Hi", 1), NOW)
    (version,) = editing.versions(settings, ACK)
    assert version.saved_at == NOW
    assert version.saved_at.utcoffset() == timedelta(0)


def test_a_save_over_someone_elses_is_refused(settings: Settings) -> None:
    opened = source(settings)
    editing.save(settings, ACK, opened.replace("Hello", "Hi", 1), NOW, replaces=opened)
    mine = opened.replace("Hello", "Greetings", 1)
    with pytest.raises(editing.TemplateEditError, match="changed by someone else"):
        editing.save(settings, ACK, mine, NOW, replaces=opened)
    assert "Greetings" not in source(settings)


def test_text_that_cannot_be_utf8_is_a_problem_with_its_line(settings: Settings) -> None:
    (problem,) = editing.check(settings, ACK, "Subject: x\n\nbad \ud800 here\n", NOW)
    assert problem.line == 3
    assert "not UTF-8" in problem.message


def test_a_mailbox_folder_linked_out_of_the_templates_folder_is_not_written(
    settings: Settings, tmp_path: Path
) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (settings.agent.templates_dir / "support").symlink_to(outside)
    with pytest.raises(editing.TemplateEditError, match="outside the templates folder"):
        editing.save(settings, f"support/{ACK}", source(settings), NOW)
    assert list(outside.iterdir()) == []
