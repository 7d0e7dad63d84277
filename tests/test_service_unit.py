"""``contrib/inbox-agent.service``: the directives a hardened service needs, a command line
the real CLI accepts, paths that agree with the config, and ``systemd-analyze verify``.

systemd cannot run as this test's PID 1, so the unit is read, not started: what it says is
checked against the agent (its CLI parser, its config loader, its stop grace).
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from inbox_agent import cli, config
from inbox_agent.daemon import STOP_GRACE_SECONDS

UNIT = Path(__file__).resolve().parents[1] / "contrib" / "inbox-agent.service"
# What the unit's own comment tells the operator to write in /etc/inbox-agent/config.toml.
SERVICE_CONFIG = """
[agent]
data_dir = "/var/lib/inbox-agent"
templates_dir = "templates"
[[mailbox]]
address = "support@example.com"
[mailbox.imap]
host = "imap.example.com"
username = "support@example.com"
password_env = "SUPPORT_IMAP_PASSWORD"
[mailbox.smtp]
host = "smtp.example.com"
username = "support@example.com"
password_env = "SUPPORT_SMTP_PASSWORD"
"""


def _directives(text: str) -> dict[tuple[str, str], list[str]]:
    """(section, key) -> every value, in order (a key may repeat, as SystemCallFilter can)."""
    found: dict[tuple[str, str], list[str]] = {}
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        found.setdefault((section, key.strip()), []).append(value.strip())
    return found


@pytest.fixture(scope="module")
def unit() -> dict[tuple[str, str], list[str]]:
    """The unit's directives."""
    return _directives(UNIT.read_text(encoding="utf-8"))


def _one(unit: dict[tuple[str, str], list[str]], key: str, section: str = "Service") -> str:
    (value,) = unit[(section, key)]
    return value


@pytest.mark.parametrize(("key", "value"), [
    ("Restart", "on-failure"),
    ("NoNewPrivileges", "yes"),
    ("ProtectSystem", "strict"),
    ("ProtectHome", "yes"),
    ("PrivateTmp", "yes"),
    ("StateDirectory", "inbox-agent"),
    ("StateDirectoryMode", "0700"),  # data_dir holds customers' mail
    ("ConfigurationDirectory", "inbox-agent"),
    ("UMask", "0077"),
    ("User", "inbox-agent"),
])
def test_the_hardening_the_service_needs(unit: dict[tuple[str, str], list[str]], key: str,
                                         value: str) -> None:
    """Each directive the issue asks for is there, with its value."""
    assert _one(unit, key) == value


def test_the_passwords_come_from_outside_the_config(
        unit: dict[tuple[str, str], list[str]]) -> None:
    """An EnvironmentFile under the configuration folder (read by systemd as root, so it can
    be 0600 root), never a password in the unit itself."""
    env_file = Path(_one(unit, "EnvironmentFile").removeprefix("-"))
    assert env_file.parent == Path("/etc") / _one(unit, "ConfigurationDirectory")
    assert not any("PASSWORD=" in value for (_, key), values in unit.items()
                   for value in values if key == "Environment")


def test_exec_start_is_a_command_line_the_cli_accepts(
        unit: dict[tuple[str, str], list[str]]) -> None:
    """The daemon (``run``, not ``--once``) from the venv under /opt, with the config in the
    configuration folder; argparse reads it as the real CLI does."""
    binary, *arguments = shlex.split(_one(unit, "ExecStart"))
    assert binary == "/opt/inbox-agent/bin/inbox-agent"
    args = cli._parser().parse_args(arguments)
    assert args.command == "run"
    assert not args.once
    assert not args.dry_run
    assert Path(args.config).parent == Path("/etc") / _one(unit, "ConfigurationDirectory")


def test_the_config_the_unit_describes_writes_only_where_it_may(
        unit: dict[tuple[str, str], list[str]]) -> None:
    """data_dir = "/var/lib/inbox-agent" is the StateDirectory and is in ReadWritePaths (the
    rest of the file system is read-only to the service); templates_dir = "templates" is read
    from the configuration folder, next to the config."""
    _, *arguments = shlex.split(_one(unit, "ExecStart"))
    settings = config.parse(SERVICE_CONFIG, Path(cli._parser().parse_args(arguments).config))
    state = Path("/var/lib") / _one(unit, "StateDirectory")
    assert settings.agent.data_dir == state
    assert str(state) in _one(unit, "ReadWritePaths").split()
    assert _one(unit, "WorkingDirectory") == str(state)
    assert settings.agent.templates_dir == Path("/etc/inbox-agent/templates")


def test_systemd_waits_longer_than_the_daemon_takes_to_stop(
        unit: dict[tuple[str, str], list[str]]) -> None:
    """On SIGTERM the daemon gives the cycle in flight STOP_GRACE_SECONDS, then stops it;
    systemd's TimeoutStopSec must leave it that long before SIGKILL."""
    match = re.fullmatch(r"(\d+)s", _one(unit, "TimeoutStopSec"))
    assert match is not None
    assert int(match.group(1)) > STOP_GRACE_SECONDS


def test_the_unit_is_installed_for_boot(unit: dict[tuple[str, str], list[str]]) -> None:
    """``systemctl enable`` has a target to hook it to; it starts once the network is up."""
    assert _one(unit, "WantedBy", "Install") == "multi-user.target"
    assert _one(unit, "After", "Unit") == "network-online.target"
    assert _one(unit, "Wants", "Unit") == "network-online.target"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze is not installed (apt-get install systemd)")
def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    """``systemd-analyze verify`` finds nothing to say. It insists that ExecStart's program
    exists, so the copy it reads runs this Python's ``-m inbox_agent`` instead of the venv's
    entry point; every other line is the unit's own."""
    text = UNIT.read_text(encoding="utf-8")
    entry = "/opt/inbox-agent/bin/inbox-agent"
    copy = tmp_path / "inbox-agent.service"
    copy.write_text(text.replace(entry, f"{sys.executable} -m inbox_agent"), encoding="utf-8")
    done = subprocess.run(["systemd-analyze", "verify", str(copy)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout + done.stderr == ""
