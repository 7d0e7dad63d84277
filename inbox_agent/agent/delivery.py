"""The outbox drained: send, record, file a copy in the Sent folder; never lose, never repeat.

Part of the agent layer (with ``cycle``, ``filing`` and ``composing``). Every mail was written
to the outbox queue (``adapters.outbox``: one file, its state its folder) with its Message-ID
before it gets here; ``core.ledger`` has the table of its states. A drain:

    pending --(all due mail of a relay, one rename each, one folder fsync)--> sending
    sending --SMTP 250--> sent    (a rename and a folder fsync: nothing on the network between)
    sent --copy APPENDed to sent_folder--> done (the file goes; the conversation keeps the record)
    sending --4xx, timeout--> pending, not before next_attempt_at (30 s, 1 min, ... 30 min)
    sending --5xx, a recipient refused--> failed (recorded on the conversation, never retried)

The database is not written per mail: one commit at the end of a drain if a note was added or
a late mail restated (and one before sending a restated mail, so that it is recorded first).

A mail found in ``sending`` when the agent starts was cut short by a crash. It is resolved, not
guessed: if its copy is in the Sent folder, it went; otherwise it goes again. Since the 250 is
recorded before the copy is filed, a mail goes twice only if the process dies between the
relay's 250 and that rename: the window RFC 1047 says no SMTP client can close, here a rename
and an fsync wide. A mail found in ``sent`` after a crash is not sent again; the Sent folder
is asked before its copy is filed, so the copy is not filed twice either.

In a rehearsal (``run --dry-run``, ``replay``: ``Adapters.rehearsal``) the mailer reaches no
one: every step above happens in memory only, the log says "would send" (never "sent"), the
report counts ``would_send``, and no copy is filed.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from inbox_agent import logs
from inbox_agent.adapters.base import Mailbox, Mailer
from inbox_agent.adapters.outbox import OutboxQueue
from inbox_agent.agent.context import CycleReport, Host
from inbox_agent.config import MailboxSettings
from inbox_agent.core.conversations import MailKind
from inbox_agent.core.ledger import OutboxEntry, OutboxEvent, OutboxState
from inbox_agent.core.lifecycle import Status
from inbox_agent.core.wording import local_moment
from inbox_agent.errors import (
    MailboxError,
    PermanentSendError,
    SendLoginError,
    TemporarySendError,
)

log = logging.getLogger("inbox_agent")
FIRST_RETRY = timedelta(seconds=30)
LONGEST_RETRY = timedelta(minutes=30)


def sent_copies_folder(settings: MailboxSettings) -> str | None:
    """Where copies of sent mail are filed for this mailbox; None when they are not."""
    imap = settings.imap
    return imap.sent_folder if imap.copy_to_sent else None


def retry_delay(attempts: int) -> timedelta:
    """Exponential backoff after ``attempts`` failed tries: 30 s, 1 min, 2 min ... 30 min."""
    doublings: int = max(0, min(attempts - 1, 16))
    return min(FIRST_RETRY * (1 << doublings), LONGEST_RETRY)


class Delivery:
    """Sends what the outbox holds for the agent's mailboxes."""

    def __init__(self, agent: Host) -> None:
        self.agent = agent
        self._retired: list[OutboxEntry] = []  # superseded, gone once the ledger says so
        self._ledger_changed = False  # a note or a restated promise: one commit at the end
        self._started = False  # the first resolve also checks copies a crash may have filed

    @property
    def queue(self) -> OutboxQueue:
        """The outbox folder: every state change below is a rename there."""
        return self.agent.store.outbox

    async def resolve_in_flight(self) -> None:
        """Mail a crash left ``sending``: sent if its copy is filed, else it goes again. Mail
        whose 250 was recorded but whose copy may not be filed yet is asked the same way, so
        that the Sent folder does not get the copy twice."""
        ledger = self.agent.ledger
        unsure = list(ledger.in_state(OutboxState.SENDING))
        if not self._started:  # later, a copy still owed is one the Sent folder refused
            unsure += [e for e in ledger.in_state(OutboxState.SENT) if e.copy_pending]
        self._started = True
        for name in dict.fromkeys(e.mailbox for e in unsure):
            settings = self.agent.settings.mailbox(name)
            answers = await self._in_sent_folder([e for e in unsure if e.mailbox == name], settings)
            for entry, copied in answers:
                if entry.state is OutboxState.SENT:
                    entry.copy_pending = not copied
                else:
                    self._settle_cut_short(entry, copied)
        self.agent.store.finish(self._done())

    def _settle_cut_short(self, entry: OutboxEntry, copied: bool) -> None:
        self.queue.move([entry], OutboxEvent.ACCEPTED if copied else OutboxEvent.DEFERRED)
        entry.sent_at = self.agent.clock() if copied else None
        log.warning(
            "%s %s to %s was cut short by a restart: %s",
            entry.kind,
            entry.message_id,
            entry.to,
            "its copy is in the Sent folder, so it went"
            if copied
            else "no copy was filed, so it goes again (it may arrive twice)",
        )

    @property
    def rehearsal(self) -> bool:
        """True when the mailer reaches no one (``run --dry-run``, ``replay``): each mail is
        one the agent *would* send, in the log and in the report."""
        return self.agent.adapters.rehearsal

    async def drain(self, report: CycleReport) -> None:
        """Send every pending mail whose time has come, mailbox by mailbox; file the copies
        owed; then one commit if the ledger changed, and the finished mail leaves the queue."""
        report.rehearsal = self.rehearsal
        now = self.agent.clock()
        due = [
            e
            for e in self.agent.ledger.in_state(OutboxState.PENDING)
            if e.next_attempt_at is None or e.next_attempt_at <= now
        ]
        due = self._still_true(due, now)
        copies = [e for e in self.agent.ledger.in_state(OutboxState.SENT) if e.copy_pending]
        for name in dict.fromkeys(e.mailbox for e in (*due, *copies)):
            await self._drain_mailbox(
                self.agent.settings.mailbox(name),
                [e for e in due if e.mailbox == name],
                [e for e in copies if e.mailbox == name],
                report,
            )
        self._close_the_books()

    async def _drain_mailbox(
        self,
        settings: MailboxSettings,
        waiting: list[OutboxEntry],
        copies: list[OutboxEntry],
        report: CycleReport,
    ) -> None:
        mailer = self.agent.adapters.mailer(settings)
        async with _SentFolder(self.agent, settings) as sent_folder:
            if waiting:
                await sent_folder.connect()  # before the first 250: a copy is one APPEND
                self.queue.move(waiting, OutboxEvent.SEND)  # durable in one step, before any
            try:
                for n, entry in enumerate(waiting):
                    if not await self._send(entry, mailer, settings, sent_folder, report):
                        self._all_wait(waiting[n + 1 :], entry)
                        break
            finally:
                await mailer.close()
            for entry in copies:
                await sent_folder.file_copy(entry)

    def _close_the_books(self) -> None:
        """The ledger once (notes, restated promises), then the finished mail's files go."""
        if self._ledger_changed:
            self.agent.store.commit()
            self._ledger_changed = False
        self.agent.store.finish([*self._retired, *self._done()])
        self._retired = []

    def _done(self) -> list[OutboxEntry]:
        return [e for e in self.agent.ledger.in_state(OutboxState.SENT) if not e.copy_pending]

    async def _send(
        self,
        entry: OutboxEntry,
        mailer: Mailer,
        settings: MailboxSettings,
        sent_folder: _SentFolder,
        report: CycleReport,
    ) -> bool:
        """One mail; False when the relay is to be left alone for now."""
        entry.attempts += 1
        try:
            await mailer.send(entry.raw, settings.address, [entry.to])
        except SendLoginError as exc:  # the relay refuses us, not the mail: logged once
            self._retry_later(entry, exc)
            self.agent.outages.failed(f"SMTP {settings.name}", exc.one_line(), self.agent.clock())
            report.problems.append(exc)  # run --once exits 1 with it
            return False
        except TemporarySendError as exc:
            self._retry_later(entry, exc)
            return exc.recipient  # one greylisted recipient: the others may still go
        except PermanentSendError as exc:
            self._refused(entry, exc, report)
            return True
        # The 250 is recorded before anything else: one rename and a folder fsync, no network.
        self.queue.move([entry], OutboxEvent.ACCEPTED)
        entry.sent_at = self.agent.clock()
        entry.copy_pending = sent_folder.enabled
        await sent_folder.file_copy(entry)
        self._handed_over(entry, report)
        self.agent.outages.worked(f"SMTP {settings.name}", self.agent.clock())
        return True

    def _handed_over(self, entry: OutboxEntry, report: CycleReport) -> None:
        """Count and log a mail the relay took; in a rehearsal, one it *would* have taken."""
        if self.rehearsal:
            report.would_send += 1
        else:
            report.sent += 1
        log.info(
            "%s %s %s to %s%s",
            "would send" if self.rehearsal else "sent",
            entry.kind,
            entry.message_id,
            entry.to,
            self._promising(entry),
            extra=_fields("would_send" if self.rehearsal else "sent", entry),
        )

    def _promising(self, entry: OutboxEntry) -> str:
        """What the mail tells of, for its log line: `` promising Tue 24 Nov 2026 10:05 London
        time`` (for the manager's report: the moment the customer is promised)."""
        conversation = self.agent.ledger.conversations.get(entry.conversation_id)
        due = conversation.promised_by if conversation is not None else None
        if due is None:
            return ""
        words = "about a customer promised" if entry.kind is MailKind.ESCALATION else "promising"
        return f" {words} {local_moment(due, self.agent.settings.calendar.timezone)}"

    def _still_true(self, due: list[OutboxEntry], now: datetime) -> list[OutboxEntry]:
        """The mails to send: each as it is while what it says is still true; restated when
        it is late (``promises`` rule 6); left out when no longer wanted. Restated mail is
        committed (its file and the moved promise) before anything is sent."""
        chosen = [m for entry in due if (m := self._still_true_one(entry, now)) is not None]
        if self._ledger_changed:
            self.agent.store.commit()
            self._ledger_changed = False
        return chosen

    def _still_true_one(self, entry: OutboxEntry, now: datetime) -> OutboxEntry | None:
        # Checked before the mail's deadline too: staff may have answered (or closed it) in
        # the same poll that queued it, after downtime or at a first start, and a promise
        # "a person will reply by ..." must not reach a customer who already has the reply.
        conversation = self.agent.ledger.conversations.get(entry.conversation_id)
        if (
            conversation is None
            or conversation.running_promise is None
            or conversation.status is not Status.WAITING
        ):
            self._supersede(
                entry,
                None,
                "no longer needed: the conversation moved on (answered or closed) before it went",
            )
            return None
        if entry.deliver_by is None or now < entry.deliver_by:
            return entry
        restated = self.agent.mailing.restate(conversation, entry, now)
        if restated is None:
            return None  # its template does not render: it waits, unsent (logged once)
        self._supersede(entry, restated, f"late: restated as {restated.message_id}")
        return restated

    def _supersede(self, entry: OutboxEntry, by: OutboxEntry | None, why: str) -> None:
        """Retire a mail that was never sent; the conversation no longer lists it. Its file
        goes once the ledger that no longer lists it is committed (a crash before that
        leaves a file no conversation lists, which the next start drops)."""
        entry.move(OutboxEvent.SUPERSEDED)
        entry.last_error = why
        conversation = self.agent.ledger.conversations.get(entry.conversation_id)
        if conversation is not None:
            conversation.sent = [s for s in conversation.sent if s.message_id != entry.message_id]
        self._retired.append(entry)
        self._ledger_changed = True
        log.warning(
            "%s %s to %s %s",
            entry.kind,
            entry.message_id,
            entry.to,
            why if by is None else f"was {why}",
        )

    def _all_wait(self, rest: list[OutboxEntry], failed: OutboxEntry) -> None:
        """The relay itself is in trouble: the rest of its mail, not tried (so not counted as
        attempts), goes back to wait as long as ``failed``."""
        self.queue.move(rest, OutboxEvent.DEFERRED)
        for entry in rest:
            entry.next_attempt_at = failed.next_attempt_at
            self.queue.save(entry)

    def _retry_later(self, entry: OutboxEntry, exc: TemporarySendError) -> None:
        delay = retry_delay(entry.attempts)
        self.queue.move([entry], OutboxEvent.DEFERRED)
        entry.last_error = str(exc)
        entry.next_attempt_at = self.agent.clock() + delay
        self.queue.save(entry)
        if isinstance(exc, SendLoginError):
            return  # an outage of the relay's: logged once, by the caller
        log.warning(
            "%s to %s not sent yet (attempt %d), next try in %s: %s",
            entry.kind,
            entry.to,
            entry.attempts,
            _words(delay),
            exc,
            extra=_fields("send_deferred", entry),
        )

    def _refused(self, entry: OutboxEntry, exc: PermanentSendError, report: CycleReport) -> None:
        now = self.agent.clock()
        self.queue.move([entry], OutboxEvent.REFUSED)
        entry.last_error = str(exc)
        self.queue.save(entry)
        conversation = self.agent.ledger.conversations.get(entry.conversation_id)
        if conversation is not None:
            conversation.note(
                now, f"{entry.kind} to {entry.to} refused for good, not retried: {exc}"
            )
            self._ledger_changed = True
        report.failed += 1
        log.error(
            "%s to %s refused for good: %s",
            entry.kind,
            entry.to,
            exc,
            extra=_fields("send_refused", entry),
        )

    async def _in_sent_folder(
        self, entries: list[OutboxEntry], settings: MailboxSettings
    ) -> list[tuple[OutboxEntry, bool]]:
        """Whether each mail's copy is in the Sent folder, over one connection; the ones it
        cannot tell now are left out, to be asked on a later cycle."""
        folder = sent_copies_folder(settings)
        if folder is None:
            return [(e, False) for e in entries]  # nothing to ask: sending again is safe side
        mailbox = self.agent.adapters.mailbox(settings)
        answers: list[tuple[OutboxEntry, bool]] = []
        try:
            await mailbox.open()
            for entry in entries:
                answers.append((entry, await mailbox.has_message_id(folder, entry.message_id)))
        except MailboxError as exc:
            log.warning("cannot check the Sent folder of %s yet: %s", settings.name, exc)
        finally:
            await mailbox.close()
        return answers


