"""Templates render in the sandbox into a mail with the contract's headers."""

from datetime import UTC, datetime
from email import message_from_bytes, policy

import jinja2
import pytest

from inbox_agent.core.rendering import (
    MAX_OUTPUT_CHARS,
    Envelope,
    RenderError,
    Templates,
    build_message,
    candidates,
    make_environment,
    render,
    split_subject,
)

NOW = datetime(2026, 11, 23, 10, 6, tzinfo=UTC)
ENVELOPE = Envelope(from_address="support@example.com", from_name="Example Co. Support",
                    to="ana@customer.example", token="K7Q2",
                    message_id="<inbox-agent.K7Q2.ack.1@example.com>", date=NOW,
                    in_reply_to="<m1@customer.example>",
                    references=("<m0@customer.example>", "<m1@customer.example>"))


def _env(**templates: str) -> jinja2.Environment:
    return make_environment(jinja2.DictLoader(templates))


def test_subject_line_and_body_are_split() -> None:
    """A first 'Subject:' line is the subject; the body starts after the blank line."""
    assert split_subject("Subject: Re: hi\n\nHello\n") == ("Re: hi", "Hello\n")
    assert split_subject("Hello\n") == ("", "Hello\n")


def test_outgoing_headers_follow_the_contract() -> None:
    """Auto-Submitted, threading headers, Message-ID, Date, token subject, suppression."""
    rendered = render(_env(**{"ack.txt.j2": "Subject: Re: {{ subject }}\n\nHi {{ name }}\n"}),
                      "ack", {"subject": "Invoice", "name": "Ana"})
    raw = build_message(rendered, ENVELOPE, "unused").as_bytes(policy=policy.SMTP)
    msg = message_from_bytes(raw, policy=policy.default)
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["X-Auto-Response-Suppress"] == "All"
    assert msg["In-Reply-To"] == "<m1@customer.example>"
    assert msg["References"] == "<m0@customer.example> <m1@customer.example>"
    assert msg["Message-ID"] == "<inbox-agent.K7Q2.ack.1@example.com>"
    assert msg["Subject"] == "[#K7Q2] Re: Invoice"
    assert msg["Date"] is not None
    assert msg.get_content_type() == "text/plain"
    assert msg.get_content().splitlines() == ["Hi Ana"]


def test_html_template_makes_multipart_alternative_and_is_escaped() -> None:
    """With NAME.html.j2 the mail has both parts; customer text is HTML-escaped."""
    env = _env(**{"ack.txt.j2": "Hi {{ name }}\n", "ack.html.j2": "<p>Hi {{ name }}</p>"})
    rendered = render(env, "ack", {"name": "<script>x</script>"})
    assert rendered.html == "<p>Hi &lt;script&gt;x&lt;/script&gt;</p>"
    msg = build_message(rendered, ENVELOPE, "Re: x")
    assert msg.get_content_type() == "multipart/alternative"


def test_crlf_in_customer_subject_never_becomes_a_header() -> None:
    """A subject carrying CR/LF and a fake header stays on one Subject line."""
    env = _env(**{"ack.txt.j2": "Subject: Re: {{ subject }}\n\nx\n"})
    rendered = render(env, "ack", {"subject": "hi\r\nBcc: victim@example.net"})
    raw = build_message(rendered, ENVELOPE, "x").as_bytes(policy=policy.SMTP)
    msg = message_from_bytes(raw, policy=policy.default)
    assert msg["Bcc"] is None
    assert msg["Subject"] == "[#K7Q2] Re: hi"
    assert list(msg.keys()).count("Subject") == 1


def test_undefined_variable_is_an_error_with_file_and_line() -> None:
    """StrictUndefined: a typo fails loudly with file:line instead of a blank."""
    env = _env(**{"ack.txt.j2": "Hello\n{{ customer_nam }}\n"})
    with pytest.raises(RenderError, match=r"ack\.txt\.j2:2: 'customer_nam' is undefined"):
        render(env, "ack", {"customer_name": "Ana"})


def test_syntax_error_names_file_and_line() -> None:
    """A broken tag is reported with its line."""
    env = _env(**{"ack.txt.j2": "a\nb\n{% if %}\n"})
    with pytest.raises(RenderError, match=r"ack\.txt\.j2:3:"):
        render(env, "ack", {})


def test_sandbox_refuses_attribute_walks() -> None:
    """__class__ / __globals__ walks are refused by the sandbox."""
    env = _env(**{"ack.txt.j2": "{{ name.__class__.__mro__[1].__subclasses__() }}"})
    with pytest.raises(RenderError):
        render(env, "ack", {"name": "x"})


