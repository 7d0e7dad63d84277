"""The sweep: what every running promise calls for now, carried out.

Part of the agent layer. ``core.promises`` decides what a conversation is owed (a follow-up, an
escalation, or a promise to record as missed); this module checks whether a circuit breaker
holds it (``core.breakers``: a bounce, too much mail, a suspected slow autoresponder) and
carries it out: the promise extended, the mail composed and recorded in the outbox. Deadlines
live in the store, so a restart loses none.

A chase is worked out on a copy of the conversation first: only when its mail composes is the
conversation changed (its status through the lifecycle's table, the promise settled, the new
one made). A template that does not render changes nothing; the chase stays due, and the
mistake is logged once.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator
from datetime import UTC, datetime

from inbox_agent.agent.composing import Composed, describe
from inbox_agent.agent.context import CycleReport, Host
from inbox_agent.core.breakers import Sent, held_back, slow_responder
from inbox_agent.core.conversations import Conversation, MailKind, Promise
from inbox_agent.core.conversations import Outcome as PromiseOutcome
from inbox_agent.core.ledger import Ledger, LedgerIndex, OutboxState
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
    follow_up_reason,
    lapsed,
    next_chase_at,
    nobody_will_chase,
)
from inbox_agent.core.triage import customer_writing
from inbox_agent.errors import TemplateError

log = logging.getLogger("inbox_agent")


class SweepIndex:
    """The ledger's index (our automatic mail and the conversations, by address), fetched
    only when a chase is due: catching it up walks every conversation, which a sweep with
    nothing due must not do. Kept current as the sweep queues mail."""

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
        return [conversations[c] for c in self.index.by_customer.get(address, ())
                if c in conversations]

    def chased(self, conversation: Conversation) -> None:
        """``conversation`` has new mail queued: count it from now on."""
        if self._index is not None:
            self._index.add(conversation)


class Chasing:
    """The sweep over every running promise, for one agent."""

    def __init__(self, agent: Host) -> None:
        self.agent = agent
        # conversation -> (what its moment depends on, the first moment the sweep has work
        # there): an index of due moments, so a sweep over 10,000 promises stays cheap.
        self._attention: dict[str, tuple[tuple[object, ...], datetime | None]] = {}

    def sweep(self, now: datetime, report: CycleReport) -> None:
        """Queue what promises about to slip call for; record promises that lapsed unchased."""
        lookups = SweepIndex(self.agent.ledger)
        for conversation, due, hold in self.chases(now, lookups):
            if due is not None and hold is not None:
                if conversation.note(now, hold):
                    log.warning("[#%s] %s", conversation.id, hold)
            elif due is not None:
                self._chase(conversation, due, now, report, lookups)
                lookups.chased(conversation)
            elif nobody_will_chase(conversation, self.agent.settings.promise) \
                    and lapsed(conversation, now):
                self._record_missed(conversation)

    def any_ready(self, now: datetime) -> bool:
        """True when a chase is owed now and nothing holds it."""
        return any(due is not None and hold is None
                   for _, due, hold in self.chases(now, SweepIndex(self.agent.ledger)))

    def next_chase(self) -> datetime | None:
        """The earliest moment a follow-up or escalation becomes owed, from the store."""
        settings = self.agent.settings
        moments = [moment for c in self.agent.ledger.conversations.values()
                   if (moment := next_chase_at(c, settings.calendar, settings.promise))
                   is not None]
        return min(moments, key=lambda m: m.astimezone(UTC)) if moments else None

    def chases(self, now: datetime, lookups: SweepIndex) -> Iterator[
            tuple[Conversation, ChaseDue | None, str | None]]:
        """Every conversation that needs the sweep now, with the chase it is owed (or None:
        perhaps a lapse to record) and why that must wait (or None). A conversation whose last
        mail to the customer has not gone out yet (or is still owed: its template does not
        render) is left out: that mail goes first, restated if it is late."""
        settings = self.agent.settings
        unsent = {e.conversation_id for e in self.agent.ledger.outbox.values()
                  if e.state in (OutboxState.PENDING, OutboxState.SENDING)
                  and e.kind != ESCALATION}
        for conversation in list(self.agent.ledger.conversations.values()):
            moment = self._attention_at(conversation)
            if moment is None or now.astimezone(UTC) < moment.astimezone(UTC):
                continue  # nothing to chase or record here yet: the common case, cheaply
            due = chase_due(conversation, now, settings.calendar, settings.promise)
            if due is not None and (conversation.id in unsent or conversation.owed):
                continue
            hold = None if due is None else self._hold(conversation, due, now, lookups)
            yield conversation, due, hold

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

    def _hold(self, conversation: Conversation, due: ChaseDue, now: datetime,
              lookups: SweepIndex) -> str | None:
        """Why a chase owed in ``conversation`` must not go out now, if it must not. An
        escalation to a suspected slow autoresponder still goes: the manager's report is not
        customer mail (``_escalation_mails`` leaves out the customer's notice)."""
        bounced = self.agent.ledger.undeliverable.get(conversation.customer)
        if bounced is not None:
            return (f"follow-up not sent: mail to {bounced.address} bounced on "
                    f"{bounced.since:%a %d %b %H:%M}; a person must reach them another way")
        reason = held_back(conversation.customer, conversation.id, now,
                           lookups.sent_to(conversation.customer), self.agent.settings.limits)
        if reason is None and due.chase is Chase.FOLLOW_UP:
            robot = self._slow_responder(conversation.customer, now, lookups)
            reason = None if robot is None else f"held back: {robot}"
        return None if reason is None else f"follow-up {reason}"

    def _slow_responder(self, address: str, now: datetime, lookups: SweepIndex) -> str | None:
        """``breakers`` rule 4 for ``address``, from the ledger's index."""
        ours = lookups.sent_to(address)
        if not ours:
            return None
        wrote = customer_writing(lookups.conversations_of(address), address)
        return slow_responder(address, now, ours, wrote, self.agent.settings.limits)

    def _record_missed(self, conversation: Conversation) -> None:
        promise = conversation.running_promise
        assert promise is not None  # lapsed() checked it
        conversation.settle(promise.due, PromiseOutcome.MISSED)
        log.warning("[#%s] the promise to %s lapsed at %s", conversation.id,
                    conversation.customer, promise.due.isoformat())

    def _chase(self, conversation: Conversation, due: ChaseDue, now: datetime,
               report: CycleReport, lookups: SweepIndex) -> None:
        """Extend the promise and queue the mails, or, if a template fails, change nothing:
        the chase stays due and is tried again on the next sweep."""
        chased = copy.deepcopy(conversation)  # the chase is tried here first
        mails = self._chase_mails(chased, due, now, lookups)
        problem = f"template for {conversation.id}"
        if isinstance(mails, TemplateError):
            self.agent.report_once(problem, f"[#{conversation.id}] {mails}; the follow-up is "
                                   "sent once the template renders")
            return
        self.agent.reported_problems.discard(problem)
        conversation.status = chased.status
        conversation.promises, conversation.notes = chased.promises, chased.notes
        for mail in mails:
            self.agent.record(conversation, mail, now)
        report.queued += len(mails)
        report.notes.append(f"[#{conversation.id}] {conversation.promises[-1].reason}"
                            + (" (the promise had lapsed)" if due.lapsed else "")
                            + f"; new promise {due.new_due:%a %d %b %H:%M}")

    def _chase_mails(self, conversation: Conversation, due: ChaseDue, now: datetime,
                     lookups: SweepIndex) -> list[Composed] | TemplateError:
        """Settle the running promise, make the new one, and compose what tells of it."""
        conversation.status, _ = transition(conversation.status, Event.CHASE_DUE)
        previous = conversation.running_promise
        assert previous is not None  # chase_due only answers for a running promise
        extra = {"promise_missed": due.lapsed, "follow_up_number": due.follow_up_number,
                 "previous_promise_text": describe(self.agent.settings, conversation,
                                                   previous.due, now)}
        conversation.settle(now, PromiseOutcome.MISSED if due.lapsed
                            else PromiseOutcome.EXTENDED)
        follow_up = due.chase is Chase.FOLLOW_UP
        reason = follow_up_reason(due.follow_up_number) if follow_up else ESCALATED
        conversation.promises.append(Promise(made_at=now, due=due.new_due, reason=reason))
        if follow_up:
            wanted, robot = [(FOLLOW_UP, conversation.customer)], None
        else:
            wanted, robot = self._escalation_mails(conversation, now, lookups)
        try:
            mails = [self.agent.composer.compose(conversation, kind, to, now, extra)
                     for kind, to in wanted]
        except TemplateError as exc:
            return exc
        if robot is not None:
            conversation.note(now, f"escalation notice held back: {robot}")
        return mails

    def _escalation_mails(self, conversation: Conversation, now: datetime,
                          lookups: SweepIndex) -> tuple[list[tuple[MailKind, str]], str | None]:
        """The report to the manager and the notice to the customer (kind, to); the notice
        is left out, with the reason, for a suspected slow autoresponder (it would echo it)."""
        report = (ESCALATION, str(self.agent.settings.promise.escalate_to))
        robot = self._slow_responder(conversation.customer, now, lookups)
        if robot is not None:
            return [report], robot
        return [report, (ESCALATION_NOTICE, conversation.customer)], None
