"""Mistakes an operator makes setting up a mailbox: each is one line saying what to fix, from
``inbox-agent check`` and from ``run``, against real servers on 127.0.0.1 (Dovecot, else
pymap, and the aiosmtpd relay).

A wrong port (the IMAP port given as the SMTP one), nothing listening, STARTTLS asked of a
server that offers none, a ``sent_folder`` that does not exist, an empty password variable,
and a misspelt key.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.servers import DovecotServer, ImapAccount, SmtpSink
from tests.worlds import customer_mail, server_settings


@pytest.fixture
def env(imap_account: ImapAccount) -> dict[str, str]:
    """Passwords the way an operator sets them."""
    return {
        **os.environ,
        "TEST_IMAP_PASSWORD": imap_account.password,
        "TEST_SMTP_PASSWORD": "anything",
    }


def _config(
    tmp_path: Path,
    account: ImapAccount,
    sink: SmtpSink,
    imap: Callable[[str], str] = str,
    smtp: Callable[[str], str] = str,
) -> Path:
    """The stories' config on the test servers, its [mailbox.imap] and [mailbox.smtp]
    sections changed by ``imap`` and ``smtp``."""
    path = server_settings(tmp_path, account, sink).source
    head, smtp_section = path.read_text(encoding="utf-8").split("[mailbox.smtp]")
    before, imap_section = head.split("[mailbox.imap]")
    path.write_text(
        f"{before}[mailbox.imap]{imap(imap_section)}[mailbox.smtp]{smtp(smtp_section)}",
        encoding="utf-8",
    )
    return path


def _agent(config: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "inbox_agent", "--config", str(config), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _check_fails_with(config: Path, env: dict[str, str], expected: str) -> str:
    """``check`` exits 1; the FAIL line on stdout and the one line on stderr say ``expected``;
    returns that line."""
    done = _agent(config, env, "check")
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert "Traceback" not in done.stderr
    line = done.stderr.strip()
    assert expected in line, line
    assert f"FAIL  {line}" in done.stdout.splitlines()
    return line


def _port(text: str, port: int) -> str:
    return re.sub(r"port = \d+", f"port = {port}", text)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _deliver(account: ImapAccount) -> None:
    now = datetime.now(UTC)
    account.append("INBOX", customer_mail("Ana <ana@customer.example>", "Invoice", "Hi", now), now)


def test_an_smtp_port_that_answers_like_imap(
    tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink, env: dict[str, str]
) -> None:
    """The IMAP port written as the SMTP port: "not an SMTP server (it greeted like IMAP)",
    from check, and from run in the line that says the mail waits."""
    port = imap_account.server.port
    config = _config(tmp_path, imap_account, smtp_sink, smtp=lambda s: _port(s, port))
    line = _check_fails_with(
        config,
        env,
        f"127.0.0.1:{port} is not an SMTP server (it greeted like IMAP); check [mailbox.smtp] port",
    )
    assert line.startswith("TemporarySendError: 127.0.0.1:")
    _deliver(imap_account)
    run = _agent(config, env, "run", "--once")
    assert "acknowledgement to ana@customer.example not sent yet" in run.stderr
    assert f"127.0.0.1:{port} is not an SMTP server (it greeted like IMAP)" in run.stderr


def test_an_imap_port_that_answers_like_smtp(
    tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink, env: dict[str, str]
) -> None:
    """And the other way round: the relay's port as the IMAP port."""
    config = _config(tmp_path, imap_account, smtp_sink, imap=lambda s: _port(s, smtp_sink.port))
    expected = (
        f"MailboxConnectionError: 127.0.0.1:{smtp_sink.port} is not an IMAP server "
        "(it greeted like SMTP); check [mailbox.imap] port"
    )
    _check_fails_with(config, env, expected)
    run = _agent(config, env, "run", "--once")
    assert run.returncode == 1
    assert run.stderr.startswith(expected), run.stderr


@pytest.mark.parametrize("side", ["imap", "smtp"])
def test_connection_refused_names_the_address_and_asks(
    tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink, env: dict[str, str], side: str
) -> None:
    """Nothing listens there: host:port, "is the server running, and is the port right?"."""
    port = _closed_port()
    change = {side: lambda s: _port(s, port)}
    config = _config(tmp_path, imap_account, smtp_sink, **change)
    expected = (
        f"{side.upper()} 127.0.0.1:{port}: connection refused; is the server running, "
        f"and is the port right? check host and port in [mailbox.{side}]"
    )
    _check_fails_with(config, env, expected)
    if side == "smtp":
        _deliver(imap_account)
    run = _agent(config, env, "run", "--once")
    assert expected in run.stderr


@pytest.mark.parametrize("side", ["imap", "smtp"])
def test_starttls_that_the_server_does_not_offer(
    tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink, env: dict[str, str], side: str
) -> None:
    """security = "starttls" where the server offers none (the test servers have no TLS):
    the line says so and that nothing was sent; the relay received nothing."""

    def starttls(section: str) -> str:
        return section.replace('security = "none"', 'security = "starttls"')

    config = _config(tmp_path, imap_account, smtp_sink, **{side: starttls})
    expected = {
        "smtp": (
            f"SMTP 127.0.0.1:{smtp_sink.port} does not offer STARTTLS, which security = "
            '"starttls" requires; nothing was sent: check port and security in '
            "[mailbox.smtp]"
        ),
        # imapclient's words, then ours: "Server does not support STARTTLS capability"
        "imap": (
            "the connection is not secured, so nothing was sent: check security and "
            "port in [mailbox.imap]"
        ),
    }[side]
    line = _check_fails_with(config, env, expected)
    assert "STARTTLS" in line
    if side == "smtp":
        _deliver(imap_account)
    run = _agent(config, env, "run", "--once")
    assert expected in run.stderr
    assert smtp_sink.received == []


