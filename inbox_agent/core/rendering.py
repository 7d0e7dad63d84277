"""Staff-edited Jinja2 templates -> the mail the agent sends.

A template is ``NAME.txt.j2`` (required) and ``NAME.html.j2`` (optional, then the mail is
multipart/alternative). Its first line may be ``Subject: ...``; the rest, after one blank line, is
the body. The conversation token is always put in front of the subject by the agent, so a staff
edit cannot lose it.

Which file: ``<mailbox>/NAME.<lang>.txt.j2``, ``NAME.<lang>.txt.j2``, ``<mailbox>/NAME.txt.j2``,
``NAME.txt.j2``, the first that exists (:func:`candidates`); the language is the customer's
(``Content-Language``, then its main part: ``de-DE``, ``de``), else the mailbox's ``language``.

Safety: templates run in the sandbox of ``core.sandbox`` (Jinja2's
ImmutableSandboxedEnvironment: no attribute walks to ``__class__`` or ``__globals__``, no
mutation of the data; plus a budget of steps and time that holds for loops that write nothing,
and a cap on every value built, checked before it is built), with StrictUndefined (a typo is an
error, not a blank in a customer's mail), HTML autoescaped, and output bounded in size. Which
files a template may include is the loader's business (``adapters.templates``: only
``.j2`` files inside the templates folder). Customer text (subject, name) is only ever *data*,
never template source, and the subject is collapsed to one line, so a CR/LF in a customer's
subject can never become a header.

A staff edit that breaks a template does not break the mail: :class:`Templates` keeps the last
version that rendered, uses it, and reports the mistake (file:line) once. A version that ran out
of its budget is not run again until the file changes, so a cycle with many mails to write
spends the budget once, not once per mail.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from email import errors
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Any

import jinja2
import jinja2.exceptions

from inbox_agent.core.conversations import MailKind
from inbox_agent.core.sandbox import (
    FILTERS,
    BoundedSandbox,
    OverBudget,
    finalize,
    render_budget,
)
from inbox_agent.core.text import one_line

MAX_OUTPUT_CHARS = 100_000
TEMPLATE_NAMES = tuple(kind.value for kind in MailKind)


class RenderError(Exception):
    """A template failed to compile or render; the message carries file:line."""


class RunawayError(RenderError):
    """A template ran out of its render budget (steps or time): a runaway loop."""


@dataclass(frozen=True)
class Envelope:
    """Headers of an outgoing mail that the agent decides, not the template."""

    from_address: str
    from_name: str
    to: str
    token: str
    message_id: str
    date: datetime
    in_reply_to: str | None
    references: tuple[str, ...]
    to_name: str = ""  # the customer's name as they wrote it; never trusted as an address


@dataclass(frozen=True)
class Rendered:
    """A template's output: the subject line and the bodies."""

    subject: str
    text: str
    html: str | None


def make_environment(
    loader: jinja2.BaseLoader, filters: Mapping[str, Callable[..., Any]] | None = None
) -> jinja2.Environment:
    """The one sandboxed environment templates are rendered in (the caller owns the loader;
    ``core.sandbox`` says what the sandbox bounds and how)."""
    env = BoundedSandbox(
        loader=loader,
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "html.j2")),
        keep_trailing_newline=True,
        auto_reload=True,  # a staff edit takes effect on the next render, no restart
        finalize=finalize,
    )
    # Globals that only help someone probing the sandbox; templates have no use for them.
    for name in ("cycler", "joiner", "lipsum", "range", "dict", "namespace"):
        env.globals.pop(name, None)
    env.filters = {**FILTERS, **(filters or {})}
    return env


def candidates(name: str, mailbox: str | None = None, language: str | None = None) -> list[str]:
    """Template base names to try, most specific first. The customer's language comes before
    the mailbox: a German customer of a mailbox with its own English wording gets German."""
    langs = list(dict.fromkeys([language, language.split("-")[0]])) if language else []
    folders = [f"{mailbox}/", ""] if mailbox else [""]
    return [f"{folder}{name}.{lang}" for lang in langs for folder in folders] + [
        f"{folder}{name}" for folder in folders
    ]


