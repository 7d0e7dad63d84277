"""Incoming mail into the ledger: parse, triage, file, and carry out what the lifecycle says.

Part of the app layer (with ``app`` and ``composer``): it joins the pure core to the ledger.
Nothing is sent here; mail owed is put in the outbox by ``Agent.queue``.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from inbox_agent.adapters.base import FetchedMessage
from inbox_agent.adapters.store import SkippedMessage, Undeliverable, to_customers
from inbox_agent.config import MailboxSettings
from inbox_agent.core.conversations import (
    Conversation,
    FiledMessage,
    Promise,
    Role,
    new_token,
)
from inbox_agent.core.lifecycle import Action, Event, transition
from inbox_agent.core.machine_mail import Identity
from inbox_agent.core.message import InboundEmail, parse
from inbox_agent.core.promises import FIRST_REPLY, WROTE_AGAIN, promise_for
from inbox_agent.core.triage import Context, Decision, Outcome, triage, triage_sent

if TYPE_CHECKING:
    from inbox_agent.app import Agent, CycleReport

log = logging.getLogger("inbox_agent")
# Parser defects that mean the message could not be read (not merely an odd header): the bytes
# are kept for a person. Common oddities (8-bit headers, a bad Date) are not kept.
_UNREADABLE = ("unparseable", "empty message", "unreadable MIME tree", "unreadable body")


class Filing:
    """Files the messages of one folder, keeping the indexes triage needs up to date."""

    def __init__(self, agent: Agent, mailbox: MailboxSettings, folder: str) -> None:
        self.agent = agent
        self.mailbox = mailbox
        self.folder = folder
        self.is_sent_folder = folder == mailbox.imap.sent_folder
        # The manager an escalation went to answers as staff: their reply ends the wait.
        manager = agent.settings.promise.escalate_to
        self.staff = mailbox.staff | ({manager} if manager else set())
        ledger = agent.ledger
        self.by_message_id = ledger.by_message_id()
        self.known_keys = ledger.known_keys()
        self.identity = Identity(
            addresses=frozenset(m.address for m in agent.settings.mailboxes),
            message_ids=ledger.sent_message_ids(),
        )
        self.mail_to_customers = ledger.mail_to_customers()  # grows as this folder is filed

    def file(self, fetched: FetchedMessage, now: datetime, report: CycleReport) -> None:
        """Parse, triage and file one message; the ledger changes, nothing is sent here."""
        report.fetched += 1
        email = parse(fetched.raw, fetched.arrived_at)
        decision = self._decide(email, now)
        if decision.outcome is Outcome.DUPLICATE:
            report.duplicates += 1
            return
        if decision.outcome is Outcome.IGNORED:
            log.debug("%s/%s: %s: %s", self.mailbox.name, self.folder, decision.note, email.key)
            return
        self.known_keys.add(email.key)
        filed = FiledMessage(email.key, email.message_id, decision.role, email.arrived_at,
                             email.from_address, email.subject, self.folder, decision.note)
        if decision.outcome is Outcome.SKIPPED:
            filed = self._keep_if_broken(email, filed)
            self.agent.ledger.skipped.append(SkippedMessage(email.key, self.mailbox.name, filed))
            report.skipped += 1
            self._note(report, f"filed without a reply: {decision.note}")
            return
        conversation = self._conversation(decision, email)
        conversation.messages.append(filed)
        self._delivery_news(conversation, decision, email)
        self.by_message_id[email.key] = conversation.id
        report.filed += 1
        verb = "started" if decision.outcome is Outcome.STARTED else "filed into"
        self._note(report, f"{verb} [#{conversation.id}] as {decision.role.value} mail"
                   + (f", no reply: {decision.note}" if decision.note else ""))
        if decision.event is not None:
            self._apply(conversation, decision.event, email, now, report)

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

    def _note(self, report: CycleReport, text: str) -> None:
        report.notes.append(text)
        log.info("%s: %s", self.mailbox.name, text)

    def _context(self) -> Context:
        agent = self.agent
        return Context(self.identity, self.staff, self.by_message_id,
                       agent.ledger.conversations, self.known_keys,
                       agent.settings.calendar, agent.settings.promise,
                       agent.settings.limits, self.mail_to_customers)

    def _delivery_news(self, conversation: Conversation, decision: Decision,
                       email: InboundEmail) -> None:
        """A bounce marks the addresses it names undeliverable; the customer writing again
        shows their address works, and clears the mark."""
        undeliverable = self.agent.ledger.undeliverable
        for address in decision.undeliverable:
            undeliverable[address] = Undeliverable(address, email.arrived_at, conversation.id,
                                                   decision.note)
            conversation.note(email.arrived_at, f"mail to {address} bounced: no automatic mail "
                              "goes there until they write again")
        if decision.role is Role.CUSTOMER and email.customer_address in undeliverable:
            del undeliverable[email.customer_address]
            conversation.note(email.arrived_at, f"{email.customer_address} wrote again: "
                              "automatic mail to it resumes")

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
            customer_utc_offset_minutes=offset_minutes, language=email.content_language,
        )
        conversations[conversation.id] = conversation
        return conversation

    def _apply(self, conversation: Conversation, event: Event, email: InboundEmail,
               now: datetime, report: CycleReport) -> None:
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
            elif action is Action.ACKNOWLEDGE:
                self.agent.queue(conversation, "acknowledgement", conversation.customer, now)
                for sent in conversation.sent[-1:]:
                    self.by_message_id[sent.message_id] = conversation.id
                self.mail_to_customers += to_customers(conversation, conversation.sent[-1:])
                report.queued += 1

    def _promise(self, conversation: Conversation, email: InboundEmail, now: datetime) -> None:
        settings = self.agent.settings
        conversation.settle(email.arrived_at)
        conversation.snoozed_until = None  # a new promise is a fresh start
        due = promise_for(email.arrived_at, now, settings.calendar, settings.promise)
        reason = WROTE_AGAIN if conversation.promises else FIRST_REPLY
        conversation.promises.append(Promise(made_at=now, due=due, reason=reason))
