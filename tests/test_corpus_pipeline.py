"""The whole shared corpus through the real pipeline: parse, triage, file, acknowledge, send.

Every labelled message of ``../shared/corpus`` is delivered into one in-memory mailbox and the
agent runs one cycle, as ``run --once`` would, with the real store and templates. What went
out is read off the mail relay, so this measures what customers (and machines) would really
receive. The circuit breakers are set wide here: the corpus has dozens of messages from one
test address arriving at once, which in life would be a loop (``tests/test_breakers.py``).
Run with ``pytest -s`` for the figures per folder.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest

from inbox_agent.commands import views
from inbox_agent.core.conversations import Role
from inbox_agent.core.message import parse
from tests.core.test_corpus import BEYOND_RULES, CORPUS, DISPUTED_LABELS
from tests.worlds import MemoryWorld, ledger, london, make_settings, run

HUMAN_ACKNOWLEDGED_REQUIRED = 0.98
WIDE_LIMITS = """
[limits]
loop_window = "0m"
per_address_per_day = 100000
per_conversation_per_day = 100000
"""
# Human mail with no address anyone can deliver to: RT's test fixtures come from
# root@localhost. Labelled true (a person wrote them), but no relay can take a reply there.
UNANSWERABLE = frozenset(
    {
        "malformed/bestpractical-rt/new-ticket-from-gb18030.eml",
        "malformed/bestpractical-rt/outlook-rfc822.eml",
        "malformed/bestpractical-rt/rfc2231-attachment-filename-continuations.eml",
    }
)


def _folders() -> dict[str, list[tuple[str, bytes, bool | None]]]:
    """Each corpus folder's labelled files: (path in the corpus, bytes, label)."""
    found: dict[str, list[tuple[str, bytes, bool | None]]] = {}
    for labels_file in sorted(CORPUS.glob("*/*/labels.json")):
        labels = json.loads(labels_file.read_text(encoding="utf-8"))
        folder = labels_file.parent
        found[folder.relative_to(CORPUS).as_posix()] = [
            (
                (folder / name).relative_to(CORPUS).as_posix(),
                (folder / name).read_bytes(),
                label["auto_ack_expected"],
            )
            for name, label in sorted(labels.items())
        ]
    return found


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[bool | None, str]]:
    """Each corpus file -> (its label, what happened to it).

    What happened: "acknowledged"; "joined" (filed into a conversation an earlier message
    began); "held" (a customer's, filed without a mail: old, or no address); "machine" (filed
    as machine mail). A file whose Message-ID an earlier file of its folder already had is
    the same message to the agent (RFC 5322: a Message-ID names one message) and shares its
    fate. Each folder is its own mailbox: derived corpora reuse their source's Message-IDs.
    """
    if not CORPUS.is_dir():
        pytest.skip(f"shared corpus not found at {CORPUS.resolve()}")
    result: dict[str, tuple[bool | None, str]] = {}
    for folder, files in _folders().items():
        data_dir = tmp_path_factory.mktemp(folder.replace("/", "_"))
        world = MemoryWorld(make_settings(data_dir, extra=WIDE_LIMITS))
        for _, raw, _ in files:
            world.deliver(raw, london(16, 10, 0))
        report = run(world, london(16, 10, 5))
        assert report.fetched == len(files)
        happened = _what_happened(world)
        unexplained = [
            row
            for row in views.skipped(ledger(world.settings))
            if row["reason"] == "(no reason recorded)"
        ]
        assert unexplained == [], folder  # every message filed unanswered says why
        for path, raw, label in files:
            result[path] = (label, happened[parse(raw, london(16, 10, 0)).key])
    return result


def _what_happened(world: MemoryWorld) -> dict[str, str]:
    on_the_wire = {str(m["Message-ID"]) for m in world.sent()}
    on_disk = ledger(world.settings)
    happened = {
        s.key: "machine" if s.message.role is Role.MACHINE else "held" for s in on_disk.skipped
    }
    for conversation in on_disk.conversations.values():
        acknowledged = any(
            s.kind == "acknowledgement" and s.message_id in on_the_wire for s in conversation.sent
        )
        for n, message in enumerate(conversation.messages):
            if message.role is not Role.CUSTOMER:
                happened[message.key] = "machine"
            elif n == 0:
                happened[message.key] = "acknowledged" if acknowledged else "held"
            else:
                happened[message.key] = "joined"
    return happened


def test_every_message_is_filed(outcome: dict[str, tuple[bool | None, str]]) -> None:
    """Nothing is lost: every file is filed somewhere (or is the same message as one that is);
    the fixture fails on a file the ledger does not know."""
    assert {what for _, what in outcome.values()} <= {"acknowledged", "joined", "held", "machine"}


def test_no_machine_mail_is_answered(outcome: dict[str, tuple[bool | None, str]]) -> None:
    """Zero acknowledgements for mail labelled false, outside the explained lists."""
    explained = {path for path, _ in DISPUTED_LABELS} | {path for path, _ in BEYOND_RULES}
    answered = {
        path for path, (label, what) in outcome.items() if label is False and what == "acknowledged"
    }
    assert answered == explained  # and every explained one still is: no stale entry


def test_human_mail_is_answered(outcome: dict[str, tuple[bool | None, str]]) -> None:
    """Every message a person wrote from an address a reply can reach is acknowledged or joins
    its conversation (at least 98% required); the rest are exactly the listed unanswerable."""
    humans = {path: what for path, (label, what) in outcome.items() if label is True}
    reached = [path for path, what in humans.items() if what in ("acknowledged", "joined")]
    missed = sorted(set(humans) - set(reached))
    assert missed == sorted(UNANSWERABLE)
    answerable = len(humans) - len(UNANSWERABLE)
    assert len(reached) / answerable >= HUMAN_ACKNOWLEDGED_REQUIRED, missed


def test_report(outcome: dict[str, tuple[bool | None, str]]) -> None:
    """The figures per folder (visible with ``pytest -s``)."""
    folders = sorted({path.rsplit("/", 1)[0] for path in outcome})
    kinds = ("acknowledged", "joined", "held", "machine")
    lines = ["", f"{'folder':<52}" + "".join(f"{k:>13}" for k in kinds)]
    for folder in folders:
        counts = Counter(
            what for path, (_, what) in outcome.items() if path.rsplit("/", 1)[0] == folder
        )
        lines.append(f"{folder:<52}" + "".join(f"{counts[k]:>13}" for k in kinds))
    false = [what for label, what in outcome.values() if label is False]
    true = [what for label, what in outcome.values() if label is True]
    lines += [
        f"labelled false: {len(false)}, acknowledged {false.count('acknowledged')} "
        f"(the explained lists: {len(DISPUTED_LABELS)} disputed, {len(BEYOND_RULES)} with no "
        "machine header at all)",
        f"labelled true: {len(true)}, acknowledged or joined "
        f"{sum(w in ('acknowledged', 'joined') for w in true)} "
        f"({len(UNANSWERABLE)} from root@localhost, which no relay delivers to)",
    ]
    print("\n".join(lines))  # the figures are the point of this test
