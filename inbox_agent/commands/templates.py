"""``inbox-agent templates check`` and ``templates preview``: for the staff who edit them.

``check`` compiles every ``.j2`` file in the templates folder, its
mailbox folders and language variants included, and renders each with sample data; every
mistake is one line, ``templates/acknowledgement.txt.j2:7: 'customer_nam' is undefined (did you
mean 'customer_name'?)``. ``preview`` prints a mail exactly as it would be sent.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from inbox_agent.agent.composing import Composer, sample_conversation, template_data
from inbox_agent.agent.cycle import system_clock
from inbox_agent.commands.common import read_ledger, settings_of
from inbox_agent.config import Settings
from inbox_agent.core import rendering
from inbox_agent.core.conversations import MailKind
from inbox_agent.core.ledger import Ledger
from inbox_agent.core.promises import ESCALATION
from inbox_agent.errors import CommandError


def check(args: argparse.Namespace) -> int:
    """``templates check``: every file rendered with sample data; exit 1 on any mistake."""
    good, mistakes = check_templates(settings_of(args), system_clock())
    for name in good:
        print(f"ok    {name}")
    for mistake in mistakes:
        print(mistake, file=sys.stderr)
    print(f"{len(good)} template(s) fine, {len(mistakes)} mistake(s)")
    return 1 if mistakes else 0


def show_preview(args: argparse.Namespace) -> int:
    """``templates preview NAME [--thread ID] [--lang L] [--html]``."""
    settings = settings_of(args)
    ledger = read_ledger(settings) if args.thread else None
    print(preview(settings, ledger, args.name, system_clock(), thread=args.thread,
                  language=args.lang, html=args.html), end="")
    return 0


def check_templates(settings: Settings, now: datetime) -> tuple[list[str], list[str]]:
    """(files that rendered, one line per mistake) for every template file."""
    composer = Composer(settings)
    sample = sample_conversation(settings, now)
    data = template_data(settings, settings.mailboxes[0], sample, now)
    folder = settings.agent.templates_dir
    shown = _shown(folder)
    good, mistakes = [], []
    for name in sorted(composer.env.list_templates(extensions=["j2"])):
        try:
            text = rendering.render_file(composer.env, name, data, composer.templates.stopwatch)
        except rendering.RenderError as exc:
            mistakes.append(f"{shown}/{exc}")
            continue
        remark = ""
        if name.endswith(".txt.j2") and not rendering.split_subject(text)[0]:
            remark = "  (no 'Subject:' line first: the customer's own subject is used)"
        good.append(f"{shown}/{name}{remark}")
    missing = [n for n in rendering.TEMPLATE_NAMES if not (folder / f"{n}.txt.j2").is_file()]
    mistakes += [f"{shown}/{n}.txt.j2: missing; every mailbox needs it" for n in missing]
    return good, mistakes


def preview(settings: Settings, ledger: Ledger | None, name: str, now: datetime, *,
            thread: str | None = None, language: str | None = None, html: bool = False) -> str:
    """The mail ``name`` would be, for a real conversation or the sample one."""
    if name not in rendering.TEMPLATE_NAMES:
        raise CommandError(f"no template {name!r}; one of {', '.join(rendering.TEMPLATE_NAMES)}")
    conversation = sample_conversation(settings, now)
    if thread is not None:
        found = ledger.conversations.get(thread.strip("[]#").upper()) if ledger else None
        if found is None:
            raise CommandError(f"no conversation {thread!r}; `inbox-agent threads` lists them")
        conversation = found
    if language:
        conversation.language = language
    to = settings.promise.escalate_to if name == ESCALATION else None
    mail = Composer(settings).compose(conversation, MailKind(name), to or conversation.customer,
                                      now)
    message = message_from_bytes(mail.raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return _as_text(message, html)


def _as_text(message: EmailMessage, html: bool) -> str:
    headers = "\n".join(f"{k}: {v}" for k, v in message.items()
                        if not k.lower().startswith(("content-", "mime-")))
    part = message.get_body(preferencelist=("html",) if html else ("plain",))
    if part is None:
        return f"{headers}\n\n(this template has no {'HTML' if html else 'text'} part)"
    return f"{headers}\n\n{str(part.get_content()).rstrip()}\n"


def _shown(folder: Path) -> str:
    """The templates folder as a person would type it: relative when under the cwd."""
    relative = os.path.relpath(folder)
    return folder.as_posix() if relative.startswith("..") else Path(relative).as_posix()
