"""One cycle of the agent: fetch -> decide -> outbox -> send -> save.

The agent layer (``inbox_agent.agent``) is where the pure core meets the adapters: this module
(the cycle), ``filing`` (incoming mail into the ledger), ``chasing`` (the sweep's decisions
carried out), ``mailing`` (our mail composed, recorded in the outbox, restated, or owed while
its template does not render), ``composing`` (the mail's bytes) and ``delivery`` (the outbox
drained); ``context`` is what the parts see of the agent. A cycle:

1. Staff requests queued by ``close`` / ``reopen`` / ``snooze`` are applied.
2. For each mailbox, its folder and its Sent folder are read from their checkpoints, in chunks.
   Each message is parsed and triaged (``core``); the ledger changes in memory; after each chunk
   the ledger, the new checkpoint and any mail owed are committed in one write. The checkpoint
   never moves past a message that is not filed, and a crash re-reads at most one chunk, which
   the dedupe by Message-ID files once.
3. The sweep composes mail left owed by a template that did not render (``mailing``), then
   ``chasing`` asks ``core.sweep`` what every running promise calls for now (a follow-up, an
   escalation, a lapse to record), unless a circuit breaker (``core.breakers``) holds it; an
   escalation about a suspected slow autoresponder goes to the manager only. Deadlines live
   in the store, so a restart loses none.
4. Work that is done and quiet moves to the archive (``archiving``, at most hourly), and the
   ledger is committed.
5. The outbox is drained (``delivery``): every mail was recorded in the outbox queue with its
   Message-ID before it is handed to SMTP; the relay's 250 is recorded by a rename before its
   copy is filed in the Sent folder, so the one window where a mail can go out twice (RFC
   1047) is between the 250 and that rename.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import jinja2

from inbox_agent import logs
from inbox_agent.adapters import claims
from inbox_agent.adapters.base import Mailbox, Mailer
from inbox_agent.adapters.credentials import secret_for
from inbox_agent.adapters.idle import FolderWatch, Report, StopSignal
from inbox_agent.adapters.imap import ImapMailbox
from inbox_agent.adapters.smtp import SmtpMailer
from inbox_agent.adapters.store import Store
from inbox_agent.agent import staff
from inbox_agent.agent.archiving import Archiving
from inbox_agent.agent.chasing import Chasing
from inbox_agent.agent.composing import Composer
from inbox_agent.agent.context import Adapters, Clock, CycleReport
from inbox_agent.agent.delivery import Delivery
from inbox_agent.agent.filing import Filing
from inbox_agent.agent.health import PollHealth
from inbox_agent.agent.mailing import Mailing
from inbox_agent.agent.outages import Outages
from inbox_agent.agent.watching import Watch, Watching, allow_open_files
from inbox_agent.config import MailboxSettings, Settings
from inbox_agent.core.conversations import Conversation, MailKind
from inbox_agent.core.ledger import Checkpoint, Ledger
from inbox_agent.core.wording import local_moment
from inbox_agent.daemon import Daemon, Job, Service
from inbox_agent.errors import (
    MailboxConnectionError,
    MailboxError,
    MailboxLoginError,
    OperatorError,
)

# Adapters and CycleReport live in ``context``; whoever builds an Agent gets them here too.
__all__ = [
    "Adapters",
    "Agent",
    "CycleReport",
    "LoggingMailer",
    "real_adapters",
    "run",
    "system_clock",
]
log = logging.getLogger("inbox_agent")
SWEEP_INTERVAL_SECONDS = 30  # how often promises are checked, whatever the poll interval


class Agent:
    """The support agent: files mail into conversations, keeps promises, keeps the outbox."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        adapters: Adapters,
        clock: Clock,
        templates: jinja2.BaseLoader | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.adapters = adapters
        self.clock = clock
        self.reported_problems: set[str] = set()  # logged once, until they clear
        self.mailing = Mailing(self, Composer(settings, templates))
        self.outages = Outages()
        self.delivery = Delivery(self)
        self.chasing = Chasing(self)
        self.archiving = Archiving(store, settings.agent.archive_after)
        self.health = PollHealth(settings.agent.data_dir, dry_run=store.dry_run)  # for `status`

    @property
    def ledger(self) -> Ledger:
        """The store's in-memory state."""
        return self.store.ledger

    async def run_cycle(self, only: Collection[str] | None = None) -> CycleReport:
        """Staff requests, a poll of every mailbox (or of those named in ``only``, which an
        IDLE watch said have new mail), the sweep, then send what is owed."""
        report = CycleReport()
        with self.store.rolled_back_on_error():
            await self.delivery.resolve_in_flight()
            self.apply_staff_requests()
            for mailbox in self.settings.mailboxes:
                if only is None or mailbox.name in only:
                    await self._poll_unless_down(mailbox, report, called=only is not None)
            self.sweep(self.clock(), report)
            self.archiving.archive_done(self.clock())
            self.store.commit()
            await self.drain_outbox(report)
        report.problems += self.mailing.take_owing()  # filed, owed: run --once still exits 1
        return report

    async def sweep_cycle(self) -> CycleReport:
        """The frequent job. When a chase is due it polls first, so a staff reply that arrived
        since the last poll is seen before anyone is chased; otherwise it only sends."""
        now = self.clock()
        if self.chasing.any_ready(now):
            return await self.run_cycle()
        report = CycleReport()
        with self.store.rolled_back_on_error():
            self.apply_staff_requests()
            await self.drain_outbox(report)
        return report

    def next_chase(self) -> datetime | None:
        """The earliest moment a follow-up or escalation becomes owed, from the store."""
        return self.chasing.next_chase()

    def sweep(self, now: datetime, report: CycleReport) -> None:
        """Mail owed for want of a template composed now if it renders; then what promises
        about to slip call for (``chasing``)."""
        report.queued += self.mailing.compose_owed(now)
        self.chasing.sweep(now, report)

    def apply_staff_requests(self) -> None:
        """Carry out close / reopen / snooze requests queued while this agent held the store."""
        requests = self.store.pending_requests()
        for request in requests:
            try:
                note = staff.apply(
                    self.store, request, self.clock(), self.settings.calendar.timezone
                )
            except OperatorError as exc:
                log.warning("staff request not applied: %s", exc)
            else:
                log.info("staff request applied: %s", note)
        if requests:
            self.store.commit()
            self.store.forget_requests(requests)

    async def _poll_unless_down(
        self, settings: MailboxSettings, report: CycleReport, *, called: bool = False
    ) -> None:
        """Poll one mailbox; if its server fails, report it once, back off, and go on: the
        other mailboxes, the sweep and the outbox do not wait for it. A poll a watch
        ``called`` for does not wait for the backoff: that watch has just reached the server."""
        key, now = f"IMAP {settings.name}", self.clock()
        if self.outages.should_wait(key, now) and not called:
            return
        try:
            await self.poll(settings, report)
        except MailboxError as exc:
            self.store.rollback()  # keep what the chunks before committed, nothing more
            self.outages.failed(key, exc.one_line(), now)
            self.health.polled(settings.name, now, exc.one_line())
            report.problems.append(exc)
        else:
            self.outages.worked(key, now)
            self.health.polled(settings.name, self.clock())

    async def poll(self, settings: MailboxSettings, report: CycleReport) -> None:
        """File everything new in the mailbox's folder and its Sent folder."""
        mailbox = self.adapters.mailbox(settings)
        await mailbox.open()
        try:
            await self._poll_folder(mailbox, settings, settings.imap.folder, report)
            if settings.imap.sent_folder:
                await self._poll_sent_folder(mailbox, settings, settings.imap.sent_folder, report)
        finally:
            await mailbox.close()

    async def _poll_sent_folder(
        self, mailbox: Mailbox, settings: MailboxSettings, folder: str, report: CycleReport
    ) -> None:
        """The Sent folder only tells of staff replies: a server that refuses it (a name that
        does not exist) must not stop the customers' mail, so it is reported, once."""
        problem_key = f"{settings.name}/{folder}"
        try:
            await self._poll_folder(mailbox, settings, folder, report)
        except (MailboxConnectionError, MailboxLoginError):
            raise
        except MailboxError as exc:
            self.report_once(
                problem_key,
                f"{problem_key}: the sent folder cannot be read "
                f"({exc}); staff replies sent from it are not seen: check "
                "sent_folder in [mailbox.imap]",
                logging.WARNING,
            )
        else:
            self.reported_problems.discard(problem_key)

    async def _poll_folder(
        self, mailbox: Mailbox, settings: MailboxSettings, folder: str, report: CycleReport
    ) -> None:
        key = f"{settings.name}/{folder}"
        known = self.ledger.checkpoints.get(key)
        uidvalidity, last_uid = (known.uidvalidity, known.last_uid) if known else (None, 0)
        filing = Filing(self, settings, folder)
        async for batch in mailbox.fetch_new(folder, uidvalidity, last_uid):
            if uidvalidity is not None and batch.uidvalidity != uidvalidity:
                log.warning(
                    "%s: UIDVALIDITY changed (%s -> %s); re-reading, nothing is filed twice",
                    key,
                    uidvalidity,
                    batch.uidvalidity,
                )
                uidvalidity = batch.uidvalidity
            for fetched in batch.messages:
                filing.file(fetched, self.clock(), report)
            if batch.messages:
                last = batch.messages[-1].uid
                self.ledger.checkpoints[key] = Checkpoint(batch.uidvalidity, last)
            self.store.commit()
            del batch  # else it is held while the next one is fetched: two chunks' bytes

    def report_once(self, key: str, problem: str, level: int = logging.ERROR) -> None:
        """Log a problem the first time it is seen, not at every cycle until it clears."""
        if key not in self.reported_problems:
            log.log(level, "%s", problem)
            self.reported_problems.add(key)

    def queue(
        self,
        conversation: Conversation,
        kind: MailKind,
        to: str,
        now: datetime,
        extra: dict[str, Any] | None = None,
    ) -> bool:
        """Compose a mail and record it in the outbox (``mailing``); False when its template
        does not render and it stays owed."""
        return self.mailing.queue(conversation, kind, to, now, extra)

    async def drain_outbox(self, report: CycleReport) -> None:
        """Send what the outbox holds (``delivery``: each state change a rename in the queue)."""
        await self.delivery.drain(report)


