"""OAuth2 logins (``oauth2_token_command``) against Dovecot's oauth2 passdb and an aiosmtpd
relay that speaks XOAUTH2: a good token logs in to both; a command that fails or a token the
server refuses is one line naming the mailbox, logged once, retried with backoff; the token
is in no log and no error."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from inbox_agent import config
from inbox_agent.adapters.credentials import TokenCommand, TokenCommandError, last_line
from inbox_agent.adapters.imap import ImapMailbox
from inbox_agent.adapters.smtp import SmtpMailer
from inbox_agent.adapters.store import Store
from inbox_agent.agent import cycle
from inbox_agent.errors import ConfigError, MailboxLoginError, SendLoginError
from tests.oauth2_servers import OAuth2Account, TokenHelper, TokenIntrospection, oauth2_settings
from tests.servers import SmtpSink
from tests.worlds import customer_mail, london, run_agent, to_address

WHERE = "config.toml: [mailbox.imap] of 'support'"
HELPER_ERROR = "oama: no refresh token for the account; run: oama authorize microsoft"


def _imap_settings(oauth2: OAuth2Account) -> config.ServerSettings:
    return config.ServerSettings(
        host="127.0.0.1",
        port=oauth2.account.server.port,
        security="none",
        username=oauth2.account.username,
        oauth2_token_command="unused here",
        timeout_seconds=10.0,
    )


def _smtp_settings(sink: SmtpSink, username: str) -> config.ServerSettings:
    return config.ServerSettings(
        host="127.0.0.1",
        port=sink.port,
        security="none",
        username=username,
        oauth2_token_command="unused here",
        timeout_seconds=10.0,
    )


def _helper(tmp_path: Path, name: str, token: str | None = None) -> TokenHelper:
    helper = TokenHelper(tmp_path, name)
    if token is not None:
        helper.give(token)
    return helper


def _xoauth2(username: str, token: str) -> str:
    """The token as it crosses the wire in XOAUTH2: it must not be logged in this form either."""
    return base64.b64encode(f"user={username}\x01auth=Bearer {token}\x01\x01".encode()).decode()


# --- the adapters --------------------------------------------------------------------------


def test_a_good_token_logs_in_to_imap(
    tmp_path: Path, oauth2_account: OAuth2Account, token_introspection: TokenIntrospection
) -> None:
    """XOAUTH2 with the token the command prints: Dovecot asks the endpoint and lets us in."""
    helper = _helper(tmp_path, "imap", oauth2_account.token)
    oauth2_account.account.append(
        "INBOX", customer_mail("ana@customer.example", "Hello", "hi", london(16, 10, 0))
    )
    asked = token_introspection.asked

    async def fetch() -> int:
        mailbox = ImapMailbox(_imap_settings(oauth2_account), TokenCommand(helper.command, WHERE))
        await mailbox.open()
        try:
            return sum([len(b.messages) async for b in mailbox.fetch_new("INBOX", None, 0)])
        finally:
            await mailbox.close()

    assert asyncio.run(fetch()) == 1
    assert token_introspection.asked == asked + 1  # the token was checked, not a password
    assert helper.runs == 1


def test_a_refused_token_is_one_line_naming_the_mailbox(
    tmp_path: Path, oauth2_account: OAuth2Account
) -> None:
    """A token the endpoint does not know: MailboxLoginError in one line, without the token."""
    stale = "ya29.expired-0123456789abcdef"
    helper = _helper(tmp_path, "imap", stale)
    mailbox = ImapMailbox(_imap_settings(oauth2_account), TokenCommand(helper.command, WHERE))
    with pytest.raises(MailboxLoginError) as caught:
        asyncio.run(mailbox.open())
    message = caught.value.one_line()
    account = oauth2_account.account
    assert message.startswith(
        f"MailboxLoginError: IMAP 127.0.0.1:{account.server.port}: login "
        f"refused for '{account.username}': the server refused the "
        "OAuth2 token"
    )
    assert WHERE in message
    assert "\n" not in message
    assert stale not in message


def test_a_failing_command_is_one_line_with_its_own_error(
    tmp_path: Path, oauth2_account: OAuth2Account
) -> None:
    """Exit 1: the mailbox, the exit status and the helper's own last line; no login tried."""
    helper = _helper(tmp_path, "imap")
    helper.fail(f"some detail\n{HELPER_ERROR}")
    mailbox = ImapMailbox(_imap_settings(oauth2_account), TokenCommand(helper.command, WHERE))
    with pytest.raises(MailboxLoginError) as caught:
        asyncio.run(mailbox.open())
    assert caught.value.one_line() == (
        f"MailboxLoginError: {WHERE}: oauth2_token_command exited 1 ({HELPER_ERROR}); run it "
        "by hand to see why (often: authorize it again)"
    )


