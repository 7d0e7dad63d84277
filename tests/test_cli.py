"""The command line: one-line errors, the JSON contract, the demo."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from inbox_agent.cli import main
from tests.worlds import MemoryWorld, customer_mail, london, make_settings


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "inbox_agent", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )


def test_bad_config_is_one_line_and_exit_1(tmp_path: Path) -> None:
    """A config mistake prints ErrorType: what; what to do, with no traceback."""
    config = tmp_path / "config.toml"
    config.write_text('[agent]\npoll_interval_seconds = "soon"\n')
    done = _cli("--config", str(config), "run", "--once")
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith(f"ConfigError: {config}: [agent] poll_interval_seconds")
    assert "Traceback" not in done.stderr


def test_missing_config_says_where_it_looked(tmp_path: Path) -> None:
    """Without --config, $INBOX_AGENT_CONFIG names the file."""
    missing = tmp_path / "nope.toml"
    done = _cli("threads", env={"INBOX_AGENT_CONFIG": str(missing), "PATH": ""})
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"ConfigError: {missing}: no such file; copy "
        "config.example.toml there, or pass --config PATH"
    )


def test_threads_json_follows_the_contract(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """threads --json: an array with id, status, customer, subject, promised_by, message_ids."""
    world = MemoryWorld(make_settings(tmp_path))
    world.deliver(
        customer_mail("Ana <ana@customer.example>", "Invoice", "Hi", london(16, 10, 5)),
        london(16, 10, 5),
    )
    asyncio.run(world.run_once(london(16, 10, 6)))
    config = str(world.settings.source)
    capsys.readouterr()
    assert main(["--config", config, "threads", "--json"]) == 0
    (thread,) = json.loads(capsys.readouterr().out)
    assert thread["status"] == "waiting"
    assert thread["customer"] == "ana@customer.example"
    assert thread["subject"] == "Invoice"
    assert thread["promised_by"] == "2026-11-17T09:45:00+00:00"  # 09:35 computed
    assert len(thread["message_ids"]) == 2
    assert main(["--config", config, "thread", thread["id"], "--json"]) == 0
    detail = json.loads(capsys.readouterr().out)
    assert detail["sent"][0]["state"] == "sent"
    assert detail["promises"][0]["due"] == "2026-11-17T09:45:00+00:00"
    assert main(["--config", config, "threads", "--status", "closed", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_unknown_thread_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """thread ID for a token that does not exist exits 1 with a hint."""
    config = str(make_settings(tmp_path).source)
    assert main(["--config", config, "thread", "ZZZZ"]) == 1
    assert "no conversation 'ZZZZ'" in capsys.readouterr().err


def test_demo_tells_the_story() -> None:
    """inbox-agent demo runs on nothing but the package and prints the timeline, each line a
    sentence, and ends with the next step: a config of one's own, then ``check``."""
    done = _cli("demo")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    # Ana wrote at 10:05: 8 open hours is Tue 09:35, promised as the next quarter hour.
    assert "reply to you tomorrow (Tuesday 24 November) by 09:45 London time.”" in out
    # Ana's follow-up, an hour before Tue 09:45, as a sentence.
    assert (
        "Mon 23 Nov 17:15  It sends a follow-up to ana@customer.example: “You will hear "
        "from a person by Wednesday 25 November, 09:15 London time.”" in out
    )
    assert (
        "The agent files it without a reply. The reason: Auto-Submitted: auto-replied (RFC 3834)."
    ) in out
    assert "It sends the report to manager@example.com: “This request is now yours:" in out
    assert "The week ends. Of its 6 promises, 4 extended" in out
    timeline = [
        line for line in out.splitlines() if line[:3] in ("Mon", "Tue", "Wed", "Thu", "Fri")
    ]
    assert len(timeline) > 20
    assert all(line.endswith((".", ".”")) for line in timeline), timeline
    assert out.rstrip().endswith("goes step by step.")
    assert re.search(r"^    cp \S*config\.example\.toml config\.toml +# ", out, re.MULTILINE)
    assert re.search(r"^    inbox-agent check +# ", out, re.MULTILINE)
