"""Incoming mail into the ledger: parse, triage, file, and carry out what the lifecycle says.

Part of the agent layer (with ``cycle`` and ``composing``): it joins the pure core to the
ledger.
Nothing is sent here; mail owed is put in the outbox by ``Agent.queue``.

Mail over ``[agent] max_message_size`` comes from the reader as its header only, with its real
size (the IMAP adapter never fetches its body, to keep the daemon's memory bounded; a mailbox
that hands over the whole message anyway has it cut to its header here, so every reader files
it alike). It is filed from that header, and the reason is recorded: "too large to read: 31.4
MB (max_message_size = 25 MB); left in the mailbox for a person".

Is a too-large mail from a real customer acknowledged? **Yes**, when triage says it would be
at any size. The agent never shows staff a body: they read every mail in the mailbox with their
own client, where this one stays, whole. What the agent adds is the promise, and everything it
decides that on is in the header: who wrote, the Message-ID and references that thread it, the
Auto-Submitted, List-*, Precedence, Return-Path and no-reply signs that mark machine mail
(machine mail is still never answered), the arrival time. Filing it as skipped instead would
punish exactly the customers who send the evidence (a screen recording, logs, photos) with
silence and no promise that anyone chases, and a big reply in a waiting conversation would not
count as the customer writing again. Hosted helpdesks do the same with an oversized
attachment: the ticket is opened and the customer hears back; only the attachment is not taken
in. What is lost without the body is small: an excerpt (no template quotes one) and, for a
bounce, the returned message's Message-ID (a bounce this large is rare, and its header still
marks it as machine mail). The conversation gets a note saying the body was not read, so staff
know to open it in the mailbox; mail that is not answered (machine mail, too old, held back)
carries the reason in ``inbox-agent skipped`` as usual.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime

from inbox_agent import logs
from inbox_agent.adapters.base import FetchedMessage, header_block
from inbox_agent.agent.archiving import TokensTaken, already_archived, bring_back_for
from inbox_agent.agent.context import CycleReport, Host
from inbox_agent.config import MailboxSettings, format_size
from inbox_agent.core.conversations import (
    Conversation,
    FiledMessage,
    Links,
    MailKind,
    Promise,
    Role,
    linked_conversations,
    named_ids,
    new_token,
)
from inbox_agent.core.ledger import SkippedMessage, Undeliverable
from inbox_agent.core.lifecycle import Action, Event, transition
from inbox_agent.core.machine_mail import Identity
from inbox_agent.core.message import InboundEmail, parse
from inbox_agent.core.promises import FIRST_REPLY, WROTE_AGAIN, promise_for
from inbox_agent.core.triage import Context, Decision, Outcome, triage, triage_sent

log = logging.getLogger("inbox_agent")
# Parser defects that mean the message could not be read (not merely an odd header): the bytes
# are kept for a person. Common oddities (8-bit headers, a bad Date) are not kept.
_UNREADABLE = ("unparseable", "empty message", "unreadable MIME tree", "unreadable body")


class Filing:
    """Files the messages of one folder, keeping the ledger's indexes up to date as it goes
    (``ledger.LedgerIndex``: built once, then caught up, never rebuilt per folder)."""

    def __init__(self, agent: Host, mailbox: MailboxSettings, folder: str) -> None:
        self.agent = agent
        self.mailbox = mailbox
        self.folder = folder
        self.is_sent_folder = folder == mailbox.imap.sent_folder
        # The manager an escalation went to answers as staff: their reply ends the wait.
        manager = agent.settings.promise.escalate_to
        self.staff = mailbox.staff | ({manager} if manager else set())
        ledger = agent.ledger
        self.index = ledger.index()
        self.identity_ids = ledger.sent_message_ids()  # grows as conversations come back
        self.identity = Identity(
            addresses=frozenset(m.address for m in agent.settings.mailboxes),
            message_ids=self.identity_ids,
        )
        self.links = Links(
            self.index.received, self.index.named, self.staff | self.identity.addresses
        )

    def file(self, fetched: FetchedMessage, now: datetime, report: CycleReport) -> None:
        """Parse, triage and file one message; the ledger changes, nothing is sent here."""
        report.fetched += 1
        too_large = self._too_large(fetched)
        if too_large is None:
            email = parse(fetched.raw, fetched.arrived_at)
        else:  # filed from its header; the size is the whole message's
            raw = fetched.raw if fetched.headers_only else header_block(fetched.raw)
            email = replace(parse(raw, fetched.arrived_at), size=fetched.full_size)
        if self._archived(email, report):
            return
        decision = self._decide(email, now)
        if decision.outcome is Outcome.DUPLICATE:
            report.duplicates += 1
            return
        if decision.outcome is Outcome.IGNORED:
            # Named by Message-ID (or content hash) and size, never by content.
            log.debug(
                "%s/%s: %s: %s (%d bytes)",
                self.mailbox.name,
                self.folder,
                decision.note,
                email.key,
                email.size,
            )
            return
        note = decision.note
        if too_large is not None and note:
            note = f"{note}; {too_large}"
        filed = FiledMessage(
            email.key,
            email.message_id,
            decision.role,
            email.arrived_at,
            email.from_address,
            email.subject,
            self.folder,
            note,
            named_ids(email),
        )
        if decision.outcome is Outcome.SKIPPED:
            if too_large is None:  # a header alone is not "the bytes" of a broken message
                filed = self._keep_if_broken(email, filed)
            self.agent.ledger.skipped.append(SkippedMessage(email.key, self.mailbox.name, filed))
            self.index.add_skipped(self.agent.ledger.skipped)
            report.skipped += 1
            self._note(report, f"filed without a reply: {filed.note}", "skipped")
            return
        conversation = self._conversation(decision, email)
        self._note_other_links(conversation, email)
        conversation.messages.append(filed)
        self.index.add(conversation)
        if too_large is not None and not note:
            conversation.note(
                email.arrived_at,
                f"the mail from {email.from_address or '?'} "
                f"({email.subject!r}) was filed from its headers, {too_large}",
            )
        self._delivery_news(conversation, decision, email)
        report.filed += 1
        verb = "started" if decision.outcome is Outcome.STARTED else "filed into"
        self._note(
            report,
            f"{verb} [#{conversation.id}] as {decision.role.value} mail"
            + (f", no reply: {note}" if note else "")
            + (f" ({too_large})" if too_large is not None and not note else ""),
            "filed",
            conversation.id,
        )
        if decision.event is not None:
            self._apply(conversation, decision.event, email, now, report)

    def _archived(self, email: InboundEmail, report: CycleReport) -> bool:
        """True when the archive says ``email`` needs nothing (filed before, or our own);
        otherwise the archived conversations it may join are brought back, to be threaded
        and triaged as if they had never left."""
        if email.key in self.index.keys:
            return False  # filed in the live store: triage says "duplicate"
        store = self.agent.store
        why = already_archived(store, email)
        if why is not None:
            report.duplicates += 1
            log.debug("%s/%s: %s: %s", self.mailbox.name, self.folder, why, email.key)
            return True
        for conversation in bring_back_for(store, email, email.arrived_at):
            self.index.add(conversation)
            self.identity_ids.update(s.message_id for s in conversation.sent)
            self._note(
                report,
                f"[#{conversation.id}] brought back from the archive",
                "unarchived",
                conversation.id,
            )
        return False

    def _too_large(self, fetched: FetchedMessage) -> str | None:
        """Why ``fetched`` is filed from its header alone, or None when it is read whole."""
        limit = self.agent.settings.agent.max_message_size
        if not fetched.headers_only and fetched.full_size <= limit:
            return None
        return (
            f"too large to read: {format_size(fetched.full_size)} (max_message_size = "
            f"{format_size(limit)}); left in the mailbox for a person"
        )

    def _keep_if_broken(self, email: InboundEmail, filed: FiledMessage) -> FiledMessage:
        """Mail the parser could not make sense of is kept byte for byte, for a person."""
        broken = [d for d in email.defects if d.startswith(_UNREADABLE)]
        if not broken and (email.from_address or email.message_id):
            return filed
        kept = self.agent.store.keep_raw(email.sha256, email.raw)
        why = "; ".join(broken) or "no sender and no Message-ID"
        note = f"{filed.note} ({why})" + (f"; the bytes are kept in {kept}" if kept else "")
        return replace(filed, note=note)

    def _decide(self, email: InboundEmail, now: datetime) -> Decision:
        try:
            if self.is_sent_folder:
                return triage_sent(email, self._context())
            return triage(email, self._context(), now)
        except Exception as exc:  # one message must never stop the ones after it
            log.exception("could not triage %s; filed without a reply", email.key)
            return Decision(Outcome.SKIPPED, Role.MACHINE, note=f"internal error: {exc!r}")

    def _note(
        self, report: CycleReport, text: str, event: str, conversation: str | None = None
    ) -> None:
        report.notes.append(text)
        log.info(
            "%s: %s",
            self.mailbox.name,
            text,
            extra=logs.fields(event, self.mailbox.name, conversation),
        )

    def _context(self) -> Context:
        agent = self.agent
        return Context(
            self.identity,
            self.staff,
            self.links,
            agent.ledger.conversations,
            self.index.keys,
            agent.settings.calendar,
            agent.settings.promise,
            agent.settings.limits,
            self.index.sent_to,
            self.index.by_customer,
        )

    def _note_other_links(self, conversation: Conversation, email: InboundEmail) -> None:
        """A message whose Message-IDs lead to other conversations too joins one of them only
        (``conversations``: never merged automatically); both sides say so, for a person."""
        conversations = self.agent.ledger.conversations
        for other in linked_conversations(email, self.links, conversations):
            if other == conversation.id:
                continue
            who = email.from_address or "?"
            conversation.note(
                email.arrived_at,
                f"the mail from {who} ({email.subject!r}) "
                f"also answers mail of [#{other}]; filed here only",
            )
            conversations[other].note(
                email.arrived_at,
                f"the mail from {who} "
                f"({email.subject!r}) answers mail of this conversation "
                f"too; filed in [#{conversation.id}]",
            )

    def _delivery_news(
        self, conversation: Conversation, decision: Decision, email: InboundEmail
    ) -> None:
        """A bounce marks the addresses it names undeliverable; the customer writing again
        shows their address works, and clears the mark."""
        undeliverable = self.agent.ledger.undeliverable
        for address in decision.undeliverable:
            undeliverable[address] = Undeliverable(
                address, email.arrived_at, conversation.id, decision.note
            )
            conversation.note(
                email.arrived_at,
                f"mail to {address} bounced: no automatic mail goes there until they write again",
            )
        if decision.role is Role.CUSTOMER and email.customer_address in undeliverable:
            del undeliverable[email.customer_address]
            conversation.note(
                email.arrived_at,
                f"{email.customer_address} wrote again: automatic mail to it resumes",
            )

    def _conversation(self, decision: Decision, email: InboundEmail) -> Conversation:
        conversations = self.agent.ledger.conversations
        if decision.conversation_id is not None:
            return conversations[decision.conversation_id]
        offset = email.date.utcoffset() if email.date else None
        offset_minutes = None if offset is None else int(offset.total_seconds()) // 60
        conversation = Conversation(
            id=new_token(email.key, TokensTaken(self.agent.store)),
            mailbox=self.mailbox.name,
            customer=email.customer_address or "",
            customer_name=email.from_name,
            subject=email.subject,
            created_at=email.arrived_at,
            customer_utc_offset_minutes=offset_minutes,
            language=email.content_language,
        )
        conversations[conversation.id] = conversation
        return conversation

    def _apply(
        self,
        conversation: Conversation,
        event: Event,
        email: InboundEmail,
        now: datetime,
        report: CycleReport,
    ) -> None:
        conversation.status, actions = transition(conversation.status, event)
        for action in actions:
            if action is Action.END_PROMISE:
                conversation.settle(email.arrived_at)
            elif action is Action.PROMISE:
                self._promise(conversation, email, now)
            elif action is Action.KEEP_PROMISE and conversation.running_promise is None:
                # Waiting, but the last promise ran out unchased (no manager to escalate to,
                # or the manager's lapsed): the customer writing again gets a new one.
                self._promise(conversation, email, now)
            elif action is Action.ACKNOWLEDGE and self.agent.queue(
                conversation, MailKind.ACKNOWLEDGEMENT, conversation.customer, now
            ):
                self.index.add(conversation)
                report.queued += 1

    def _promise(self, conversation: Conversation, email: InboundEmail, now: datetime) -> None:
        settings = self.agent.settings
        conversation.settle(email.arrived_at)
        conversation.snoozed_until = None  # a new promise is a fresh start
        due = promise_for(email.arrived_at, now, settings.calendar, settings.promise)
        reason = WROTE_AGAIN if conversation.promises else FIRST_REPLY
        conversation.promises.append(Promise(made_at=now, due=due, reason=reason))
