"""``--log-format json``: one JSON object a line with time, level, mailbox, conversation,
event and message, escaped as the plain lines are; plain stays the default."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from inbox_agent import logs
from tests.servers import ImapAccount, SmtpSink
from tests.worlds import customer_mail, ledger, server_settings

FIELDS = {"time", "level", "mailbox", "conversation", "event", "message"}
HOSTILE = "Invoice\r\n1999-12-31 ERROR fake line \x1b[31mred\x1b[0m \u202eevil"


@pytest.fixture
def env(imap_account: ImapAccount) -> dict[str, str]:
    """Passwords the way an operator sets them."""
    return {
        **os.environ,
        "TEST_IMAP_PASSWORD": imap_account.password,
        "TEST_SMTP_PASSWORD": "anything",
    }


def _agent(config: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "inbox_agent", "--config", str(config), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _json_lines(stderr: str) -> list[dict[str, str | None]]:
    """Every line of ``stderr`` as JSON with exactly the fields (and a traceback, if any)."""
    lines = [json.loads(line) for line in stderr.splitlines()]
    for line in lines:
        assert set(line) - {"traceback"} == FIELDS, line
        moment = datetime.fromisoformat(str(line["time"]))
        assert moment.utcoffset() is not None
        assert moment.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
        assert str(line["time"]).endswith("Z")
    return lines


def test_a_cycle_logs_one_json_object_a_line(
    tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink, env: dict[str, str]
) -> None:
    """run --once on Dovecot and the relay: every line parses, and filing, queueing, sending
    and the cycle name their event, mailbox and conversation."""
    settings = server_settings(tmp_path, imap_account, smtp_sink)
    now = datetime.now(UTC)
    imap_account.append(
        "INBOX", customer_mail("Ana <ana@customer.example>", "Invoice", "Hi", now), now
    )
    done = _agent(settings.source, env, "--log-format", "json", "run", "--once")
    assert done.returncode == 0, done.stderr
    lines = _json_lines(done.stderr)
    (token,) = ledger(settings).conversations
    by_event = {line["event"]: line for line in lines}
    for event in ("filed", "queued", "sent"):
        assert by_event[event]["mailbox"] == "support", by_event[event]
        assert by_event[event]["conversation"] == token
        assert by_event[event]["level"] == "info"
    assert str(by_event["filed"]["message"]).startswith(f"support: started [#{token}]")
    assert str(by_event["sent"]["message"]).startswith("sent acknowledgement <inbox-agent.")
    assert str(by_event["cycle"]["message"]).startswith("cycle done: 1 fetched")
    assert len(smtp_sink.wait_for(1)) == 1


def test_plain_lines_stay_the_default(
    tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink, env: dict[str, str]
) -> None:
    """Without --log-format: the same cycle in plain lines, none of them JSON."""
    settings = server_settings(tmp_path, imap_account, smtp_sink)
    now = datetime.now(UTC)
    imap_account.append("INBOX", customer_mail("Ana <ana@customer.example>", "Hi", "Hi", now), now)
    done = _agent(settings.source, env, "run", "--once")
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert lines
    assert all(
        re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (INFO|WARNING) ", line) for line in lines
    ), lines
    assert any(" INFO    sent acknowledgement <inbox-agent." in line for line in lines)


def test_the_one_line_error_is_json_too(
    tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink, env: dict[str, str]
) -> None:
    """A refused login ends run with its one line: in JSON mode, a JSON line (event exit)."""
    settings = server_settings(tmp_path, imap_account, smtp_sink)
    done = _agent(
        settings.source,
        {**env, "TEST_IMAP_PASSWORD": "wrong"},
        "--log-format",
        "json",
        "run",
        "--once",
    )
    assert done.returncode == 1
    (line,) = _json_lines(done.stderr)
    assert line["level"] == "error"
    assert line["event"] == "exit"
    assert str(line["message"]).startswith("MailboxLoginError: IMAP 127.0.0.1:")


def _formatted(call: str) -> dict[str, str | None]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    logger = logging.getLogger("inbox_agent.test_log_format")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        if call == "token":
            logger.warning("[#K7Q2] the promise to %s lapsed", HOSTILE)
        elif call == "token inside":
            logger.info("support: filed without a reply: %s", "Re: [#K7Q2] hi")
        else:
            try:
                raise ValueError(f"cannot read {HOSTILE}")
            except ValueError:
                logger.exception(
                    "could not triage %s", HOSTILE, extra=logs.fields("filed", "support")
                )
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert text.count("\n") == 1
    (line,) = _json_lines(text)
    return line


def test_customer_text_is_escaped_as_in_plain_lines() -> None:
    """CR, LF, ESC and a bidi override come out written as escapes, as SafeFormatter writes
    them, and JSON adds its own quoting on top: one line, nothing a terminal acts on."""
    line = _formatted("token")
    assert line["message"] == (
        "[#K7Q2] the promise to Invoice\\r\\n1999-12-31 ERROR fake line "
        "\\x1b[31mred\\x1b[0m \\u202eevil lapsed"
    )
    assert line["conversation"] == "K7Q2"  # read from the leading [#TOKEN]
    assert line["mailbox"] is None
    assert line["event"] is None


def test_a_token_inside_customer_text_names_no_conversation() -> None:
    """Only a leading [#TOKEN] is the line's conversation; a subject quoting one is not."""
    assert _formatted("token inside")["conversation"] is None


def test_a_traceback_goes_in_its_own_field() -> None:
    """exc_info: the traceback keeps its line breaks inside the JSON string, escaped."""
    line = _formatted("exception")
    assert line["event"] == "filed"
    assert line["mailbox"] == "support"
    traceback = str(line["traceback"])
    assert traceback.startswith("Traceback (most recent call last):\n")
    assert "ValueError: cannot read Invoice\\r\\n1999-12-31" in traceback
    assert "\x1b" not in traceback
    assert "\u202e" not in traceback


def test_a_crash_is_a_json_line() -> None:
    """An exception nobody caught, after the JSON set-up, is logged as a JSON line with its
    traceback (Python's own hook would print plain text)."""
    code = (
        "from inbox_agent import cli\ncli._setup_logging(False, 'json')\n"
        "raise RuntimeError('boom')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 1
    (line,) = _json_lines(done.stderr)
    assert line["level"] == "critical"
    assert line["event"] == "crash"
    assert "RuntimeError: boom" in str(line["traceback"])


def test_a_traceback_another_formatter_cached_is_escaped_all_the_same() -> None:
    """logging caches a record's traceback text for the handlers after the first; a plain
    Formatter's copy (pytest 9.2's log capture makes one first) must not reach our lines
    raw, plain or JSON."""
    try:
        raise ValueError(f"cannot read {HOSTILE}")
    except ValueError:
        record = logging.LogRecord(
            "inbox_agent", logging.ERROR, __file__, 1, "failed %s", (HOSTILE,), sys.exc_info()
        )
    logging.Formatter().format(record)
    assert "\x1b" in str(record.exc_text)  # the raw copy is cached on the record
    plain = logs.SafeFormatter("%(message)s").format(record)
    assert "ValueError: cannot read Invoice\\r\\n1999-12-31 ERROR fake line \\x1b[31m" in plain
    assert "\x1b" not in plain
    traceback = str(json.loads(logs.JsonFormatter().format(record))["traceback"])
    assert "\x1b" not in traceback
    assert "\u202e" not in traceback