def test_a_good_token_logs_in_to_smtp(tmp_path: Path, smtp_sink: SmtpSink) -> None:
    """AUTH XOAUTH2 on the relay with the printed token; the relay records who logged in."""
    smtp_sink.accept_token("support@example.com", "relay-token-0123456789")
    helper = _helper(tmp_path, "smtp", "relay-token-0123456789")
    mailer = SmtpMailer(
        _smtp_settings(smtp_sink, "support@example.com"),
        TokenCommand(helper.command, WHERE.replace("imap", "smtp")),
    )

    async def send() -> None:
        try:
            await mailer.send(
                customer_mail("support@example.com", "Re: Hello", "hi", london(16, 10, 0)),
                "support@example.com",
                ["ana@customer.example"],
            )
        finally:
            await mailer.close()

    asyncio.run(send())
    (received,) = smtp_sink.wait_for(1)
    assert received.auth_user == "support@example.com"


@pytest.mark.parametrize(
    ("token", "fails", "expected"),
    [
        (
            "relay-token-stale-99999",
            False,
            "the server refused the OAuth2 token printed by "
            "oauth2_token_command (config.toml: [mailbox.smtp] of "
            "'support'): 535 5.7.8 Username and token not accepted",
        ),
        (
            None,
            True,
            f"config.toml: [mailbox.smtp] of 'support': oauth2_token_command exited 1 "
            f"({HELPER_ERROR})",
        ),
    ],
)
def test_smtp_refusals_are_one_line_and_wait(
    tmp_path: Path, smtp_sink: SmtpSink, token: str | None, fails: bool, expected: str
) -> None:
    """A refused token or a failing command: SendLoginError (mail waits, never failed for
    good), one line naming the mailbox; nothing sent, no token shown."""
    helper = _helper(tmp_path, "smtp", token)
    if fails:
        helper.fail(HELPER_ERROR)
    mailer = SmtpMailer(
        _smtp_settings(smtp_sink, "support@example.com"),
        TokenCommand(helper.command, "config.toml: [mailbox.smtp] of 'support'"),
    )
    with pytest.raises(SendLoginError) as caught:
        asyncio.run(mailer.check("support@example.com"))
    assert expected in caught.value.one_line()
    assert "\n" not in caught.value.one_line()
    assert token is None or token not in caught.value.one_line()
    assert smtp_sink.received == []


def test_the_command_output_is_bounded_and_checked(tmp_path: Path) -> None:
    """A command that prints no token, two words, or forever is refused in one line, none of
    what it printed shown; its error output is cut to one bounded line, the token hidden."""
    cases = {
        "true": "printed nothing",
        "echo one two": "printed something that is not an access token",
        "printf 'tok\\001en'": "printed something that is not an access token",
        "yes ya29.aaaaaaaaaaaaaaaaaaaaaaaa": "printed over 16 KB",
    }
    for command, expected in cases.items():
        with pytest.raises(TokenCommandError, match=expected) as caught:
            TokenCommand(command, WHERE).fetch()
        assert "one two" not in str(caught.value)
    assert TokenCommand("printf ' ya29.good \\n'", WHERE).fetch() == "ya29.good"
    said = last_line(
        b"\n\nstarting\n" + b"x" * 5000 + b" ya29.secret-token-1 \x1b[31m\n\n",
        hide=b"ya29.secret-token-1\n",
    )
    assert said.startswith("x" * 100)
    assert len(said) == 200
    assert "ya29.secret" not in last_line(
        b"bad token ya29.secret-token-1", hide=b"ya29.secret-token-1"
    )
    assert "\x1b" not in last_line(b"oops \x1b[31mred")


# --- the config ----------------------------------------------------------------------------


MINIMAL = """
[[mailbox]]
address = "support@example.com"
[mailbox.imap]
host = "imap.example.com"
username = "support@example.com"
{imap}
[mailbox.smtp]
host = "smtp.example.com"
{smtp}
"""


