"""Times people read: every text view shows a moment one way, in the business's time zone with
its name (``wording.local_moment``); ISO 8601 with an offset only in ``--json``."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

from inbox_agent.cli import main
from tests.worlds import MemoryWorld, customer_mail, london, make_settings

ISO_MOMENT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")


def _world_with_mail(tmp_path: Path) -> tuple[MemoryWorld, str]:
    """Ana's question acknowledged, and an out-of-office filed without a reply."""
    world = MemoryWorld(make_settings(tmp_path))
    world.deliver(
        customer_mail("Ana <ana@customer.example>", "Invoice", "Hi", london(16, 10, 5)),
        london(16, 10, 5),
    )
    world.deliver(
        customer_mail(
            "Bob <bob@elsewhere.example>",
            "Out of office",
            "Away",
            london(16, 10, 7),
            Auto_Submitted="auto-replied",
        ),
        london(16, 10, 7),
    )
    asyncio.run(world.run_once(london(16, 10, 8)))
    return world, str(world.settings.source)


def _out(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    capsys.readouterr()
    assert main(list(argv)) == 0
    return capsys.readouterr().out


def test_threads_thread_and_skipped_show_london_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The promise, the messages, the mail sent and the skipped mail all read on London's
    clock with the zone named, and none as ISO 8601."""
    _, config = _world_with_mail(tmp_path)
    table = _out(capsys, "--config", config, "threads")
    assert "Tue 17 Nov 2026 09:45 London time" in table
    token = table.splitlines()[1].split()[0]
    detail = _out(capsys, "--config", config, "thread", token)
    assert "promised: Tue 17 Nov 2026 09:45 London time" in detail
    assert "  Mon 16 Nov 2026 10:05 London time  customer" in detail
    assert "made Mon 16 Nov 2026 10:08 London time  due Tue 17 Nov 2026 09:45 London time" in detail
    skipped = _out(capsys, "--config", config, "skipped")
    assert skipped.startswith("Mon 16 Nov 2026 10:07 London time  -")
    for text in (table, detail, skipped):
        assert not ISO_MOMENT.search(text), text


def test_json_keeps_iso_8601_with_its_offset(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--json`` is for programs: moments stay ISO 8601 with their offset."""
    _, config = _world_with_mail(tmp_path)
    (thread,) = json.loads(_out(capsys, "--config", config, "threads", "--json"))
    assert thread["promised_by"] == "2026-11-17T09:45:00+00:00"
    (row,) = json.loads(_out(capsys, "--config", config, "skipped", "--json"))
    assert row["arrived_at"] == "2026-11-16T10:07:00+00:00"
