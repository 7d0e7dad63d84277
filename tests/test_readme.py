"""The README a new user starts from: two set-up commands first (a virtual environment and the
demo; the tests, as CI runs them), Python's version as pyproject.toml says, no file outside
the repository, and a test run that says which IMAP server it used."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
TEST_COMMAND = "pip install -e '.[test]' && pytest"


def _opening() -> tuple[str, list[str]]:
    """The README's text before its first code block, and that block's lines."""
    match = re.match(r"# inbox-agent\n(.*?)```sh\n(.*?)```", README, re.S)
    assert match is not None, "the README must open with a sh code block"
    return match.group(1), match.group(2).splitlines()


def test_the_readme_starts_with_exactly_two_set_up_commands() -> None:
    """The first makes and enters a virtual environment, installs and runs the demo; the
    second is the test command CI runs word for word."""
    _, commands = _opening()
    assert len(commands) == 2
    first, second = commands
    assert first.startswith("python3 -m venv .venv && . .venv/bin/activate && pip install -e .")
    assert first.endswith(" && inbox-agent demo")
    assert second == TEST_COMMAND
    assert TEST_COMMAND in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_the_python_it_needs_comes_first() -> None:
    """The version named above the commands is the one pyproject.toml requires."""
    before, _ = _opening()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["requires-python"] == ">=3.11"
    assert "Python 3.11 or newer" in before


def test_the_virtual_environment_is_not_committed() -> None:
    """``.venv/`` (the first command's) is ignored by git."""
    assert ".venv/" in (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()


def test_the_readme_names_no_file_outside_the_repository() -> None:
    """No ``../`` path, no path of the machine it was written on; every repository file it
    names in backticks exists."""
    assert "../" not in README
    for private in ("/work/", "/tmp/", "/root/"):  # noqa: S108 - looked for, not used
        assert private not in README, private
    named = re.findall(
        r"`((?:inbox_agent|tests|contrib|templates|bench|\.ci)/[\w./-]*[\w])`", README
    )
    assert "contrib/inbox-agent.service" in named
    missing = [name for name in named if not (ROOT / name).exists()]
    assert missing == []


def _header(imap: str | None) -> list[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("INBOX_AGENT_TEST_IMAP", "INBOX_AGENT_REQUIRE_DOVECOT")
    }
    if imap is not None:
        env["INBOX_AGENT_TEST_IMAP"] = imap
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-p",
            "no:cacheprovider",
            str(Path(__file__)),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return [line for line in done.stdout.splitlines() if line.startswith("IMAP test server:")]


def test_the_test_run_says_it_uses_pymap() -> None:
    """Chosen by INBOX_AGENT_TEST_IMAP=pymap: the header says pymap, and why."""
    assert _header("pymap") == [
        "IMAP test server: pymap, the pure-Python server (INBOX_AGENT_TEST_IMAP=pymap)"
    ]


@pytest.mark.skipif(shutil.which("dovecot") is None, reason="Dovecot is not installed")
def test_the_test_run_says_it_uses_dovecot() -> None:
    """Where Dovecot is installed: the header names it, its version, and the fallback."""
    (line,) = _header(None)
    assert re.fullmatch(
        r"IMAP test server: Dovecot \d+\.\d+\S* .*\(\S*dovecot; if it does not "
        r"start, pymap, with a warning\)",
        line,
    ), line
