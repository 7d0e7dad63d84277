"""Templates render in the sandbox into a mail with the contract's headers."""

import tracemalloc
from datetime import UTC, datetime
from email import message_from_bytes, policy

import jinja2
import pytest

from inbox_agent.core.rendering import (
    MAX_OUTPUT_CHARS,
    Envelope,
    RenderError,
    RunawayError,
    Templates,
    build_message,
    candidates,
    make_environment,
    render,
    split_subject,
)

NOW = datetime(2026, 11, 23, 10, 6, tzinfo=UTC)
ENVELOPE = Envelope(
    from_address="support@example.com",
    from_name="Example Co. Support",
    to="ana@customer.example",
    token="K7Q2",
    message_id="<inbox-agent.K7Q2.ack.1@example.com>",
    date=NOW,
    in_reply_to="<m1@customer.example>",
    references=("<m0@customer.example>", "<m1@customer.example>"),
)


def _env(**templates: str) -> jinja2.Environment:
    return make_environment(jinja2.DictLoader(templates))


def test_subject_line_and_body_are_split() -> None:
    """A first 'Subject:' line is the subject; the body starts after the blank line."""
    assert split_subject("Subject: Re: hi\n\nHello\n") == ("Re: hi", "Hello\n")
    assert split_subject("Hello\n") == ("", "Hello\n")


def test_outgoing_headers_follow_the_contract() -> None:
    """Auto-Submitted, threading headers, Message-ID, Date, token subject, suppression."""
    rendered = render(
        _env(**{"ack.txt.j2": "Subject: Re: {{ subject }}\n\nHi {{ name }}\n"}),
        "ack",
        {"subject": "Invoice", "name": "Ana"},
    )
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
    env = _env(
        **{"ack.txt.j2": "{% for a in rows %}{% for b in rows %}xxxxxxxxxx{% endfor %}{% endfor %}"}
    )
    with pytest.raises(RenderError, match="output over"):
        render(env, "ack", {"rows": list(range(1000))})
    assert MAX_OUTPUT_CHARS < 1000 * 1000 * 10


def test_probing_globals_are_gone() -> None:
    """cycler, joiner, lipsum and range are not available to templates."""
    for name in ("cycler", "joiner", "lipsum", "range"):
        env = _env(**{"ack.txt.j2": f"{{{{ {name} }}}}"})
        with pytest.raises(RenderError, match="undefined"):
            render(env, "ack", {})


@pytest.mark.parametrize(
    "source",
    [
        "{{ '{0.__class__.__mro__}'.format(name) }}",  # format-string attribute walk
        "{{ '%s' % name.__class__ }}",  # old-style formatting of a walk
        "{{ name.__init__.__globals__ }}",
        "{{ self._TemplateReference__context }}",
        "{{ name | attr('__class__') }}",
    ],
)
def test_injection_attempts_are_refused(source: str) -> None:
    """The usual sandbox-escape probes fail as template errors, never run."""
    env = _env(**{"ack.txt.j2": source})
    with pytest.raises(RenderError):
        render(env, "ack", {"name": "x"})


@pytest.mark.parametrize(
    "source", ["{{ 'x' * 1000000000 }}", "{{ [0] * 1000000000 }}", "{{ 10 ** 10000000 }}"]
)
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
        "ack.txt.j2:4: 'customer_nam' is undefined (did you mean 'customer_name'?)"
    )


def test_a_broken_edit_falls_back_to_the_last_good_version() -> None:
    """Rendered once, then broken by an edit: the last good version is used and the
    mistake reported; fixed again: the new version is used."""
    sources = {"ack.txt.j2": "Subject: Hi\n\nHello {{ name }}\n"}
    loader = jinja2.DictLoader(sources)
    templates = Templates(make_environment(loader))
    assert templates.render("ack", {"name": "Ana"}).text == "Hello Ana\n"
    sources["ack.txt.j2"] = "Subject: Hi\n\nHello {{ nam }\n"  # a syntax error
    _forget_compiled(templates.env)  # FileSystemLoader does this by mtime; DictLoader cannot
    assert templates.render("ack", {"name": "Ana"}).text == "Hello Ana\n"
    assert list(templates.problems) == ["ack.txt.j2"]
    assert templates.problems["ack.txt.j2"].startswith("ack.txt.j2:3: unexpected '}'")
    sources["ack.txt.j2"] = "Subject: Hi\n\nDear {{ name }}\n"
    _forget_compiled(templates.env)
    assert templates.render("ack", {"name": "Ana"}).text == "Dear Ana\n"
    assert templates.problems == {}


