"""The worlds the end-to-end stories run in: the same story, in memory or on real servers.

A world owns a mailbox to deliver into, a relay that records what the agent sent, a config,
and a data folder. ``run_once(now)`` is one ``inbox-agent run --once``: a fresh store opened
from disk, one cycle, closed again, so every step of a story is also a restart.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from inbox_agent import config
from inbox_agent.adapters.memory import MemoryMailbox, MemoryMailer
from inbox_agent.adapters.store import Store
from inbox_agent.agent import cycle
from inbox_agent.commands import views
from inbox_agent.commands.common import read_ledger
from inbox_agent.core.ledger import Ledger
from tests.servers import ImapAccount, SmtpSink

LONDON = ZoneInfo("Europe/London")
ROOT = Path(__file__).resolve().parents[1]
SUPPORT = "support@example.com"

CONFIG = """
[agent]
data_dir = "{data_dir}"
templates_dir = "{templates}"

[business_hours]
timezone = "Europe/London"
days = ["mon", "tue", "wed", "thu", "fri"]
start = "09:00"
end = "17:30"
holidays = ["2026-12-25", "2026-12-26"]

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
host = "{imap_host}"
port = {imap_port}
security = "none"
username = "{imap_user}"
password_env = "TEST_IMAP_PASSWORD"
folder = "{folder}"
sent_folder = "Sent"

[mailbox.smtp]
host = "{smtp_host}"
port = {smtp_port}
security = "none"
username = "{imap_user}"
password_env = "TEST_SMTP_PASSWORD"
"""


def london(day: int, hour: int, minute: int, month: int = 11) -> datetime:
    """A moment in November 2026, London time (16 November is a Monday)."""
    return datetime(2026, month, day, hour, minute, tzinfo=LONDON)


def customer_mail(sender: str, subject: str, body: str, sent: datetime, **headers: str) -> bytes:
    """A message as a person's mail client writes it."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = f"Example Co. Support <{SUPPORT}>"
    msg["Subject"] = subject
    msg["Date"] = format_datetime(sent)
    digest = hashlib.sha256(f"{sender}|{subject}|{sent}|{body}".encode()).hexdigest()[:16]
    msg["Message-ID"] = f"<{digest}@client.example>"
    msg.set_content(body)  # first: it clears every Content-* header set before it
    for name, value in headers.items():
        del msg[name.replace("_", "-")]  # To= replaces the support address
        msg[name.replace("_", "-")] = value
    return msg.as_bytes()


def make_settings(
    data_dir: Path,
    *,
    address: str = SUPPORT,
    imap_host: str = "127.0.0.1",
    imap_port: int = 143,
    imap_user: str = SUPPORT,
    folder: str = "INBOX",
    smtp_host: str = "127.0.0.1",
    smtp_port: int = 25,
    templates: Path = ROOT / "templates",
    extra: str = "",
) -> config.Settings:
    """The story's config, written to ``data_dir/config.toml`` and read by the real loader;
    ``extra`` is TOML added at the end (another section)."""
    text = (
        CONFIG.format(
            data_dir=data_dir,
            templates=templates,
            address=address,
            imap_host=imap_host,
            imap_port=imap_port,
            imap_user=imap_user,
            folder=folder,
            smtp_host=smtp_host,
            smtp_port=smtp_port,
        )
        + extra
    )
    path = data_dir / "config.toml"
    path.write_text(text, encoding="utf-8")
    return config.load(path)


class World(Protocol):
    """What a story needs from its surroundings."""

    settings: config.Settings

    def deliver(self, raw: bytes, arrived_at: datetime, folder: str = "INBOX") -> bool:
        """Put mail in ``folder``; False where the server refuses it (Dovecot: zero bytes)."""

    def renumber(self) -> None:
        """Give the folder a new UIDVALIDITY and new UIDs, keeping its messages."""

    def sent(self) -> list[EmailMessage]: ...

    async def run_once(self, now: datetime) -> cycle.CycleReport: ...


def ledger(settings: config.Settings) -> Ledger:
    """What is on disk now, read the way ``threads`` reads it."""
    return read_ledger(settings)


async def run_once(
    settings: config.Settings, adapters: cycle.Adapters, now: datetime
) -> cycle.CycleReport:
    """One ``run --once``: open the store from disk, one cycle, close."""
    with Store(settings.agent.data_dir) as store:
        agent = cycle.Agent(settings, store, adapters, clock=lambda: now)
        return await agent.run_cycle()


