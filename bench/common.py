"""What the benches that drive the agent through its command line share: its config."""

from __future__ import annotations

import logging
from pathlib import Path

# aiosmtpd 1.4.6 logs a warning about its own deprecated attribute on every login.
logging.getLogger("mail.log").setLevel(logging.ERROR)
PASSWORD_ENV = "BENCH_INBOX_AGENT_PASSWORD"
# Open all week, all day: the hour a bench runs at does not change what the agent does.
CONFIG = """\
[agent]
data_dir = "{data_dir}"
templates_dir = "{templates}"

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

[[mailbox]]
name = "support"
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


def write_config(path: Path, *, data_dir: Path, templates: Path, address: str, imap_port: int,
                 smtp_port: int) -> Path:
    """The agent's config for a bench run, written to ``path``."""
    path.write_text(CONFIG.format(data_dir=data_dir, templates=templates, address=address,
                                  imap_port=imap_port, smtp_port=smtp_port,
                                  password_env=PASSWORD_ENV), encoding="utf-8")
    return path