def test_the_most_specific_template_is_chosen() -> None:
    """The customer's language first, the mailbox's own wording next, then the plain name;
    de-DE finds de."""
    env = _env(
        **{
            "ack.txt.j2": "plain",
            "ack.de.txt.j2": "deutsch",
            "sales/ack.txt.j2": "sales",
            "sales/ack.fr.txt.j2": "ventes",
        }
    )
    templates = Templates(env)
    assert candidates("ack", "sales", "de-de") == [
        "sales/ack.de-de",
        "ack.de-de",
        "sales/ack.de",
        "ack.de",
        "sales/ack",
        "ack",
    ]
    assert templates.choose("ack", "support", None) == "ack"
    assert templates.choose("ack", "support", "de-DE".lower()) == "ack.de"
    assert templates.choose("ack", "sales", "de") == "ack.de"  # the language first
    assert templates.choose("ack", "sales", None) == "sales/ack"
    assert templates.choose("ack", "sales", "fr") == "sales/ack.fr"
    assert templates.choose("ack", "support", "fr") == "ack"


# -- issue 10.5: no template can hang the agent, silent loops included ----------------------

SILENT_LOOP = "{% for a in 'x' * 100000 %}{% for b in 'x' * 100000 %}{% endfor %}{% endfor %}"


@pytest.mark.parametrize(
    "source",
    [
        SILENT_LOOP,
        "{% for a in 'x' * 100000 %}{% for b in 'x' * 100000 if false %}{% endfor %}{% endfor %}",
        "{% for a in 'x' * 100000 recursive %}{% if loop.depth < 3 %}{{ loop('x' * 100000) }}"
        "{% endif %}{% endfor %}",
        "{% macro f(s) %}{% if s %}{{ f(s[1:]) }}{{ f(s[1:]) }}{% endif %}{% endmacro %}"
        "{{ f('x' * 60) }}",
        "{% macro f() %}{{ caller() }}{{ caller() }}{% endmacro %}"
        "{% for a in 'x' * 100000 %}{% call f() %}{% for b in 'x' * 100 %}{% endfor %}"
        "{% endcall %}{% endfor %}",
    ],
)
def test_a_silent_runaway_is_stopped_by_the_step_budget(source: str) -> None:
    """Loops, filtered loops, recursive loops, macros and call blocks that write nothing:
    each step is counted, and the render stops with file:line instead of hanging."""
    env = _env(**{"ack.txt.j2": f"Subject: x\n\n{source}\n"})
    with pytest.raises(
        RunawayError,
        match=r"^ack\.txt\.j2:3: rendering took over 1,000,000 "
        r"steps; check for a runaway loop$",
    ):
        render(env, "ack", {})


def test_includes_that_double_without_a_loop_are_counted() -> None:
    """A template including itself twice per level: 2**60 loads, no loop in sight."""
    env = _env(
        **{
            "ack.txt.j2": "{% with s = 'x' * 60 %}{% include 'half.txt.j2' %}{% endwith %}",
            "half.txt.j2": "{% if s %}{% with s = s[1:] %}{% include 'half.txt.j2' %}"
            "{% include 'half.txt.j2' %}{% endwith %}{% endif %}",
        }
    )
    with pytest.raises(RunawayError, match="steps; check for a runaway loop"):
        render(env, "ack", {})


