"""What the agent's parts (``filing``, ``chasing``, ``delivery``) may use of the agent, as an
interface.

They are handed the ``Agent`` that runs the cycle, but know it only as a :class:`Host`: so
they depend on this small module, not on ``cycle`` (which imports them), and the agent layer
has no import cycle. Also here: what a cycle reports, and how the agent reaches
the outside world (``Adapters``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from inbox_agent.adapters.base import Mailbox, Mailer
from inbox_agent.adapters.store import Store
from inbox_agent.agent.mailing import Mailing
from inbox_agent.agent.outages import Outages
from inbox_agent.agent.watching import WatchFactory
from inbox_agent.config import MailboxSettings, Settings
from inbox_agent.core.conversations import Conversation, MailKind
from inbox_agent.core.ledger import Ledger
from inbox_agent.errors import InboxAgentError

Clock = Callable[[], datetime]


@dataclass
class CycleReport:
    """What one cycle did, for logs, the demo and tests."""

    fetched: int = 0
    filed: int = 0
    duplicates: int = 0
    skipped: int = 0
    queued: int = 0
    sent: int = 0
    would_send: int = 0  # a rehearsal's (run --dry-run, replay): handed to no relay
    failed: int = 0
    rehearsal: bool = False  # set by delivery: nothing was sent, so "would send", never "sent"
    notes: list[str] = field(default_factory=list)  # one line per message filed, for people
    problems: list[InboxAgentError] = field(default_factory=list)  # servers that failed

    def summary(self) -> str:
        """One line for the log."""
        sending = (
            f"{self.would_send} would send"
            if self.rehearsal
            else f"{self.sent} sent, {self.failed} refused"
        )
        return (
            f"{self.fetched} fetched, {self.filed} filed, {self.skipped} filed without "
            f"reply, {self.duplicates} already filed, {self.queued} queued, {sending}"
        )


@dataclass
class Adapters:
    """How the agent reaches the outside world, per mailbox.

    ``rehearsal`` (``run --dry-run``, ``replay``): the mailer reaches no one, so delivery
    logs and counts each mail as one it *would* send, and files no copy in the Sent folder.
    ``watch`` watches a folder for new mail (IMAP IDLE) while the daemon runs.
    """

    mailbox: Callable[[MailboxSettings], Mailbox]
    mailer: Callable[[MailboxSettings], Mailer]
    rehearsal: bool = False
    watch: WatchFactory | None = None  # IMAP IDLE on a folder; None: polling only


class Host(Protocol):
    """The agent, as filing, chasing and delivery see it."""

    settings: Settings
    store: Store
    adapters: Adapters
    clock: Clock
    mailing: Mailing  # composing, recording and restating its mail
    outages: Outages  # servers down or refusing the login: logged once, retried with backoff

    @property
    def ledger(self) -> Ledger:
        """The store's in-memory state."""
        ...

    def queue(
        self,
        conversation: Conversation,
        kind: MailKind,
        to: str,
        now: datetime,
        extra: dict[str, Any] | None = None,
    ) -> bool:
        """Compose a mail and record it in the outbox; False when it stays owed (its
        template does not render)."""
        ...