class Templates:
    """The staff's templates: chosen per mailbox and language, last good kept per file."""

    def __init__(
        self, env: jinja2.Environment, stopwatch: Callable[[], float] | None = None
    ) -> None:
        self.env = env
        self.stopwatch = stopwatch  # seconds, monotonic; given by the app (core reads no clock)
        self.last_good: dict[str, jinja2.Template] = {}
        self.problems: dict[str, str] = {}  # file -> the mistake now being covered for
        self.runaway: dict[str, tuple[jinja2.Template, str]] = {}  # file -> version, mistake

    def choose(
        self,
        name: str,
        mailbox: str | None = None,
        language: str | None = None,
        available: set[str] | None = None,
    ) -> str:
        """The base name of the template that will be used (``available``: the files there,
        when the caller has listed them already)."""
        if available is None:
            available = set(self.env.list_templates(extensions=["j2"]))
        for base in candidates(name, mailbox, language):
            if f"{base}.txt.j2" in available:
                return base
        return name

    def render(
        self,
        name: str,
        data: Mapping[str, Any],
        mailbox: str | None = None,
        language: str | None = None,
    ) -> Rendered:
        """Render ``name`` (``.txt.j2`` and, where present, ``.html.j2``) with ``data``."""
        available = set(self.env.list_templates(extensions=["j2"]))  # one folder walk a mail
        base = self.choose(name, mailbox, language, available)
        text = self._render_one(f"{base}.txt.j2", data)
        html = None
        if f"{base}.html.j2" in available:
            html = self._render_one(f"{base}.html.j2", data)
        subject, body = split_subject(text)
        return Rendered(subject=subject, text=body, html=html)

    def _render_one(self, filename: str, data: Mapping[str, Any]) -> str:
        try:
            template = _load(self.env, filename)
            text = _with_subject_checked(
                self.env, filename, self._generate_new(template, filename, data)
            )
        except RenderError as exc:
            good = self.last_good.get(filename)
            if good is None:
                raise
            self.problems[filename] = str(exc)
            return _generate(good, filename, data, self.stopwatch)
        self.last_good[filename] = template
        self.problems.pop(filename, None)
        return text

    def _generate_new(
        self, template: jinja2.Template, filename: str, data: Mapping[str, Any]
    ) -> str:
        """Render a version not yet known good. A version that once ran out of its budget is
        not tried again until the file changes: a cycle with many mails to write would
        otherwise spend the whole budget on each, and keep the daemon from stopping."""
        runaway = self.runaway.get(filename)
        if runaway is not None and runaway[0] is template:
            raise RunawayError(runaway[1])
        try:
            return _generate(template, filename, data, self.stopwatch)
        except RunawayError as exc:
            self.runaway[filename] = (template, str(exc))
            raise


def render_file(
    env: jinja2.Environment,
    filename: str,
    data: Mapping[str, Any],
    stopwatch: Callable[[], float] | None = None,
) -> str:
    """One template file rendered as it is, no fallback (``templates check`` and the staff
    page's check, with sample data): a tag mark left in the text is a mistake here too."""
    text = _with_subject_checked(
        env, filename, _generate(_load(env, filename), filename, data, stopwatch)
    )
    _no_stray_marks(env, filename, text)
    return text


# What Jinja passes as text but surely is a slip: "Kind regards, %}" would reach customers as
# written. Checked on sample data only, never when sending: a customer's own subject may hold
# braces, and their mail must not wait on it.
_MARKS = ("{{", "}}", "{%", "%}", "{#", "#}")
_WHOLE_TAG = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}")


def _no_stray_marks(env: jinja2.Environment, filename: str, text: str) -> None:
    """A RenderError naming the line when ``text`` holds a tag mark the template has outside
    its tags (a tag opened or closed once too often)."""
    if env.loader is None or not any(mark in text for mark in _MARKS):
        return
    source = env.loader.get_source(env, filename)[0]
    for number, line in enumerate(source.splitlines(), 1):
        rest = _WHOLE_TAG.sub("", line)
        found = next((mark for mark in _MARKS if mark in rest), None)
        if found and found in text:
            raise RenderError(
                f"{filename}:{number}: '{found}' would reach the customer as written; "
                "a tag opened or closed once too often?"
            )