class _SentFolder:
    """The IMAP connection copies are filed through, opened only when there is one to file."""

    def __init__(self, agent: Host, settings: MailboxSettings) -> None:
        self.agent = agent
        self.settings = settings
        self.folder = sent_copies_folder(settings)
        self.enabled = self.folder is not None and not (
            agent.store.dry_run or agent.adapters.rehearsal
        )
        self._mailbox: Mailbox | None = None
        self._broken = False

    async def __aenter__(self) -> _SentFolder:
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._mailbox is not None:
            await self._mailbox.close()

    async def connect(self) -> None:
        """Log in now, so that filing a copy after a send is one APPEND, not a login too."""
        if not self.enabled or self._broken or self._mailbox is not None:
            return
        mailbox = self.agent.adapters.mailbox(self.settings)
        try:
            await mailbox.open()
        except MailboxError as exc:
            self._give_up(exc)
            await mailbox.close()
            return
        self._mailbox = mailbox

    async def file_copy(self, entry: OutboxEntry) -> None:
        """APPEND the mail to the Sent folder; on failure it stays owed for the next cycle."""
        if not (self.enabled and entry.copy_pending) or self.folder is None:
            return
        await self.connect()
        if self._mailbox is None:
            return
        try:
            await self._mailbox.append(self.folder, entry.raw, self.agent.clock())
        except MailboxError as exc:
            self._give_up(exc)
            return
        entry.copy_pending = False

    def _give_up(self, exc: MailboxError) -> None:
        """One warning a cycle, not one a mail; the copies stay owed."""
        self._broken = True
        log.warning("%s: copies of sent mail wait for the next cycle: %s", self.settings.name, exc)


def _fields(event: str, entry: OutboxEntry) -> dict[str, str | None]:
    """The log line's fields for ``--log-format json``: the event, the mail's mailbox and
    conversation."""
    return logs.fields(event, entry.mailbox, entry.conversation_id)


def _words(delay: timedelta) -> str:
    seconds = int(delay.total_seconds())
    return f"{seconds // 60} min" if seconds >= 60 else f"{seconds} s"
