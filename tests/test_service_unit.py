"""``contrib/inbox-agent.service``: the directives a hardened service needs, a command line
the real CLI accepts, paths that agree with the config, and ``systemd-analyze verify``; and
``contrib/inbox-agent@.service``, one instance per shard: the same directives but for its own
config, secrets and data_dir.

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


@pytest.mark.parametrize(
    ("key", "value"),
    [
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
    ],
)
def test_the_hardening_the_service_needs(
    unit: dict[tuple[str, str], list[str]], key: str, value: str
) -> None:
    """Each directive the issue asks for is there, with its value."""
    assert _one(unit, key) == value


def test_the_passwords_come_from_outside_the_config(unit: dict[tuple[str, str], list[str]]) -> None:
    """An EnvironmentFile under the configuration folder (read by systemd as root, so it can
    be 0600 root), never a password in the unit itself."""
    env_file = Path(_one(unit, "EnvironmentFile").removeprefix("-"))
    assert env_file.parent == Path("/etc") / _one(unit, "ConfigurationDirectory")
    assert not any(
        "PASSWORD=" in value
        for (_, key), values in unit.items()
        for value in values
        if key == "Environment"
    )


def test_exec_start_is_a_command_line_the_cli_accepts(
    unit: dict[tuple[str, str], list[str]],
) -> None:
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
    unit: dict[tuple[str, str], list[str]],
) -> None:
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
    unit: dict[tuple[str, str], list[str]],
) -> None:
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


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze is not installed (apt-get install systemd)",
)
def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    """``systemd-analyze verify`` finds nothing to say. It insists that ExecStart's program
    exists, so the copy it reads runs this Python's ``-m inbox_agent`` instead of the venv's
    entry point; every other line is the unit's own."""
    text = UNIT.read_text(encoding="utf-8")
    entry = "/opt/inbox-agent/bin/inbox-agent"
    copy = tmp_path / "inbox-agent.service"
    copy.write_text(text.replace(entry, f"{sys.executable} -m inbox_agent"), encoding="utf-8")
    done = subprocess.run(
        ["systemd-analyze", "verify", str(copy)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout + done.stderr == ""


# --- contrib/inbox-agent@.service: one instance per shard -----------------------------------

TEMPLATE = UNIT.with_name("inbox-agent@.service")
SHARD = "shop1"
# What differs from instance to instance; every other directive is inbox-agent.service's own.
PER_SHARD = {
    ("Unit", "Description"),
    ("Service", "ExecStart"),
    ("Service", "EnvironmentFile"),
    ("Service", "StateDirectory"),
    ("Service", "WorkingDirectory"),
    ("Service", "ReadWritePaths"),
}


@pytest.fixture(scope="module")
def instance() -> dict[tuple[str, str], list[str]]:
    """The directives of ``inbox-agent@shop1.service`` (``%i`` is the instance's name)."""
    return _directives(TEMPLATE.read_text(encoding="utf-8").replace("%i", SHARD))


def _shard_config() -> str:
    """The shard's config as the template's comment tells the operator to write it: the
    single service's, with the data_dir and templates_dir lines the comment gives."""
    comment = TEMPLATE.read_text(encoding="utf-8").split("\n[Unit]")[0].replace("%i", SHARD)
    data_dir = f'data_dir = "/var/lib/inbox-agent/{SHARD}"'
    assert f'In {SHARD}.toml: {data_dir} and templates_dir = "templates"' in comment
    assert f"/etc/inbox-agent/{SHARD}.toml" in comment
    return SERVICE_CONFIG.replace('data_dir = "/var/lib/inbox-agent"', data_dir)


def test_the_template_is_hardened_as_the_service_is(
    unit: dict[tuple[str, str], list[str]], instance: dict[tuple[str, str], list[str]]
) -> None:
    """Every directive but the per-shard paths is the single service's, with its value: the
    same user, hardening, restart policy and stop timeout, nothing dropped or added."""

    def shared(directives: dict[tuple[str, str], list[str]]) -> dict[tuple[str, str], list[str]]:
        return {key: values for key, values in directives.items() if key not in PER_SHARD}

    assert shared(instance) == shared(unit)
    assert set(instance) == set(unit)


def test_each_shard_runs_its_own_config_and_writes_only_its_data_dir(
    instance: dict[tuple[str, str], list[str]],
) -> None:
    """``inbox-agent@shop1``: the daemon with /etc/inbox-agent/shop1.toml (argparse reads it as
    the real CLI does) and shop1.env's passwords; the config the comment describes has
    data_dir /var/lib/inbox-agent/shop1, its StateDirectory, working directory and only
    writable path; templates are the shared ones next to the configs."""
    binary, *arguments = shlex.split(_one(instance, "ExecStart"))
    assert binary == "/opt/inbox-agent/bin/inbox-agent"
    args = cli._parser().parse_args(arguments)
    assert (args.command, args.once, args.dry_run) == ("run", False, False)
    etc = Path("/etc") / _one(instance, "ConfigurationDirectory")
    assert Path(args.config) == etc / f"{SHARD}.toml"
    assert Path(_one(instance, "EnvironmentFile")) == etc / f"{SHARD}.env"
    settings = config.parse(_shard_config(), Path(args.config))
    state = Path("/var/lib") / _one(instance, "StateDirectory")
    assert settings.agent.data_dir == state == Path("/var/lib/inbox-agent") / SHARD
    assert _one(instance, "ReadWritePaths").split() == [str(state)]
    assert _one(instance, "WorkingDirectory") == str(state)
    assert settings.agent.templates_dir == etc / "templates"


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze is not installed (apt-get install systemd)",
)
def test_systemd_analyze_verify_accepts_an_instance(tmp_path: Path) -> None:
    """``systemd-analyze verify`` of the template as ``inbox-agent@shop1.service`` (so ``%i``
    is resolved) finds nothing to say; ExecStart runs this Python, as above."""
    text = TEMPLATE.read_text(encoding="utf-8")
    entry = "/opt/inbox-agent/bin/inbox-agent"
    copy = tmp_path / f"inbox-agent@{SHARD}.service"
    copy.write_text(text.replace(entry, f"{sys.executable} -m inbox_agent"), encoding="utf-8")
    done = subprocess.run(
        ["systemd-analyze", "verify", str(copy)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout + done.stderr == ""