def render(
    env: jinja2.Environment,
    name: str,
    data: Mapping[str, Any],
    stopwatch: Callable[[], float] | None = None,
) -> Rendered:
    """Render template ``name`` once, with no fallback (``templates check``, tests)."""
    return Templates(env, stopwatch).render(name, data)


def split_subject(text: str) -> tuple[str, str]:
    """Take a leading ``Subject:`` line off ``text``; ``""`` when there is none."""
    first, _, rest = text.partition("\n")
    if not first.lower().startswith("subject:"):
        return "", text
    return one_line(first[len("subject:") :]), rest.removeprefix("\n").removeprefix("\r\n")


# "Subject" as staff write it in other languages' mail programs: never a header to the agent.
_SUBJECT_WORDS = frozenset(
    {
        "betreff",
        "sujet",
        "objet",
        "asunto",
        "oggetto",
        "onderwerp",
        "assunto",
        "emne",
        "ämne",
        "aihe",
        "temat",
        "konu",
    }
)
_LEADING_TAGS = re.compile(r"^(?:\s*(?:\{#.*?#\}|\{%.*?%\}))*\s*")
_HEADERISH = re.compile(r"(?P<indent>\s*)(?P<word>[^\W\d_][\w-]*)(?P<gap>[ \t]*)(?P<colon>:?)")


def subject_line_problem(text: str, source: str) -> tuple[int, str] | None:
    """(line in ``source``, what is wrong) when the mail ``text`` rendered from a template's
    ``source`` starts with a ``Subject:`` line gone wrong, which would otherwise be sent as
    the first line of the body: misspelt (``Subjet:``), in another language (``Betreff:``),
    without its colon (``Subject AW: ...``), with a space before it (``Subject :``) or before
    the line, or after blank lines (a ``{# #}`` or ``{% %}`` line above it writes one). None
    when the first line is right or names no subject; a line that comes from the data, not
    the template's own text, is never blamed (a customer cannot make their mail fail)."""
    lines = text.splitlines()
    index = next((i for i, line in enumerate(lines) if line.strip()), None)
    found = None if index is None else _HEADERISH.match(lines[index])
    if index is None or found is None:
        return None
    word, lower = found["word"], found["word"].lower()
    colon, spaced = bool(found["colon"]), bool(found["gap"]) and bool(found["colon"])
    if lower == "subject" and colon and not spaced and not found["indent"] and index == 0:
        return None  # right
    if lower == "subject" and (colon or found["gap"]):
        problem = _misplaced_subject(index, found["indent"], spaced, colon)
    elif colon and (lower in _SUBJECT_WORDS or _close_to_subject(lower)):
        problem = (
            f"'{word}:' is not a header the agent knows; the first line must be "
            "'Subject: ...', in English whatever the mail's language, or it is sent "
            "as the first line of the body"
        )
    else:
        return None
    line = _source_line(source, word)
    return None if line is None else (line, problem)


def _misplaced_subject(index: int, indent: str, spaced: bool, colon: bool) -> str:
    if index > 0:
        return (
            "'Subject:' must be the mail's very first line; a blank line comes before it "
            "(a '{# #}' or '{% %}' line above it writes one: move it below, or end it "
            "with '-#}' / '-%}')"
        )
    if indent:
        return "'Subject:' must start the line; the space before it makes it part of the body"
    if spaced:
        return "write 'Subject:' with no space before the colon"
    return "the subject line needs its colon: 'Subject: ...'"


def _close_to_subject(word: str) -> bool:
    """``subjet``, ``subjcet``, ``sbject``, ``subjekt``: one or two slips (letters left out,
    added, changed) from "subject", so a word of its own (``Sujets``) is not taken for it."""
    previous = list(range(len("subject") + 1))
    for i, char in enumerate(word, start=1):
        current = [i]
        for j, wanted in enumerate("subject", start=1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char != wanted))
            )
        previous = current
    return 0 < previous[-1] <= 2