@dataclass
class MemoryWorld:
    """The in-memory mailbox and relay shipped in ``adapters.memory``."""

    settings: config.Settings
    mailbox: MemoryMailbox = field(default_factory=MemoryMailbox)
    mailer: MemoryMailer = field(default_factory=MemoryMailer)

    def deliver(self, raw: bytes, arrived_at: datetime, folder: str = "INBOX") -> bool:
        self.mailbox.deliver(raw, arrived_at, folder)
        return True

    def renumber(self) -> None:
        self.mailbox.renumber()

    def sent(self) -> list[EmailMessage]:
        return [record.message for record in self.mailer.sent]

    async def run_once(self, now: datetime) -> cycle.CycleReport:
        adapters = cycle.Adapters(mailbox=lambda _: self.mailbox, mailer=lambda _: self.mailer)
        return await run_once(self.settings, adapters, now)


@dataclass
class ServerWorld:
    """A real IMAP account (Dovecot, else pymap) and a real SMTP relay (aiosmtpd).

    The agent runs with its real adapters, exactly as ``run --once`` builds them.
    """

    settings: config.Settings
    account: ImapAccount
    sink: SmtpSink
    delivered: list[tuple[bytes, datetime]] = field(default_factory=list)

    def deliver(self, raw: bytes, arrived_at: datetime, folder: str = "INBOX") -> bool:
        if not raw:
            return False  # IMAP servers refuse to store an empty message (Dovecot: NO)
        self.account.append(folder, raw, arrived_at)
        if folder == "INBOX":
            self.delivered.append((raw, arrived_at))
        return True

    def renumber(self) -> None:
        # Rebuilding a folder empties it; deliver the same mail again, as a restore would.
        self.account.server.recreate_folder(self.account.username, self.account.password, "INBOX")
        for raw, arrived_at in self.delivered:
            self.account.append("INBOX", raw, arrived_at)

    def sent(self) -> list[EmailMessage]:
        return [received.message for received in self.sink.received]

    async def run_once(self, now: datetime) -> cycle.CycleReport:
        return await run_once(self.settings, cycle.real_adapters(self.settings), now)


def server_settings(data_dir: Path, account: ImapAccount, sink: SmtpSink) -> config.Settings:
    """The story's config pointed at the test servers."""
    return make_settings(
        data_dir,
        address=account.address,
        imap_port=account.server.port,
        imap_user=account.username,
        smtp_port=sink.port,
    )


def run(world: World, now: datetime) -> cycle.CycleReport:
    """One ``run --once`` of the agent in ``world`` at ``now``."""
    return asyncio.run(world.run_once(now))


def threads(world: World) -> list[dict[str, Any]]:
    """``threads --json --status all``, read from disk."""
    on_disk = ledger(world.settings)
    return [views.summary(c) for c in views.select(on_disk, "all")]


def to_address(message: EmailMessage) -> str:
    """The address a mail's ``To:`` names (the customer's name beside it left out)."""
    (address,) = message["To"].addresses
    return str(address.addr_spec)


def by_recipient(sent: list[EmailMessage]) -> dict[str, list[EmailMessage]]:
    """The mails sent, grouped by their To address."""
    grouped: dict[str, list[EmailMessage]] = {}
    for message in sent:
        grouped.setdefault(to_address(message), []).append(message)
    return grouped


def body(message: EmailMessage) -> str:
    """The text part of a mail, its whitespace collapsed (templates wrap lines)."""
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return " ".join(str(part.get_content()).split())


def reshaped(world: ServerWorld, business_hours: str, **lines: str) -> ServerWorld:
    """``world`` with a [business_hours] section of its own, and the config's other
    ``key = ...`` lines named in ``lines`` given new values (``first_reply_within='"2h"'``);
    the file is rewritten and read again by the real loader."""
    path = world.settings.source
    text = re.sub(
        r"\[business_hours\].*?(?=\n\[promise\])",
        business_hours.strip(),
        path.read_text(encoding="utf-8"),
        flags=re.DOTALL,
    )
    for key, value in lines.items():
        text, count = re.subn(rf"(?m)^{key} = .*$", f"{key} = {value}", text)
        assert count == 1, f"no single {key} line in the config"
    path.write_text(text, encoding="utf-8")
    return ServerWorld(config.load(path), world.account, world.sink)


def run_agent(
    config_path: Path, *args: str, verbose: bool = False, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``inbox-agent [-v] --config CONFIG ARGS`` as its own process, its output captured as
    text; two minutes at most."""
    loud = ["-v"] if verbose else []
    return subprocess.run(
        [sys.executable, "-m", "inbox_agent", *loud, "--config", str(config_path), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
