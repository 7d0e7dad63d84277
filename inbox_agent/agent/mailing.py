"""The agent's own mail: composed, recorded in the outbox, restated when late, owed when its
template does not render.

Part of the agent layer (with ``cycle``, ``filing``, ``chasing``, ``composing`` and
``delivery``): every mail the agent makes is composed here (``composing`` has the bytes) and
recorded in the outbox and on its conversation before it is sent. This is the one place a
:class:`TemplateError` is handled, so what a template that does not render does is said once:

- a mail filing or the sweep asks for (``queue``) stays owed on its conversation
  (``Conversation.owed``, noted once for staff, logged once); filing goes on, and each sweep
  composes what is owed once the template renders (``compose_owed``). ``run --once`` still
  exits 1 (``take_owing``).
- a change that a mail tells of (a chase's new promise, a late mail's restated one) is tried
  on a copy of the conversation first, and made only when its mails compose: a template that
  fails changes nothing, and the mail stays due, logged once (``compose_all``, ``restate``).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol

from inbox_agent import logs
from inbox_agent.agent.composing import Composed, Composer
from inbox_agent.config import Settings
from inbox_agent.core.conversations import Conversation, MailKind, SentMail
from inbox_agent.core.ledger import Ledger, OutboxEntry
from inbox_agent.core.promises import (
    chase_moment,
    current_wait,
    deliver_by,
    follow_ups_in,
    last_told,
    restated_due,
)
from inbox_agent.errors import TemplateError

log = logging.getLogger("inbox_agent")
RESTATED = " (restated: our mail was late)"  # added to the reason of a promise restated

Change = Callable[[Conversation], None]  # what a mail tells of, made to its conversation
Wanted = Sequence[tuple[MailKind, str]]  # the mails to compose: (kind, to)


class Desk(Protocol):
    """What mailing uses of the agent: its settings, the ledger, and its log of problems
    reported once until they clear."""

    settings: Settings
    reported_problems: set[str]

    @property
    def ledger(self) -> Ledger:
        """The store's in-memory state."""
        ...

    def report_once(self, key: str, problem: str, level: int = logging.ERROR) -> None:
        """Log a problem the first time it is seen, not at every cycle until it clears."""