def _source_line(source: str, word: str) -> int | None:
    """The 1-based line of ``source``'s first text (past lines of tags only, and tags at the
    start of a line) when it starts with ``word``; None otherwise."""
    for number, line in enumerate(source.splitlines(), start=1):
        text = _LEADING_TAGS.sub("", line)
        if text.strip():
            return number if text.lower().startswith(word.lower()) else None
    return None


def build_message(rendered: Rendered, envelope: Envelope, default_subject: str) -> EmailMessage:
    """The mail as it goes on the wire, with every header DESIGN.md's "Outgoing mail" lists.

    The text is tidied (:func:`tidy_text`) and sent quoted-printable: a paragraph is one line
    of any length in the mail as read, wrapped for the wire only by QP's soft line breaks
    (RFC 2045), which every client undoes. Not format=flowed (RFC 3676): Outlook ignores it
    and shows its wire lines, broken mid-sentence, and a stripped trailing space unflows it.
    Not 8bit: it needs the relay's 8BITMIME, and a long paragraph could pass SMTP's 998-octet
    line limit."""
    msg = EmailMessage()
    msg["From"] = formataddr((one_line(envelope.from_name), envelope.from_address))
    msg["To"] = _to(envelope.to_name, envelope.to)
    msg["Subject"] = _subject(rendered.subject or default_subject, envelope.token)
    msg["Date"] = format_datetime(envelope.date)
    msg["Message-ID"] = envelope.message_id
    if envelope.in_reply_to:
        msg["In-Reply-To"] = envelope.in_reply_to
    if envelope.references:
        msg["References"] = " ".join(envelope.references)
    msg["Auto-Submitted"] = "auto-replied"  # RFC 3834: well-behaved systems never answer it
    msg["X-Auto-Response-Suppress"] = "All"  # Exchange/Outlook: no OOF or receipts back
    msg.set_content(tidy_text(rendered.text), cte="quoted-printable")
    if rendered.html is not None:
        msg.add_alternative(rendered.html, subtype="html", cte="quoted-printable")
    return msg


def tidy_text(text: str) -> str:
    """A mail's text as a reader should get it: no trailing spaces, no runs of blank lines
    (an ``{% if %}`` that wrote nothing leaves one), and the signature separator the standard
    "-- " (RFC 3676 4.3), even when an editor stripped its space from the template."""
    lines = [line.rstrip() for line in text.splitlines()]
    lines = ["-- " if line == "--" else line for line in lines]
    kept = [line for i, line in enumerate(lines) if line or (i > 0 and lines[i - 1])]
    return "\n".join(kept).strip("\n") + "\n"


def _to(name: str, address: str) -> Address | str:
    """``Ana Silva <ana@customer.example>``; the bare address when the name could be read as
    an address: it holds an ``@``, or an encoded word (``=?utf-8?q?eve=40x?=`` is written out
    decoded by Python's header folding, and would then *be* an address). An ``Address``, not
    ``formataddr``'s string: that string, once re-parsed and folded, turns a non-ASCII name
    with a ``;`` or ``,`` into a second address or an empty one (found by a property test)."""
    shown = one_line(name)
    if not shown or "@" in shown or "=?" in shown:
        return address
    try:
        return Address(display_name=shown, addr_spec=address)
    except (ValueError, IndexError, errors.HeaderParseError):  # an address only a header holds
        return address


def _subject(subject: str, token: str) -> str:
    line = one_line(subject)
    tag = f"[#{token}]"
    return line if tag in line else f"{tag} {line}".strip()


def _load(env: jinja2.Environment, filename: str) -> jinja2.Template:
    try:
        return env.get_template(filename)
    except jinja2.TemplateSyntaxError as exc:
        words = syntax_words(exc.message or "")
        raise RenderError(f"{exc.name or filename}:{exc.lineno}: {words}") from exc
    except jinja2.TemplateNotFound as exc:
        raise RenderError(f"{filename}: not found in the templates folder") from exc
    except jinja2.exceptions.SecurityError as exc:  # the loader refused it (outside, a link...)
        raise RenderError(f"{filename}: {exc}") from exc