def test_implicit_tls_on_a_plain_port_says_which_ports_are_which(
    tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink, env: dict[str, str]
) -> None:
    """security = "tls" on a port that speaks no TLS: not a bare SSL error number."""

    def tls(section: str) -> str:
        return section.replace('security = "none"', 'security = "tls"')

    config = _config(tmp_path, imap_account, smtp_sink, smtp=tls)
    _check_fails_with(
        config,
        env,
        f"SMTP 127.0.0.1:{smtp_sink.port}: no TLS on this port "
        '(security = "tls"); check port and security in [mailbox.smtp]: 465 is '
        '"tls", 587 is "starttls"',
    )
    config = _config(tmp_path, imap_account, smtp_sink, imap=tls)
    _check_fails_with(
        config,
        env,
        f'IMAP 127.0.0.1:{imap_account.server.port}: no TLS on this port (security = "tls")',
    )


def test_a_sent_folder_that_does_not_exist(
    tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink, env: dict[str, str]
) -> None:
    """sent_folder = "Sent Items" where the server calls it "Sent": the line lists the
    server's folders, marks the one flagged \\Sent (Dovecot's SPECIAL-USE), and suggests it.
    run reads the inbox all the same and says it once."""
    config = _config(
        tmp_path,
        imap_account,
        smtp_sink,
        imap=lambda s: s.replace('sent_folder = "Sent"', 'sent_folder = "Sent Items"'),
    )
    where = f"IMAP 127.0.0.1:{imap_account.server.port}"
    line = _check_fails_with(
        config,
        env,
        f"MailboxFolderError: {where} has no folder "
        "'Sent Items' (sent_folder in [mailbox.imap]); did you mean "
        "'Sent'? The server has: ",
    )
    assert "'INBOX'" in line
    if isinstance(imap_account.server, DovecotServer):
        assert "'Sent' (\\Sent)" in line
    _deliver(imap_account)
    run = _agent(config, env, "run", "--once")
    assert run.returncode == 0, run.stderr
    assert (
        run.stderr.count(
            f"the sent folder cannot be read ({where} has no folder "
            "'Sent Items' (sent_folder in [mailbox.imap]); did you mean "
            "'Sent'?"
        )
        == 1
    )
    assert len(smtp_sink.wait_for(1)) == 1  # the customer was acknowledged all the same


def test_a_folder_that_does_not_exist_lists_a_bounded_few(
    tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink, env: dict[str, str]
) -> None:
    """folder = "Inbx" on a server with 30 folders: a close name is suggested, and the line
    lists 20 folders and how many more, not all of them."""
    with imap_account.client() as client:
        for n in range(28):
            client.create_folder(f"Project {n:02d}")
    config = _config(
        tmp_path,
        imap_account,
        smtp_sink,
        imap=lambda s: re.sub(r'folder = "INBOX"', 'folder = "Inbx"', s),
    )
    line = _check_fails_with(
        config,
        env,
        "has no folder 'Inbx' (folder in [mailbox.imap]); did you mean 'INBOX'? The server has: ",
    )
    listed = line.split("The server has: ")[1].removesuffix(" and 10 more")
    assert line.endswith(" and 10 more")
    assert len(listed.split(", ")) == 20


def test_an_empty_password_variable(
    tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink, env: dict[str, str]
) -> None:
    """TEST_IMAP_PASSWORD="" (an EnvironmentFile line with the value left out) is not "not
    set", and is never sent to the server as a password."""
    config = _config(tmp_path, imap_account, smtp_sink)
    empty = {**env, "TEST_IMAP_PASSWORD": ""}
    expected = "environment variable TEST_IMAP_PASSWORD is set but empty; put the password in it"
    _check_fails_with(config, empty, expected)
    run = _agent(config, empty, "run", "--once")
    assert run.returncode == 1
    assert run.stderr.startswith(f"ConfigError: {config}: [mailbox.imap] of ")
    assert expected in run.stderr
    assert run.stderr.count("\n") == 1


@pytest.mark.parametrize(
    "case",
    [
        ("imap", "pasword_env", "password_env"),
        ("smtp", "hots", "host"),
        ("smtp", "securty", "security"),
    ],
)
def test_a_misspelt_key_near_a_known_one(
    tmp_path: Path,
    imap_account: ImapAccount,
    smtp_sink: SmtpSink,
    env: dict[str, str],
    case: tuple[str, str, str],
) -> None:
    """pasword_env: "did you mean 'password_env'?", not "password_env is missing"; the same
    for a required key (host) and an optional one (security)."""
    section, typo, key = case
    config = _config(
        tmp_path,
        imap_account,
        smtp_sink,
        **{section: lambda s: re.sub(rf"^{key} =", f"{typo} =", s, flags=re.M)},
    )
    expected = (
        f"ConfigError: {config}: [mailbox.{section}] of [[mailbox]] #1 {typo} is not "
        f"a known key; did you mean {key!r}?"
    )
    for command in (["check"], ["run", "--once"]):
        done = _agent(config, env, *command)
        assert done.returncode == 1
        assert done.stderr == expected + "\n"
