"""``inbox-agent replay``: the agent's real decisions over exported mail, with the clock
following the mail. Nothing is sent, and the real data_dir and mailbox are never touched.

The real :class:`~inbox_agent.agent.cycle.Agent` runs cycle by cycle on the in-memory mailbox
and relay (``adapters.memory``), as a rehearsal (``Adapters.rehearsal``: its mail is counted
as mail it *would* send), with a clock the replay moves. Its data_dir is a private temporary
folder (0700, removed afterwards) and its store keeps everything in memory, as ``run
--dry-run``'s does: a store that wrote the whole ledger at every cycle made 500 customers take
47 s, 2,000 take 11 minutes (``bench/replay.py``). A replay:

1. Each message is delivered at its moment (``adapters.export`` says how it is dated) into the
   mailbox's folder; a message From the mailbox's own address goes into its Sent folder,
   where the agent reads staff answering from the shared mailbox. A cycle runs then.
2. Between two messages, a sweep runs at each moment a follow-up or escalation becomes owed
   (``Agent.next_chase``), so chases happen when they would have. A chase a circuit breaker
   holds is noted there, and goes at the first second it no longer is (holds end only as
   time passes, so that second is found by bisection), as the daemon's sweep every 30 s
   would send it.
3. The clock stops at the last message (or goes on to ``until``); what the agent decided is
   then read back from its ledger and archive (``replayed``).

Memory stays bounded by the export's largest message: a message's bytes are read when it is
delivered (no more of one over ``max_message_size`` than the IMAP reader would fetch), and
dropped once the cycle has filed it, like the mail handed to the relay.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from hashlib import sha256
from itertools import groupby
from pathlib import Path

from inbox_agent.adapters.export import ExportedMail
from inbox_agent.adapters.memory import MemoryMailbox, MemoryMailer
from inbox_agent.adapters.store import Store
from inbox_agent.agent.context import Adapters, CycleReport
from inbox_agent.agent.cycle import Agent
from inbox_agent.agent.replayed import Replayed
from inbox_agent.config import MailboxSettings, Settings
from inbox_agent.core.conversations import FiledMessage, Role
from inbox_agent.core.ledger import Ledger
from inbox_agent.core.machine_mail import Identity, classify
from inbox_agent.core.message import parse

SENT_FOLDER = "Sent"  # where mail from the mailbox's address goes when sent_folder is unset
_SECOND = timedelta(seconds=1)


async def replay(
    settings: Settings,
    mails: Sequence[ExportedMail],
    *,
    mailbox: str | None = None,
    until: datetime | None = None,
) -> Replayed:
    """Replay ``mails`` (sorted by moment) into ``mailbox`` (default: the first), the clock
    going on to ``until`` if that is after the last message."""
    chosen = settings.mailbox(mailbox) if mailbox else settings.mailboxes[0]
    with tempfile.TemporaryDirectory(prefix="inbox-agent-replay-") as folder:
        return await Replay(settings, chosen, Path(folder) / "data").run(mails, until)


class Replay:
    """One replay: the agent on memory mailboxes, and the clock it follows."""

    def __init__(self, settings: Settings, mailbox: MailboxSettings, data_dir: Path) -> None:
        imap = replace(mailbox.imap, sent_folder=mailbox.imap.sent_folder or SENT_FOLDER)
        self.mailbox = replace(mailbox, imap=imap)
        self.settings = replace(
            settings,
            agent=replace(settings.agent, data_dir=data_dir),
            mailboxes=tuple(
                self.mailbox if m.name == mailbox.name else m for m in settings.mailboxes
            ),
        )
        limit = settings.agent.max_message_size
        self.boxes = {m.name: MemoryMailbox(max_message_size=limit) for m in settings.mailboxes}
        self.relay = MemoryMailer()
        self.now = datetime.min.replace(tzinfo=UTC)
        self.exported: dict[str, ExportedMail] = {}  # by the key the agent files it under
        self.problems: dict[str, None] = {}  # one line each, in the order first seen

    async def run(self, mails: Sequence[ExportedMail], until: datetime | None) -> Replayed:
        """Every message at its moment, the chases between them; then what was decided."""
        adapters = Adapters(
            mailbox=lambda m: self.boxes[m.name], mailer=lambda _: self.relay, rehearsal=True
        )
        with Store(self.settings.agent.data_dir, dry_run=True) as store:
            agent = Agent(self.settings, store, adapters, clock=lambda: self.now)
            for moment, group in groupby(mails, key=lambda m: m.moment):
                await self._chase_until(agent, moment)
                self.now = moment
                for mail in group:
                    self._deliver(mail)
                await self._cycle(agent, agent.run_cycle)
            end = until.astimezone(UTC) if until is not None else self.now
            if end > self.now:
                await self._chase_until(agent, end)
                self.now = end  # a last sweep then records the promises lapsed by the end
                await self._cycle(agent, agent.run_cycle)
            return self._read_back(store, mails)

    def _deliver(self, mail: ExportedMail) -> None:
        raw = mail.read(self.settings.agent.max_message_size)
        imap = self.mailbox.imap
        ours = mail.sender is not None and mail.sender == self.mailbox.address.lower()
        folder = imap.sent_folder if ours and imap.sent_folder else imap.folder
        self.boxes[self.mailbox.name].deliver(raw, mail.moment, folder, size=mail.size)
        key = mail.message_id or f"sha256:{sha256(raw).hexdigest()}"  # as filing keys it
        self.exported.setdefault(key, mail)

    async def _cycle(self, agent: Agent, step: Callable[[], Awaitable[CycleReport]]) -> None:
        """One cycle at ``self.now``; then the mail it filed and sent leaves memory."""
        report = await step()
        self.problems.update(dict.fromkeys(p.one_line() for p in report.problems))
        for name, box in self.boxes.items():
            for folder in box.folders:
                checkpoint = agent.ledger.checkpoints.get(f"{name}/{folder}")
                if checkpoint is not None:
                    box.forget_read(folder, checkpoint.last_uid)
        self.relay.sent.clear()

    async def _chase_until(self, agent: Agent, limit: datetime) -> None:
        """The sweeps the daemon would have run before ``limit``, one at each moment a chase
        became owed. One that does not go when owed (its template does not render) is left
        for the next message's cycle, rather than tried every 30 s in between."""
        while (moment := self._next_chase(agent, limit)) is not None:
            self.now = moment
            # A whole cycle, as the daemon's poll (every minute) would run one about then: its
            # sweep notes a hold, where the 30-second sweep alone only sends.
            await self._cycle(agent, agent.run_cycle)
            if agent.chasing.any_ready(moment):
                return

    def _next_chase(self, agent: Agent, limit: datetime) -> datetime | None:
        """The next moment before ``limit`` the daemon's sweep would act at: when a chase
        becomes owed (it goes, or a breaker holds it and the sweep notes that), then, while
        it is held, the first second it no longer is."""
        due = agent.next_chase()
        if due is None or due.astimezone(UTC) >= limit:
            return None
        start = max(due.astimezone(UTC), self.now)
        ready = agent.chasing.any_ready
        if start > self.now or ready(start):
            return start
        last = limit - _SECOND
        if last <= start or not ready(last):
            return None  # held until after the next message (or for good: a bounce)
        return first_true(ready, start, last)

    def _read_back(self, store: Store, mails: Sequence[ExportedMail]) -> Replayed:
        """What the agent decided: live and archived conversations, mail filed without one."""
        ledger = store.ledger
        archived = [
            c for c in store.archive.all_conversations() if c.id not in ledger.conversations
        ]
        conversations = sorted(
            [*ledger.conversations.values(), *archived],
            key=lambda c: (c.created_at.astimezone(UTC), c.id),
        )
        skipped = [*ledger.skipped, *store.archive.all_skipped()]
        filed = [*(m for c in conversations for m in c.messages), *(s.message for s in skipped)]
        return Replayed(
            settings=self.settings,
            mailbox=self.mailbox,
            conversations=conversations,
            skipped=skipped,
            rules=self._rules(filed, ledger),
            messages=len(mails),
            dated_by=dict(Counter(m.dated_by for m in mails)),
            started=mails[0].moment if mails else None,
            ended=self.now,
            problems=list(self.problems),
        )

    def _rules(self, filed: Iterable[FiledMessage], ledger: Ledger) -> dict[str, str]:
        """For mail filed as a machine's, the ``machine_mail`` rule that said so (its id, e.g.
        ``bounce-report``), read again from the export: the ledger keeps only the sentence."""
        identity = Identity(
            addresses=frozenset(m.address for m in self.settings.mailboxes),
            message_ids=ledger.sent_message_ids(),
        )
        rules = {}
        for message in filed:
            mail = self.exported.get(message.key)
            if message.role not in (Role.MACHINE, Role.AGENT) or mail is None:
                continue
            raw = mail.read(self.settings.agent.max_message_size)
            verdict = classify(parse(raw, message.arrived_at), identity)
            if verdict is not None:
                rules[message.key] = verdict.rule
        return rules


def first_true(holds: Callable[[datetime], bool], after: datetime, by: datetime) -> datetime:
    """The first moment in (``after``, ``by``], to the second, at which ``holds`` does: it does
    not at ``after``, does at ``by``, and once it does it keeps doing so."""
    while by - after > _SECOND:
        middle = after + (by - after) / 2
        if holds(middle):
            by = middle
        else:
            after = middle
    return by
