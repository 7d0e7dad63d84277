"""Staff-edited Jinja2 templates -> the mail the agent sends.

A template is ``NAME.txt.j2`` (required) and ``NAME.html.j2`` (optional, then the mail is
multipart/alternative). Its first line may be ``Subject: ...``; the rest, after one blank line, is
the body. The conversation token is always put in front of the subject by the agent, so a staff
edit cannot lose it.

Safety: templates run in Jinja2's ImmutableSandboxedEnvironment (no attribute walks to
``__class__`` or ``__globals__``, no mutation of the data), with StrictUndefined (a typo is an
error, not a blank in a customer's mail), HTML autoescaped, and output bounded in size. Customer
text (subject, name) is only ever *data*, never template source, and the subject is collapsed to
one line, so a CR/LF in a customer's subject can never become a header.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from inbox_agent.core.message import one_line

MAX_OUTPUT_CHARS = 100_000
TEMPLATE_NAMES = ("acknowledgement", "follow_up", "escalation")


class RenderError(Exception):
    """A template failed to compile or render; the message carries file:line."""


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


@dataclass(frozen=True)
class Rendered:
    """A template's output: the subject line and the bodies."""

    subject: str
    text: str
    html: str | None


def make_environment(
    loader: jinja2.BaseLoader, filters: Mapping[str, Callable[..., Any]] | None = None
) -> ImmutableSandboxedEnvironment:
    """The one sandboxed environment templates are rendered in (the caller owns the loader)."""
    env = ImmutableSandboxedEnvironment(
        loader=loader,
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "html.j2")),
        keep_trailing_newline=True,
        auto_reload=True,  # a staff edit takes effect on the next render, no restart
    )
    # Globals that only help someone probing the sandbox; templates have no use for them.
    for name in ("cycler", "joiner", "lipsum", "range", "dict", "namespace"):
        env.globals.pop(name, None)
    env.filters.update(filters or {})
    return env


def render(env: jinja2.Environment, name: str, data: Mapping[str, Any]) -> Rendered:
    """Render template ``name`` (``.txt.j2`` and, where present, ``.html.j2``) with ``data``."""
    text = _render_one(env, f"{name}.txt.j2", data)
    html = None
    if f"{name}.html.j2" in env.list_templates(extensions=["j2"]):
        html = _render_one(env, f"{name}.html.j2", data)
    subject, body = split_subject(text)
    return Rendered(subject=subject, text=body, html=html)


def split_subject(text: str) -> tuple[str, str]:
    """Take a leading ``Subject:`` line off ``text``; ``""`` when there is none."""
    first, _, rest = text.partition("\n")
    if not first.lower().startswith("subject:"):
        return "", text
    return one_line(first[len("subject:"):]), rest.removeprefix("\n").removeprefix("\r\n")


def build_message(rendered: Rendered, envelope: Envelope, default_subject: str) -> EmailMessage:
    """The mail as it goes on the wire, with every header DESIGN.md's "Outgoing mail" lists."""
    msg = EmailMessage()
    msg["From"] = formataddr((one_line(envelope.from_name), envelope.from_address))
    msg["To"] = envelope.to
    msg["Subject"] = _subject(rendered.subject or default_subject, envelope.token)
    msg["Date"] = format_datetime(envelope.date)
    msg["Message-ID"] = envelope.message_id
    if envelope.in_reply_to:
        msg["In-Reply-To"] = envelope.in_reply_to
    if envelope.references:
        msg["References"] = " ".join(envelope.references)
    msg["Auto-Submitted"] = "auto-replied"  # RFC 3834: well-behaved systems never answer it
    msg["X-Auto-Response-Suppress"] = "All"  # Exchange/Outlook: no OOF or receipts back
    msg.set_content(rendered.text)
    if rendered.html is not None:
        msg.add_alternative(rendered.html, subtype="html")
    return msg


def _subject(subject: str, token: str) -> str:
    line = one_line(subject)
    tag = f"[#{token}]"
    return line if tag in line else f"{tag} {line}".strip()


def _render_one(env: jinja2.Environment, filename: str, data: Mapping[str, Any]) -> str:
    try:
        template = env.get_template(filename)
        return "".join(_limit(template.generate(**data), filename))
    except jinja2.TemplateSyntaxError as exc:
        raise RenderError(f"{exc.filename or filename}:{exc.lineno}: {exc.message}") from exc
    except jinja2.TemplateNotFound as exc:
        raise RenderError(f"{filename}: not found in the templates folder") from exc
    except RenderError:
        raise
    except Exception as exc:  # any failure inside a staff template is the template's
        raise RenderError(f"{filename}:{_template_line(exc, filename)}: {exc}") from exc


def _limit(chunks: Any, filename: str) -> Any:
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if total > MAX_OUTPUT_CHARS:
            raise RenderError(f"{filename}: output over {MAX_OUTPUT_CHARS:,} characters; "
                              "check for a runaway loop")
        yield chunk


def _template_line(exc: BaseException, filename: str) -> str:
    """The template line a render error happened on, from Jinja's rewritten traceback."""
    tb = exc.__traceback__
    line = "?"
    while tb is not None:
        source = tb.tb_frame.f_code.co_filename  # Jinja rewrites frames to template lines
        if source.endswith(filename) or source == "<template>":
            line = str(tb.tb_lineno)
        tb = tb.tb_next
    return line
