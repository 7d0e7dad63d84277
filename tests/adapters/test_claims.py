"""Mailbox claims (``adapters/claims.py``): a held mailbox's abstract socket answers who holds
it, a second claim is refused naming the holder, and the name is free again when the holder
lets go or is killed. The holder runs in a real process where its death matters."""

from __future__ import annotations

import asyncio
import errno
import os
import secrets
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from inbox_agent import config
from inbox_agent.adapters import claims
from inbox_agent.errors import ConfigError, MailboxClaimedError
from tests.worlds import make_settings

pytestmark = pytest.mark.skipif(not claims.SUPPORTED, reason="claims are Linux's")

# A holder in a process of its own: claims the config's mailboxes, says so, waits to be killed.
HOLDER = """
import asyncio, sys
from pathlib import Path
from inbox_agent import config
from inbox_agent.adapters import claims

async def hold() -> None:
    with claims.held(config.load(Path(sys.argv[1])), dry_run=False):
        print("held", flush=True)
        await asyncio.Event().wait()

asyncio.run(hold())
"""


def _settings(folder: Path, user: str, extra: str = "") -> config.Settings:
    folder.mkdir(exist_ok=True)
    return make_settings(folder, imap_user=user, extra=extra)


@pytest.fixture
def user() -> str:
    """A login no other test (nor another test run on this host) claims."""
    return f"claims-{secrets.token_hex(6)}@example.com"


@pytest.fixture
def holder(tmp_path: Path, user: str) -> Iterator[tuple[subprocess.Popen[str], config.Settings]]:
    """An agent's claim held by another process, and that process's config."""
    settings = _settings(tmp_path / "holder", user)
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(settings.source)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "held\n", proc.stderr.read() if proc.stderr else ""
        yield proc, settings
    finally:
        proc.kill()
        proc.wait()


async def _hold_then(
    settings: config.Settings, then: Callable[[], claims.Holder | None]
) -> claims.Holder | None:
    """Hold ``settings``' mailboxes in this event loop while ``then`` runs in a thread (the
    loop must be free to answer)."""
    with claims.held(settings, dry_run=False):
        return await asyncio.to_thread(then)


def test_the_name_is_the_mailbox_not_how_it_is_spelt(user: str, tmp_path: Path) -> None:
    """Host, login and INBOX in any case name one mailbox; another port, login or folder is
    another mailbox. The name is an abstract socket's (a leading NUL), never a file."""
    (mailbox,) = _settings(tmp_path, user).mailboxes
    name = claims.claim_name(mailbox)
    assert name.startswith(b"\0inbox-agent/mailbox/")
    imap = mailbox.imap
    same = [
        replace(imap, host=imap.host.upper()),
        replace(imap, username=user.upper()),
        replace(imap, folder="inbox"),
    ]
    other = [
        replace(imap, port=imap.port + 1),
        replace(imap, username="x" + user),
        replace(imap, folder="Support"),
        replace(imap, host="imap.example.com"),
    ]
    assert {claims.claim_name(replace(mailbox, imap=i)) for i in same} == {name}
    assert name not in {claims.claim_name(replace(mailbox, imap=i)) for i in other}
    assert claims.claim_name(
        replace(mailbox, imap=replace(imap, folder="Support"))
    ) != claims.claim_name(replace(mailbox, imap=replace(imap, folder="support")))


def test_a_held_mailbox_says_who_holds_it_and_is_free_after(tmp_path: Path, user: str) -> None:
    """While held, asking the name gives this process's pid, config, data_dir and mailbox;
    once the block ends no one holds it."""
    settings = _settings(tmp_path, user)
    name = claims.claim_name(settings.mailboxes[0])
    asked = asyncio.run(_hold_then(settings, lambda: claims.ask(name)))
    assert asked is not None
    assert asked.pid == os.getpid()
    assert asked.config == str(settings.source.resolve())
    assert asked.data_dir == str(settings.agent.data_dir.resolve())
    assert asked.mailbox == "support"
    assert asked.has_data_of(settings)
    assert claims.ask(name) is None


def test_another_process_holding_it_is_refused_by_name(
    holder: tuple[subprocess.Popen[str], config.Settings], tmp_path: Path, user: str
) -> None:
    """A second agent on the same mailbox with its own data_dir: held() and check's probe()
    refuse in one line naming the holder's pid, config and data_dir, and what to do."""
    proc, theirs = holder
    ours = _settings(tmp_path / "ours", user)

    async def claim() -> None:
        with claims.held(ours, dry_run=False):
            pass

    with pytest.raises(MailboxClaimedError) as refused:
        asyncio.run(claim())
    line = refused.value.one_line()
    assert line == (
        f"MailboxClaimedError: mailbox 'support' ({user} at 127.0.0.1:143, INBOX) is already "
        f"looked after by another inbox-agent on this host (pid {proc.pid}, config "
        f"{theirs.source.resolve()}, data_dir {theirs.agent.data_dir.resolve()}); two agents "
        "on one mailbox would both answer every customer: give each mailbox to one agent (one "
        "config per shard)"
    )
    with pytest.raises(MailboxClaimedError, match=f"pid {proc.pid}, config "):
        claims.probe(ours, ours.mailboxes[0])


