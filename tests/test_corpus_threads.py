"""The shared corpus's threads through the real pipeline: is each known thread one conversation?

``../shared/corpus/threads/`` holds mail with a known grouping (``threads.json``): Dovecot's
imaptest THREAD=REFERENCES scripts (the grouping is the server's expected reply) and two
notmuch corpora (a mailing list's threads, and synthetic edge cases: a missing root, a "fake
root", a References typo). Each thread corpus is delivered, in file-name order, into one
in-memory mailbox, and the agent runs one cycle with its real store and templates. Run with
``pytest -s`` for the figures.

What the agent groups differently, and why (each listed case is checked to still happen, so a
stale entry fails):

* **No sender, no conversation.** The imaptest messages have no From at all: nobody can be
  answered, so triage files each one as skipped ("no sender address that can be answered") and
  none starts a conversation. To check their threading anyway, the same messages are also
  delivered with a ``From:`` line put in front (in memory; the corpus is not copied).
* **Machine mail starts nothing.** List mail carrying ``Sender: notmuch-bounces@...`` is
  machine mail: it joins a conversation its Message-IDs lead to, but never starts one, so a
  list thread whose first messages are machine mail is skipped until a person writes.
* **Subjects do not thread.** Dovecot's ORDEREDSUBJECT scripts group on the subject alone,
  and its REFERENCES algorithm also joins roots with the same subject (``thread4``). Here
  only Message-IDs and the conversation token do: two customers writing "Re: invoice" are not
  one conversation. The ORDEREDSUBJECT scripts are left out.
* **Replies to a message nobody here has seen** join one conversation only when they come
  from the same people (``core.conversations``, rule 3): in a support mailbox, the unseen
  message is often a newsletter many customers answer. The list thread in ``SPLIT`` has two
  people answering list mail the agent filed as machine mail, so it becomes two conversations;
  the message that connects them later is filed in one, and both get a note for staff.
* **One Message-ID, one message.** A second file with a Message-ID already filed is the same
  message to the agent (``thread2``, ``thread7``, ``thread8``; notmuch-default's two copies of
  one post), filed once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from inbox_agent.core.conversations import Role
from inbox_agent.core.message import parse
from tests.core.test_corpus import CORPUS
from tests.worlds import MemoryWorld, ledger, london, make_settings, run

THREADS = CORPUS / "threads"
IMAPTEST = "dovecot-imaptest-thread"
WIDE_LIMITS = """
[limits]
loop_window = "0m"
per_address_per_day = 100000
per_conversation_per_day = 100000
"""
SENDER = b"From: Customer <customer@example.org>\r\n"
SKIPPED = "skipped"

# Threads kept as two conversations on purpose (the thread's first file, why).
SPLIT: dict[tuple[str, str], str] = {
    (
        "notmuch-default",
        "bar__new__22.eml",
    ): "three people answer list mail the agent filed as machine mail (unseen in any "
    "conversation); each starts their own conversation, and the list mail that arrives "
    "later joins one and leaves a note in the other",
}
# Dovecot's reply groups these apart where the agent files them together (script, why).
JOINED: dict[str, str] = {
    "thread": "message 2 names message 1 in its References, so it joins 1's conversation; "
    "Dovecot breaks the loop 2 and 3 make by moving 1 out of the tree",
    "thread2": "two files with one Message-ID are one message: the second is a duplicate",
}
# Dovecot joins these on the subject ("foo" and "Re: foo"); the agent threads on ids only.
BY_SUBJECT = frozenset({"thread4"})


@dataclass(frozen=True)
class Unit:
    """One mailbox's worth of thread corpus: its files in order and the expected threads."""

    name: str
    folder: Path
    files: list[str]
    threads: list[list[str]]
    sender: bytes = b""  # put in front of every file (imaptest's mail has no From)


@dataclass(frozen=True)
class Filed:
    """Where each file of a unit went: a conversation id, or ``SKIPPED`` with the reason."""

    unit: Unit
    where: dict[str, str]
    reasons: dict[str, str]
    roles: dict[str, Role]
    conversations: int

    def thread_conversations(self, thread: list[str]) -> set[str]:
        """The conversations a thread's files were filed in."""
        return {self.where[f] for f in thread} - {SKIPPED}


def _units() -> list[Unit]:
    """The imaptest REFERENCES scripts (as they are, and with a sender), then notmuch's."""
    folder = THREADS / IMAPTEST
    scripts = json.loads((folder / "threads.json").read_text(encoding="utf-8"))["tests"]
    units: list[Unit] = []
    for sender in (b"", SENDER):
        for name, script in sorted(scripts.items()):
            if script["algorithm"] != "REFERENCES":
                continue  # ORDEREDSUBJECT groups on subjects alone: see the docstring
            count = script["messages_in_mailbox_at_first_THREAD"]
            files = [f"{name}__{n:03d}.eml" for n in range(1, count + 1)]
            units.append(
                Unit(name, folder, files, script["first_expected_threads_as_files"], sender)
            )
    for name in ("notmuch-default", "notmuch-threading"):
        threads = json.loads((THREADS / name / "threads.json").read_text(encoding="utf-8"))
        files = sorted(f for thread in threads["threads"] for f in thread)
        units.append(Unit(name, THREADS / name, files, threads["threads"]))
    return units


