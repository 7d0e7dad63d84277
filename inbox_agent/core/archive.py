"""Which conversations leave the working set, and what the archive's index keeps of them.

The live store holds open work: every conversation it holds is read at each load and written
at each commit. A conversation whose work is done moves to the archive:

- **answered** (staff replied) and quiet for ``archive_after`` (default 14 days): the customer
  has had an answer and has not written since;
- **closed** by staff and quiet for a day. A day, not at once: the circuit breakers count the
  automatic mail of the last day by address (``breakers``), and the archive is not counted;
  a bounce of the last mail, which comes within hours, still finds its conversation live.

Never archived: a conversation that is waiting (a promise runs), open (a person must look),
owes mail, or has mail in the outbox (on its way, or refused for a person to see).
"Quiet" is the newest moment anything happened in it: a message, a mail of ours, a note, a
promise made or settled.

A message that joins an archived conversation (by the Message-IDs it answers or names, by its
own Message-ID being named there, or by the token in its subject) brings it back to the live
store first, and then is filed under today's rules: a customer writing into an answered
conversation waits again, into a closed one is acknowledged again (``lifecycle``).

The archive's index maps *entries* to conversations: ``t:<token>`` (the conversation itself),
``k:<key>`` (every message filed, so mail read again is known), ``n:<id>`` (every Message-ID a
message names, for threading on ids nobody here received). Our own Message-IDs are not indexed:
each carries its conversation's token (``our_token``).
"""

from __future__ import annotations

from collections.abc import Container, Iterable
from datetime import datetime, timedelta

from inbox_agent.core.conversations import Conversation, our_token, subject_tokens
from inbox_agent.core.ledger import SkippedMessage
from inbox_agent.core.lifecycle import Status
from inbox_agent.core.message import InboundEmail

CLOSED_QUIET = timedelta(days=1)  # the breakers' longest window: see above

TOKEN, KEY, NAMED = "t:", "k:", "n:"


def last_activity(conversation: Conversation) -> datetime:
    """The newest moment something happened in ``conversation``."""
    moments = [conversation.created_at]
    moments += [m.arrived_at for m in conversation.messages]
    moments += [s.created_at for s in conversation.sent]
    moments += [n.at for n in conversation.notes]
    for promise in conversation.promises:
        moments.append(promise.made_at)
        if promise.settled_at is not None:
            moments.append(promise.settled_at)
    return max(moments)


def archivable(
    conversation: Conversation, now: datetime, archive_after: timedelta, in_outbox: Container[str]
) -> bool:
    """Whether ``conversation``'s work is done and it has been quiet long enough."""
    if (
        conversation.owed
        or conversation.running_promise is not None
        or conversation.id in in_outbox
    ):
        return False
    if conversation.status is Status.CLOSED:
        quiet = CLOSED_QUIET
    elif conversation.status is Status.ANSWERED:
        quiet = archive_after
    else:
        return False
    return now - last_activity(conversation) >= quiet


def skipped_archivable(skipped: SkippedMessage, now: datetime, archive_after: timedelta) -> bool:
    """Mail filed outside any conversation leaves the working set after ``archive_after``."""
    return now - skipped.message.arrived_at >= archive_after


def entries(conversation: Conversation) -> list[str]:
    """What the archive's index keeps of ``conversation``: its token, every message's key,
    every Message-ID its messages name (our own mail is known by the token in its id)."""
    found = [TOKEN + conversation.id]
    found += [KEY + m.key for m in conversation.messages]
    found += [
        NAMED + name for m in conversation.messages for name in m.names if our_token(name) is None
    ]
    return list(dict.fromkeys(found))


def skipped_entries(skipped: Iterable[SkippedMessage]) -> list[str]:
    """The keys of mail filed outside any conversation: read again, it is known."""
    return [KEY + s.key for s in skipped]


def leads(email: InboundEmail) -> tuple[list[str], list[str]]:
    """Where ``email`` could join an archived conversation, by the threading rules of
    ``conversations``: the entries to look up (ids it answers received there, its own id
    named there, ids it answers named there) and the tokens it carries (our mail it answers,
    its subject)."""
    looked_up = [KEY + ref for ref in email.thread_ids]
    if email.message_id:
        looked_up.append(NAMED + email.message_id)
    looked_up += [NAMED + ref for ref in email.thread_ids]
    tokens = [t for ref in email.thread_ids if (t := our_token(ref)) is not None]
    tokens += subject_tokens(email.subject)
    return looked_up, list(dict.fromkeys(tokens))
