"""Logs can't be forged or leak: customer text is escaped, mail bodies and OAuth2 tokens never
reach the log."""

from __future__ import annotations

import base64
import io
import logging
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from inbox_agent import logs
from tests.oauth2_servers import OAuth2Account, TokenHelper, oauth2_settings
from tests.servers import SmtpSink
from tests.worlds import ServerWorld, customer_mail, london, run, run_agent

HOSTILE = "Invoice\r\n1999-12-31 ERROR fake line \x1b[31mred\x1b[0m \u202eevil"
MARKER = "QUOKKA-5521-BODY-TEXT"  # in the customer's body only: it must never be logged


def _formatted(logger_call: str) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.SafeFormatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("inbox_agent.test_log_safety")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        if logger_call == "info":
            logger.info("filed %s from %s", HOSTILE, "<\x1bid@x>")
        else:
            try:
                raise ValueError(f"cannot read {HOSTILE}")
            except ValueError:
                logger.exception("could not triage %s", HOSTILE)
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


def test_a_subject_cannot_forge_a_line_or_recolour_the_terminal() -> None:
    """CR, LF, ESC and a bidi override are written out: one line, every character visible."""
    out = _formatted("info")
    assert out.count("\n") == 1
    assert out == (
        "INFO filed Invoice\\r\\n1999-12-31 ERROR fake line \\x1b[31mred\\x1b[0m "
        "\\u202eevil from <\\x1bid@x>\n"
    )


def test_a_traceback_keeps_its_lines_but_not_its_escapes() -> None:
    """exc_info is formatted apart: still readable over several lines, nothing raw in it."""
    out = _formatted("exception")
    first, *rest = out.splitlines()
    assert first.startswith("ERROR could not triage Invoice\\r\\n1999-12-31 ERROR fake line")
    assert rest[0] == "Traceback (most recent call last):"
    assert rest[-1].startswith("ValueError: cannot read Invoice\\r")
    assert "\x1b" not in out
    assert "\u202e" not in out
    assert not any(line.startswith("1999-12-31") for line in out.splitlines())


def test_the_cli_logs_through_the_escaping_formatter() -> None:
    """inbox-agent's own logging set-up, in a real process writing to standard error."""
    code = (
        "import logging, sys\nfrom inbox_agent import cli\ncli._setup_logging(True)\n"
        "logging.getLogger('inbox_agent').warning('subject %s', sys.argv[1])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, HOSTILE],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("\n") == 1
    assert "\\r\\n1999-12-31 ERROR fake line \\x1b[31m" in done.stderr
    assert "\x1b" not in done.stderr


@pytest.fixture
def verbose_logging() -> Iterator[None]:
    """What ``-v`` sets up, undone afterwards (logger levels are process-wide)."""
    names = [*logs.CONTENT_LOGGERS, *logs.CHATTY_LOGGERS]
    before = {name: logging.getLogger(name).level for name in names}
    logs.setup(verbose=True)
    yield
    for name, level in before.items():
        logging.getLogger(name).setLevel(level)


def _hostile_mail() -> bytes:
    """A customer's mail whose subject (RFC 2047, so CR LF survive transport) tries to forge a
    line and recolour the terminal, and whose body carries the marker."""
    subject = base64.b64encode(HOSTILE.encode()).decode()
    return (
        f"From: Ana <ana@customer.example>\r\nTo: support@example.com\r\n"
        f"Subject: =?utf-8?b?{subject}?=\r\nDate: Mon, 16 Nov 2026 10:05:00 +0000\r\n"
        f"Message-ID: <hostile.1@customer.example>\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n"
        f"Hello, my order never came.\r\n{MARKER}\r\nAna\r\n"
    ).encode()


def _deliver_marked_mail(world: ServerWorld) -> None:
    world.deliver(_hostile_mail(), london(16, 10, 5))
    # A Sent-folder message outside any conversation: filed with a DEBUG line of our own.
    world.deliver(
        customer_mail("support@example.com", "Note", f"{MARKER} sent", london(16, 9, 0)),
        london(16, 9, 0),
        folder="Sent",
    )


@pytest.mark.usefixtures("verbose_logging")
def test_a_debug_cycle_on_real_servers_logs_no_mail_body(
    server_world: ServerWorld, caplog: pytest.LogCaptureFixture
) -> None:
    """imapclient logs every protocol line at DEBUG, bodies included; -v keeps it quiet."""
    caplog.set_level(logging.DEBUG)
    _deliver_marked_mail(server_world)
    run(server_world, london(16, 10, 6))
    assert len(server_world.sent()) == 1  # the cycle did its work: one acknowledgement
    assert any(r.levelno == logging.DEBUG for r in caplog.records)
    assert not [r.name for r in caplog.records if MARKER in r.getMessage()]


def test_inbox_agent_v_run_once_logs_no_mail_body(server_world: ServerWorld) -> None:
    """The real command with -v, on Dovecot (else pymap) and aiosmtpd: no body text on stderr,
    nothing raw from the subject."""
    _deliver_marked_mail(server_world)
    done = run_agent(server_world.settings.source, "run", "--once", verbose=True)
    assert done.returncode == 0, done.stderr
    assert " DEBUG " in done.stderr
    assert MARKER not in done.stderr
    assert "\x1b" not in done.stderr
    assert not any(line.startswith("1999-12-31") for line in done.stderr.splitlines()), done.stderr


def test_inbox_agent_v_run_once_logs_no_oauth2_token(
    tmp_path: Path, oauth2_account: OAuth2Account, smtp_sink: SmtpSink
) -> None:
    """The real command with -v reads mail and answers it with OAuth2 tokens alone (Dovecot's
    oauth2 passdb, aiosmtpd's XOAUTH2): neither token, nor its XOAUTH2 wire form, is in what
    it printed."""
    account = oauth2_account.account
    relay_token = "relay.token-5521-QUOKKA"
    smtp_sink.accept_token(account.address, relay_token)
    settings = oauth2_settings(
        tmp_path,
        oauth2_account,
        smtp_sink,
        TokenHelper(tmp_path, "imap"),
        TokenHelper(tmp_path, "smtp"),
    )
    TokenHelper(tmp_path, "imap").give(oauth2_account.token)
    TokenHelper(tmp_path, "smtp").give(relay_token)
    now = datetime.now(UTC)  # the command runs on the real clock: the mail is new to it
    account.append(
        "INBOX", customer_mail("ana@customer.example", "Order", "Where is it?", now), now
    )
    done = run_agent(settings.source, "run", "--once", verbose=True)
    assert done.returncode == 0, done.stderr
    (ack,) = smtp_sink.wait_for(1)
    assert ack.auth_user == account.address  # it went through the XOAUTH2 login
    for token in (oauth2_account.token, relay_token):
        wire = base64.b64encode(
            f"user={account.address}\x01auth=Bearer {token}\x01\x01".encode()
        ).decode()
        assert token not in done.stderr + done.stdout
        assert wire not in done.stderr + done.stdout