def _file(unit: Unit, data_dir: Path) -> Filed:
    """Deliver a unit's files into a fresh mailbox, run one cycle, read where each went."""
    world = MemoryWorld(make_settings(data_dir, extra=WIDE_LIMITS))
    raws = {f: unit.sender + (unit.folder / f).read_bytes() for f in unit.files}
    for name in unit.files:
        world.deliver(raws[name], london(16, 10, 0))
    run(world, london(16, 10, 5))
    on_disk = ledger(world.settings)
    where: dict[str, str] = {}
    reasons: dict[str, str] = {}
    roles: dict[str, Role] = {}
    for conversation in on_disk.conversations.values():
        for message in conversation.messages:
            where[message.key], roles[message.key] = conversation.id, message.role
    for skipped in on_disk.skipped:
        where[skipped.key], reasons[skipped.key] = SKIPPED, skipped.message.note
        roles[skipped.key] = skipped.message.role
    keys = {f: parse(raws[f], london(16, 10, 0)).key for f in unit.files}
    return Filed(
        unit,
        {f: where[keys[f]] for f in unit.files},
        {f: reasons.get(keys[f], "") for f in unit.files},
        {f: roles[keys[f]] for f in unit.files},
        len(on_disk.conversations),
    )


@pytest.fixture(scope="module")
def filed(tmp_path_factory: pytest.TempPathFactory) -> list[Filed]:
    """Every thread unit, filed."""
    if not THREADS.is_dir():
        pytest.skip(f"shared corpus not found at {THREADS.resolve()}")
    return [_file(unit, tmp_path_factory.mktemp(f"threads-{unit.name}")) for unit in _units()]


def _with_sender(filed: list[Filed]) -> list[Filed]:
    return [f for f in filed if f.unit.sender or f.unit.folder.name != IMAPTEST]


def test_mail_without_a_sender_is_filed_and_starts_nothing(filed: list[Filed]) -> None:
    """imaptest's messages, as they are: each filed as skipped, saying why; no conversation."""
    bare = [f for f in filed if f.unit.folder.name == IMAPTEST and not f.unit.sender]
    assert bare
    for unit in bare:
        assert unit.conversations == 0, unit.unit.name
        assert set(unit.where.values()) == {SKIPPED}
        assert all(
            r.startswith("no sender address that can be answered") for r in unit.reasons.values()
        )


def test_only_machine_mail_is_left_out_of_the_threads(filed: list[Filed]) -> None:
    """With a sender, a thread's file is filed outside a conversation only when it is
    machine mail (list mail, a ticket system's notice) that nothing it names was filed for."""
    for unit in _with_sender(filed):
        for name, where in unit.where.items():
            if where == SKIPPED:
                assert unit.roles[name] is Role.MACHINE, (unit.unit.name, name)


def test_no_conversation_holds_two_threads(filed: list[Filed]) -> None:
    """No two customers' threads are merged: each conversation holds one expected thread's
    mail (bar the imaptest scripts Dovecot answers differently, in ``JOINED``)."""
    joined = set()
    for unit in _with_sender(filed):
        owner: dict[str, int] = {}
        for n, thread in enumerate(unit.unit.threads):
            for conversation in unit.thread_conversations(thread):
                if owner.setdefault(conversation, n) != n:
                    joined.add(unit.unit.name)
    assert joined == set(JOINED)


def test_every_thread_is_one_conversation(filed: list[Filed]) -> None:
    """Each expected thread's filed mail is in one conversation, but for the splits listed
    (``SPLIT``, ``BY_SUBJECT``), which must still happen."""
    split = set()
    for unit in _with_sender(filed):
        for thread in unit.unit.threads:
            if len(unit.thread_conversations(thread)) > 1:
                split.add(
                    (unit.unit.name, min(thread))
                    if unit.unit.folder.name != IMAPTEST
                    else unit.unit.name
                )
    assert split == set(SPLIT) | BY_SUBJECT


def test_report(filed: list[Filed]) -> None:
    """The figures per unit (visible with ``pytest -s``): threads expected, reproduced (all
    its filed mail in one conversation holding nothing else), extra conversations (beyond one
    per thread with filed mail), files left out of any conversation."""
    lines = ["", f"{'unit':<34}{'threads':>9}{'reproduced':>12}{'extra':>7}{'skipped':>9}"]
    for unit in filed:
        counts = _figures(unit)
        label = unit.unit.name + (" (+From)" if unit.unit.sender else "")
        lines.append(
            f"{label:<34}"
            + "".join(f"{n:>{w}}" for n, w in zip(counts, (9, 12, 7, 9), strict=True))
        )
    print("\n".join(lines))  # the figures are the point of this test


def _figures(unit: Filed) -> tuple[int, int, int, int]:
    threads = unit.unit.threads
    where = [unit.thread_conversations(t) for t in threads]
    holders: dict[str, int] = {}
    for conversations in where:
        for conversation in conversations:
            holders[conversation] = holders.get(conversation, 0) + 1
    reproduced = sum(len(c) == 1 and holders[next(iter(c))] == 1 for c in where)
    extra = sum(max(0, len(c) - 1) for c in where)
    skipped = sum(w == SKIPPED for w in unit.where.values())
    return len(threads), reproduced, extra, skipped