@pytest.mark.parametrize(
    ("imap", "smtp", "expected"),
    [
        (
            'password_env = "PW"\noauth2_token_command = "oama access support@example.com"',
            'username = "support@example.com"\npassword_env = "PW"',
            "[mailbox.imap] of [[mailbox]] #1 oauth2_token_command and password_env are both set; "
            "keep one",
        ),
        (
            'oauth2_token_command = "oama access support@example.com"',
            'oauth2_token_command = "oama access support@example.com"',
            "[mailbox.smtp] of [[mailbox]] #1 username is missing; oauth2_token_command needs the "
            "account to log in as",
        ),
        (
            'oauth2_token_command = "x"',
            'username = "support@example.com"',
            "[mailbox.smtp] of [[mailbox]] #1 password_env missing;",
        ),
        (
            'oauth2_token_command = "x"\nsecurity = "none"',
            'username = "a@b.c"\npassword_env = "PW"',
            '[mailbox.imap] of [[mailbox]] #1 security = "none" would send the OAuth2 token to '
            "imap.example.com in clear",
        ),
    ],
)
def test_one_way_to_log_in_per_connection(imap: str, smtp: str, expected: str) -> None:
    """Exactly one of password_env, password_command, oauth2_token_command, with a username;
    a token is not sent in clear either. Each mistake is one line."""
    with pytest.raises(ConfigError) as caught:
        config.parse(MINIMAL.format(imap=imap, smtp=smtp), Path("c.toml"))
    assert f"c.toml: {expected}" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_token_command_is_read_for_both_connections() -> None:
    """The key is accepted in both sections and says how the connection logs in."""
    settings = config.parse(
        MINIMAL.format(
            imap='oauth2_token_command = "oama access support@example.com"',
            smtp='username = "support@example.com"\noauth2_token_command = "oama access x"',
        ),
        Path("c.toml"),
    )
    imap, smtp = settings.mailboxes[0].imap, settings.mailboxes[0].smtp
    assert imap.oauth2_token_command == "oama access support@example.com"
    assert (imap.login, smtp.login) == ("OAuth2", "OAuth2")


# --- the agent -----------------------------------------------------------------------------


def test_the_agent_reads_and_answers_with_tokens_alone(
    tmp_path: Path,
    oauth2_account: OAuth2Account,
    smtp_sink: SmtpSink,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A whole cycle with no password anywhere: the mail is read by XOAUTH2 and the
    acknowledgement sent by XOAUTH2; neither token reaches the log, even at DEBUG."""
    monkeypatch.delenv("TEST_IMAP_PASSWORD", raising=False)
    monkeypatch.delenv("TEST_SMTP_PASSWORD", raising=False)
    account = oauth2_account.account
    smtp_token = "relay-token-abcdefghijkl"
    smtp_sink.accept_token(account.address, smtp_token)
    imap = _helper(tmp_path, "imap", oauth2_account.token)
    smtp = _helper(tmp_path, "smtp", smtp_token)
    settings = oauth2_settings(tmp_path, oauth2_account, smtp_sink, imap, smtp)
    account.append(
        "INBOX",
        customer_mail("ana@customer.example", "Order", "Where is it?", london(16, 10, 5)),
        london(16, 10, 5),
    )
    for name in ("", "imapclient", "aiosmtplib", "mail.log"):  # other tests may quiet some
        caplog.set_level(logging.DEBUG, logger=name)
    report = _cycles(settings, [london(16, 10, 6)])
    assert report.sent == 1
    (ack,) = smtp_sink.wait_for(1)
    assert ack.auth_user == account.address
    assert to_address(ack.message) == "ana@customer.example"
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "AUTHENTICATE" in logged  # imapclient's protocol lines were captured, login too
    for secret in (
        oauth2_account.token,
        smtp_token,
        _xoauth2(account.address, smtp_token),
        _xoauth2(account.address, oauth2_account.token),
    ):
        assert secret not in logged


def _cycles(
    settings: config.Settings,
    moments: list[datetime],
    then: Callable[[], None] = lambda: None,
    later: tuple[datetime, ...] = (),
) -> cycle.CycleReport:
    """One Agent, as the daemon keeps it, through a cycle at each of ``moments``, then
    ``then()``, then a cycle at each of ``later``; the last cycle's report."""

    async def daemon_like() -> cycle.CycleReport:
        with Store(settings.agent.data_dir) as store:
            clock = {"now": moments[0]}
            agent = cycle.Agent(
                settings, store, cycle.real_adapters(settings), clock=lambda: clock["now"]
            )
            report = cycle.CycleReport()
            for n, moment in enumerate((*moments, *later)):
                if n == len(moments):
                    then()
                clock["now"] = moment
                report = await agent.run_cycle()
            return report

    return asyncio.run(daemon_like())


# Outages back off 30 s, doubling: over cycles a minute apart from 0 to 9 minutes the login
# is tried at 0, 1, 2, 4 and 8 minutes.
MINUTES = [london(16, 10, 6) + timedelta(minutes=m) for m in range(10)]
TRIES = 5
AFTER = (MINUTES[0] + timedelta(minutes=16),)  # the next try after the one at 8 minutes


def _outage_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "trying again in" in r.getMessage()]


def _recovered(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("recovered after")]


