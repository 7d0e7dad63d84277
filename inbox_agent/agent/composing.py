"""The mails the agent writes: template data, threading headers and the finished bytes.

Every mail is composed here, whatever prompted it (a new customer, a promise about to slip, an
escalation), so every one carries the same contract headers (``rendering.build_message``) and
the same threading: ``In-Reply-To`` the customer's latest message, ``References`` the
conversation so far.
"""

from __future__ import annotations

import logging
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
from inbox_agent.core.business_time import business_minutes_between, opening_hours_text
from inbox_agent.core.conversations import (
    Conversation,
    FiledMessage,
    MailKind,
    Promise,
    Role,
    subject_with_token,
)
from inbox_agent.core.lifecycle import Status
from inbox_agent.core.promises import FIRST_REPLY, current_wait, first_reply_due, follow_ups_in
from inbox_agent.core.text import one_line
from inbox_agent.errors import TemplateError

log = logging.getLogger("inbox_agent")
MAX_REFERENCES = 10  # enough for every client to thread; long chains only bloat the header


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

    def compose(self, conversation: Conversation, kind: MailKind, to: str, now: datetime,
                extra: dict[str, Any] | None = None) -> Composed:
        """The mail of template ``kind`` to ``to`` in ``conversation``."""
        mailbox = self.settings.mailbox(conversation.mailbox)
        message_id = make_message_id(conversation.id, kind, mailbox.address)
        data = {**template_data(self.settings, mailbox, conversation, now), **(extra or {})}
        try:
            rendered = self.templates.render(kind, data, mailbox.name,
                                             conversation.language or mailbox.language)
        except rendering.RenderError as exc:
            raise TemplateError(f"{exc}; fix the template, the mail is sent once it renders") \
                from exc
        self._report_fallbacks()
        envelope = _envelope(conversation, mailbox, to, message_id, now)
        message = rendering.build_message(
            rendered, envelope, subject_with_token(conversation.subject, conversation.id))
        return Composed(message_id, kind, to, message.as_bytes(policy=policy.SMTP))


    def _report_fallbacks(self) -> None:
        """A broken staff edit, covered by the last good version: said once per mistake."""
        for filename, problem in self.templates.problems.items():
            if self._reported.get(filename) != problem:
                log.error("%s; the last version that worked is used until it is fixed "
                          "(inbox-agent templates check)", problem)
                self._reported[filename] = problem
        for filename in set(self._reported) - set(self.templates.problems):
            log.warning("%s works again", self._reported.pop(filename).split(":")[0])


def _envelope(conversation: Conversation, mailbox: MailboxSettings, to: str, message_id: str,
              now: datetime) -> rendering.Envelope:
    customer = [m.message_id for m in conversation.messages
                if m.role is Role.CUSTOMER and m.message_id]
    return rendering.Envelope(
        from_address=mailbox.address, from_name=mailbox.display_name, to=to,
        token=conversation.id, message_id=message_id, date=now,
        in_reply_to=customer[-1] if customer else None,
        references=_references(conversation, to))


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


def template_data(settings: Settings, mailbox: MailboxSettings, conversation: Conversation,
                  now: datetime) -> dict[str, Any]:
    """Everything a template may use (templates/README.md lists it for staff)."""
    promised_by = conversation.promised_by
    name = one_line(conversation.customer_name or "")  # the customer's words: one line, data
    return {
        "customer_name": name,
        "customer_first_name": name.split()[0] if name.split() else "",
        "customer_email": conversation.customer,
        "subject": one_line(conversation.subject) or "(no subject)",
        "token": conversation.id,
        "promised_by": promised_by,
        "promised_by_text": describe(settings, conversation, promised_by, now),
        "mailbox_name": mailbox.display_name or mailbox.name,
        "mailbox_address": mailbox.address,
        "opening_hours": opening_hours_text(settings.calendar),
        "waited_text": wording.format_duration_words(
            business_minutes_between(settings.calendar, conversation.created_at, now)),
        "follow_up_number": follow_ups_in(current_wait(conversation)),
        "promise_missed": False,
        "delivery_late": False,
        "previous_promise_text": "",
        "thread_command": f"inbox-agent thread {conversation.id}",
    }


def describe(settings: Settings, conversation: Conversation, moment: datetime | None,
             now: datetime) -> str:
    """A promised moment in the customer's words (their own clock too, where it differs)."""
    if moment is None:
        return ""
    minutes = conversation.customer_utc_offset_minutes
    offset = None if minutes is None else timedelta(minutes=minutes)
    language = conversation.language or settings.mailbox(conversation.mailbox).language
    return wording.describe_moment(moment, settings.calendar, now, offset, language)


def sample_conversation(settings: Settings, now: datetime) -> Conversation:
    """A made-up conversation for ``templates check`` and ``preview``: every value present."""
    mailbox = settings.mailboxes[0]
    sample = Conversation(id="K7Q2", mailbox=mailbox.name, customer="ana@customer.example",
                          customer_name="Ana Silva", subject="Invoice 2211 shows the wrong VAT "
                          "number", created_at=now, status=Status.WAITING,
                          customer_utc_offset_minutes=60)
    sample.messages.append(FiledMessage("<sample@customer.example>", "<sample@customer.example>",
                                        Role.CUSTOMER, now, sample.customer, sample.subject,
                                        mailbox.imap.folder))
    sample.promises.append(Promise(now, first_reply_due(now, settings.calendar,
                                                        settings.promise), FIRST_REPLY))
    return sample
