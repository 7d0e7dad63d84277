"""``inbox-agent check``: is everything the agent needs in place, before it runs unattended?

In order: the config (already loaded, so valid) and the templates folder, the opening hours
the agent believes (the week, the place's public holidays, the next ten closed days, one a
line), the templates (each rendered for a sample conversation), the data folder, then for
every mailbox whether another running agent on this host looks after it
(``adapters.claims``), the IMAP login, its folders, and the SMTP login (nothing is sent);
last the staff page, when there is one: a login to open it with, and its address free to listen
on (or held by this config's running agent).
Each check gives one line; a failure is one line with what to do, and the command exits 1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import socket
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from itertools import islice

from inbox_agent.adapters import claims
from inbox_agent.adapters.credentials import secret_for
from inbox_agent.adapters.imap import ImapMailbox
from inbox_agent.adapters.smtp import SmtpMailer
from inbox_agent.adapters.store import Store
from inbox_agent.agent.composing import Composer, sample_conversation
from inbox_agent.agent.cycle import system_clock
from inbox_agent.commands.common import need_templates_folder, settings_of, templates_in_use
from inbox_agent.config import MailboxSettings, ServerSettings, Settings, WebSettings
from inbox_agent.core.business_time import closed_days, opening_hours_text
from inbox_agent.core.conversations import MailKind
from inbox_agent.core.promises import ESCALATION
from inbox_agent.core.public_holidays import subdivisions
from inbox_agent.core.wording import counted, short_day
from inbox_agent.errors import InboxAgentError, StoreLockedError
from inbox_agent.web.auth import Users

CLOSED_DAYS_SHOWN = 10
LOOK_AHEAD = timedelta(days=3 * 366)  # how far check looks for them


def main(args: argparse.Namespace) -> int:
    """``check``: one line per part; the first problem again on stderr, and exit 1."""
    results = asyncio.run(run_checks(settings_of(args), system_clock()))
    for result in results:
        print(result.line())
    failed = [r for r in results if r.problem]
    if failed:
        print(f"{failed[0].problem}", file=sys.stderr)
        return 1
    print("everything the agent needs is in place")
    return 0


@dataclass(frozen=True)
class Result:
    """One check: what was checked, and the problem if it failed."""

    what: str
    problem: str | None = None

    def line(self) -> str:
        return f"ok    {self.what}" if self.problem is None else f"FAIL  {self.problem}"


async def run_checks(settings: Settings, now: datetime) -> list[Result]:
    """Every check, in order; a failing one does not stop the ones after it."""
    results = [
        Result(
            f"config {settings.source}: {counted(len(settings.mailboxes), 'mailbox', 'mailboxes')}"
        ),
        _attempt(
            f"templates: {templates_in_use(settings)}", partial(need_templates_folder, settings)
        ),
    ]
    results += _calendar(settings, now)
    results += [
        _attempt(f"template {name}", partial(_render, settings, name, now)) for name in MailKind
    ]
    results.append(
        _attempt(f"data folder {settings.agent.data_dir}", partial(_data_folder, settings))
    )
    for mailbox in settings.mailboxes:
        results.append(_claim(settings, mailbox))
        results.append(
            await _attempt_async(
                f"IMAP {mailbox.imap.host}:{mailbox.imap.port} as {_login(mailbox.imap)}, "
                f"folders {', '.join(_folders(mailbox))}",
                partial(_imap, settings, mailbox),
            )
        )
        results.append(
            await _attempt_async(
                f"SMTP {mailbox.smtp.host}:{mailbox.smtp.port} "
                + (
                    f"as {_login(mailbox.smtp)}"
                    if mailbox.smtp.username
                    else f"needs no login: it takes mail from {mailbox.address} without one"
                ),
                partial(_smtp, settings, mailbox),
            )
        )
    results.append(_web(settings))
    return results


def _web(settings: Settings) -> Result:
    """The staff page: off, or its address with the logins that can open it."""
    if settings.web is None:
        return Result("staff page: off (add [web] listen to serve it)")
    address = f"http://{settings.web.host}:{settings.web.port}/"
    try:
        names = sorted(Users(settings.agent.data_dir).read())
    except InboxAgentError as exc:
        return Result("", exc.one_line())
    if not names:
        return Result(
            "", f"staff page {address}: no login yet; run `inbox-agent web passwd NAME` first"
        )
    shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
    logins = f"{counted(len(names), 'login')}: {shown}"
    return _web_port(settings, settings.web, f"staff page {address}", logins)


def _web_port(settings: Settings, web: WebSettings, page: str, logins: str) -> Result:
    """The page's port: free, held by this config's running agent, or by another program."""
    if not _address_taken(web):
        return Result(f"{page}: {logins}")
    if _own_daemon_running(settings):
        return Result(f"{page}: served by this config's running agent; {logins}")
    if not claims.SUPPORTED:  # whose listener it is cannot be told without the claims
        return Result(f"{page}: the port is in use (this agent's, if it runs); {logins}")
    return Result(
        "",
        f"staff page: {web.host}:{web.port} is in use by another program; "
        "choose a free port for [web] listen",
    )


def _address_taken(web: WebSettings) -> bool:
    """Is ``[web] listen`` held by a listener already? (Bound with SO_REUSEADDR, as aiohttp
    binds it, so a connection lingering in TIME_WAIT does not count.)"""
    try:
        found = socket.getaddrinfo(web.host, web.port, type=socket.SOCK_STREAM)
    except OSError:
        return False  # the daemon's own start says what is wrong with the name
    family, kind, proto, _, where = found[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(where)
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


def _own_daemon_running(settings: Settings) -> bool:
    """Does this config's own agent run (it holds its mailboxes' claims)?"""
    try:
        return any(claims.probe(settings, m) is not None for m in settings.mailboxes)
    except InboxAgentError:
        return False


def _calendar(settings: Settings, now: datetime) -> list[Result]:
    """What the agent believes about opening hours, so the owner can correct it: the week,
    the place whose public holidays it keeps, and the next closed days from ``now`` (whole
    days the week's hours would open, and part days)."""
    cal = settings.calendar
    results = [Result(f"opening hours: {opening_hours_text(cal)}")]
    if cal.country_holidays is not None:
        results.append(Result(f"public holidays: {_place_words(cal.country_holidays)}"))
    today = now.astimezone(cal.timezone).date()
    ahead = islice(closed_days(cal, today, today + LOOK_AHEAD), CLOSED_DAYS_SHOWN)
    lines = [f"{short_day(closed.day)} {closed.day.year}  {closed.why}" for closed in ahead]
    listed = "".join(f"\n        {line}" for line in lines) or " none in the next three years"
    return [*results, Result(f"next closed days (beyond the week's own):{listed}")]


def _place_words(place: str) -> str:
    """``DE-BY``; a country alone says what it leaves out (public_holidays rule 2)."""
    parts = subdivisions(place)
    if "-" in place or not parts:
        return place
    named = (
        ", ".join(f"{place}-{p}" for p in parts)
        if len(parts) <= 6
        else f"{len(parts)} of them, e.g. {place}-{parts[0]}"
    )
    return f"{place}, the holidays all of {place} shares (a subdivision adds its own: {named})"


def _attempt(what: str, check: Callable[[], object]) -> Result:
    try:
        check()
    except InboxAgentError as exc:
        return Result(what, exc.one_line())
    return Result(what)


async def _attempt_async(what: str, check: Callable[[], Awaitable[object]]) -> Result:
    try:
        await check()
    except InboxAgentError as exc:
        return Result(what, exc.one_line())
    return Result(what)


def _claim(settings: Settings, mailbox: MailboxSettings) -> Result:
    """Does another running agent on this host look after the mailbox? Its own running
    agent (the same data_dir) is fine."""
    try:
        holder = claims.probe(settings, mailbox)
    except InboxAgentError as exc:
        return Result("", exc.one_line())
    if not claims.SUPPORTED:
        return Result(
            f"mailbox {mailbox.name!r}: other agents on this host not looked for "
            "(claims need Linux)"
        )
    if holder is None:
        return Result(f"mailbox {mailbox.name!r}: no other inbox-agent on this host looks after it")
    return Result(
        f"mailbox {mailbox.name!r}: looked after by this config's running agent "
        f"(pid {holder.pid or 'unknown'})"
    )


def _render(settings: Settings, name: MailKind, now: datetime) -> None:
    sample = sample_conversation(settings, now)
    to = settings.promise.escalate_to if name == ESCALATION else None
    Composer(settings).compose(sample, name, to or sample.customer, now)


def _data_folder(settings: Settings) -> None:
    with contextlib.suppress(StoreLockedError):  # a running daemon holds it: fine
        Store(settings.agent.data_dir).open().close()
    Store(settings.agent.data_dir, read_only=True).open().close()


def _login(server: ServerSettings) -> str:
    return f"{server.username}" + (" (OAuth2)" if server.login == "OAuth2" else "")


def _folders(mailbox: MailboxSettings) -> list[str]:
    return [mailbox.imap.folder] + ([mailbox.imap.sent_folder] if mailbox.imap.sent_folder else [])


async def _imap(settings: Settings, mailbox: MailboxSettings) -> None:
    imap = ImapMailbox(
        mailbox.imap,
        secret_for(mailbox.imap, f"{settings.source}: [mailbox.imap] of {mailbox.name!r}"),
    )
    try:
        await imap.open()
        for folder in _folders(mailbox):
            await imap.has_message_id(folder, "<inbox-agent-check@invalid>")  # SELECTs it
    finally:
        await imap.close()


async def _smtp(settings: Settings, mailbox: MailboxSettings) -> None:
    smtp = SmtpMailer(
        mailbox.smtp,
        secret_for(mailbox.smtp, f"{settings.source}: [mailbox.smtp] of {mailbox.name!r}"),
    )
    await smtp.check(mailbox.address)
