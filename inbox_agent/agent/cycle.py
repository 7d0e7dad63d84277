"""One cycle of the agent: fetch -> decide -> outbox -> send -> save.

The agent layer (``inbox_agent.agent``) is where the pure core meets the adapters: this module
(the cycle and the outbox), ``filing`` (incoming mail into the ledger), ``composing`` (outgoing
mail) and ``delivery`` (the outbox drained); ``context`` is what the parts see of the agent.
A cycle:

1. Staff requests queued by ``close`` / ``reopen`` / ``snooze`` are applied.
2. For each mailbox, its folder and its Sent folder are read from their checkpoints, in chunks.
   Each message is parsed and triaged (``core``); the ledger changes in memory; after each chunk
   the ledger, the new checkpoint and any mail owed are committed in one write. The checkpoint
   never moves past a message that is not filed, and a crash re-reads at most one chunk, which
   the dedupe by Message-ID files once.
3. The sweep asks ``core.promises`` what every running promise calls for now (a follow-up, an
   escalation) and queues it, unless a circuit breaker (``core.breakers``) holds it; an
   escalation about a suspected slow autoresponder goes to the manager only. Deadlines live in
   the store, so a restart loses none.
4. The outbox is drained (``delivery``): every mail was recorded with its Message-ID before
   it is handed to SMTP, is committed as ``sending`` before and ``sent`` after, and a copy is
   filed in the Sent folder in between; the one window where a mail can go out twice (RFC
   1047) is between the relay's 250 and that copy.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import jinja2

from inbox_agent.adapters.base import Mailbox, Mailer
from inbox_agent.adapters.imap import ImapMailbox
from inbox_agent.adapters.smtp import SmtpMailer
from inbox_agent.adapters.store import Store
from inbox_agent.agent import staff
from inbox_agent.agent.composing import Composed, Composer, describe
from inbox_agent.agent.context import Adapters, Clock, CycleReport
from inbox_agent.agent.delivery import Delivery
from inbox_agent.agent.filing import Filing
from inbox_agent.agent.outages import Outages
from inbox_agent.config import MailboxSettings, Settings, resolve_password
from inbox_agent.core.breakers import Sent, held_back, slow_responder
from inbox_agent.core.conversations import Conversation, MailKind, Promise, SentMail
from inbox_agent.core.conversations import Outcome as PromiseOutcome
from inbox_agent.core.ledger import Checkpoint, Ledger, OutboxEntry, OutboxState, to_customers
from inbox_agent.core.lifecycle import Event, transition
from inbox_agent.core.promises import (
    ESCALATED,
    ESCALATION,
    ESCALATION_NOTICE,
    FOLLOW_UP,
    Chase,
    ChaseDue,
    attention_at,
    attention_key,
    chase_due,
    chase_moment,
    current_wait,
    deliver_by,
    follow_up_reason,
    follow_ups_in,
    lapsed,
    last_told,
    next_chase_at,
    nobody_will_chase,
    restated_due,
)
from inbox_agent.core.triage import customer_writing
from inbox_agent.daemon import Daemon, Job
from inbox_agent.errors import (
    MailboxConnectionError,
    MailboxError,
    MailboxLoginError,
    OperatorError,
    TemplateError,
)

# Adapters and CycleReport live in ``context``; whoever builds an Agent gets them here too.
__all__ = ["Adapters", "Agent", "CycleReport", "LoggingMailer", "real_adapters", "run",
           "system_clock"]
log = logging.getLogger("inbox_agent")
SWEEP_INTERVAL_SECONDS = 30  # how often promises are checked, whatever the poll interval


class Agent:
    """The support agent: files mail into conversations, keeps promises, keeps the outbox."""

    def __init__(self, settings: Settings, store: Store, adapters: Adapters, clock: Clock,
                 templates: jinja2.BaseLoader | None = None) -> None:
        self.settings = settings
        self.store = store
        self.adapters = adapters
        self.clock = clock
        self.composer = Composer(settings, templates)
        self.reported_problems: set[str] = set()  # logged once, until they clear
        # This cycle's mail left owed (conversation, kind) -> why: for run --once's exit status.
        self._owing: dict[tuple[str, MailKind], TemplateError] = {}
        # The sweep's index: conversation -> (what the moment depends on, the moment).
        self._attention: dict[str, tuple[tuple[object, ...], datetime | None]] = {}
        self.outages = Outages()
        self.delivery = Delivery(self)

    @property
    def ledger(self) -> Ledger:
        """The store's in-memory state."""
        return self.store.ledger

    async def run_cycle(self) -> CycleReport:
        """Staff requests, a poll of every mailbox, the sweep, then send what is owed."""
        report = CycleReport()
        with self.store.rolled_back_on_error():
            await self.delivery.resolve_in_flight()
            self.apply_staff_requests()
            for mailbox in self.settings.mailboxes:
                await self._poll_unless_down(mailbox, report)
            self.sweep(self.clock(), report)
            self.store.commit()
            await self.drain_outbox(report)
        report.problems += self._owing.values()  # filed, owed: run --once still exits 1
        self._owing = {}
        return report

    async def sweep_cycle(self) -> CycleReport:
        """The frequent job. When a chase is due it polls first, so a staff reply that arrived
        since the last poll is seen before anyone is chased; otherwise it only sends."""
        now = self.clock()
        ready = self._chases(now, SentLog(self.ledger))
        if any(due is not None and hold is None for _, due, hold in ready):
            return await self.run_cycle()
        report = CycleReport()
        with self.store.rolled_back_on_error():
            self.apply_staff_requests()
            await self.drain_outbox(report)
        return report

    def next_chase(self) -> datetime | None:
        """The earliest moment a follow-up or escalation becomes owed, from the store."""
        calendar, policy = self.settings.calendar, self.settings.promise
        moments = [moment for c in self.ledger.conversations.values()
                   if (moment := next_chase_at(c, calendar, policy)) is not None]
        return min(moments, key=lambda m: m.astimezone(UTC)) if moments else None

    def apply_staff_requests(self) -> None:
        """Carry out close / reopen / snooze requests queued while this agent held the store."""
        requests = self.store.pending_requests()
        for request in requests:
            try:
                note = staff.apply(self.ledger, request, self.clock())
            except OperatorError as exc:
                log.warning("staff request not applied: %s", exc)
            else:
                log.info("staff request applied: %s", note)
        if requests:
            self.store.commit()
            self.store.forget_requests(requests)

    async def _poll_unless_down(self, settings: MailboxSettings, report: CycleReport) -> None:
        """Poll one mailbox; if its server fails, report it once, back off, and go on: the
        other mailboxes, the sweep and the outbox do not wait for it."""
        key, now = f"IMAP {settings.name}", self.clock()
        if self.outages.should_wait(key, now):
            return
        try:
            await self.poll(settings, report)
        except MailboxError as exc:
            self.store.rollback()  # keep what the chunks before committed, nothing more
            self.outages.failed(key, exc.one_line(), now)
            report.problems.append(exc)
        else:
            self.outages.worked(key, now)

    async def poll(self, settings: MailboxSettings, report: CycleReport) -> None:
        """File everything new in the mailbox's folder and its Sent folder."""
        mailbox = self.adapters.mailbox(settings)
        await mailbox.open()
        try:
            await self._poll_folder(mailbox, settings, settings.imap.folder, report)
            if settings.imap.sent_folder:
                await self._poll_sent_folder(mailbox, settings, settings.imap.sent_folder,
                                             report)
        finally:
            await mailbox.close()

    async def _poll_sent_folder(self, mailbox: Mailbox, settings: MailboxSettings, folder: str,
                                report: CycleReport) -> None:
        """The Sent folder only tells of staff replies: a server that refuses it (a name that
        does not exist) must not stop the customers' mail, so it is reported, once."""
        problem_key = f"{settings.name}/{folder}"
        try:
            await self._poll_folder(mailbox, settings, folder, report)
        except (MailboxConnectionError, MailboxLoginError):
            raise
        except MailboxError as exc:
            self._report_once(problem_key, f"{problem_key}: the sent folder cannot be read "
                              f"({exc}); staff replies sent from it are not seen: check "
                              "sent_folder in [mailbox.imap]", logging.WARNING)
        else:
            self.reported_problems.discard(problem_key)

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
            del batch  # else it is held while the next one is fetched: two chunks' bytes

    def sweep(self, now: datetime, report: CycleReport) -> None:
        """Queue what promises about to slip call for; record promises that lapsed unchased."""
        policy = self.settings.promise
        self.compose_owed(now, report)
        sent_log = SentLog(self.ledger)
        for conversation, due, hold in self._chases(now, sent_log):
            if due is not None and hold is not None:
                if conversation.note(now, hold):
                    log.warning("[#%s] %s", conversation.id, hold)
            elif due is not None:
                before = len(conversation.sent)
                self._chase(conversation, due, now, report)
                sent_log.add(to_customers(conversation, conversation.sent[before:]))
            elif nobody_will_chase(conversation, policy) and lapsed(conversation, now):
                promise = conversation.running_promise
                assert promise is not None  # lapsed() checked it
                conversation.settle(promise.due, PromiseOutcome.MISSED)
                log.warning("[#%s] the promise to %s lapsed at %s", conversation.id,
                            conversation.customer, promise.due.isoformat())

    def _chases(self, now: datetime, sent_log: SentLog) -> Iterator[
            tuple[Conversation, ChaseDue | None, str | None]]:
        """Every conversation with the chase it is owed (or None) and why that must wait (or
        None). A conversation whose last mail to the customer has not gone out yet (or is
        still owed: its template does not render) is left out: that mail goes first,
        restated if it is late."""
        calendar, policy = self.settings.calendar, self.settings.promise
        unsent = {e.conversation_id for e in self.ledger.outbox.values()
                  if e.state in (OutboxState.PENDING, OutboxState.SENDING)
                  and e.kind != ESCALATION}
        for conversation in list(self.ledger.conversations.values()):
            moment = self._attention_at(conversation)
            if moment is None or now.astimezone(UTC) < moment.astimezone(UTC):
                continue  # nothing to chase or record here yet: the common case, cheaply
            due = chase_due(conversation, now, calendar, policy)
            if due is not None and (conversation.id in unsent or conversation.owed):
                continue
            hold = None if due is None else self._hold(conversation, due, now, sent_log.items)
            yield conversation, due, hold

    def _attention_at(self, conversation: Conversation) -> datetime | None:
        """``promises.attention_at``, worked out again only when the conversation changed:
        an index of due moments, so a sweep over 10,000 open promises stays cheap."""
        key = attention_key(conversation)
        known = self._attention.get(conversation.id)
        if known is not None and known[0] == key:
            return known[1]
        moment = attention_at(conversation, self.settings.calendar, self.settings.promise)
        self._attention[conversation.id] = (key, moment)
        return moment

    def _hold(self, conversation: Conversation, due: ChaseDue, now: datetime,
              mail_to_customers: list[Sent]) -> str | None:
        """Why a chase owed in ``conversation`` must not go out now, if it must not. An
        escalation to a suspected slow autoresponder still goes: the manager's report is not
        customer mail (``_chase_mails`` leaves out the customer's notice)."""
        bounced = self.ledger.undeliverable.get(conversation.customer)
        if bounced is not None:
            return (f"follow-up not sent: mail to {bounced.address} bounced on "
                    f"{bounced.since:%a %d %b %H:%M}; a person must reach them another way")
        reason = held_back(conversation.customer, conversation.id, now, mail_to_customers,
                           self.settings.limits)
        if reason is None and due.chase is Chase.FOLLOW_UP:
            robot = self._slow_responder(conversation.customer, now, mail_to_customers)
            reason = None if robot is None else f"held back: {robot}"
        return None if reason is None else f"follow-up {reason}"

    def _slow_responder(self, address: str, now: datetime,
                        mail_to_customers: list[Sent]) -> str | None:
        """``breakers`` rule 4 for ``address``, from what the ledger holds."""
        ours = [s for s in mail_to_customers if s.to == address]
        if not ours:
            return None
        wrote = customer_writing(self.ledger.conversations.values(), address)
        return slow_responder(address, now, ours, wrote, self.settings.limits)

    def _chase(self, conversation: Conversation, due: ChaseDue, now: datetime,
               report: CycleReport) -> None:
        """Extend the promise and queue the mails, or, if a template fails, change nothing:
        the chase stays due and is tried again on the next sweep."""
        status, promises = conversation.status, list(conversation.promises)
        previous = conversation.running_promise
        settled = (previous.settled_at, previous.outcome) if previous else (None, None)
        mails = self._chase_mails(conversation, due, now)
        problem = f"template for {conversation.id}"
        if isinstance(mails, TemplateError):  # undo: as if the sweep had not come here
            conversation.status, conversation.promises = status, promises
            if previous is not None:
                previous.settled_at, previous.outcome = settled
            self._report_once(problem, f"[#{conversation.id}] {mails}; the "
                              "follow-up is sent once the template renders")
            return
        self.reported_problems.discard(problem)
        for mail in mails:
            self.record(conversation, mail, now)
        report.queued += len(mails)
        reason = conversation.promises[-1].reason
        report.notes.append(f"[#{conversation.id}] {reason}"
                            + (" (the promise had lapsed)" if due.lapsed else "")
                            + f"; new promise {due.new_due:%a %d %b %H:%M}")

    def _chase_mails(self, conversation: Conversation, due: ChaseDue,
                     now: datetime) -> list[Composed] | TemplateError:
        """Settle the running promise, make the new one, and compose what tells of it."""
        conversation.status, _ = transition(conversation.status, Event.CHASE_DUE)
        previous = conversation.running_promise
        assert previous is not None  # chase_due only answers for a running promise
        extra = {"promise_missed": due.lapsed, "follow_up_number": due.follow_up_number,
                 "previous_promise_text": describe(self.settings, conversation, previous.due,
                                                   now)}
        conversation.settle(now, PromiseOutcome.MISSED if due.lapsed
                            else PromiseOutcome.EXTENDED)
        follow_up = due.chase is Chase.FOLLOW_UP
        reason = follow_up_reason(due.follow_up_number) if follow_up else ESCALATED
        conversation.promises.append(Promise(made_at=now, due=due.new_due, reason=reason))
        if follow_up:
            wanted, robot = [(FOLLOW_UP, conversation.customer)], None
        else:
            wanted, robot = self._escalation_mails(conversation, now)
        try:
            mails = [self.composer.compose(conversation, kind, to, now, extra)
                     for kind, to in wanted]
        except TemplateError as exc:
            return exc
        if robot is not None:
            conversation.note(now, f"escalation notice held back: {robot}")
        return mails

    def _escalation_mails(self, conversation: Conversation,
                          now: datetime) -> tuple[list[tuple[MailKind, str]], str | None]:
        """The report to the manager and the notice to the customer (kind, to); the notice
        is left out, with the reason, for a suspected slow autoresponder (it would echo it)."""
        report = (ESCALATION, str(self.settings.promise.escalate_to))
        robot = self._slow_responder(conversation.customer, now,
                                     self.ledger.mail_to_customers())
        if robot is not None:
            return [report], robot
        return [report, (ESCALATION_NOTICE, conversation.customer)], None

    def _report_once(self, key: str, problem: str, level: int = logging.ERROR) -> None:
        """Log a problem the first time it is seen, not at every cycle until it clears."""
        if key not in self.reported_problems:
            log.log(level, "%s", problem)
            self.reported_problems.add(key)

    def queue(self, conversation: Conversation, kind: MailKind, to: str, now: datetime,
              extra: dict[str, Any] | None = None) -> bool:
        """Compose a mail and record it in the outbox (sent by ``drain_outbox``). A template
        that does not render (broken before the agent started, so no last good version)
        leaves the mail owed on the conversation: filing goes on, and a later sweep composes
        it once the template renders."""
        try:
            mail = self.composer.compose(conversation, kind, to, now, extra)
        except TemplateError as exc:
            self._owe(conversation, kind, now, exc)
            return False
        self.record(conversation, mail, now)
        return True

    def _owe(self, conversation: Conversation, kind: MailKind, now: datetime,
             problem: TemplateError) -> None:
        if kind not in conversation.owed:
            conversation.owed.append(kind)
            conversation.note(now, f"{kind} not sent yet: its template does not render; it "
                              "goes as soon as it does")
        self._report_once(f"owed {kind}", problem.one_line())
        self._owing[conversation.id, kind] = problem

    def compose_owed(self, now: datetime, report: CycleReport) -> None:
        """Mail owed because its template did not render, composed now if it does."""
        for conversation in self.ledger.conversations.values():
            for kind in list(conversation.owed):
                to = self._recipient(conversation, kind)
                try:
                    mail = self.composer.compose(conversation, kind, to, now)
                except TemplateError as exc:
                    self._owe(conversation, kind, now, exc)  # logged once; tried next sweep
                    continue
                conversation.owed.remove(kind)
                self.reported_problems.discard(f"owed {kind}")
                self.record(conversation, mail, now)
                report.queued += 1

    def _recipient(self, conversation: Conversation, kind: MailKind) -> str:
        manager = self.settings.promise.escalate_to
        return manager if kind is MailKind.ESCALATION and manager else conversation.customer

    def record(self, conversation: Conversation, mail: Composed, now: datetime,
               send_by: datetime | None = None) -> OutboxEntry:
        """Put a composed mail in the outbox and on the conversation, before it is sent;
        ``send_by`` is when it stops being true (``promises.deliver_by`` unless given)."""
        entry = self.ledger.outbox[mail.message_id] = OutboxEntry(
            message_id=mail.message_id, conversation_id=conversation.id,
            mailbox=conversation.mailbox, kind=mail.kind, to=mail.to, raw=mail.raw,
            created_at=now, deliver_by=send_by or deliver_by(
                conversation, mail.kind, self.settings.calendar, self.settings.promise))
        conversation.sent.append(SentMail(mail.message_id, mail.kind, mail.to, now))
        log.info("queued %s %s for %s", mail.kind, mail.message_id, mail.to)
        return entry

    def restate(self, conversation: Conversation, late: OutboxEntry,
                now: datetime) -> OutboxEntry:
        """A late mail composed again (``promises`` rule 6): the promise it was to tell, never
        told, is moved to count from ``now``, and the mail says it comes late."""
        calendar, policy = self.settings.calendar, self.settings.promise
        running = conversation.running_promise
        assert running is not None  # the caller checked
        running.due = restated_due(late.kind, now, calendar, policy)
        running.reason += " (restated: our mail was late)"
        extra: dict[str, Any] = {"delivery_late": True}
        told = last_told(conversation)
        if late.kind != MailKind.ACKNOWLEDGEMENT and told is not running:
            wait = current_wait(conversation)
            extra |= {"promise_missed": now >= told.due, "follow_up_number":
                      follow_ups_in(wait),
                      "previous_promise_text": describe(self.settings, conversation,
                                                        told.due, now)}
        mail = self.composer.compose(conversation, late.kind, late.to, now, extra)
        # It now states a promise of its own: true until that promise's follow-up moment.
        return self.record(conversation, mail, now, chase_moment(running.due, calendar, policy))

    async def drain_outbox(self, report: CycleReport) -> None:
        """Send what the outbox holds (``delivery``: committed before and after each)."""
        await self.delivery.drain(report)


