"""One cycle of the agent: fetch -> decide -> outbox -> send -> save.

This is the only module where the pure core meets the adapters. A cycle:

1. For each mailbox and folder, fetch what is new since the checkpoint, in chunks. Each message
   is parsed and triaged (``core``); the ledger changes in memory; after each chunk the ledger,
   the new checkpoint and any mail to send are committed in one write. The checkpoint therefore
   never moves past a message that is not filed, and a crash re-reads at most one chunk, which
   the dedupe by Message-ID files once.
2. The outbox is drained: every pending mail was recorded (with its Message-ID) before it is
   handed to SMTP, and marked sent in a commit of its own right after. A crash between the
   relay's "250 OK" and that commit is the one window where a mail can go out twice (RFC 1047);
   it is one message wide.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import policy
from typing import Any

import jinja2

from inbox_agent.adapters.base import FetchedMessage, Mailbox, Mailer
from inbox_agent.adapters.imap import ImapMailbox
from inbox_agent.adapters.smtp import SmtpMailer
from inbox_agent.adapters.store import (
    Checkpoint,
    Ledger,
    OutboxEntry,
    SkippedMessage,
    Store,
    iter_pending,
)
from inbox_agent.config import MailboxSettings, Settings, resolve_password
from inbox_agent.core import rendering, wording
from inbox_agent.core.business_time import opening_hours_text
from inbox_agent.core.conversations import (
    Conversation,
    FiledMessage,
    Promise,
    Role,
    SentMail,
    new_token,
    subject_with_token,
)
from inbox_agent.core.lifecycle import Action, Event, transition
from inbox_agent.core.machine_mail import Identity
from inbox_agent.core.message import InboundEmail, parse
from inbox_agent.core.promises import first_reply_due
from inbox_agent.core.triage import Context, Decision, Outcome, triage
from inbox_agent.daemon import Daemon
from inbox_agent.errors import PermanentSendError, TemplateError, TemporarySendError

log = logging.getLogger("inbox_agent")
Clock = Callable[[], datetime]


@dataclass
class CycleReport:
    """What one cycle did, for logs, the demo and tests."""

    fetched: int = 0
    filed: int = 0
    duplicates: int = 0
    skipped: int = 0
    queued: int = 0
    sent: int = 0
    failed: int = 0
    notes: list[str] = field(default_factory=list)  # one line per message filed, for people

    def summary(self) -> str:
        """One line for the log."""
        return (f"{self.fetched} fetched, {self.filed} filed, {self.skipped} filed without "
                f"reply, {self.duplicates} already filed, {self.queued} queued, "
                f"{self.sent} sent, {self.failed} refused")


@dataclass
class Adapters:
    """How the agent reaches the outside world, per mailbox."""

    mailbox: Callable[[MailboxSettings], Mailbox]
    mailer: Callable[[MailboxSettings], Mailer]


class Agent:
    """The support agent: files mail into conversations and keeps the outbox."""

    def __init__(self, settings: Settings, store: Store, adapters: Adapters, clock: Clock,
                 templates: jinja2.BaseLoader | None = None) -> None:
        self.settings = settings
        self.store = store
        self.adapters = adapters
        self.clock = clock
        loader = templates or jinja2.FileSystemLoader(str(settings.agent.templates_dir))
        self.templates = rendering.make_environment(
            loader, wording.template_filters(settings.calendar))

    @property
    def ledger(self) -> Ledger:
        """The store's in-memory state."""
        return self.store.ledger

    async def run_cycle(self) -> CycleReport:
        """Poll every mailbox once, then send what is due."""
        report = CycleReport()
        for mailbox in self.settings.mailboxes:
            await self.poll(mailbox, report)
        await self.drain_outbox(report)
        return report

    async def poll(self, settings: MailboxSettings, report: CycleReport) -> None:
        """File everything new in the mailbox's folder."""
        mailbox = self.adapters.mailbox(settings)
        await mailbox.open()
        try:
            await self._poll_folder(mailbox, settings, settings.imap.folder, report)
        finally:
            await mailbox.close()

    async def _poll_folder(self, mailbox: Mailbox, settings: MailboxSettings, folder: str,
                           report: CycleReport) -> None:
        key = f"{settings.name}/{folder}"
        known = self.ledger.checkpoints.get(key)
        uidvalidity, last_uid = (known.uidvalidity, known.last_uid) if known else (None, 0)
        filing = Filing(self, settings, folder)
        async for batch in mailbox.fetch_new(folder, uidvalidity, last_uid):
            if uidvalidity is not None and batch.uidvalidity != uidvalidity:
                log.warning("%s: UIDVALIDITY changed (%s -> %s); re-reading, nothing is "
                            "filed twice", key, uidvalidity, batch.uidvalidity)
                uidvalidity = batch.uidvalidity
            for fetched in batch.messages:
                filing.file(fetched, self.clock(), report)
            if batch.messages:
                last = batch.messages[-1].uid
                self.ledger.checkpoints[key] = Checkpoint(batch.uidvalidity, last)
            self.store.commit()

    async def drain_outbox(self, report: CycleReport) -> None:
        """Send every pending mail, committing after each so none is sent twice."""
        blocked: set[str] = set()  # mailboxes whose relay failed this cycle: try next cycle
        for entry in list(iter_pending(self.ledger)):
            if entry.mailbox in blocked:
                continue
            settings = self.settings.mailbox(entry.mailbox)
            if not await self._send(entry, settings, report):
                blocked.add(entry.mailbox)
            self.store.commit()

    async def _send(self, entry: OutboxEntry, settings: MailboxSettings,
                    report: CycleReport) -> bool:
        entry.attempts += 1
        try:
            await self.adapters.mailer(settings).send(entry.raw, settings.address, [entry.to])
        except TemporarySendError as exc:
            entry.last_error = str(exc)
            log.warning("%s to %s not sent yet, will retry: %s", entry.kind, entry.to, exc)
            return False
        except PermanentSendError as exc:
            entry.state, entry.last_error = "failed", str(exc)
            report.failed += 1
            log.error("%s to %s refused for good: %s", entry.kind, entry.to, exc)
            return True
        entry.state, entry.sent_at = "sent", self.clock()
        report.sent += 1
        log.info("sent %s %s to %s", entry.kind, entry.message_id, entry.to)
        return True