def test_runaway_output_is_bounded() -> None:
    """A huge loop stops at the output limit instead of filling memory."""
    env = _env(**{"ack.txt.j2": "{% for a in rows %}{% for b in rows %}xxxxxxxxxx"
                                "{% endfor %}{% endfor %}"})
    with pytest.raises(RenderError, match="output over"):
        render(env, "ack", {"rows": list(range(1000))})
    assert MAX_OUTPUT_CHARS < 1000 * 1000 * 10


def test_probing_globals_are_gone() -> None:
    """cycler, joiner, lipsum and range are not available to templates."""
    for name in ("cycler", "joiner", "lipsum", "range"):
        env = _env(**{"ack.txt.j2": f"{{{{ {name} }}}}"})
        with pytest.raises(RenderError, match="undefined"):
            render(env, "ack", {})


@pytest.mark.parametrize("source", [
    "{{ '{0.__class__.__mro__}'.format(name) }}",   # format-string attribute walk
    "{{ '%s' % name.__class__ }}",                   # old-style formatting of a walk
    "{{ name.__init__.__globals__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ name | attr('__class__') }}",
])
def test_injection_attempts_are_refused(source: str) -> None:
    """The usual sandbox-escape probes fail as template errors, never run."""
    env = _env(**{"ack.txt.j2": source})
    with pytest.raises(RenderError):
        render(env, "ack", {"name": "x"})


@pytest.mark.parametrize("source", ["{{ 'x' * 1000000000 }}", "{{ [0] * 1000000000 }}",
                                    "{{ 10 ** 10000000 }}"])
def test_one_step_bombs_are_refused_before_they_use_memory(source: str) -> None:
    """Repetition and powers too large for the output limit are refused at the operator."""
    env = _env(**{"ack.txt.j2": source})
    with pytest.raises(RenderError, match="too large"):
        render(env, "ack", {})


def test_rendering_is_bounded_in_time() -> None:
    """A loop that keeps producing small output stops at the time bound (a fake stopwatch)."""
    ticks = iter(range(1_000_000))
    env = _env(**{"ack.txt.j2": "{% for a in rows %}{{ a }}{% endfor %}"})
    templates = Templates(env, stopwatch=lambda: float(next(ticks)))
    with pytest.raises(RenderError, match="rendering took over 2 s"):
        templates.render("ack", {"rows": list(range(50))})


def test_a_misspelt_variable_names_the_one_meant() -> None:
    """file:line, the mistake, and the nearest name in the data."""
    env = _env(**{"ack.txt.j2": "Subject: Hi\n\nHello\n{{ customer_nam }}\n"})
    with pytest.raises(RenderError) as caught:
        render(env, "ack", {"customer_name": "Ana", "subject": "x"})
    assert str(caught.value) == (
        "ack.txt.j2:4: 'customer_nam' is undefined (did you mean 'customer_name'?)")


def test_a_broken_edit_falls_back_to_the_last_good_version() -> None:
    """Rendered once, then broken by an edit: the last good version is used and the
    mistake reported; fixed again: the new version is used."""
    loader = jinja2.DictLoader({"ack.txt.j2": "Subject: Hi\n\nHello {{ name }}\n"})
    templates = Templates(make_environment(loader))
    assert templates.render("ack", {"name": "Ana"}).text == "Hello Ana\n"
    loader.mapping["ack.txt.j2"] = "Subject: Hi\n\nHello {{ nam }\n"  # a syntax error
    templates.env.cache.clear()  # FileSystemLoader does this by mtime; DictLoader cannot
    assert templates.render("ack", {"name": "Ana"}).text == "Hello Ana\n"
    assert list(templates.problems) == ["ack.txt.j2"]
    assert templates.problems["ack.txt.j2"].startswith("ack.txt.j2:3: unexpected '}'")
    loader.mapping["ack.txt.j2"] = "Subject: Hi\n\nDear {{ name }}\n"
    templates.env.cache.clear()
    assert templates.render("ack", {"name": "Ana"}).text == "Dear Ana\n"
    assert templates.problems == {}


def test_the_most_specific_template_is_chosen() -> None:
    """The customer's language first, the mailbox's own wording next, then the plain name;
    de-DE finds de."""
    env = _env(**{"ack.txt.j2": "plain", "ack.de.txt.j2": "deutsch",
                  "sales/ack.txt.j2": "sales", "sales/ack.fr.txt.j2": "ventes"})
    templates = Templates(env)
    assert candidates("ack", "sales", "de-de") == [
        "sales/ack.de-de", "ack.de-de", "sales/ack.de", "ack.de", "sales/ack", "ack"]
    assert templates.choose("ack", "support", None) == "ack"
    assert templates.choose("ack", "support", "de-DE".lower()) == "ack.de"
    assert templates.choose("ack", "sales", "de") == "ack.de"  # the language first
    assert templates.choose("ack", "sales", None) == "sales/ack"
    assert templates.choose("ack", "sales", "fr") == "sales/ack.fr"
    assert templates.choose("ack", "support", "fr") == "ack"
