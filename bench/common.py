"""What the benches that drive the agent through its command line share: how to start it, its
config, and the lines that say what machine and code a figure came from."""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.servers import ImapServer

# aiosmtpd 1.4.6 logs a warning about its own deprecated attribute on every login.
logging.getLogger("mail.log").setLevel(logging.ERROR)
PASSWORD_ENV = "BENCH_INBOX_AGENT_PASSWORD"
# Open all week, all day: the hour a bench runs at does not change what the agent does.
HEAD = """\
[agent]
data_dir = "{data_dir}"
templates_dir = "{templates}"
{agent_extra}
[business_hours]
timezone = "UTC"
days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
start = "00:00"
end = "23:59"
holidays = []

[promise]
first_reply_within = "8h"
follow_up_before = "1h"
extend_by = "8h"
max_follow_ups = 2
escalate_to = "manager@example.com"
skip_older_than = "2d"
"""
MAILBOX = """
[[mailbox]]
name = "{name}"
address = "{address}"
display_name = "Example Co. Support"
staff = ["alice@example.com"]

[mailbox.imap]
host = "127.0.0.1"
port = {imap_port}
security = "none"
username = "{address}"
password_env = "{password_env}"
folder = "INBOX"
sent_folder = "Sent"

[mailbox.smtp]
host = "127.0.0.1"
port = {smtp_port}
security = "none"
username = "{address}"
password_env = "{password_env}"
"""


def write_config(
    path: Path, *, data_dir: Path, templates: Path, address: str, imap_port: int, smtp_port: int
) -> Path:
    """The agent's config for a bench run, written to ``path``."""
    return write_mailboxes_config(
        path,
        data_dir=data_dir,
        templates=templates,
        mailboxes={"support": address},
        imap_port=imap_port,
        smtp_port=smtp_port,
    )


def write_mailboxes_config(
    path: Path,
    *,
    data_dir: Path,
    templates: Path,
    mailboxes: dict[str, str],
    imap_port: int,
    smtp_port: int,
    poll_interval_seconds: int | None = None,
) -> Path:
    """A config with one ``[[mailbox]]`` per name -> address (the address is also its IMAP
    and SMTP login, all with the password in ``PASSWORD_ENV``), written to ``path``."""
    extra = (
        ""
        if poll_interval_seconds is None
        else f"poll_interval_seconds = {poll_interval_seconds}\n"
    )
    text = HEAD.format(data_dir=data_dir, templates=templates, agent_extra=extra)
    for name, address in mailboxes.items():
        text += MAILBOX.format(
            name=name,
            address=address,
            imap_port=imap_port,
            smtp_port=smtp_port,
            password_env=PASSWORD_ENV,
        )
    path.write_text(text, encoding="utf-8")
    return path


@dataclass(frozen=True)
class AgentCommand:
    """How a bench starts the agent: the command, its environment, and its templates."""

    argv: list[str]
    env: dict[str, str]
    templates: Path


def agent_command(code: Path | None, root: Path) -> AgentCommand:
    """The installed ``inbox-agent``, or ``python -m inbox_agent`` from the source tree
    ``code`` (how before / after figures are taken); ``root`` is this checkout."""
    env = dict(os.environ)
    env.pop("INBOX_AGENT_CONFIG", None)
    if code is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(code), env.get("PYTHONPATH")]))
        return AgentCommand([sys.executable, "-m", "inbox_agent"], env, code / "templates")
    found = shutil.which("inbox-agent")
    if found is None:
        raise SystemExit("no `inbox-agent` on PATH: pip install -e . (or pass --code)")
    return AgentCommand([found], env, root / "templates")


# --- the machine -------------------------------------------------------------------------------


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def tool_version(*command: str) -> str:
    try:
        done = subprocess.run(  # noqa: S603
            command,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unavailable ({exc})"
    return (
        (done.stdout or done.stderr).strip().splitlines()[0]
        if done.returncode == 0
        else f"unavailable (exit {done.returncode})"
    )


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def print_machine(
    server: ImapServer,
    code: Path | None,
    agent: list[str],
    env: dict[str, str],
    root: Path,
    *,
    startup: bool = False,
) -> None:
    """Machine, Python, IMAP server, libraries, the agent's command and code (with
    ``startup``, how long its ``--help`` takes: part of every figure of a bench that starts
    it per run), the load."""
    from importlib.metadata import version  # noqa: PLC0415

    tree = code or root
    commit = tool_version("git", "-C", str(tree), "log", "-1", "--format=%h %s")[:72]
    dirty = subprocess.run(  # noqa: S603
        [  # noqa: S607
            "git",
            "-C",
            str(tree),
            "status",
            "--porcelain",
            "--untracked-files=no",
            "--",
            "inbox_agent",
        ],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    if commit.startswith("unavailable"):
        commit, dirty = "no git checkout (name the commit in the folder's name)", ""
    where = "import inbox_agent; print(inbox_agent.__file__)"
    found = subprocess.run(  # noqa: S603
        [sys.executable, "-c", where],
        capture_output=True,
        text=True,
        env=env,
        cwd=tempfile.gettempdir(),
        check=False,
    ).stdout.strip()
    dovecot = tool_version("dovecot", "--version") if server.kind == "dovecot" else ""
    print(
        f"machine : {cpu_model()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"
    )
    print(f"python  : {platform.python_version()} ({sys.executable})")
    print(f"imap    : {server.kind} {dovecot} on 127.0.0.1:{server.port}")
    print(
        f"libs    : imapclient {version('imapclient')}, aiosmtplib {version('aiosmtplib')}, "
        f"tinydb {version('tinydb')}, aiosmtpd {version('aiosmtpd')}, "
        f"apscheduler {version('apscheduler')}"
    )
    print(f"agent   : {' '.join(agent)}")
    print(
        f"code    : {tree} at {commit}{' (uncommitted changes)' if dirty else ''}; "
        f"inbox_agent imported from {found or '?'}"
    )
    if startup:
        started = time.perf_counter()
        subprocess.run(  # noqa: S603
            [*agent, "--help"], capture_output=True, env=env, cwd=tempfile.gettempdir(), check=False
        )
        print(
            f"startup : `{' '.join(agent)} --help` takes "
            f"{time.perf_counter() - started:.2f} s (part of every agent figure below)"
        )
    print(f"load    : {load()} (1/5/15 min) at start; this machine is shared\n", flush=True)