class Filing:
    """Files the messages of one folder, keeping the indexes triage needs up to date."""

    def __init__(self, agent: Agent, mailbox: MailboxSettings, folder: str) -> None:
        self.agent = agent
        self.mailbox = mailbox
        self.folder = folder
        ledger = agent.ledger
        self.by_message_id = ledger.by_message_id()
        self.known_keys = ledger.known_keys()
        self.identity = Identity(
            addresses=frozenset(m.address for m in agent.settings.mailboxes),
            message_ids=ledger.sent_message_ids(),
        )

    def file(self, fetched: FetchedMessage, now: datetime, report: CycleReport) -> None:
        """Parse, triage and file one message; the ledger changes, nothing is sent here."""
        report.fetched += 1
        email = parse(fetched.raw, fetched.arrived_at)
        try:
            decision = triage(email, self._context(), now)
        except Exception as exc:  # one message must never stop the ones after it
            log.exception("could not triage %s; filed without a reply", email.key)
            decision = Decision(Outcome.SKIPPED, Role.MACHINE, note=f"internal error: {exc!r}")
        if decision.outcome is Outcome.DUPLICATE:
            report.duplicates += 1
            return
        self.known_keys.add(email.key)
        filed = FiledMessage(email.key, email.message_id, decision.role, email.arrived_at,
                             email.from_address, email.subject, self.folder, decision.note)
        if decision.outcome is Outcome.SKIPPED:
            self.agent.ledger.skipped.append(SkippedMessage(email.key, self.mailbox.name, filed))
            report.skipped += 1
            self._note(report, f"filed without a reply: {decision.note}")
            return
        conversation = self._conversation(decision, email)
        conversation.messages.append(filed)
        self.by_message_id[email.key] = conversation.id
        report.filed += 1
        verb = "started" if decision.outcome is Outcome.STARTED else "filed into"
        self._note(report, f"{verb} [#{conversation.id}] as {decision.role.value} mail"
                   + (f", no reply: {decision.note}" if decision.note else ""))
        if decision.event is not None:
            self._apply(conversation, decision.event, email, now, report)

    def _note(self, report: CycleReport, text: str) -> None:
        report.notes.append(text)
        log.info("%s: %s", self.mailbox.name, text)

    def _context(self) -> Context:
        agent = self.agent
        return Context(self.identity, self.mailbox.staff, self.by_message_id,
                       agent.ledger.conversations, self.known_keys,
                       agent.settings.calendar, agent.settings.promise)

    def _conversation(self, decision: Decision, email: InboundEmail) -> Conversation:
        conversations = self.agent.ledger.conversations
        if decision.conversation_id is not None:
            return conversations[decision.conversation_id]
        offset = email.date.utcoffset() if email.date else None
        offset_minutes = None if offset is None else int(offset.total_seconds()) // 60
        conversation = Conversation(
            id=new_token(email.key, conversations), mailbox=self.mailbox.name,
            customer=email.customer_address or "", customer_name=email.from_name,
            subject=email.subject, created_at=email.arrived_at,
            customer_utc_offset_minutes=offset_minutes,
        )
        conversations[conversation.id] = conversation
        return conversation

    def _apply(self, conversation: Conversation, event: Event, email: InboundEmail,
               now: datetime, report: CycleReport) -> None:
        conversation.status, actions = transition(conversation.status, event)
        for action in actions:
            if action is Action.END_PROMISE:
                _settle(conversation, email.arrived_at)
            elif action is Action.PROMISE:
                self._promise(conversation, email, now)
            elif action is Action.ACKNOWLEDGE:
                self._queue(conversation, "acknowledgement", "acknowledgement", email, now)
                report.queued += 1

    def _promise(self, conversation: Conversation, email: InboundEmail, now: datetime) -> None:
        settings = self.agent.settings
        _settle(conversation, email.arrived_at)
        due = first_reply_due(email.arrived_at, settings.calendar, settings.promise)
        reason = "customer wrote again" if conversation.promises else "first reply"
        conversation.promises.append(Promise(made_at=now, due=due, reason=reason))

    def _queue(self, conversation: Conversation, template: str, kind: str,
               email: InboundEmail, now: datetime) -> None:
        agent = self.agent
        message_id = make_message_id(conversation.id, kind, self.mailbox.address)
        envelope = rendering.Envelope(
            from_address=self.mailbox.address, from_name=self.mailbox.display_name,
            to=conversation.customer, token=conversation.id, message_id=message_id, date=now,
            in_reply_to=email.message_id,
            references=(*email.references[-9:], *([email.message_id] if email.message_id else [])),
        )
        data = template_data(agent.settings, self.mailbox, conversation, now)
        try:
            rendered = rendering.render(agent.templates, template, data)
        except rendering.RenderError as exc:
            raise TemplateError(f"{exc}; fix the template, the mail is sent once it renders") \
                from exc
        message = rendering.build_message(
            rendered, envelope, subject_with_token(conversation.subject, conversation.id))
        agent.ledger.outbox[message_id] = OutboxEntry(
            message_id=message_id, conversation_id=conversation.id, mailbox=self.mailbox.name,
            kind=kind, to=conversation.customer, raw=message.as_bytes(policy=policy.SMTP),
            created_at=now)
        conversation.sent.append(SentMail(message_id, kind, conversation.customer, now))
        self.by_message_id[message_id] = conversation.id
        log.info("queued %s %s for %s", kind, message_id, conversation.customer)