def test_an_imap_token_command_that_fails_is_one_line_once_with_backoff(
    tmp_path: Path,
    oauth2_account: OAuth2Account,
    smtp_sink: SmtpSink,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The helper exits 1 for ten minutes of polls: one line naming the mailbox and the
    helper's error, the helper run five times (backoff), not ten; then it works again, the
    outage's end is logged and the customer is acknowledged."""
    account = oauth2_account.account
    smtp_sink.accept_token(account.address, "relay-token-abcdefghijkl")
    imap = _helper(tmp_path, "imap")
    imap.fail(HELPER_ERROR)
    settings = oauth2_settings(
        tmp_path,
        oauth2_account,
        smtp_sink,
        imap,
        _helper(tmp_path, "smtp", "relay-token-abcdefghijkl"),
    )
    account.append(
        "INBOX",
        customer_mail("ana@customer.example", "Order", "Where is it?", london(16, 10, 5)),
        london(16, 10, 5),
    )
    runs_in_outage = []

    def fixed() -> None:
        runs_in_outage.append(imap.runs)
        imap.give(oauth2_account.token)

    with caplog.at_level(logging.INFO, logger="inbox_agent"):
        _cycles(settings, MINUTES, fixed, AFTER)
    assert runs_in_outage == [TRIES]
    (line,) = _outage_lines(caplog)
    assert line.startswith(
        f"MailboxLoginError: {settings.source}: [mailbox.imap] of 'support': "
        f"oauth2_token_command exited 1 ({HELPER_ERROR}); run it by hand"
    )
    problem = line.partition("; trying again in")[0]
    assert _recovered(caplog) == [f"recovered after 16 min and {TRIES} failed tries: {problem}"]
    assert len(smtp_sink.wait_for(1)) == 1


def test_an_smtp_token_command_that_fails_is_one_line_once_and_the_mail_waits(
    tmp_path: Path,
    oauth2_account: OAuth2Account,
    smtp_sink: SmtpSink,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The relay's helper fails for ten minutes: the acknowledgement waits (backoff, five
    tries), one line names the mailbox and the helper's error; then it goes, once."""
    account = oauth2_account.account
    smtp_sink.accept_token(account.address, "relay-token-abcdefghijkl")
    smtp = _helper(tmp_path, "smtp")
    smtp.fail(HELPER_ERROR)
    settings = oauth2_settings(
        tmp_path, oauth2_account, smtp_sink, _helper(tmp_path, "imap", oauth2_account.token), smtp
    )
    account.append(
        "INBOX",
        customer_mail("ana@customer.example", "Order", "Where is it?", london(16, 10, 5)),
        london(16, 10, 5),
    )
    seen_in_outage = []

    def fixed() -> None:
        seen_in_outage.append((smtp.runs, len(smtp_sink.received)))
        smtp.give("relay-token-abcdefghijkl")

    with caplog.at_level(logging.INFO, logger="inbox_agent"):
        _cycles(settings, MINUTES, fixed, AFTER)
    assert seen_in_outage == [(TRIES, 0)]
    (line,) = _outage_lines(caplog)
    assert line.startswith(
        f"SendLoginError: {settings.source}: [mailbox.smtp] of 'support': "
        f"oauth2_token_command exited 1 ({HELPER_ERROR})"
    )
    assert len(_recovered(caplog)) == 1
    assert len(smtp_sink.wait_for(1)) == 1


def test_run_once_with_a_refused_token_exits_1_in_one_line(
    tmp_path: Path, oauth2_account: OAuth2Account, smtp_sink: SmtpSink
) -> None:
    """The real command, -v: the refused token is one line on stderr and exit 1; no token in
    what it printed."""
    stale = "ya29.revoked-abcdefghijklmnop"
    settings = oauth2_settings(
        tmp_path,
        oauth2_account,
        smtp_sink,
        _helper(tmp_path, "imap", stale),
        _helper(tmp_path, "smtp", "unused-token-123456"),
    )
    done = run_agent(settings.source, "run", "--once", verbose=True)
    assert done.returncode == 1
    last = done.stderr.splitlines()[-1]
    assert last.startswith("MailboxLoginError: IMAP 127.0.0.1:")
    assert "the server refused the OAuth2 token" in last
    assert stale not in done.stderr + done.stdout


def test_check_says_oauth2(
    tmp_path: Path, oauth2_account: OAuth2Account, smtp_sink: SmtpSink
) -> None:
    """``check`` logs in to both with the tokens and says so."""
    account = oauth2_account.account
    smtp_sink.accept_token(account.address, "relay-token-abcdefghijkl")
    settings = oauth2_settings(
        tmp_path,
        oauth2_account,
        smtp_sink,
        _helper(tmp_path, "imap", oauth2_account.token),
        _helper(tmp_path, "smtp", "relay-token-abcdefghijkl"),
    )
    done = run_agent(settings.source, "check")
    assert done.returncode == 0, done.stdout + done.stderr
    port = account.server.port
    assert (
        f"ok    IMAP 127.0.0.1:{port} as {account.address} (OAuth2), folders INBOX, Sent"
        in done.stdout
    )
    assert f"ok    SMTP 127.0.0.1:{smtp_sink.port} as {account.address} (OAuth2)" in done.stdout