# Jinja's words for the commonest slips, each with what staff most likely meant.
_SYNTAX_HINTS = (
    (
        "expected token 'end of print statement'",
        "a }} may be missing, or there is more than one name inside {{ }}",
    ),
    (
        "unexpected end of template, expected 'end of print statement'",
        "a {{ is not closed with }}",
    ),
    (
        "expected token 'end of statement block'",
        "a %} may be missing, or there is a word too many inside {% %}",
    ),
    ("unexpected '}'", "there may be a }} without its {{ before it"),
    ("unexpected char", "inside {{ }} and {% %} only names, quotes and operators may stand"),
)
_CHAR_OFFSET = re.compile(r" at \d+$")


def syntax_words(message: str) -> str:
    """Jinja's syntax error ``message`` for staff: without the character offset it counts
    from the file's start (the line is given), and with a hint for the commonest slips."""
    message = _CHAR_OFFSET.sub("", message)
    for start, hint in _SYNTAX_HINTS:
        if message.startswith(start):
            return f"{message.rstrip('.')}; {hint}"
    return message


def _with_subject_checked(env: jinja2.Environment, filename: str, text: str) -> str:
    """``text``, or a RenderError (file:line) when its ``Subject:`` line has gone wrong
    (:func:`subject_line_problem`): like any template mistake, the last version that worked
    is used meanwhile. The source is read only when the first line looks wrong."""
    if (
        not filename.endswith(".txt.j2")
        or split_subject(text)[0]
        or subject_line_problem(text, text) is None
        or env.loader is None
    ):
        return text
    source = env.loader.get_source(env, filename)[0]
    problem = subject_line_problem(text, source)
    if problem is None:
        return text
    raise RenderError(f"{filename}:{problem[0]}: {problem[1]}")


def _generate(
    template: jinja2.Template,
    filename: str,
    data: Mapping[str, Any],
    stopwatch: Callable[[], float] | None = None,
) -> str:
    """The whole text, inside one render budget (``core.sandbox``: steps, time, sizes)."""
    try:
        with render_budget(stopwatch):
            return "".join(_limit(template.generate(**data), filename))
    except RenderError:
        raise
    except OverBudget as exc:
        raise RunawayError(f"{_where(exc, filename)}: {exc}") from exc
    except jinja2.UndefinedError as exc:
        hint = _did_you_mean(str(exc), data)
        raise RenderError(f"{_where(exc, filename)}: {exc}{hint}") from exc
    except Exception as exc:  # any failure inside a staff template is the template's
        raise RenderError(f"{_where(exc, filename)}: {_message(exc)}") from exc


def _message(exc: Exception) -> str:
    if isinstance(exc, jinja2.TemplateNotFound):  # an include of a file that is not there
        return f"{exc.message or exc.name}: not found in the templates folder"
    return str(exc)


def _did_you_mean(message: str, data: Mapping[str, Any]) -> str:
    """`` (did you mean 'customer_name'?)`` for a misspelt variable, from the data's names."""
    match = re.match(r"'([^']+)' is undefined", message)
    if match is None:
        return ""
    close = difflib.get_close_matches(match.group(1), list(data), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _limit(chunks: Iterator[str], filename: str) -> Iterator[str]:
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if total > MAX_OUTPUT_CHARS:
            raise RenderError(
                f"{filename}: output over {MAX_OUTPUT_CHARS:,} characters; check for a runaway loop"
            )
        yield chunk


def _where(exc: BaseException, filename: str) -> str:
    """``file:line`` of the template code a render error happened in, from Jinja's rewritten
    traceback: the innermost template frame, so a mistake in an included template (or in the
    include itself) names that template and its line."""
    tb, where = exc.__traceback__, f"{filename}:?"
    while tb is not None:
        source = tb.tb_frame.f_code.co_filename  # Jinja rewrites frames to template lines
        if source == "<template>" or source.endswith(filename):
            where = f"{filename}:{tb.tb_lineno}"
        elif source.endswith(".j2"):  # another template: the loader names it by its name
            where = f"{source}:{tb.tb_lineno}"
        tb = tb.tb_next
    return where
