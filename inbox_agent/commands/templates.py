"""``inbox-agent templates check`` and ``templates preview``: for the staff who edit them.

``check`` compiles every ``.j2`` file in the templates folder, its
mailbox folders and language variants included, and renders each with sample data; every
mistake is one line, ``templates/acknowledgement.txt.j2:7: 'customer_nam' is undefined (did you
mean 'customer_name'?)``. ``preview`` prints a mail exactly as it would be sent.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from dataclasses import replace
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from inbox_agent.agent.composing import Composer, sample_conversation, template_data
from inbox_agent.agent.cycle import system_clock
from inbox_agent.commands.common import (
    need_templates_folder,
    read_ledger,
    settings_of,
    templates_in_use,
)
from inbox_agent.config import Settings
from inbox_agent.core import rendering
from inbox_agent.core.conversations import MailKind
from inbox_agent.core.ledger import Ledger
from inbox_agent.core.promises import ESCALATION
from inbox_agent.errors import CommandError, ConfigError


def check(args: argparse.Namespace) -> int:
    """``templates check``: every file rendered with sample data; exit 1 on any mistake."""
    settings = settings_of(args)
    good, mistakes = check_templates(settings, system_clock())
    print(f"templates: {templates_in_use(settings)}")
    try:
        need_templates_folder(settings)
    except ConfigError as exc:
        mistakes.insert(0, exc.one_line())
    for name in good:
        print(f"ok    {name}")
    for mistake in mistakes:
        print(mistake, file=sys.stderr)
    for gap in language_gaps(settings.agent.templates_dir):
        print(f"warning: {gap}", file=sys.stderr)
    print(f"{len(good)} template(s) fine, {len(mistakes)} mistake(s)")
    return 1 if mistakes else 0


def show_preview(args: argparse.Namespace) -> int:
    """``templates preview NAME [--thread ID] [--lang L] [--html]``."""
    settings = settings_of(args)
    ledger = read_ledger(settings) if args.thread else None
    print(
        preview(
            settings,
            ledger,
            args.name,
            system_clock(),
            thread=args.thread,
            language=args.lang,
            html=args.html,
        ),
        end="",
    )
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


_VARIANT = re.compile(
    r"(?:(?P<folder>[^/]+)/)?(?P<kind>\w+)\.(?P<lang>[A-Za-z]{2,3}"
    r"(?:-[A-Za-z0-9]+)*)\.txt\.j2"
)


def language_gaps(folder: Path) -> list[str]:
    """One line for each language that has a variant for some kinds but not all, naming the
    files missing: customers writing in it would get those mails in the default language (a
    warning, not a mistake: that mail is still sent, only not in their language). A mailbox
    folder's variant counts for it, the main folder's for every mailbox."""
    files = {p.relative_to(folder).as_posix() for p in folder.rglob("*.txt.j2")}
    variants = [
        m
        for f in sorted(files)
        if (m := _VARIANT.fullmatch(f)) and m["kind"] in rendering.TEMPLATE_NAMES
    ]
    languages = sorted({m["lang"] for m in variants})
    scopes = [None, *sorted({m["folder"] for m in variants if m["folder"]})]
    shown, gaps = _shown(folder), []
    for language in languages:
        for scope in scopes:
            if not any(m["lang"] == language and m["folder"] == scope for m in variants):
                continue  # nothing of its own in this language: the main folder's gap, if any
            missing = [
                kind
                for kind in rendering.TEMPLATE_NAMES
                if not _in_language(files, kind, scope, language)
            ]
            if missing:
                where = f"{shown}/{scope + '/' if scope else ''}"
                these = "this mail goes" if len(missing) == 1 else "these mails go"
                gaps.append(
                    f"{', '.join(f'{where}{k}.{language}.txt.j2' for k in missing)}: "
                    f"missing, though other kinds have a {language!r} variant; {these} "
                    "out in the default language instead"
                )
    return gaps


def _in_language(files: set[str], kind: str, mailbox: str | None, language: str) -> bool:
    """Whether a customer writing in ``language`` gets ``kind`` from a variant in it."""
    default = set(rendering.candidates(kind, mailbox))
    return any(
        f"{base}.txt.j2" in files
        for base in rendering.candidates(kind, mailbox, language)
        if base not in default
    )


def preview(
    settings: Settings,
    ledger: Ledger | None,
    name: str,
    now: datetime,
    *,
    thread: str | None = None,
    language: str | None = None,
    html: bool = False,
) -> str:
    """The mail ``name`` would be, for a real conversation or the sample one."""
    if name not in rendering.TEMPLATE_NAMES:
        raise CommandError(f"no template {name!r}; one of {', '.join(rendering.TEMPLATE_NAMES)}")
    if thread is None:  # the sample as the sweep sends it: at a quarter hour, an hour ahead
        now = now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)
    conversation = sample_conversation(settings, now, MailKind(name), language)
    if thread is not None:
        found = ledger.conversations.get(thread.strip("[]#").upper()) if ledger else None
        if found is None:
            raise CommandError(f"no conversation {thread!r}; `inbox-agent threads` lists them")
        conversation = found
    if language:  # as a customer writing in it sees it, and a shop speaking it (the report)
        conversation.language = language
        settings = _speaking(settings, conversation.mailbox, language)
    to = settings.promise.escalate_to if name == ESCALATION else None
    mail = Composer(settings).compose(
        conversation, MailKind(name), to or conversation.customer, now
    )
    message = message_from_bytes(mail.raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return _as_text(message, html)


def _speaking(settings: Settings, mailbox: str, language: str) -> Settings:
    """``settings`` with ``mailbox``'s default language ``language``."""
    mailboxes = tuple(
        replace(m, language=language) if m.name == mailbox else m for m in settings.mailboxes
    )
    return replace(settings, mailboxes=mailboxes)


def _as_text(message: EmailMessage, html: bool) -> str:
    headers = "\n".join(
        f"{k}: {v}" for k, v in message.items() if not k.lower().startswith(("content-", "mime-"))
    )
    part = message.get_body(preferencelist=("html",) if html else ("plain",))
    if part is None:
        return f"{headers}\n\n(this template has no {'HTML' if html else 'text'} part)"
    text = str(part.get_content()).replace("\r\n", "\n").rstrip()  # the wire's CRLF
    return f"{headers}\n\n{text}\n"


def _shown(folder: Path) -> str:
    """The templates folder as a person would type it: relative when under the cwd."""
    relative = os.path.relpath(folder)
    return folder.as_posix() if relative.startswith("..") else Path(relative).as_posix()