class SentLog:
    """The agent's automatic mail to customers, as the breakers count it: gathered only when a
    chase is due, so a sweep with nothing due never walks every conversation's mail."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._items: list[Sent] | None = None

    @property
    def items(self) -> list[Sent]:
        """Every automatic mail to a customer so far."""
        if self._items is None:
            self._items = self._ledger.mail_to_customers()
        return self._items

    def add(self, sent: list[Sent]) -> None:
        """Mail this sweep has just queued."""
        self.items.extend(sent)


class LoggingMailer:
    """The mailer of ``run --dry-run``: logs what would be sent, sends nothing."""

    async def send(self, raw: bytes, sender: str, recipients: list[str]) -> None:
        """Log the mail's headers instead of sending it."""
        headers = raw.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
        subject = next((h for h in headers.splitlines() if h.startswith("Subject:")), "")
        log.info("dry run: would send to %s: %s", ", ".join(recipients), subject)

    async def close(self) -> None:
        """Nothing to end."""


def real_adapters(settings: Settings, *, dry_run: bool = False) -> Adapters:
    """IMAP and SMTP as configured; passwords are looked up once, here."""
    imap_passwords = {m.name: resolve_password(m.imap, f"{settings.source}: [mailbox.imap] "
                                               f"of {m.name!r}") for m in settings.mailboxes}
    smtp_passwords = {} if dry_run else {
        m.name: resolve_password(m.smtp, f"{settings.source}: [mailbox.smtp] of {m.name!r}")
        for m in settings.mailboxes}

    def mailer(m: MailboxSettings) -> Mailer:
        return LoggingMailer() if dry_run else SmtpMailer(m.smtp, smtp_passwords[m.name])

    def mailbox(m: MailboxSettings) -> Mailbox:
        return ImapMailbox(m.imap, imap_passwords[m.name],
                           max_message_size=settings.agent.max_message_size)

    return Adapters(mailbox=mailbox, mailer=mailer)


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
            agent.outages = Outages(quiet=True)
            report = await agent.run_cycle()
            if report.problems:  # run --once reports by its exit status, in one line
                raise report.problems[0]
            log.info("cycle done: %s", report.summary())
            return
        due = agent.next_chase()
        log.info("promises running: the next follow-up or escalation is due %s",
                 due.astimezone(settings.calendar.timezone).strftime("%a %d %b %H:%M %Z")
                 if due else "never (none waiting)")
        await Daemon([
            Job("poll", agent.run_cycle, settings.agent.poll_interval_seconds),
            Job("sweep", agent.sweep_cycle, SWEEP_INTERVAL_SECONDS),
        ]).serve()