def _settle(conversation: Conversation, at: datetime) -> None:
    running = conversation.running_promise
    if running is not None:
        running.settled_at = at
        running.kept = at <= running.due


def make_message_id(token: str, kind: str, address: str) -> str:
    """A Message-ID chosen before sending, unique, and recognisable as the agent's own."""
    domain = address.rpartition("@")[2] or "inbox-agent.invalid"
    return f"<inbox-agent.{token}.{kind}.{uuid.uuid4().hex[:16]}@{domain}>"


def template_data(settings: Settings, mailbox: MailboxSettings, conversation: Conversation,
                  now: datetime) -> dict[str, Any]:
    """Everything a template may use (templates/README.md lists it for staff)."""
    promised_by = conversation.promised_by
    customer_offset = conversation.customer_utc_offset_minutes
    name = conversation.customer_name or ""
    return {
        "customer_name": name,
        "customer_first_name": name.split()[0] if name.split() else "",
        "customer_email": conversation.customer,
        "subject": conversation.subject or "(no subject)",
        "token": conversation.id,
        "promised_by": promised_by,
        "promised_by_text": wording.describe_moment(
            promised_by, settings.calendar, now, _offset(customer_offset))
        if promised_by else "",
        "mailbox_name": mailbox.display_name or mailbox.name,
        "mailbox_address": mailbox.address,
        "opening_hours": opening_hours_text(settings.calendar),
    }