class LoggingMailer:
    """The mailer of ``run --dry-run``: sends nothing. Delivery logs each mail as one it
    "would send", with its promise (``Adapters.rehearsal``); here only its subject, with -v."""

    async def send(self, raw: bytes, sender: str, recipients: list[str]) -> None:
        """Hand the mail to no one."""
        headers = raw.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
        subject = next((h for h in headers.splitlines() if h.startswith("Subject:")), "")
        log.debug("dry run: not handed to the relay: %s", subject)

    async def close(self) -> None:
        """Nothing to end."""


def real_adapters(settings: Settings, *, dry_run: bool = False) -> Adapters:
    """IMAP and SMTP as configured; passwords are looked up once, here (an OAuth2 token
    command is run at each login instead)."""
    imap_secrets = {
        m.name: secret_for(m.imap, f"{settings.source}: [mailbox.imap] of {m.name!r}")
        for m in settings.mailboxes
    }
    smtp_secrets = (
        {}
        if dry_run
        else {
            m.name: secret_for(m.smtp, f"{settings.source}: [mailbox.smtp] of {m.name!r}")
            for m in settings.mailboxes
        }
    )

    def mailer(m: MailboxSettings) -> Mailer:
        return LoggingMailer() if dry_run else SmtpMailer(m.smtp, smtp_secrets[m.name])

    def mailbox(m: MailboxSettings) -> Mailbox:
        return ImapMailbox(
            m.imap, imap_secrets[m.name], max_message_size=settings.agent.max_message_size
        )

    def watch(m: MailboxSettings, folder: str, report: Report, stop: StopSignal) -> Watch:
        return FolderWatch(
            m.imap, imap_secrets[m.name], folder, report, stop, name=f"{m.name}/{folder}"
        )

    return Adapters(mailbox=mailbox, mailer=mailer, watch=watch)


