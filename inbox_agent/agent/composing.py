"""The mails the agent writes: template data, threading headers and the finished bytes.

Every mail is composed here, whatever prompted it (a new customer, a promise about to slip, an
escalation), so every one carries the same contract headers (``rendering.build_message``) and
the same threading: ``In-Reply-To`` the customer's latest message, ``References`` the
conversation so far.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from email import policy
from typing import Any

import jinja2

from inbox_agent.adapters.templates import TemplatesFolder
from inbox_agent.config import MailboxSettings, Settings
from inbox_agent.core import rendering, wording
from inbox_agent.core.business_time import (
    add_business_time,
    business_minutes_between,
    subtract_business_time,
)
from inbox_agent.core.calendar_words import language_of
from inbox_agent.core.conversations import (
    Conversation,
    FiledMessage,
    MailKind,
    Outcome,
    Promise,
    Role,
    subject_with_token,
)
from inbox_agent.core.durations import duration_words, relative_words
from inbox_agent.core.lifecycle import Status
from inbox_agent.core.promises import (
    ESCALATED,
    FIRST_REPLY,
    current_wait,
    first_reply_due,
    follow_up_reason,
    follow_ups_in,
    promised_moment,
)
from inbox_agent.core.text import one_line
from inbox_agent.errors import TemplateError

log = logging.getLogger("inbox_agent")
MAX_REFERENCES = 10  # enough for every client to thread; long chains only bloat the header
MAX_NAME_CHARS = 100  # a name longer than this is not one a person wrote to be read


@dataclass(frozen=True)
class Composed:
    """A finished mail, ready for the outbox."""

    message_id: str
    kind: MailKind
    to: str
    raw: bytes


class Composer:
    """Renders a template for a conversation into a mail."""

    def __init__(self, settings: Settings, templates: jinja2.BaseLoader | None = None) -> None:
        self.settings = settings
        loader = templates or TemplatesFolder(settings.agent.templates_dir)
        self.env = rendering.make_environment(loader, wording.template_filters(settings.calendar))
        self.templates = rendering.Templates(self.env, stopwatch=time.monotonic)
        self._reported: dict[str, str] = {}

    def compose(
        self,
        conversation: Conversation,
        kind: MailKind,
        to: str,
        now: datetime,
        extra: dict[str, Any] | None = None,
    ) -> Composed:
        """The mail of template ``kind`` to ``to`` in ``conversation``."""
        mailbox = self.settings.mailbox(conversation.mailbox)
        message_id = make_message_id(conversation.id, kind, mailbox.address)
        data = {**template_data(self.settings, mailbox, conversation, now, kind), **(extra or {})}
        try:
            rendered = self.templates.render(
                kind, data, mailbox.name, mail_language(mailbox, conversation, kind)
            )
        except rendering.RenderError as exc:
            raise TemplateError(
                f"{exc}; fix the template, the mail is sent once it renders"
            ) from exc
        self._report_fallbacks()
        envelope = _envelope(conversation, mailbox, to, message_id, now)
        message = rendering.build_message(
            rendered, envelope, subject_with_token(conversation.subject, conversation.id)
        )
        return Composed(message_id, kind, to, message.as_bytes(policy=policy.SMTP))

    def _report_fallbacks(self) -> None:
        """A broken staff edit, covered by the last good version: said once per mistake."""
        for filename, problem in self.templates.problems.items():
            if self._reported.get(filename) != problem:
                log.error(
                    "%s; the last version that worked is used until it is fixed "
                    "(inbox-agent templates check)",
                    problem,
                )
                self._reported[filename] = problem
        for filename in set(self._reported) - set(self.templates.problems):
            log.warning("%s works again", self._reported.pop(filename).split(":")[0])


def _envelope(
    conversation: Conversation, mailbox: MailboxSettings, to: str, message_id: str, now: datetime
) -> rendering.Envelope:
    customer = [
        m.message_id for m in conversation.messages if m.role is Role.CUSTOMER and m.message_id
    ]
    to_name = customer_display_name(conversation) if to == conversation.customer else ""
    return rendering.Envelope(
        from_address=mailbox.address,
        from_name=mailbox.display_name,
        to=to,
        to_name=to_name,
        token=conversation.id,
        message_id=message_id,
        date=now,
        in_reply_to=customer[-1] if customer else None,
        references=_references(conversation, to),
    )


def _references(conversation: Conversation, to: str) -> tuple[str, ...]:
    """The thread so far as ``to`` has seen it: the filed messages and the agent's mail to
    them, never the Message-ID of a mail that went to someone else (the manager's report)."""
    filed = [m.message_id for m in conversation.messages if m.message_id]
    ours = [s.message_id for s in conversation.sent if s.to == to]
    thread = [i for i in conversation.message_ids if i in {*filed, *ours}]
    return tuple(thread[-MAX_REFERENCES:])


def make_message_id(token: str, kind: str, address: str) -> str:
    """A Message-ID chosen before sending, unique, and recognisable as the agent's own."""
    domain = address.rpartition("@")[2] or "inbox-agent.invalid"
    return f"<inbox-agent.{token}.{kind}.{uuid.uuid4().hex[:16]}@{domain}>"


def mail_language(
    mailbox: MailboxSettings, conversation: Conversation, kind: MailKind
) -> str | None:
    """The language a mail is written in: the customer's for their mail (their
    ``Content-Language``, else the mailbox's), the mailbox's for the manager's report, which
    is read in the shop, not by the customer."""
    if kind == MailKind.ESCALATION:
        return mailbox.language
    return conversation.language or mailbox.language


def template_data(
    settings: Settings,
    mailbox: MailboxSettings,
    conversation: Conversation,
    now: datetime,
    kind: MailKind = MailKind.ACKNOWLEDGEMENT,
) -> dict[str, Any]:
    """Everything a template may use (templates/README.md lists it for staff), every text in
    the mail's language (``mail_language``)."""
    language = mail_language(mailbox, conversation, kind)
    for_customer = kind != MailKind.ESCALATION  # "your time" only in the customer's mail
    name = customer_display_name(conversation)
    previous = previous_promise(conversation)
    since = wait_began(conversation)
    return {
        "customer_name": name,
        "customer_first_name": name.split()[0] if name.split() else "",
        "customer_email": conversation.customer,
        "subject": one_line(conversation.subject) or "(no subject)",
        "token": conversation.id,
        "language": language_of(language),
        "promised_by": conversation.promised_by,
        "promised_by_text": _describe(
            settings,
            conversation,
            conversation.promised_by,
            now,
            language=language,
            for_customer=for_customer,
        ),
        "mailbox_name": mailbox.display_name or mailbox.name,
        "mailbox_address": mailbox.address,
        "opening_hours": wording.opening_hours_words(settings.calendar, language),
        "waiting_since": since,
        "waiting_since_text": moment_words(settings, since, now, language),
        "waited_text": duration_words(
            business_minutes_between(settings.calendar, since, now), language
        ),
        "follow_up_number": follow_ups_in(current_wait(conversation)),
        "promise_missed": False,
        "delivery_late": False,
        "previous_promised_by": previous.due if previous else None,
        "previous_promise_text": _describe(
            settings,
            conversation,
            previous.due if previous else None,
            now,
            language=language,
            for_customer=for_customer,
        ),
        "previous_promise_minutes_left": _minutes_left(previous, now),
        "previous_promise_relative": ""
        if previous is None
        else relative_words(_minutes_left(previous, now), language),
        "thread_command": f"inbox-agent thread {conversation.id}",
    }


def customer_display_name(conversation: Conversation) -> str:
    """The customer's name as they wrote it, safe to show: one line, bounded, and empty when
    it looks like an address (a name must never pass for one, in ``To:`` or a greeting)."""
    name = one_line(conversation.customer_name or "")[:MAX_NAME_CHARS].strip()
    return "" if "@" in name else name


def previous_promise(conversation: Conversation) -> Promise | None:
    """The promise the running one extends (a follow-up's or escalation's), in this wait."""
    wait = current_wait(conversation)
    return wait[-2] if len(wait) > 1 else None


def wait_began(conversation: Conversation) -> datetime:
    """When the customer's current wait began: the arrival of the first message it answers."""
    wait = current_wait(conversation)
    if not wait or len(wait) == len(conversation.promises):
        return conversation.created_at
    before = conversation.promises[-len(wait) - 1]
    boundary = before.settled_at or before.made_at
    arrivals = [
        m.arrived_at
        for m in conversation.messages
        if m.role is Role.CUSTOMER and boundary < m.arrived_at <= wait[0].made_at
    ]
    return min(arrivals) if arrivals else wait[0].made_at


def _minutes_left(promise: Promise | None, now: datetime) -> int:
    """Whole minutes until ``promise`` is due, rounded away from zero; negative once past."""
    if promise is None:
        return 0
    seconds = (promise.due - now).total_seconds()
    return int(math.copysign(math.ceil(abs(seconds) / 60), seconds))


def describe(
    settings: Settings, conversation: Conversation, moment: datetime | None, now: datetime
) -> str:
    """A promised moment in the customer's words (their own clock too, where it differs)."""
    language = conversation.language or settings.mailbox(conversation.mailbox).language
    return _describe(settings, conversation, moment, now, language=language, for_customer=True)


def _describe(
    settings: Settings,
    conversation: Conversation,
    moment: datetime | None,
    now: datetime,
    *,
    language: str | None,
    for_customer: bool,
) -> str:
    """``moment`` in ``language``; the customer's own clock only in mail ``for_customer``
    (the manager's report has no "your time")."""
    if moment is None:
        return ""
    minutes = conversation.customer_utc_offset_minutes
    offset = None if minutes is None or not for_customer else timedelta(minutes=minutes)
    return wording.describe_moment(moment, settings.calendar, now, offset, language)


def moment_words(settings: Settings, moment: datetime, now: datetime, language: str | None) -> str:
    """A moment in the business's zone with its date: "Monday 16 November, 10:05 London time",
    "Montag, 16. November, 10:05 Uhr Londoner Zeit", "lundi 16 novembre, 10 h 05, heure de
    Londres"."""
    parts = wording.describe_moment_parts(moment, settings.calendar, now, None, language)
    comma = "," if language_of(language) == "fr" else ""
    return f"{parts.date}, {parts.clock}{comma} {parts.zone}"


SAMPLE_SUBJECTS = {
    "en": "Invoice 2211 shows the wrong VAT number",
    "de": "Rechnung 2211 mit falscher USt-IdNr.",
    "fr": "Facture 2211 avec un mauvais numéro de TVA",
}


def sample_conversation(
    settings: Settings,
    now: datetime,
    kind: MailKind = MailKind.ACKNOWLEDGEMENT,
    language: str | None = None,
) -> Conversation:
    """A made-up conversation for ``templates check`` and ``preview``, every value present,
    with the history a mail of ``kind`` has at ``now``: a follow-up extends the first
    promise, which is an hour (``follow_up_before``) from lapsing; an escalation comes after
    the allowed follow-ups, so the report shows a real wait and the promise it extends. The
    customer writes in ``language`` (their subject too)."""
    cal, policy, mailbox = settings.calendar, settings.promise, settings.mailboxes[0]
    chases = {MailKind.ACKNOWLEDGEMENT: 0, MailKind.FOLLOW_UP: 1}.get(
        MailKind(kind), policy.max_follow_ups + 1
    )
    # Backwards from now: the promise this chase extends lapses follow_up_before from now
    # (on the quarter hour, as every promise is), each earlier one extend_by before it, and
    # the first counted from the customer's mail.
    dues = [promised_moment(add_business_time(cal, now, policy.follow_up_before))] if chases else []
    for _ in range(chases - 1):
        dues.insert(0, subtract_business_time(cal, dues[0], policy.extend_by))
    arrived = subtract_business_time(cal, dues[0], policy.first_reply_within) if dues else now
    sample = Conversation(
        id="K7Q2",
        mailbox=mailbox.name,
        customer="ana@customer.example",
        customer_name="Ana Silva",
        subject=SAMPLE_SUBJECTS[language_of(language)],
        created_at=arrived,
        status=Status.WAITING,
        customer_utc_offset_minutes=60,
        language=language,
    )
    sample.messages.append(
        FiledMessage(
            "<sample@customer.example>",
            "<sample@customer.example>",
            Role.CUSTOMER,
            arrived,
            sample.customer,
            sample.subject,
            mailbox.imap.folder,
        )
    )
    made = [arrived] + [subtract_business_time(cal, due, policy.follow_up_before) for due in dues]
    for n, due in enumerate(dues):
        reason = FIRST_REPLY if n == 0 else follow_up_reason(n)
        sample.promises.append(Promise(made[n], due, reason, made[n + 1], Outcome.EXTENDED))
    if not dues:
        sample.promises.append(Promise(now, first_reply_due(now, cal, policy), FIRST_REPLY))
        return sample
    reason = follow_up_reason(chases) if chases <= policy.max_follow_ups else ESCALATED
    sample.promises.append(
        Promise(now, promised_moment(add_business_time(cal, dues[-1], policy.extend_by)), reason)
    )
    return sample