def _offset(minutes: int | None) -> timedelta | None:
    return None if minutes is None else timedelta(minutes=minutes)


class LoggingMailer:
    """The mailer of ``run --dry-run``: logs what would be sent, sends nothing."""

    async def send(self, raw: bytes, sender: str, recipients: list[str]) -> None:
        """Log the mail's headers instead of sending it."""
        headers = raw.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
        subject = next((h for h in headers.splitlines() if h.startswith("Subject:")), "")
        log.info("dry run: would send to %s: %s", ", ".join(recipients), subject)


def real_adapters(settings: Settings, *, dry_run: bool = False) -> Adapters:
    """IMAP and SMTP as configured; passwords are looked up once, here."""
    imap_passwords = {m.name: resolve_password(m.imap, f"{settings.source}: [mailbox.imap] "
                                               f"of {m.name!r}") for m in settings.mailboxes}
    smtp_passwords = {} if dry_run else {
        m.name: resolve_password(m.smtp, f"{settings.source}: [mailbox.smtp] of {m.name!r}")
        for m in settings.mailboxes}

    def mailer(m: MailboxSettings) -> Mailer:
        return LoggingMailer() if dry_run else SmtpMailer(m.smtp, smtp_passwords[m.name])

    return Adapters(mailbox=lambda m: ImapMailbox(m.imap, imap_passwords[m.name]), mailer=mailer)


def system_clock() -> datetime:
    """Now, as an aware UTC moment (the one place the real clock is read)."""
    return datetime.now(UTC)


async def run(settings: Settings, *, once: bool, dry_run: bool, clock: Clock = system_clock,
              adapters: Adapters | None = None) -> None:
    """``inbox-agent run``: the daemon, or a single cycle with ``once``."""
    with Store(settings.agent.data_dir, dry_run=dry_run) as store:
        agent = Agent(settings, store, adapters or real_adapters(settings, dry_run=dry_run),
                      clock)
        if once:
            report = await agent.run_cycle()
            log.info("cycle done: %s", report.summary())
            return
        await Daemon(agent.run_cycle, settings.agent.poll_interval_seconds).serve()


def read_ledger(settings: Settings) -> Ledger:
    """The last committed state, read without the lock (safe beside a running daemon)."""
    store = Store(settings.agent.data_dir, read_only=True).open()
    store.close()
    return store.ledger