class Mailing:
    """Composes, records and restates the agent's mail, for one agent."""

    def __init__(self, desk: Desk, composer: Composer) -> None:
        self.desk = desk
        self.composer = composer
        # Mail left owed since the last take_owing: (conversation, kind) -> why.
        self._owing: dict[tuple[str, MailKind], TemplateError] = {}

    def queue(
        self,
        conversation: Conversation,
        kind: MailKind,
        to: str,
        now: datetime,
        extra: dict[str, Any] | None = None,
    ) -> bool:
        """Compose a mail and record it in the outbox; False when its template does not
        render (broken before the agent started, so no last good version): then it stays
        owed on the conversation, and a later sweep composes it once the template renders."""
        mails = self._composed(conversation, [(kind, to)], now, extra)
        if isinstance(mails, TemplateError):
            self._owe(conversation, kind, now, mails)
            return False
        self.record(conversation, mails[0], now)
        return True

    def compose_owed(self, now: datetime) -> int:
        """Mail owed because its template did not render, recorded now if it renders; how
        many were."""
        queued = 0
        for conversation in self.desk.ledger.conversations.values():
            for kind in list(conversation.owed):
                if self._compose_one_owed(conversation, kind, now):
                    queued += 1
        return queued

    def take_owing(self) -> list[TemplateError]:
        """Why mail was left owed since the last call (``run --once`` exits 1 for it)."""
        owing, self._owing = list(self._owing.values()), {}
        return owing

    def compose_all(
        self,
        conversation: Conversation,
        wanted: Wanted,
        now: datetime,
        extra: dict[str, Any] | None = None,
        change: Change | None = None,
    ) -> list[Composed] | None:
        """The mails ``wanted``, composed as ``conversation`` is once ``change`` is made to
        it; the change is made only if they all compose. None when a template fails: nothing
        changed, the mails stay due, and the mistake is logged once."""
        mails = (
            self._composed(conversation, wanted, now, extra)
            if change is None
            else self._composed_after(conversation, change, wanted, now, extra)
        )
        problem = f"template for {conversation.id}"
        if isinstance(mails, TemplateError):
            what = wanted[0][0].replace("_", "-")
            self.desk.report_once(
                problem,
                f"[#{conversation.id}] {mails}; the {what} is sent once the template renders",
            )
            return None
        self.desk.reported_problems.discard(problem)
        return mails

    def record(
        self,
        conversation: Conversation,
        mail: Composed,
        now: datetime,
        send_by: datetime | None = None,
    ) -> OutboxEntry:
        """Put a composed mail in the outbox and on the conversation, before it is sent;
        ``send_by`` is when it stops being true (``promises.deliver_by`` unless given)."""
        settings = self.desk.settings
        entry = self.desk.ledger.outbox[mail.message_id] = OutboxEntry(
            message_id=mail.message_id,
            conversation_id=conversation.id,
            mailbox=conversation.mailbox,
            kind=mail.kind,
            to=mail.to,
            raw=mail.raw,
            created_at=now,
            deliver_by=send_by
            or deliver_by(conversation, mail.kind, settings.calendar, settings.promise),
        )
        conversation.sent.append(SentMail(mail.message_id, mail.kind, mail.to, now))
        log.info(
            "queued %s %s for %s",
            mail.kind,
            mail.message_id,
            mail.to,
            extra=logs.fields("queued", conversation.mailbox, conversation.id),
        )
        return entry

    def restate(
        self, conversation: Conversation, late: OutboxEntry, now: datetime
    ) -> OutboxEntry | None:
        """A late mail composed again (``promises`` rule 6): the promise it was to tell, never
        told, is moved to count from ``now``, and the mail says it comes late. None when its
        template does not render: nothing changes, the late mail stays in the outbox unsent,
        and it is tried again at the next drain (logged once)."""
        settings = self.desk.settings
        due = restated_due(late.kind, now, settings.calendar, settings.promise)
        extra = self._late_extra(conversation, late, now)
        problem = f"restate {late.message_id}"
        mails = self._composed_after(
            conversation, _restated(due), [(late.kind, late.to)], now, extra
        )
        if isinstance(mails, TemplateError):
            self.desk.report_once(
                problem, f"{late.kind} to {late.to} is late and cannot be restated: {mails}"
            )
            return None
        self.desk.reported_problems.discard(problem)
        # It now states a promise of its own: true until that promise's follow-up moment.
        send_by = chase_moment(due, settings.calendar, settings.promise)
        return self.record(conversation, mails[0], now, send_by)

    def _late_extra(
        self, conversation: Conversation, late: OutboxEntry, now: datetime
    ) -> dict[str, Any]:
        """What a restated mail's template is told: it is late, and for a follow-up or
        notice, whether the promise the customer was last told has passed by now (that
        promise's moment ``composing.template_data`` finds on the conversation)."""
        extra: dict[str, Any] = {"delivery_late": True}
        told = last_told(conversation)
        if late.kind == MailKind.ACKNOWLEDGEMENT or told is conversation.running_promise:
            return extra
        return extra | {
            "promise_missed": now >= told.due,
            "follow_up_number": follow_ups_in(current_wait(conversation)),
        }

    def _compose_one_owed(self, conversation: Conversation, kind: MailKind, now: datetime) -> bool:
        mails = self._composed(
            conversation, [(kind, self._recipient(conversation, kind))], now, None
        )
        if isinstance(mails, TemplateError):
            self._owe(conversation, kind, now, mails)  # logged once; tried next sweep
            return False
        conversation.owed.remove(kind)
        self.desk.reported_problems.discard(f"owed {kind}")
        self.record(conversation, mails[0], now)
        return True

    def _owe(
        self, conversation: Conversation, kind: MailKind, now: datetime, problem: TemplateError
    ) -> None:
        if kind not in conversation.owed:
            conversation.owed.append(kind)
            conversation.note(
                now,
                f"{kind} not sent yet: its template does not render; it goes as soon as it does",
            )
        self.desk.report_once(f"owed {kind}", problem.one_line())
        self._owing[conversation.id, kind] = problem

    def _recipient(self, conversation: Conversation, kind: MailKind) -> str:
        manager = self.desk.settings.promise.escalate_to
        return manager if kind is MailKind.ESCALATION and manager else conversation.customer

    def _composed_after(
        self,
        conversation: Conversation,
        change: Change,
        wanted: Wanted,
        now: datetime,
        extra: dict[str, Any] | None,
    ) -> list[Composed] | TemplateError:
        """``_composed`` on a copy changed by ``change``; the change is made to
        ``conversation`` itself only if every mail composed."""
        trial = copy.deepcopy(conversation)
        change(trial)
        mails = self._composed(trial, wanted, now, extra)
        if not isinstance(mails, TemplateError):
            change(conversation)
        return mails

    def _composed(
        self,
        conversation: Conversation,
        wanted: Wanted,
        now: datetime,
        extra: dict[str, Any] | None,
    ) -> list[Composed] | TemplateError:
        """Every mail of ``wanted``, or the mistake of the first template that failed: the
        one place in the agent layer a template error is caught."""
        try:
            return [
                self.composer.compose(conversation, kind, to, now, extra) for kind, to in wanted
            ]
        except TemplateError as exc:
            return exc


def _restated(due: datetime) -> Change:
    """The change a restated mail tells of: the running promise counts from now."""

    def change(conversation: Conversation) -> None:
        running = conversation.running_promise
        assert running is not None  # the caller checked
        running.due = due
        running.reason += RESTATED

    return change
