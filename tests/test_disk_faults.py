"""A disk that refuses a write at any point of a cycle (issue 11, item 6).

The cycle stops with one ``StoreWriteError``; every mail the relay accepted is recorded on
disk (its conversation lists it; its queue file is ``sending``, ``sent`` or gone because it is
done); the next cycle, with the disk back, sends every customer
exactly one acknowledgement. The refusal is injected at ``os.write`` on files in the data_dir,
from the k-th write of the cycle on, for every k until a cycle needs no more writes than that.
"""

from __future__ import annotations

import asyncio
import errno
import os
from collections import Counter
from pathlib import Path

import pytest

from inbox_agent.errors import StoreWriteError
from tests.worlds import MemoryWorld, customer_mail, ledger, london, make_settings, to_address

CUSTOMERS = [f"c{n}@customer.example" for n in range(3)]
MOST_WRITES = 60  # far more than a cycle of three customers makes: a loop, not a limit


def _refuse_writes_from(monkeypatch: pytest.MonkeyPatch, data_dir: Path, first: int) -> None:
    """From the ``first``-th write to a file under ``data_dir`` on, the disk is full."""
    real_write = os.write
    count = 0

    def write(fd: int, data: bytes | memoryview) -> int:
        nonlocal count
        if os.readlink(f"/proc/self/fd/{fd}").startswith(str(data_dir)):
            count += 1
            if count > first:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)


def _world(data_dir: Path) -> MemoryWorld:
    data_dir.mkdir()
    world = MemoryWorld(make_settings(data_dir))
    for n, customer in enumerate(CUSTOMERS):
        world.deliver(
            customer_mail(f"Customer <{customer}>", f"Question {n}", "Hello", london(16, 10, 0)),
            london(16, 10, 0),
        )
    return world


def _cycle_with_writes_refused_from(world: MemoryWorld, first: int) -> bool:
    """One cycle; True when the disk refused one of its writes."""
    data_dir = world.settings.agent.data_dir
    refused: StoreWriteError | None = None
    with pytest.MonkeyPatch.context() as patch:
        _refuse_writes_from(patch, data_dir, first)
        try:
            asyncio.run(world.run_once(london(16, 10, 1)))
        except StoreWriteError as exc:
            refused = exc
    if refused is None:
        return False
    assert "\n" not in refused.one_line()
    assert "could not write (No space left on device); nothing was sent" in str(refused)
    return True


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd")
def test_a_full_disk_at_any_write_of_a_cycle_loses_and_repeats_nothing(tmp_path: Path) -> None:
    for first in range(MOST_WRITES):
        world = _world(tmp_path / f"refused-from-{first}")
        refused = _cycle_with_writes_refused_from(world, first)
        on_disk = ledger(world.settings)
        went = {str(m["Message-ID"]) for m in world.sent()}
        listed = {s.message_id for c in on_disk.conversations.values() for s in c.sent}
        assert went <= listed  # the conversation lists every mail that went
        in_queue = {mid: on_disk.outbox[mid].state for mid in went if mid in on_disk.outbox}
        assert set(in_queue.values()) <= {"sending", "sent"}  # or it is done and gone
        asyncio.run(world.run_once(london(16, 10, 2)))  # the disk has space again
        assert Counter(to_address(m) for m in world.sent()) == Counter(CUSTOMERS)
        assert ledger(world.settings).outbox == {}  # all done
        if not refused:
            return  # every write of a whole cycle has been refused once
    pytest.fail(f"a cycle made more than {MOST_WRITES} writes")
