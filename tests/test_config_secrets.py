"""``inbox-agent check`` with a secret in the wrong place: one line, exit 1, no secret."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SECRET = "FilePass-Hunter2"
CONFIG = """
[[mailbox]]
address = "support@example.com"
[mailbox.imap]
host = "imap.example.com"
username = "support@example.com"
{imap}
[mailbox.smtp]
host = "smtp.example.com"
username = "support@example.com"
password_env = "SMTP_PW"
"""


@pytest.mark.parametrize(
    ("imap", "expected"),
    [
        (f'password_env = "{SECRET}"', "password_env is not an environment variable name"),
        (
            'password_env = "IMAP_PW"\nsecurity = "none"',
            'security = "none" would send the password',
        ),
    ],
)
def test_check_prints_one_line_without_the_secret(tmp_path: Path, imap: str, expected: str) -> None:
    """The error names the key and the fix; the pasted password appears nowhere."""
    config = tmp_path / "config.toml"
    config.write_text(CONFIG.format(imap=imap), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "inbox_agent", "--config", str(config), "check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"ConfigError: {config}: [mailbox.imap] of [[mailbox]] #1 ")
    assert expected in done.stderr
    assert SECRET not in done.stderr + done.stdout
