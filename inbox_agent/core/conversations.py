"""Which conversation a message belongs to, and the records a conversation keeps.

Every filed message records the Message-IDs it *names* (In-Reply-To, References; at most
``MAX_NAMED``), and the ledger indexes them beside the ids it *received* (``ledger.LedgerIndex``):
a named id is JWZ's empty container, a message the mailbox has not seen but whose place in a
thread is known. So two replies to a message that never reached us join one conversation, and
so does the message itself if it arrives after its replies (as Dovecot's THREAD=REFERENCES and
notmuch thread). A message joins a conversation when, in this order:

1. a Message-ID it answers (In-Reply-To, then References from the nearest back) was received in
   a conversation: the customer's message, staff's, or one the agent sent itself;
2. a conversation already names its own Message-ID (it answers this message; it came late);
3. a Message-ID it answers is named by a conversation (the two answer the same message);
4. its subject carries a conversation token ``[#K7Q2]`` that exists.

Rule 3 rests on a message nobody here has seen, so it joins only mail from someone already in
that conversation (its customer, or the sender of a message filed in it), or addressed to one
of them, or from staff or the mailbox itself. Without that guard, every customer replying to
the same mail sent outside the agent (a newsletter, an announcement from someone's own mail
client) would be filed into the first replier's conversation, unacknowledged: two customers'
conversations merged in silence. Mail from anyone else that names it starts its own
conversation, as it did before named ids were indexed. Rule 2 needs no guard: a conversation
that names this message's own Message-ID holds a reply to it, so whoever wrote that reply had
this very message in hand (a reply that outran its original, a list's copy first).

**Two conversations are never merged.** JWZ merges the threads a message connects; here each
conversation is one customer's, with its own promise and mail, so a message whose ids lead to
more than one joins the first by the rules above (received ids win over merely-named ones, then
the nearest), and the agent notes the others on both sides for a person to read
(``linked_conversations`` lists them all). An id named by several conversations (kept apart by
the guard) lists them in the order they named it: the first the sender may join wins.

Otherwise it starts a new conversation. Tokens are derived from the first message's key, so the
same mailbox replayed gives the same tokens, and are checked against the tokens taken. A token
always mixes letters and digits from an alphabet without look-alikes; tokens stored before
that rule (all letters, all digits) are still read in subjects.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from inbox_agent.core.lifecycle import Status
from inbox_agent.core.message import MAX_REFERENCES, InboundEmail

# No 0/O, 1/I/L, U: a token read aloud over the phone or copied by hand stays unambiguous.
TOKEN_DIGITS = "23456789"  # noqa: S105 - not a password
TOKEN_LETTERS = "ABCDEFGHJKMNPQRSTVWXYZ"  # noqa: S105 - not a password
TOKEN_ALPHABET = TOKEN_DIGITS + TOKEN_LETTERS
TOKEN_LENGTH = 4
MAX_TOKEN_LENGTH = 8  # the longest the subject pattern below reads
# In-Reply-To and References are each cut to MAX_REFERENCES by the parser: what a message
# names is bounded by both, so a hostile References header costs the index nothing.
MAX_NAMED = 2 * MAX_REFERENCES
_TOKEN_CHARS = f"[{TOKEN_ALPHABET}]"
_TOKEN_IN_SUBJECT = re.compile(rf"\[#({_TOKEN_CHARS}{{4,8}})\]")
# The agent's own Message-IDs (``composing.make_message_id``):
# <inbox-agent.TOKEN.kind.hex@domain>. Up to 13 characters: tokens given out before
# MAX_TOKEN_LENGTH could grow that long.
_OUR_MESSAGE_ID = re.compile(
    rf"<?inbox-agent\.({_TOKEN_CHARS}{{4,13}})\.[a-z_]+\.[0-9a-f]+@[^>]*>?"
)


class Role(StrEnum):
    """Who wrote a message filed in a conversation."""

    CUSTOMER = "customer"
    STAFF = "staff"
    AGENT = "agent"
    MACHINE = "machine"


@dataclass
class FiledMessage:
    """A message as it is kept in a conversation."""

    key: str
    message_id: str | None
    role: Role
    arrived_at: datetime
    sender: str | None
    subject: str
    folder: str
    note: str = ""  # why it was not answered, for machine mail and old mail
    names: tuple[str, ...] = ()  # Message-IDs it answers, nearest first (at most MAX_NAMED)


class Outcome(StrEnum):
    """How a promise ended."""

    KEPT = "kept"  # staff replied by the promised moment
    MISSED = "missed"  # the moment passed first (staff replied late, or nobody did)
    EXTENDED = "extended"  # before it lapsed, the customer was told of a new moment
    WITHDRAWN = "withdrawn"  # closed by staff before the moment came


@dataclass
class Promise:
    """One moment the customer was told they would hear from a person by."""

    made_at: datetime
    due: datetime
    reason: str  # "first reply", "follow-up 1", "escalation", "customer wrote again", ...
    settled_at: datetime | None = None
    outcome: Outcome | None = None  # None while the promise is running

    @property
    def kept(self) -> bool | None:
        """True when kept, False when not, None while running."""
        return None if self.outcome is None else self.outcome is Outcome.KEPT


class MailKind(StrEnum):
    """The mails the agent writes, each from the template of the same name."""

    ACKNOWLEDGEMENT = "acknowledgement"  # to a new customer: heard, and by when
    FOLLOW_UP = "follow_up"  # still working on it, a new moment
    ESCALATION = "escalation"  # to the manager: the report
    ESCALATION_NOTICE = "escalation_notice"  # to the customer: a manager has taken it over


@dataclass
class SentMail:
    """A mail the agent decided to send in this conversation (the outbox has its state)."""

    message_id: str
    kind: MailKind
    to: str
    created_at: datetime


@dataclass
class Note:
    """Something staff should know that is not a message: a bounce, a mail held back, ..."""

    at: datetime
    text: str


@dataclass
class Conversation:
    """A customer's conversation with the support mailbox."""

    id: str
    mailbox: str
    customer: str
    customer_name: str
    subject: str
    created_at: datetime
    status: Status = Status.NEW
    customer_utc_offset_minutes: int | None = None
    snoozed_until: datetime | None = None  # staff: no follow-ups before this moment
    language: str | None = None  # the customer's Content-Language: which template variant
    messages: list[FiledMessage] = field(default_factory=list)
    promises: list[Promise] = field(default_factory=list)
    sent: list[SentMail] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    # Mail owed but not composed yet: its template did not render. Filing goes on; a sweep
    # composes it once the template renders (``agent.cycle``), and nothing is chased first.
    owed: list[MailKind] = field(default_factory=list)

    def note(self, at: datetime, text: str) -> bool:
        """Record ``text`` for staff, unless it is already the latest note; True if recorded.

        A condition checked at every sweep (a mail held back) is noted once, not every 30 s.
        """
        if self.notes and self.notes[-1].text == text:
            return False
        self.notes.append(Note(at, text))
        return True

    @property
    def promised_by(self) -> datetime | None:
        """The running promise's moment, if a promise is running."""
        running = self.running_promise
        return running.due if running else None

    @property
    def running_promise(self) -> Promise | None:
        """The promise not yet settled, if any."""
        if self.promises and self.promises[-1].settled_at is None:
            return self.promises[-1]
        return None

    @property
    def message_ids(self) -> list[str]:
        """Message-IDs of everything filed here: customer's, staff's and the agent's own."""
        ids = [m.message_id for m in self.messages if m.message_id]
        ids += [s.message_id for s in self.sent]
        return list(dict.fromkeys(ids))

    def settle(self, at: datetime, outcome: Outcome | None = None) -> None:
        """End the running promise; kept or missed by ``at`` unless ``outcome`` says otherwise."""
        running = self.running_promise
        if running is None:
            return
        running.settled_at = at
        if outcome is None:
            outcome = Outcome.KEPT if at <= running.due else Outcome.MISSED
        running.outcome = outcome

    def last_customer_message(self) -> FiledMessage | None:
        """The customer's most recent message, the one a reply answers."""
        customer = [m for m in self.messages if m.role is Role.CUSTOMER]
        return customer[-1] if customer else None