def test_a_silent_loop_is_stopped_by_the_deadline() -> None:
    """With the app's stopwatch (here a fake one, a second a reading), the render stops once
    more than 2 s have passed, though it never yields any output."""
    ticks = iter(range(1_000_000))
    env = _env(**{"ack.txt.j2": f"Subject: x\n\n{SILENT_LOOP}"})
    with pytest.raises(
        RunawayError,
        match=r"^ack\.txt\.j2:3: rendering took over 2 s; "
        r"check for a runaway loop$",
    ):
        render(env, "ack", {}, stopwatch=lambda: float(next(ticks)))


def test_a_runaway_version_is_not_run_again_until_it_changes() -> None:
    """Broken into a runaway loop after a good version: the last good one is used, and the
    runaway version is not run again for the next mail (a cycle with many mails would spend
    the whole budget on each); edited again, the new version is tried."""
    sources = {"ack.txt.j2": "Subject: Hi\n\nHello {{ name }}\n"}
    loader = jinja2.DictLoader(sources)
    readings = []

    def stopwatch() -> float:
        readings.append(0.0)
        return 0.0

    templates = Templates(make_environment(loader), stopwatch=stopwatch)
    assert templates.render("ack", {"name": "Ana"}).text == "Hello Ana\n"
    sources["ack.txt.j2"] = f"Subject: Hi\n\n{SILENT_LOOP}\n"
    _forget_compiled(templates.env)
    assert templates.render("ack", {"name": "Ana"}).text == "Hello Ana\n"
    assert "rendering took over 1,000,000 steps" in templates.problems["ack.txt.j2"]
    readings.clear()
    assert templates.render("ack", {"name": "Ben"}).text == "Hello Ben\n"
    assert len(readings) < 100  # the good version's few steps, not a million
    sources["ack.txt.j2"] = "Subject: Hi\n\nDear {{ name }}\n"
    _forget_compiled(templates.env)
    assert templates.render("ack", {"name": "Ana"}).text == "Dear Ana\n"
    assert templates.problems == {}


# -- issue 10.6: no template can build a huge value -----------------------------------------

A = "{% set a = 'x' * 600000 %}"
BIG_VECTORS = [
    ("{{ 'x'.ljust(10**9)|length }}", "ljust"),
    ("{{ 'x'.rjust(10**9)|length }}", "rjust"),
    ("{{ 'x'.center(10**9)|length }}", "center"),
    ("{{ 'x'.zfill(10**9)|length }}", "zfill"),
    ("{{ ('\t' * 1000).expandtabs(10**6)|length }}", "expandtabs"),
    ("{{ '{:>1000000000}'.format('x')|length }}", "format"),
    ("{{ '{:.1000000000f}'.format(1.5)|length }}", "format"),
    ("{{ '{:{w}}'.format('x', w=10**9)|length }}", "format"),
    ("{{ '{a:>1000000000}'.format_map({'a': 'x'})|length }}", "format_map"),
    ("{{ ('%1000000000s' % 'x')|length }}", "% formatting"),
    ("{{ ('%.1000000000f' % 1.5)|length }}", "% formatting"),
    ("{{ ('%*s' % (10**9, 'x'))|length }}", "% formatting"),
    ("{{ ('%(a)1000000000s' % {'a': 'x'})|length }}", "% formatting"),
    ("{{ '%1000000000s'|format('x')|length }}", "format"),
    ("{{ ('x' * 1000000000)|length }}", "repetition"),
    ("{{ ([0] * 1000000000)|length }}", "repetition"),
    (A + "{{ (a + a)|length }}", r"\+"),
    (A + "{{ (a ~ a)|length }}", "~"),
    (A + "{{ ''.join([a, a])|length }}", "join"),
    (A + "{{ [a, a]|join|length }}", "join"),
    ("{% set a = 'x' * 2000 %}{{ a.replace('x', a)|length }}", "replace"),
    ("{% set a = 'x' * 2000 %}{{ a|replace('x', a)|length }}", "replace"),
    ("{{ 'x'|center(10**9)|length }}", "center"),
    ("{{ ('x\\n' * 1000)|indent(10**6)|length }}", "indent"),
    ("{{ ('x ' * 100000)|wordwrap(1, wrapstring='y' * 100)|length }}", "wordwrap"),
    (A + "{{ [a, a]|string|length }}", "string"),
    (A + "{{ [a, a] }}", "printing a value"),
    (A + "{% set b %}{{ a }}{{ a }}{% endset %}{{ b|length }}", "captured output"),
    (A + "{% macro m() %}{{ a }}{{ a }}{% endmacro %}{{ m()|length }}", "captured output"),
    ("{{ (1).to_bytes(10**9, 'big')|length }}", "to_bytes"),
    ("{{ when.strftime('%c' * 500000)|length }}", "strftime"),
    ("{{ ((10 ** 100) ** 100)|string|length }}", "number too large"),
    ("{{ 10 ** 10000000 }}", "exponent too large"),
    ("{{ 'x'.translate({120: 'y' * 100000}) }}", "not available"),
    ("{{ 'x'|batch(10**9, 'y')|list|length }}", "No filter named 'batch'"),
    ("{{ 'x'|slice(10**9)|list|length }}", "No filter named 'slice'"),
    ("{{ ['x', 'y']|map('center', 10**6)|join|length }}", "No filter named 'map'"),
    ("{{ [[0] * 100000, [0] * 100000]|sum(start=[])|length }}", "No filter named 'sum'"),
]


