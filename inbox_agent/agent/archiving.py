"""Finished work out of the live store, and back in when mail joins it (``core.archive`` has
the rules, ``adapters.archive`` the files).

The archive pass runs at most once an hour (the first cycle after a start included): what it
moves has been quiet for a day or more, so an hour later costs nothing, and the current
month's file is rewritten at most 24 times a day however busy the mailbox.

Before a message is triaged, the archive is asked whether it belongs to an archived
conversation; if so that conversation is brought back first, so threading and the lifecycle
see it as if it had never left (``Filing.file``).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from inbox_agent.adapters.store import Store
from inbox_agent.core.archive import KEY, TOKEN, archivable, leads, skipped_archivable
from inbox_agent.core.conversations import Conversation, our_token
from inbox_agent.core.message import InboundEmail
from inbox_agent.core.wording import counted

log = logging.getLogger("inbox_agent")
ARCHIVE_EVERY = timedelta(hours=1)
# A message naming more archived conversations than this brings back only the first: a
# hostile References header must not drag the archive into the live store.
MAX_BROUGHT_BACK = 3


class Archiving:
    """The archive pass of one agent."""

    def __init__(self, store: Store, archive_after: timedelta) -> None:
        self.store = store
        self.archive_after = archive_after
        self._last_pass: datetime | None = None

    def archive_done(self, now: datetime) -> int:
        """Move what is done and quiet into the archive; how many conversations moved."""
        if self._last_pass is not None and abs(now - self._last_pass) < ARCHIVE_EVERY:
            return 0
        self._last_pass = now
        ledger = self.store.ledger
        in_outbox = {e.conversation_id for e in ledger.outbox.values()}
        done = [
            c
            for c in ledger.conversations.values()
            if archivable(c, now, self.archive_after, in_outbox)
        ]
        skipped = [s for s in ledger.skipped if skipped_archivable(s, now, self.archive_after)]
        if done or skipped:
            self.store.move_to_archive(done, skipped, now)
            log.info(
                "%s %s and %s filed without a reply",
                "would archive" if self.store.dry_run else "archived",
                counted(len(done), "conversation"),
                counted(len(skipped), "message"),
            )
        return len(done)


def already_archived(store: Store, email: InboundEmail) -> str | None:
    """Why ``email`` needs no filing because of the archive, or None: it was filed before
    in an archived conversation (read again), or it is the agent's own mail of one."""
    archive = store.archive
    if not len(archive.index):
        return None
    if archive.holds(KEY + email.key):
        return "already filed (archived)"
    token = our_token(email.message_id or "")
    if (
        token is not None
        and token not in store.ledger.conversations
        and archive.holds(TOKEN + token)
    ):
        return "the agent's own mail of an archived conversation"
    return None


def bring_back_for(store: Store, email: InboundEmail, now: datetime) -> list[Conversation]:
    """The archived conversations ``email`` may join, brought back to the live store."""
    archive = store.archive
    if not len(archive.index):
        return []
    entries, tokens = leads(email)
    found = [t for entry in entries for t in archive.tokens(entry)]
    found += [t for t in tokens if archive.holds(TOKEN + t)]
    live = store.ledger.conversations
    wanted = [t for t in dict.fromkeys(found) if t not in live][:MAX_BROUGHT_BACK]
    return [c for t in wanted if (c := store.bring_back(t, now)) is not None]


class TokensTaken:
    """Tokens a new conversation may not have: live or archived (``new_token``'s ``taken``)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def __contains__(self, token: object) -> bool:
        return token in self._store.ledger.conversations or (
            isinstance(token, str) and self._store.archive.holds(TOKEN + token)
        )
