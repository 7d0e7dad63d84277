"""The sweep carried out: what every running promise calls for now.

Part of the agent layer. ``core.sweep`` decides (a chase to send, a chase held by a bounce or
a circuit breaker, a lapse to record); this module gathers what it decides from and carries
the decisions out: the note for staff, the promise recorded as missed, or the chase, whose
mails ``mailing`` composes on a copy of the conversation first. Only when they compose is the
conversation changed (``sweep.apply_chase``) and the mails recorded in the outbox; a template
that does not render changes nothing, the chase stays due, and the mistake is logged once.
Deadlines live in the store, so a restart loses none.

A sweep must stay cheap (the daemon runs one every 30 s, bench/sweep.py measures 10,000 open
promises): each conversation's moment of attention is remembered until it changes, so only
the conversations whose moment has come are handed to ``core.sweep``, and the ledger's index
the breakers read is fetched only when one of them has a chase due.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from inbox_agent import logs
from inbox_agent.agent.context import CycleReport, Host
from inbox_agent.core.breakers import Sent
from inbox_agent.core.conversations import Conversation
from inbox_agent.core.conversations import Outcome as PromiseOutcome
from inbox_agent.core.ledger import Ledger, LedgerIndex, OutboxState
from inbox_agent.core.promises import (
    ESCALATION,
    ChaseDue,
    attention_at,
    attention_key,
    next_chase_at,
)
from inbox_agent.core.sweep import (
    Decision,
    Hold,
    Lookups,
    RecordLapse,
    Rules,
    SendChase,
    apply_chase,
    decide,
)
from inbox_agent.core.wording import local_moment

log = logging.getLogger("inbox_agent")


class SweepIndex:
    """The ledger's index (our automatic mail and the conversations, by address), fetched
    only when a chase is due: catching it up walks every conversation, which a sweep with
    nothing due must not do."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._index: LedgerIndex | None = None

    @property
    def index(self) -> LedgerIndex:
        """The ledger's index, caught up once per sweep."""
        if self._index is None:
            self._index = self._ledger.index()
        return self._index

    def sent_to(self, address: str) -> list[Sent]:
        """The automatic mail to ``address``, as the breakers count it."""
        return self.index.sent_to.get(address, [])

    def conversations_of(self, address: str) -> list[Conversation]:
        """The conversations ``address`` is the customer of."""
        conversations = self._ledger.conversations
        return [
            conversations[c] for c in self.index.by_customer.get(address, ()) if c in conversations
        ]


class Chasing:
    """The sweep over every running promise, for one agent."""

    def __init__(self, agent: Host) -> None:
        self.agent = agent
        # conversation -> (what its moment depends on, the first moment the sweep has work
        # there): an index of due moments, so a sweep over 10,000 promises stays cheap.
        self._attention: dict[str, tuple[tuple[object, ...], datetime | None]] = {}

    def sweep(self, now: datetime, report: CycleReport) -> None:
        """Queue what promises about to slip call for; record promises that lapsed unchased."""
        for decision in self.decisions(now):
            conversation = self.agent.ledger.conversations[decision.conversation_id]
            if isinstance(decision, SendChase):
                self._chase(conversation, decision, now, report)
            elif isinstance(decision, Hold):
                if conversation.note(now, decision.reason):
                    log.warning(
                        "[#%s] %s",
                        conversation.id,
                        decision.reason,
                        extra=logs.fields("held", conversation.mailbox, conversation.id),
                    )
            else:
                self._record_missed(conversation, decision)

    def any_ready(self, now: datetime) -> bool:
        """True when a chase is owed now and nothing holds it."""
        return any(isinstance(d, SendChase) for d in self.decisions(now))

    def next_chase(self) -> datetime | None:
        """The earliest moment a follow-up or escalation becomes owed, from the store."""
        settings = self.agent.settings
        moments = [
            moment
            for c in self.agent.ledger.conversations.values()
            if (moment := next_chase_at(c, settings.calendar, settings.promise)) is not None
        ]
        return min(moments, key=lambda m: m.astimezone(UTC)) if moments else None

    def decisions(self, now: datetime) -> list[Decision]:
        """What ``core.sweep`` decides at ``now``, for the conversations whose moment of
        attention has come (none, the common case, costs a pass over remembered moments)."""
        ledger, settings = self.agent.ledger, self.agent.settings
        if len(self._attention) > len(ledger.conversations):  # some were archived
            self._attention = {
                c: known for c, known in self._attention.items() if c in ledger.conversations
            }
        utc = now.astimezone(UTC)
        attention = [
            c
            for c in list(ledger.conversations.values())
            if (moment := self._attention_at(c)) is not None and utc >= moment.astimezone(UTC)
        ]
        if not attention:
            return []
        index = SweepIndex(ledger)
        return decide(
            attention,
            self._unsent(),
            now,
            Rules(settings.calendar, settings.promise, settings.limits),
            Lookups(ledger.undeliverable, index.sent_to, index.conversations_of),
        )

    def _unsent(self) -> set[str]:
        """The conversations whose last mail to the customer has not gone out yet."""
        return {
            e.conversation_id
            for e in self.agent.ledger.outbox.values()
            if e.state in (OutboxState.PENDING, OutboxState.SENDING) and e.kind != ESCALATION
        }

    def _attention_at(self, conversation: Conversation) -> datetime | None:
        """``promises.attention_at``, worked out again only when the conversation changed."""
        key = attention_key(conversation)
        known = self._attention.get(conversation.id)
        if known is not None and known[0] == key:
            return known[1]
        settings = self.agent.settings
        moment = attention_at(conversation, settings.calendar, settings.promise)
        self._attention[conversation.id] = (key, moment)
        return moment

    def _record_missed(self, conversation: Conversation, lapse: RecordLapse) -> None:
        conversation.settle(lapse.due, PromiseOutcome.MISSED)
        log.warning(
            "[#%s] the promise to %s lapsed at %s",
            conversation.id,
            conversation.customer,
            local_moment(lapse.due, self.agent.settings.calendar.timezone),
            extra=logs.fields("lapsed", conversation.mailbox, conversation.id),
        )

    def _chase(
        self, conversation: Conversation, chase: SendChase, now: datetime, report: CycleReport
    ) -> None:
        """Extend the promise and queue the mails, or, if a template fails, change nothing:
        the chase stays due and is tried again on the next sweep."""

        def change(chased: Conversation) -> None:
            apply_chase(chased, chase.due, now)
            if chase.note is not None:
                chased.note(now, chase.note)

        mailing = self.agent.mailing
        mails = mailing.compose_all(conversation, chase.mails, now, self._extra(chase.due), change)
        if mails is None:
            return
        for mail in mails:
            mailing.record(conversation, mail, now)
        report.queued += len(mails)
        new_promise = local_moment(chase.due.new_due, self.agent.settings.calendar.timezone)
        report.notes.append(
            f"[#{conversation.id}] {conversation.promises[-1].reason}"
            + (" (the promise had lapsed)" if chase.due.lapsed else "")
            + f"; new promise {new_promise}"
        )

    @staticmethod
    def _extra(due: ChaseDue) -> dict[str, Any]:
        """What a chase's templates are told of the promise it extends (its moment, in each
        mail's own language, ``composing.template_data`` finds on the conversation)."""
        return {"promise_missed": due.lapsed, "follow_up_number": due.follow_up_number}