@dataclass(frozen=True)
class Links:
    """The Message-ID lookups threading reads (``ledger.LedgerIndex`` keeps them)."""

    received: Mapping[str, str]  # key of a filed message, or our mail's Message-ID -> conversation
    named: Mapping[str, Sequence[str]] = field(default_factory=dict)  # -> those naming it
    trusted: Container[str] = frozenset()  # staff and the mailboxes: may join on a named id


def named_ids(email: InboundEmail) -> tuple[str, ...]:
    """What ``email`` names, as its ``FiledMessage`` records it: nearest first, bounded."""
    return email.thread_ids[:MAX_NAMED]


def linked_conversations(
    email: InboundEmail, links: Links, conversations: Mapping[str, Conversation]
) -> list[str]:
    """Every conversation ``email``'s Message-IDs tie it to, best first (rules 1 to 3)."""
    received = [links.received[ref] for ref in email.thread_ids if ref in links.received]
    answered = links.named.get(email.message_id, ()) if email.message_id else ()
    siblings = [
        c
        for ref in email.thread_ids
        for c in links.named.get(ref, ())
        if c in conversations and _may_join_unseen(email, conversations[c], links.trusted)
    ]
    return [c for c in dict.fromkeys([*received, *answered, *siblings]) if c in conversations]


