"""A relay that needs no login (Postfix on localhost, the office's relay on the LAN):
``[mailbox.smtp]`` without username or password sends without AUTH, and says so in
``check``; a relay that does want a login is told apart, and the mail waits for the fix."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from inbox_agent import config
from inbox_agent.adapters.smtp import SmtpMailer
from inbox_agent.errors import ConfigError, SendLoginError
from tests.servers import ImapAccount, SmtpSink
from tests.worlds import ServerWorld, customer_mail, london, run, server_settings

MAIL = (
    b"From: support@example.com\r\nTo: ana@customer.example\r\nSubject: hi\r\n"
    b"Message-ID: <relay@example.com>\r\n\r\nhello\r\n"
)


@pytest.fixture
def open_relay() -> Iterator[SmtpSink]:
    """A relay that offers no AUTH at all, as a LAN relay that trusts its network."""
    sink = SmtpSink(auth=False)
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
def login_relay() -> Iterator[SmtpSink]:
    """A relay that answers MAIL with 530 until the client logs in."""
    sink = SmtpSink(auth_required=True)
    sink.start()
    yield sink
    sink.stop()


def _without_login(
    tmp_path: Path, account: ImapAccount, sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> config.Settings:
    """The stories' config with neither username nor password in [mailbox.smtp]."""
    monkeypatch.setenv("TEST_IMAP_PASSWORD", account.password)
    monkeypatch.delenv("TEST_SMTP_PASSWORD", raising=False)
    settings = server_settings(tmp_path, account, sink)
    text = settings.source.read_text(encoding="utf-8")
    login = f'username = "{account.username}"\npassword_env = "TEST_SMTP_PASSWORD"\n'
    assert text.endswith(login)
    settings.source.write_text(text.removesuffix(login), encoding="utf-8")
    return config.load(settings.source)


def _relay(port: int) -> config.ServerSettings:
    return config.ServerSettings(
        host="127.0.0.1", port=port, security="none", username=None, timeout_seconds=5.0
    )


def test_a_relay_without_login_gets_the_acknowledgement(
    tmp_path: Path, imap_account: ImapAccount, open_relay: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No username, no password: the customer is acknowledged through the relay, no AUTH."""
    settings = _without_login(tmp_path, imap_account, open_relay, monkeypatch)
    assert settings.mailboxes[0].smtp.username is None
    world = ServerWorld(settings, imap_account, open_relay)
    world.deliver(
        customer_mail("ana@customer.example", "Order", "Where is it?", london(16, 10, 5)),
        london(16, 10, 5),
    )
    assert run(world, london(16, 10, 6)).sent == 1
    (ack,) = open_relay.wait_for(1)
    assert ack.rcpt_tos == ["ana@customer.example"]
    assert ack.auth_user is None


def test_no_auth_is_tried_where_the_relay_offers_it(smtp_sink: SmtpSink) -> None:
    """A relay that offers AUTH but does not need it is sent none: we log in only when
    configured to."""
    mailer = SmtpMailer(_relay(smtp_sink.port), None)

    async def send() -> None:
        try:
            await mailer.send(MAIL, "support@example.com", ["ana@customer.example"])
        finally:
            await mailer.close()

    asyncio.run(send())
    (received,) = smtp_sink.wait_for(1)
    assert received.auth_user is None


def _check(settings: config.Settings) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "inbox_agent", "--config", str(settings.source), "check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_check_says_the_relay_needs_no_login(
    tmp_path: Path, imap_account: ImapAccount, open_relay: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``check`` asks the relay (MAIL FROM, then RSET: nothing is sent) and says it takes
    mail from the support address without a login."""
    settings = _without_login(tmp_path, imap_account, open_relay, monkeypatch)
    done = _check(settings)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (
        f"ok    SMTP 127.0.0.1:{open_relay.port} needs no login: it takes mail from "
        f"{imap_account.address} without one\n"
    ) in done.stdout
    assert open_relay.received == []


def test_a_relay_that_wants_a_login_is_one_line_and_the_mail_waits(
    tmp_path: Path,
    imap_account: ImapAccount,
    login_relay: SmtpSink,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Its 530 is no refusal of the mail (which would fail it for good) but a login to set:
    ``check`` fails in one line saying so, and a send is a SendLoginError (it waits)."""
    settings = _without_login(tmp_path, imap_account, login_relay, monkeypatch)
    done = _check(settings)
    assert done.returncode == 1
    assert done.stderr == (
        f"SendLoginError: SMTP 127.0.0.1:{login_relay.port} wants a login (it answered 530 to "
        "MAIL FROM); set username and password_env, password_command or "
        "oauth2_token_command in [mailbox.smtp]\n"
    )
    mailer = SmtpMailer(_relay(login_relay.port), None)
    with pytest.raises(SendLoginError) as caught:
        asyncio.run(mailer.send(MAIL, "support@example.com", ["ana@customer.example"]))
    assert caught.value.code == 530
    assert login_relay.received == []


SMTP_ONLY = """
[[mailbox]]
address = "support@example.com"
[mailbox.imap]
host = "imap.example.com"
username = "support@example.com"
password_env = "IMAP_PW"
[mailbox.smtp]
{smtp}
"""


@pytest.mark.parametrize(
    "smtp",
    [
        'host = "localhost"\nsecurity = "none"',
        'host = "192.168.1.20"\nsecurity = "none"',  # no login: nothing secret crosses the LAN
        'host = "relay.lan"\nsecurity = "starttls"',
    ],
)
def test_a_relay_without_login_is_valid_config(smtp: str) -> None:
    """No username and no password keys: a relay that needs no login, anywhere."""
    settings = config.parse(SMTP_ONLY.format(smtp=smtp), Path("c.toml"))
    relay = settings.mailboxes[0].smtp
    assert (relay.username, relay.login) == (None, "no login")


@pytest.mark.parametrize(
    ("smtp", "expected"),
    [
        (
            'host = "relay.lan"\nusername = "support@example.com"',
            "[mailbox.smtp] of [[mailbox]] #1 password_env missing; name the environment variable "
            "holding the password, or set password_command or oauth2_token_command (or remove "
            "username for a relay that needs no login)",
        ),
        (
            'host = "relay.lan"\npassword_env = "SMTP_PW"',
            "[mailbox.smtp] of [[mailbox]] #1 username is missing; password_env needs the "
            "account to log in as",
        ),
        (
            'host = "192.168.1.20"\nsecurity = "none"\nusername = "s@e.com"\n'
            'password_env = "SMTP_PW"',
            '[mailbox.smtp] of [[mailbox]] #1 security = "none" would send the password to '
            "192.168.1.20 in clear",
        ),
    ],
)
def test_half_a_login_is_one_line(smtp: str, expected: str) -> None:
    """A username without a password or the other way round, or a password in clear to the
    LAN: one line naming the key and the fix."""
    with pytest.raises(ConfigError) as caught:
        config.parse(SMTP_ONLY.format(smtp=smtp), Path("c.toml"))
    assert str(caught.value).startswith(f"c.toml: {expected}")
