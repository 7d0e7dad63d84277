"""The outbox drained: send, file a copy in the Sent folder, record; never lose, never repeat.

Part of the agent layer (with ``cycle``, ``filing`` and ``composing``). Every mail was written
to the outbox with its Message-ID before it gets here. Its states:

    pending --(commit)--> sending --SMTP 250--> copy APPENDed to sent_folder --(commit)--> sent
       ^                     |
       +-- 4xx, timeout: ----+   (back to pending, not before next_attempt_at: 30 s, 1 min,
       |   2 min, ... 30 min; kept across restarts)
       +-- 5xx, a recipient refused: failed (recorded on the conversation, never retried)

A mail found in ``sending`` when the agent starts was cut short by a crash. It is resolved, not
guessed: if its copy is in the Sent folder, the relay had accepted it (the copy is made only
after the 250), so it is ``sent``; otherwise it goes again. The one window no SMTP client can
close (RFC 1047) is between the relay's 250 and the copy landing in the Sent folder, one IMAP
round trip: a crash exactly there sends that one mail twice. Without ``copy_to_sent`` (or with
the IMAP server unreachable at that moment) the window is the whole send, and the mail goes
again: a duplicate is better than a lost promise.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from inbox_agent.adapters.base import Mailbox, Mailer
from inbox_agent.agent.context import CycleReport, Host
from inbox_agent.config import MailboxSettings
from inbox_agent.core.ledger import OutboxEntry, OutboxEvent, OutboxState
from inbox_agent.core.lifecycle import Status
from inbox_agent.errors import (
    MailboxError,
    PermanentSendError,
    TemplateError,
    TemporarySendError,
)

log = logging.getLogger("inbox_agent")
RAW_KEPT_FOR = timedelta(days=30)  # then a sent mail's bytes go; its record stays
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

    async def resolve_in_flight(self) -> None:
        """Mail left ``sending`` by a crash: sent if its copy is filed, else sent again."""
        for entry in list(self.agent.ledger.in_state(OutboxState.SENDING)):
            settings = self.agent.settings.mailbox(entry.mailbox)
            verdict = await self._was_sent(entry, settings)
            if verdict is None:
                continue  # the Sent folder cannot be read now: decide on a later cycle
            entry.move(OutboxEvent.ACCEPTED if verdict else OutboxEvent.DEFERRED)
            entry.sent_at = self.agent.clock() if verdict else None
            log.warning("%s %s to %s was cut short by a restart: %s", entry.kind,
                        entry.message_id, entry.to,
                        "its copy is in the Sent folder, so it went" if verdict else
                        "no copy was filed, so it goes again (it may arrive twice)")
            self.agent.store.commit()

    async def drain(self, report: CycleReport) -> None:
        """Send every pending mail whose time has come, mailbox by mailbox."""
        now = self.agent.clock()
        due = [e for e in self.agent.ledger.in_state(OutboxState.PENDING)
               if e.next_attempt_at is None or e.next_attempt_at <= now]
        copies = [e for e in self.agent.ledger.in_state(OutboxState.SENT) if e.copy_pending]
        for name in dict.fromkeys(e.mailbox for e in (*due, *copies)):
            settings = self.agent.settings.mailbox(name)
            mailer = self.agent.adapters.mailer(settings)
            async with _SentFolder(self.agent, settings) as sent_folder:
                waiting = [e for e in due if e.mailbox == name]
                if waiting:
                    await sent_folder.connect()  # before the first 250: the window stays small
                try:
                    for n, queued in enumerate(waiting):
                        entry = self._still_true(queued, now)
                        if entry is None:
                            continue
                        if not await self._send(entry, mailer, settings, sent_folder, report):
                            self._all_wait(waiting[n + 1:], entry)
                            break
                finally:
                    await mailer.close()
                for entry in (e for e in copies if e.mailbox == name):
                    await sent_folder.file_copy(entry)
                    self.agent.store.commit()
        self._forget_old_bytes(now)

    def _forget_old_bytes(self, now: datetime) -> None:
        """The database is rewritten at every commit, so it must not grow with every mail ever
        sent: after ``RAW_KEPT_FOR`` a sent mail keeps its record (Message-ID, recipient, state,
        time) and loses its bytes; its copy is in the Sent folder."""
        old = [e for e in self.agent.ledger.in_state(OutboxState.SENT)
               if e.raw and not e.copy_pending and e.sent_at is not None
               and now - e.sent_at > RAW_KEPT_FOR
               and sent_copies_folder(self.agent.settings.mailbox(e.mailbox))]
        for entry in old:
            entry.raw = b""
        if old:
            self.agent.store.commit()

    async def _send(self, entry: OutboxEntry, mailer: Mailer, settings: MailboxSettings,
                    sent_folder: _SentFolder, report: CycleReport) -> bool:
        """One mail, committed before and after; False when the relay is to be left alone."""
        agent = self.agent
        entry.move(OutboxEvent.SEND)
        entry.attempts += 1
        agent.store.commit()
        try:
            await mailer.send(entry.raw, settings.address, [entry.to])
        except TemporarySendError as exc:
            self._retry_later(entry, exc)
            return exc.recipient  # one greylisted recipient: the others may still go
        except PermanentSendError as exc:
            self._refused(entry, exc, report)
            return True
        entry.copy_pending = sent_folder.enabled
        await sent_folder.file_copy(entry)
        entry.move(OutboxEvent.ACCEPTED)
        entry.sent_at = agent.clock()
        agent.store.commit()
        report.sent += 1
        log.info("sent %s %s to %s", entry.kind, entry.message_id, entry.to)
        return True

    def _still_true(self, entry: OutboxEntry, now: datetime) -> OutboxEntry | None:
        """The mail to send for ``entry``: itself while what it says is still true; restated
        when it is late (``promises`` rule 6); None when it is no longer wanted."""
        if entry.deliver_by is None or now < entry.deliver_by:
            return entry
        conversation = self.agent.ledger.conversations.get(entry.conversation_id)
        if conversation is None or conversation.running_promise is None \
                or conversation.status is not Status.WAITING:
            self._supersede(entry, None, "no longer needed: the conversation moved on")
            return None
        try:
            restated = self.agent.restate(conversation, entry, now)
        except TemplateError as exc:
            log.error("%s to %s is late and cannot be restated: %s", entry.kind, entry.to, exc)
            return None
        self._supersede(entry, restated, f"late: restated as {restated.message_id}")
        return restated

    def _supersede(self, entry: OutboxEntry, by: OutboxEntry | None, why: str) -> None:
        """Retire a mail that was never sent; the conversation no longer lists it."""
        entry.move(OutboxEvent.SUPERSEDED)
        entry.last_error = why
        conversation = self.agent.ledger.conversations.get(entry.conversation_id)
        if conversation is not None:
            conversation.sent = [s for s in conversation.sent
                                 if s.message_id != entry.message_id]
        self.agent.store.commit()
        log.warning("%s %s to %s %s", entry.kind, entry.message_id, entry.to,
                    why if by is None else f"was {why}")

    def _all_wait(self, rest: list[OutboxEntry], failed: OutboxEntry) -> None:
        """The relay itself is in trouble: the rest of its mail waits as long as ``failed``
        (not tried, so not counted as attempts)."""
        for entry in rest:
            entry.next_attempt_at = failed.next_attempt_at
        self.agent.store.commit()

    def _retry_later(self, entry: OutboxEntry, exc: TemporarySendError) -> None:
        delay = retry_delay(entry.attempts)
        entry.move(OutboxEvent.DEFERRED)
        entry.last_error = str(exc)
        entry.next_attempt_at = self.agent.clock() + delay
        self.agent.store.commit()
        log.warning("%s to %s not sent yet (attempt %d), next try in %s: %s", entry.kind,
                    entry.to, entry.attempts, _words(delay), exc)

    def _refused(self, entry: OutboxEntry, exc: PermanentSendError,
                 report: CycleReport) -> None:
        now = self.agent.clock()
        entry.move(OutboxEvent.REFUSED)
        entry.last_error = str(exc)
        conversation = self.agent.ledger.conversations.get(entry.conversation_id)
        if conversation is not None:
            conversation.note(now, f"{entry.kind} to {entry.to} refused for good, not "
                              f"retried: {exc}")
        self.agent.store.commit()
        report.failed += 1
        log.error("%s to %s refused for good: %s", entry.kind, entry.to, exc)

    async def _was_sent(self, entry: OutboxEntry, settings: MailboxSettings) -> bool | None:
        """True / False from the Sent folder; None when it cannot be asked now."""
        folder = sent_copies_folder(settings)
        if folder is None:
            return False  # nothing to ask: sending again is the safe side
        mailbox = self.agent.adapters.mailbox(settings)
        try:
            await mailbox.open()
            return await mailbox.has_message_id(folder, entry.message_id)
        except MailboxError as exc:
            log.warning("cannot check the Sent folder for %s yet: %s", entry.message_id, exc)
            return None
        finally:
            await mailbox.close()


class _SentFolder:
    """The IMAP connection copies are filed through, opened only when there is one to file."""

    def __init__(self, agent: Host, settings: MailboxSettings) -> None:
        self.agent = agent
        self.settings = settings
        self.folder = sent_copies_folder(settings)
        self.enabled = self.folder is not None and not agent.store.dry_run
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
        log.warning("%s: copies of sent mail wait for the next cycle: %s", self.settings.name,
                    exc)


def _words(delay: timedelta) -> str:
    seconds = int(delay.total_seconds())
    return f"{seconds // 60} min" if seconds >= 60 else f"{seconds} s"