def _may_join_unseen(
    email: InboundEmail, conversation: Conversation, trusted: Container[str]
) -> bool:
    """Whether ``email`` may join ``conversation`` on a message neither has received: when it
    is from staff or the mailbox, or from or to someone already in the conversation."""
    writers = {a for a in (email.from_address, email.customer_address) if a}
    if any(a in trusted for a in writers):
        return True
    people = writers | {*email.to_addresses, *email.cc_addresses}
    there = {conversation.customer, *(m.sender for m in conversation.messages)}
    return any(a in there and a not in trusted for a in people)


def find_conversation(
    email: InboundEmail, links: Links, conversations: Mapping[str, Conversation]
) -> str | None:
    """The id of the conversation ``email`` belongs to, or None for a new one."""
    linked = linked_conversations(email, links, conversations)
    if linked:
        return linked[0]
    for token in subject_tokens(email.subject):
        if token in conversations:
            return token
    return None


def our_token(message_id: str) -> str | None:
    """The conversation token in a Message-ID the agent made, or None for anyone else's."""
    match = _OUR_MESSAGE_ID.fullmatch(message_id.strip())
    return match.group(1) if match else None


def subject_tokens(subject: str) -> list[str]:
    """The conversation tokens ``[#K7Q2]`` in ``subject``, first first."""
    return [str(token) for token in _TOKEN_IN_SUBJECT.findall(subject.upper())]


def new_token(seed: str, taken: Container[str]) -> str:
    """A short token for a new conversation, derived from ``seed`` and not in ``taken``; always
    letters and digits mixed (``_mixed``)."""
    for attempt in range(10_000):
        # Grow when the short space is crowded, never past what the subject pattern reads.
        length = min(TOKEN_LENGTH + attempt // 1_000, MAX_TOKEN_LENGTH)
        digest = hashlib.sha256(f"{attempt}:{seed}".encode()).digest()
        token = "".join(TOKEN_ALPHABET[b % len(TOKEN_ALPHABET)] for b in digest[:length])
        token = _mixed(token, digest[length:])
        if token not in taken:
            return token
    raise RuntimeError("no free conversation token after 10,000 attempts")


def _mixed(token: str, spare: bytes) -> str:
    """``token`` with one of its characters, chosen by ``spare`` bytes of the same digest,
    made a digit when it has none, or a letter when it has no letter: ``[#6547]`` reads like
    an order number and ``[#KWTZ]`` like a word, ``[#K7Q2]`` only like a token. Tokens that
    already mix (seven in ten) are kept as they were derived before this rule."""
    chars = list(token)
    if not any(c in TOKEN_DIGITS for c in chars):
        chars[spare[0] % len(chars)] = TOKEN_DIGITS[spare[1] % len(TOKEN_DIGITS)]
    elif not any(c in TOKEN_LETTERS for c in chars):
        chars[spare[0] % len(chars)] = TOKEN_LETTERS[spare[1] % len(TOKEN_LETTERS)]
    return "".join(chars)


def subject_with_token(subject: str, token: str) -> str:
    """``[#K7Q2] Re: subject``: the token first, one ``Re:``, no token twice."""
    stripped = _TOKEN_IN_SUBJECT.sub("", subject).strip()
    base = stripped or "(no subject)"
    if not re.match(r"(?i)^(re|aw|sv|antw)\s*:", base):
        base = f"Re: {base}"
    return f"[#{token}] {base}"
