"""What the benches that drive the agent through its command line share: how to start it, and
its config."""

from __future__ import annotations

import logging
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

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