@pytest.mark.parametrize(
    ("source", "refusal"), BIG_VECTORS, ids=[f"{n}-{r}" for n, (_, r) in enumerate(BIG_VECTORS)]
)
def test_a_huge_value_is_refused_before_it_is_built(source: str, refusal: str) -> None:
    """Every way of building a big value, refused with file:line and what was refused, and
    before the memory is used (tracemalloc's peak stays far below the value asked for)."""
    env = _env(**{"ack.txt.j2": f"Subject: x\n\n{source}\n"})
    tracemalloc.start()
    try:
        with pytest.raises(RenderError, match=rf"^ack\.txt\.j2:3: .*{refusal}") as caught:
            render(env, "ack", {"when": NOW})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20_000_000, caught.value
    assert "Traceback" not in str(caught.value)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ 'Ana'|center(9) }}", "   Ana   "),
        ("{{ '{:>6}|{:<4}|{:^5}'.format(x, 'ab', 'c') }}", "    42|ab  |  c  "),
        (
            "{{ '{:.2f}'.format(3.14159) }} {{ '%5.1f' % 2.25 }} {{ '%s and %s' % ('a', 'b') }}",
            "3.14   2.2 a and b",
        ),
        ("{{ '%(n)s!'|format(n='hi') }} {{ '%03d'|format(7) }}", "hi! 007"),
        ("{{ ['a', 'b']|join(', ') }} {{ ', '.join(['c', 'd']) }}", "a, b c, d"),
        ("{{ 'a-b-c'|replace('-', '+') }} {{ 'a-b'.replace('-', '--') }}", "a+b+c a--b"),
        (
            "{{ 'Ana'.ljust(5, '.') }}{{ '7'.zfill(3) }} {{ 'a' ~ 'b' ~ x }} {{ 'a' + 'b' }}",
            "Ana..007 ab42 ab",
        ),
        ("{{ 'one two three'|wordwrap(8) }}|{{ 'a\\nb'|indent(2) }}", "one two\nthree|a\n  b"),
        (
            "{{ [1, 2] }} {{ (1, 'a')|string }} {{ 'x' * 3 }} {{ 2 ** 10 }}",
            "[1, 2] (1, 'a') xxx 1024",
        ),
        ("{% set b %}B{% endset %}{% macro m() %}M{% endmacro %}{{ b }}{{ m() }}", "BM"),
        ("{% for c in 'abc' if c != 'b' %}{{ c }}{% endfor %}", "ac"),
    ],
)
def test_ordinary_formatting_still_works(source: str, expected: str) -> None:
    """The bounds cost nothing to ordinary templates."""
    env = _env(**{"ack.txt.j2": source})
    assert render(env, "ack", {"x": 42}).text == expected


def _forget_compiled(env: jinja2.Environment) -> None:
    """Drop the compiled templates: FileSystemLoader notices an edit by its mtime, a
    DictLoader cannot."""
    assert env.cache is not None
    env.cache.clear()
