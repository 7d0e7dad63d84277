"""Shards on one host: two ``inbox-agent run`` daemons with disjoint mailboxes on one Dovecot
and one relay never touch each other's mail or state; a third config on one of their
mailboxes is refused by ``check`` and ``run`` in one line naming the agent that has it."""

from __future__ import annotations

import email
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from pathlib import Path

import pytest

from inbox_agent import config
from inbox_agent.adapters import claims
from inbox_agent.adapters.store import LOCK_FILE
from tests.servers import ImapAccount, ImapServer, SmtpSink, wait_until
from tests.worlds import customer_mail, ledger, server_settings

pytestmark = pytest.mark.skipif(not claims.SUPPORTED, reason="claims are Linux's")


@dataclass
class Shard:
    """One agent: its mailbox, its config and data_dir, its customers, its process."""

    account: ImapAccount
    settings: config.Settings
    customers: set[str]
    env: dict[str, str]
    process: subprocess.Popen[str] | None = None

    def cli(self, *args: str, settings: config.Settings | None = None) -> list[str]:
        source = (settings or self.settings).source
        return [sys.executable, "-m", "inbox_agent", "--config", str(source), *args]

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.cli("run"), env=self.env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )

    def sent_folder(self) -> list[email.message.EmailMessage]:
        """The copies in the mailbox's Sent folder."""
        with self.account.client() as client:
            client.select_folder("Sent", readonly=True)
            fetched = client.fetch(client.search("ALL"), ["RFC822"])
        return [
            email.message_from_bytes(item[b"RFC822"], policy=policy.default)
            for item in fetched.values()
        ]

    def wait_for_copies(self, count: int) -> list[email.message.EmailMessage]:
        """The Sent folder once it holds ``count`` copies (filed after the relay's 250)."""
        wait_until(
            lambda: len(self.sent_folder()) >= count,
            30,
            f"{count} copies in {self.account.address}'s Sent folder",
        )
        return self.sent_folder()


def _shard(
    tmp_path: Path, imap_server: ImapServer, sink: SmtpSink, name: str, customers: set[str]
) -> Shard:
    address = f"{name}-{secrets.token_hex(4)}@example.com"
    password = secrets.token_hex(8)
    imap_server.add_user(address, password)
    account = ImapAccount(imap_server, address, password, address)
    data_dir = tmp_path / name
    data_dir.mkdir(mode=0o700)
    env = {**os.environ, "TEST_IMAP_PASSWORD": password, "TEST_SMTP_PASSWORD": "anything"}
    return Shard(account, server_settings(data_dir, account, sink), customers, env)


@pytest.fixture
def shards(
    tmp_path: Path, imap_server: ImapServer, smtp_sink: SmtpSink
) -> Iterator[tuple[Shard, Shard]]:
    """Two shops' agents, each with its own mailbox and data_dir; stopped after the test."""
    a = _shard(
        tmp_path,
        imap_server,
        smtp_sink,
        "shop-a",
        {"ana@a-customer.example", "ben@a-customer.example"},
    )
    b = _shard(
        tmp_path,
        imap_server,
        smtp_sink,
        "shop-b",
        {"cara@b-customer.example", "dan@b-customer.example"},
    )
    try:
        yield a, b
    finally:
        for shard in (a, b):
            if shard.process is not None and shard.process.poll() is None:
                shard.process.kill()
                shard.process.communicate()


def _deliver(shard: Shard) -> None:
    now = datetime.now(UTC)
    for customer in sorted(shard.customers):
        shard.account.append(
            "INBOX",
            customer_mail(customer, f"Order for {customer}", "Hi", now, To=shard.account.address),
            now,
        )


def _files(data_dir: Path) -> dict[Path, bytes]:
    return {path: path.read_bytes() for path in data_dir.rglob("*") if path.is_file()}


def _open_paths(pid: int) -> set[str]:
    """Every file the process has open, as the kernel names it."""
    fds = Path(f"/proc/{pid}/fd")
    found = set()
    for fd in fds.iterdir():
        try:
            found.add(os.readlink(fd))
        except OSError:  # closed since listed
            continue
    return found