def system_clock() -> datetime:
    """Now, as an aware UTC moment (the one place the real clock is read)."""
    return datetime.now(UTC)


async def run(
    settings: Settings,
    *,
    once: bool,
    dry_run: bool,
    clock: Clock = system_clock,
    adapters: Adapters | None = None,
) -> None:
    """``inbox-agent run``: the daemon, or a single cycle with ``once``."""
    adapters = adapters or real_adapters(settings, dry_run=dry_run)
    if dry_run:  # whatever adapters it is given, a dry run hands no mail to a relay
        adapters = replace(adapters, mailer=lambda _: LoggingMailer(), rehearsal=True)
    allow_open_files(len(settings.mailboxes))
    with (
        Store(settings.agent.data_dir, dry_run=dry_run) as store,
        claims.held(settings, dry_run=dry_run),
    ):  # one mailbox, one agent, per host
        agent = Agent(settings, store, adapters, clock)
        if once:
            agent.outages = Outages(quiet=True)
            report = await agent.run_cycle()
            if report.problems:  # run --once reports by its exit status, in one line
                raise report.problems[0]
            log.info("cycle done: %s", report.summary(), extra=logs.fields("cycle"))
            return
        due = agent.next_chase()
        if due:
            log.info(
                "promises running: the next follow-up or escalation is due %s",
                local_moment(due, settings.calendar.timezone),
            )
        else:
            log.info("promises running: none (no customer is waiting)")
        await Daemon(
            [
                Job("poll", agent.run_cycle, settings.agent.poll_interval_seconds),
                Job("sweep", agent.sweep_cycle, SWEEP_INTERVAL_SECONDS),
            ],
            services=[*_watching(settings, adapters, agent), *_web(settings, agent, dry_run)],
        ).serve()
        agent.health.stopped_watching(agent.clock())


def _watching(settings: Settings, adapters: Adapters, agent: Agent) -> list[Watching]:
    """The IDLE watches, for mailboxes that want them (``[mailbox.imap] idle``, on by
    default) when the adapters can watch."""
    if adapters.watch is None or not any(m.imap.idle for m in settings.mailboxes):
        return []
    return [
        Watching(
            settings.mailboxes,
            adapters.watch,
            agent.run_cycle,
            poll_interval_seconds=settings.agent.poll_interval_seconds,
            shown=agent.health.watched,
        )
    ]


def _web(settings: Settings, agent: Agent, dry_run: bool) -> list[Service]:
    """The staff page (``[web] listen``), for the daemon only: a dry run changes nothing, so
    its actions would do nothing."""
    if settings.web is None or dry_run:
        return []
    # Imported here, not at the top: aiohttp takes ~0.2 s to import, and every command
    # (status, threads, --help) imports this module; only a daemon with [web] needs it.
    from inbox_agent.web.service import WebService  # noqa: PLC0415

    return [WebService(settings.web, agent)]
