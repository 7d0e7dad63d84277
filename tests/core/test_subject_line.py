"""A template's ``Subject:`` line gone wrong is a template mistake with file:line, never the
first line of a customer's mail."""

from __future__ import annotations

import jinja2
import pytest

from inbox_agent.core.rendering import (
    RenderError,
    Templates,
    make_environment,
    render,
    subject_line_problem,
)

BODY = "Hello {{ name }},\n\nWe have your message.\n"
DATA = {"name": "Ana", "subject": "Invoice"}


def _env(**templates: str) -> jinja2.Environment:
    return make_environment(jinja2.DictLoader(templates))


@pytest.mark.parametrize(
    ("source", "line", "says"),
    [
        ("Subjet: Re: {{ subject }}\n\n" + BODY, 1, "'Subjet:' is not a header"),
        ("Subjcet: Re: {{ subject }}\n\n" + BODY, 1, "'Subjcet:' is not a header"),
        ("Betreff: AW: {{ subject }}\n\n" + BODY, 1, "in English whatever the mail's language"),
        ("Objet : Re: {{ subject }}\n\n" + BODY, 1, "'Objet:' is not a header"),
        ("Subject Re: {{ subject }}\n\n" + BODY, 1, "needs its colon"),
        ("Subject : Re: {{ subject }}\n\n" + BODY, 1, "no space before the colon"),
        ("  Subject: Re: {{ subject }}\n\n" + BODY, 1, "must start the line"),
        ("\nSubject: Re: {{ subject }}\n\n" + BODY, 2, "very first line"),
        (
            "{# staff: keep this short #}\nSubject: Re: {{ subject }}\n\n" + BODY,
            2,
            "very first line",
        ),
        ("{% if name %}\nsubject: Re: {{ subject }}\n{% endif %}\n" + BODY, 2, "very first line"),
    ],
    ids=[
        "misspelt",
        "letters-swapped",
        "german-word",
        "french-word-spaced",
        "no-colon",
        "space-before-colon",
        "indented",
        "after-a-blank-line",
        "after-a-comment-line",
        "after-a-tag-line",
    ],
)
def test_a_subject_line_gone_wrong_names_its_line(source: str, line: int, says: str) -> None:
    """Each way a Subject line goes wrong is a RenderError naming the file, the template's
    line and what to write instead."""
    with pytest.raises(RenderError, match=rf"^ack\.txt\.j2:{line}: .*{says}"):
        render(_env(**{"ack.txt.j2": source}), "ack", DATA)


@pytest.mark.parametrize(
    "source",
    [
        "Subject: Re: {{ subject }}\n\n" + BODY,
        "subject: Re: {{ subject }}\n\n" + BODY,  # header names are case-insensitive
        "SUBJECT: Re: {{ subject }}\n\n" + BODY,
        "{#- a note -#}\nSubject: Re: {{ subject }}\n\n" + BODY,  # the tag eats its line
        BODY,  # no Subject line: the customer's own subject is used
        "Subjects we cover: everything.\n\n" + BODY,
        "Dear {{ name }},\n\nSubject: {{ subject }}\nWaiting: 3 hours\n",  # a body line
        "Sujets: voir ci-dessous\n",  # a word, not close to "subject", with a colon
    ],
    ids=[
        "right",
        "lower-case",
        "upper-case",
        "tag-trimmed",
        "none",
        "a-sentence",
        "subject-in-the-body",
        "another-word",
    ],
)
def test_a_right_or_absent_subject_line_is_not_a_mistake(source: str) -> None:
    """The right header in any case, no header at all, and "Subject:" inside the body (the
    manager's report has one) all render."""
    render(_env(**{"ack.txt.j2": source}), "ack", DATA)


@pytest.mark.parametrize("name", ["Subject Smith", "Subjet: Smith", "Betreff: x"])
def test_a_customers_words_never_make_the_template_fail(name: str) -> None:
    """A first line that comes from the data (here the customer's name) is the customer's,
    not a mistake in the template: the mail still renders."""
    rendered = render(
        _env(**{"ack.txt.j2": "{{ name }}, we have your message.\n"}), "ack", {"name": name}
    )
    assert rendered.text.startswith(name)


def test_a_misspelt_subject_falls_back_to_the_last_good_version() -> None:
    """A staff edit that misspells Subject: the mail goes from the version that worked, its
    subject intact, and the mistake is reported once with file:line; fixed, it is used."""
    files = {"ack.txt.j2": "Subject: Re: {{ subject }}\n\n" + BODY}
    loader = jinja2.DictLoader(files)  # reads ``files`` at each render: edits take effect
    templates = Templates(make_environment(loader))
    assert templates.render("ack", DATA).subject == "Re: Invoice"
    files["ack.txt.j2"] = "Subjet: Thanks: {{ subject }}\n\n" + BODY
    rendered = templates.render("ack", DATA)
    assert (rendered.subject, rendered.text.splitlines()[0]) == ("Re: Invoice", "Hello Ana,")
    assert templates.problems["ack.txt.j2"].startswith("ack.txt.j2:1: 'Subjet:' is not")
    files["ack.txt.j2"] = "Subject: Thanks: {{ subject }}\n\n" + BODY
    assert templates.render("ack", DATA).subject == "Thanks: Invoice"
    assert templates.problems == {}


def test_with_no_good_version_a_misspelt_subject_is_not_sent() -> None:
    """A template that never worked cannot be fallen back on: the render fails, so the mail
    waits (owed) rather than going out with "Subjet: ..." as its first line."""
    templates = Templates(_env(**{"ack.txt.j2": "Subjet: Re: {{ subject }}\n\n" + BODY}))
    with pytest.raises(RenderError, match=r"^ack\.txt\.j2:1: "):
        templates.render("ack", DATA)


def test_the_html_part_is_not_checked_for_a_subject() -> None:
    """Only the text template carries the Subject line; the HTML part is the body alone."""
    env = _env(
        **{
            "ack.txt.j2": "Subject: Re: {{ subject }}\n\n" + BODY,
            "ack.html.j2": "<p>Subjet: this is HTML</p>\n",
        }
    )
    assert render(env, "ack", DATA).html == "<p>Subjet: this is HTML</p>\n"


def test_the_problem_is_found_on_the_rendered_mail_and_located_in_the_source() -> None:
    """The pure check: the rendered text decides, the template's source gives the line."""
    text = "\nSubject: Re: Invoice\n\nHello\n"
    assert subject_line_problem(text, "{% set x = 1 %}\nSubject: Re: {{ subject }}\n") == (
        2,
        "'Subject:' must be the mail's very first line; a blank line comes before it (a "
        "'{# #}' or '{% %}' line above it writes one: move it below, or end it with '-#}' / "
        "'-%}')",
    )
    assert subject_line_problem(text, "{{ first_line }}\n") is None
    assert subject_line_problem("", "") is None