def test_check_accepts_the_running_agent_of_its_own_data_dir(
    holder: tuple[subprocess.Popen[str], config.Settings],
) -> None:
    """probe() with the holder's own config (another process, the same data_dir) is the
    running agent of that config: no refusal, and it is named."""
    proc, theirs = holder
    found = claims.probe(theirs, theirs.mailboxes[0])
    assert found is not None
    assert found.pid == proc.pid


def test_a_dry_run_claims_nothing_and_is_not_refused(
    holder: tuple[subprocess.Popen[str], config.Settings], tmp_path: Path, user: str
) -> None:
    """run --dry-run sends nothing: it neither claims nor is refused."""
    ours = _settings(tmp_path / "ours", user)

    async def rehearse() -> None:
        with claims.held(ours, dry_run=True):
            pass

    asyncio.run(rehearse())


def test_the_claim_is_freed_when_its_holder_is_killed(
    holder: tuple[subprocess.Popen[str], config.Settings], tmp_path: Path, user: str
) -> None:
    """SIGKILL leaves no stale claim: the kernel frees the name with the process, and the
    next agent claims the mailbox at once."""
    proc, _ = holder
    ours = _settings(tmp_path / "ours", user)
    name = claims.claim_name(ours.mailboxes[0])
    assert claims.ask(name) is not None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert claims.ask(name) is None
    asked = asyncio.run(_hold_then(ours, lambda: claims.ask(name)))
    assert asked is not None
    assert asked.pid == os.getpid()


def test_a_holder_that_does_not_answer_is_named_by_its_pid(
    tmp_path: Path, user: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Something that listens on the name but says nothing (a busy or foreign process) still
    refuses the claim, named by the pid the kernel gives."""
    monkeypatch.setattr(claims, "ANSWER_TIMEOUT_SECONDS", 0.2)
    ours = _settings(tmp_path, user)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as squatter:
        squatter.bind(claims.claim_name(ours.mailboxes[0]))
        squatter.listen(1)
        with pytest.raises(
            MailboxClaimedError, match=rf"\(pid {os.getpid()}, it did not say which config\)"
        ):
            claims.probe(ours, ours.mailboxes[0])


def test_one_config_with_one_folder_twice_is_a_config_mistake(tmp_path: Path, user: str) -> None:
    """Two [[mailbox]] on the same login and folder would answer every customer twice: a
    ConfigError naming both, before anything is claimed."""
    twice = f"""
[[mailbox]]
name = "again"
address = "{user}"
display_name = "Again"
[mailbox.imap]
host = "127.0.0.1"
port = 143
security = "none"
username = "{user.upper()}"
password_env = "TEST_IMAP_PASSWORD"
folder = "inbox"
[mailbox.smtp]
host = "127.0.0.1"
port = 25
security = "none"
"""
    settings = _settings(tmp_path, user, extra=twice)
    with pytest.raises(ConfigError, match="'support' and 'again' read the same folder"):
        claims.probe(settings, settings.mailboxes[1])


def test_elsewhere_than_linux_nothing_is_claimed(
    tmp_path: Path, user: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Abstract sockets are Linux's: elsewhere held() claims nothing and probe() finds no one."""
    monkeypatch.setattr(claims, "SUPPORTED", False)
    settings = _settings(tmp_path, user)
    name = claims.claim_name(settings.mailboxes[0])
    assert asyncio.run(_hold_then(settings, lambda: claims.ask(name))) is None
    assert claims.probe(settings, settings.mailboxes[0]) is None


def test_a_system_that_refuses_the_socket_runs_unclaimed_with_a_warning(
    tmp_path: Path, user: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The claim is a safety net: where the socket itself is refused (a sandbox without
    AF_UNIX, no descriptors left) the agent runs, and the log says what to make sure of."""

    def refused(name: bytes) -> socket.socket:
        raise OSError(errno.EMFILE, os.strerror(errno.EMFILE))

    monkeypatch.setattr(claims, "_listen", refused)
    settings = _settings(tmp_path, user)
    assert asyncio.run(_hold_then(settings, lambda: None)) is None
    assert (
        f"mailbox 'support' ({user} at 127.0.0.1:143, INBOX): not claimed (Too many open "
        "files); make sure no other agent on this host looks after it"
    ) in caplog.messages