def test_two_agents_on_one_server_keep_to_their_own_mailboxes(
    tmp_path: Path, shards: tuple[Shard, Shard], smtp_sink: SmtpSink
) -> None:
    """Each daemon acknowledges only its own mailbox's customers, from its own address; its
    store holds only its conversations; its Sent folder only its copies; neither has a file
    of the other's data_dir open, nor a word of the other's customers in its own."""
    a, b = shards
    _deliver(a)
    _deliver(b)
    a.start()
    b.start()
    received = smtp_sink.wait_for(4, timeout=60)
    for shard in (a, b):
        own = [r for r in received if r.mail_from == shard.account.address]
        assert {r.rcpt_tos[0] for r in own} == shard.customers
        assert {r.message["From"].addresses[0].addr_spec for r in own} == {shard.account.address}
        assert {
            c.customer for c in ledger(shard.settings).conversations.values()
        } == shard.customers
        copies = shard.wait_for_copies(2)
        assert {m["To"].addresses[0].addr_spec for m in copies} == shard.customers
        assert {m["From"].addresses[0].addr_spec for m in copies} == {shard.account.address}
    assert len(smtp_sink.received) == 4
    for shard, other in ((a, b), (b, a)):
        assert shard.process is not None
        lock = shard.settings.agent.data_dir / LOCK_FILE
        assert lock.read_text(encoding="ascii") == str(shard.process.pid)
        assert not any(
            p.startswith(str(other.settings.agent.data_dir)) for p in _open_paths(shard.process.pid)
        )
        words = [*other.customers, other.account.address]
        for path, content in _files(shard.settings.agent.data_dir).items():
            assert not any(w.encode() in content for w in words), path
    for shard in (a, b):
        assert shard.process is not None
        shard.process.send_signal(signal.SIGTERM)
        _, stderr = shard.process.communicate(timeout=30)
        assert shard.process.returncode == 0, stderr


def test_a_third_config_on_a_running_agents_mailbox_is_refused(
    tmp_path: Path, shards: tuple[Shard, Shard], smtp_sink: SmtpSink
) -> None:
    """A config of its own (its own data_dir) on agent A's mailbox: ``check`` fails on that
    mailbox and ``run --once`` refuses, each in one line naming A's pid and data_dir, and
    nothing is sent; ``check`` with A's own config passes. Once A stops, the mailbox is
    free."""
    a, _ = shards
    a.start()
    assert a.process is not None
    _deliver(a)
    smtp_sink.wait_for(2, timeout=60)
    (tmp_path / "third").mkdir(mode=0o700)  # else check's data folder line warns on stderr
    third = server_settings(tmp_path / "third", a.account, smtp_sink)
    holder = (
        f"is already looked after by another inbox-agent on this host (pid "
        f"{a.process.pid}, config {a.settings.source.resolve()}, data_dir "
        f"{a.settings.agent.data_dir.resolve()}); two agents on one mailbox would both "
        "answer every customer: give each mailbox to one agent (one config per shard)"
    )
    refused = (
        f"MailboxClaimedError: mailbox 'support' ({a.account.address} at "
        f"127.0.0.1:{a.account.server.port}, INBOX) {holder}\n"
    )

    check = subprocess.run(
        a.cli("check", settings=third),
        env=a.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert check.returncode == 1, check.stdout
    assert f"FAIL  {refused}" in check.stdout
    assert check.stderr == refused
    once = subprocess.run(
        a.cli("run", "--once", settings=third),
        env=a.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert once.returncode == 1
    assert once.stderr == refused
    own = subprocess.run(
        a.cli("check"), env=a.env, capture_output=True, text=True, timeout=60, check=False
    )
    assert own.returncode == 0, own.stdout + own.stderr
    assert (
        f"ok    mailbox 'support': looked after by this config's running agent (pid "
        f"{a.process.pid})\n"
    ) in own.stdout
    assert len(smtp_sink.received) == 2

    a.process.send_signal(signal.SIGTERM)
    _, stderr = a.process.communicate(timeout=30)
    assert a.process.returncode == 0, stderr
    free = subprocess.run(
        a.cli("check", settings=third),
        env=a.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert free.returncode == 0, free.stdout + free.stderr
    assert (
        "ok    mailbox 'support': no other inbox-agent on this host looks after it\n" in free.stdout
    )
