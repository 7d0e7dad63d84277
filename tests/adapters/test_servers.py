"""The test servers themselves: real IMAP (Dovecot, else pymap) and a recording SMTP sink.

The adapter and story tests lean on these fixtures for their faults (kick, restart, a new
UIDVALIDITY, a refusing relay), so each fault is proven here against the real server.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta, timezone
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import pytest
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError

from tests.servers import DovecotServer, ImapAccount, ImapServer, SmtpSink

ROOT = Path(__file__).resolve().parents[2]
OLD_ARRIVAL = datetime(2025, 3, 4, 10, 5, 6, tzinfo=timezone(timedelta(hours=1)))


def raw_mail(subject: str, to: str = "customer@example.net") -> bytes:
    """A small, valid message with CRLF line ends, as an IMAP server stores it."""
    return (
        f"From: Ana <ana@customer.example>\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{subject.replace(' ', '-')}@customer.example>\r\n\r\n"
        "Hello.\r\n"
    ).encode()


def outgoing(to: str | list[str], subject: str = "Re: your invoice") -> EmailMessage:
    """A message as the agent would hand it to aiosmtplib."""
    msg = EmailMessage()
    msg["From"] = "Support <support@example.com>"
    msg["To"] = to if isinstance(to, str) else ", ".join(to)
    msg["Subject"] = subject
    msg.set_content("We will reply by Tuesday 10:05.")
    return msg


def send(sink: SmtpSink, msg: EmailMessage) -> tuple[dict[str, aiosmtplib.SMTPResponse], str]:
    """One aiosmtplib.send to the sink, logged in, without TLS, as the agent does it."""
    return asyncio.run(
        aiosmtplib.send(
            msg,
            hostname=sink.host,
            port=sink.port,
            username="support@example.com",
            password="relay-pw",
            start_tls=False,
            timeout=5,
        )
    )


def fetch(account: ImapAccount, folder: str) -> dict[int, dict[bytes, object]]:
    """UID -> INTERNALDATE and full body of every message in ``folder``."""
    with account.client() as imap:
        imap.select_folder(folder, readonly=True)
        uids = imap.search()
        return dict(imap.fetch(uids, ["INTERNALDATE", "BODY.PEEK[]"])) if uids else {}


# --- IMAP ----------------------------------------------------------------------------------


def test_fresh_account_logs_in_and_has_an_empty_inbox_and_sent(imap_account: ImapAccount) -> None:
    """A user added to the running server can log in at once; INBOX and Sent exist, empty."""
    with imap_account.client() as imap:
        names = {name for _flags, _sep, name in imap.list_folders()}
        assert {"INBOX", "Sent"} <= names
        assert imap.folder_status("INBOX", [b"MESSAGES"])[b"MESSAGES"] == 0


def test_append_keeps_an_old_internaldate_and_returns_the_uid(
    imap_server: ImapServer, imap_account: ImapAccount
) -> None:
    """append() returns the server's UID and the server keeps the past INTERNALDATE given."""
    first = imap_account.append("INBOX", raw_mail("first"), OLD_ARRIVAL)
    second = imap_account.append(
        "INBOX", raw_mail("second"), OLD_ARRIVAL + timedelta(hours=2), flags=[b"\\Seen"]
    )
    assert second > first
    stored = fetch(imap_account, "INBOX")
    assert set(stored) == {first, second}
    assert stored[first][b"INTERNALDATE"] == OLD_ARRIVAL
    assert stored[second][b"INTERNALDATE"] == OLD_ARRIVAL + timedelta(hours=2)
    body = raw_mail("first")
    if imap_server.kind == "pymap":  # pymap stores via Python's mailbox module: LF line ends
        body = body.replace(b"\r\n", b"\n")
    assert stored[first][b"BODY[]"] == body


def test_append_creates_a_missing_folder(imap_account: ImapAccount) -> None:
    """Appending to a folder that does not exist creates it and delivers there."""
    uid = imap_account.append("Archive", raw_mail("archived"), OLD_ARRIVAL)
    assert list(fetch(imap_account, "Archive")) == [uid]


def test_future_internaldate_is_clamped_by_dovecot_and_kept_by_pymap(
    imap_server: ImapServer, imap_account: ImapAccount
) -> None:
    """Dovecot records a future INTERNALDATE as "now"; pymap keeps it (tests must not rely
    on future arrival times)."""
    future = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    uid = imap_account.append("INBOX", raw_mail("from the future"), future)
    stored = fetch(imap_account, "INBOX")[uid][b"INTERNALDATE"]
    assert isinstance(stored, datetime)
    if imap_server.kind == "dovecot":
        # Clamped to "now", not three days on. Not compared with our own clock: Dovecot's
        # whole-second, cached time can read a second ahead of it (a flake on a loaded box).
        assert stored < future - timedelta(days=2)
    else:
        assert stored == future


def test_kick_drops_a_live_session(imap_server: ImapServer, imap_account: ImapAccount) -> None:
    """After kick() the kicked session's next command fails; a new login works."""
    imap_account.append("INBOX", raw_mail("waiting"), OLD_ARRIVAL)
    with imap_account.client() as imap:
        imap.select_folder("INBOX")
        imap_server.kick(imap_account.username)
        with pytest.raises((IMAPClientAbortError, OSError)):
            imap.noop()
    assert len(fetch(imap_account, "INBOX")) == 1


def test_kick_leaves_other_users_sessions_alone(
    imap_server: ImapServer, imap_account: ImapAccount
) -> None:
    """kick() is per user: another account's open session keeps working."""
    if imap_server.kind == "pymap":
        pytest.skip("pymap cannot end one user's sessions: its kick() restarts the server")
    other = f"bystander-{imap_account.username}"
    imap_server.add_user(other, "bystander-pw")
    with imap_server.client(other, "bystander-pw") as bystander:
        bystander.select_folder("INBOX")
        imap_server.kick(imap_account.username)
        assert bystander.noop()[0].startswith(b"NOOP completed")


def test_restart_keeps_port_messages_uids_and_uidvalidity(
    imap_server: ImapServer, imap_account: ImapAccount
) -> None:
    """restart() comes back on the same port with the same data, dropping open sessions."""
    uid = imap_account.append("INBOX", raw_mail("kept"), OLD_ARRIVAL)
    validity = imap_server.uidvalidity(imap_account.username, imap_account.password, "INBOX")
    port = imap_server.port
    with imap_account.client() as imap:
        imap.select_folder("INBOX")
        imap_server.restart()
        with pytest.raises((IMAPClientAbortError, OSError)):
            imap.noop()
    assert imap_server.port == port
    assert (
        imap_server.uidvalidity(imap_account.username, imap_account.password, "INBOX") == validity
    )
    stored = fetch(imap_account, "INBOX")
    assert list(stored) == [uid]
    assert stored[uid][b"INTERNALDATE"] == OLD_ARRIVAL


@pytest.mark.parametrize("folder", ["INBOX", "Archive"])
def test_recreate_folder_gives_a_new_uidvalidity_and_restarts_uids(
    imap_server: ImapServer, imap_account: ImapAccount, folder: str
) -> None:
    """recreate_folder() empties the folder, changes UIDVALIDITY, and UIDs start again at 1."""
    imap_account.append(folder, raw_mail("one"), OLD_ARRIVAL)
    imap_account.append(folder, raw_mail("two"), OLD_ARRIVAL)
    user, password = imap_account.username, imap_account.password
    before = imap_server.uidvalidity(user, password, folder)
    after = imap_server.recreate_folder(user, password, folder)
    assert after != before
    assert imap_server.uidvalidity(user, password, folder) == after
    assert fetch(imap_account, folder) == {}
    assert imap_account.append(folder, raw_mail("three"), OLD_ARRIVAL) == 1


def test_append_refuses_a_naive_internaldate(imap_account: ImapAccount) -> None:
    """A naive datetime is ambiguous as an arrival time, so append() refuses it."""
    with pytest.raises(ValueError, match="timezone-aware"):
        imap_account.append("INBOX", raw_mail("naive"), datetime(2025, 3, 4, 10, 5))  # noqa: DTZ001


def test_required_dovecot_fails_instead_of_falling_back_to_pymap() -> None:
    """With INBOX_AGENT_REQUIRE_DOVECOT=1 an unusable Dovecot is an error, never a skip."""
    env = {**os.environ, "INBOX_AGENT_REQUIRE_DOVECOT": "1", "INBOX_AGENT_TEST_IMAP": "pymap"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/adapters/test_servers.py::test_fresh_account_logs_in_and_has_an_empty_inbox_and_sent",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stdout
    assert "1 error" in done.stdout
    assert "INBOX_AGENT_REQUIRE_DOVECOT=1 but the IMAP tests would run on pymap" in done.stdout
    assert "skipped" not in done.stdout


def test_dovecot_takes_extra_config_and_many_users_at_once(imap_server: ImapServer) -> None:
    """``extra_config`` reaches dovecot.conf (here a cap of two sessions per user and IP, as
    the 200-mailbox bench raises its limits), and ``add_users`` adds logins in one go."""
    if imap_server.kind != "dovecot":
        pytest.skip("extra_config and add_users are Dovecot's")
    root = Path(tempfile.mkdtemp(prefix="inbox-agent-extra-"))
    root.chmod(0o755)  # Dovecot's own users must reach the mail folder
    server = DovecotServer(root / "dovecot", extra_config="mail_max_userip_connections = 2\n")
    try:
        server.start()
        server.add_users([("one@example.com", "pw-one"), ("two@example.com", "pw-two")])
        with server.client("one@example.com", "pw-one"), server.client("one@example.com", "pw-one"):
            with (
                pytest.raises(IMAPClientError, match="connections"),
                server.client("one@example.com", "pw-one"),
            ):
                pass
            with server.client("two@example.com", "pw-two") as imap:
                assert imap.folder_exists("Sent")
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


# --- SMTP ----------------------------------------------------------------------------------


def test_sink_records_a_message_sent_with_aiosmtplib(smtp_sink: SmtpSink) -> None:
    """The sink keeps envelope, bytes, parsed message and the AUTH login of what it got."""
    errors, reply = send(smtp_sink, outgoing("Ana <ana@customer.example>"))
    assert errors == {}
    assert reply.startswith("OK")
    [got] = smtp_sink.wait_for(1)
    assert got.mail_from == "support@example.com"
    assert got.rcpt_tos == ["ana@customer.example"]
    assert got.message["Subject"] == "Re: your invoice"
    assert b"We will reply by Tuesday 10:05." in got.raw
    assert got.auth_user == "support@example.com"


def test_refused_recipient_gets_the_requested_code(smtp_sink: SmtpSink) -> None:
    """refuse_recipient() answers RCPT with its code; the others still get the message."""
    smtp_sink.refuse_recipient("gone@customer.example", code=550)
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
        send(smtp_sink, outgoing("gone@customer.example"))
    assert [error.code for error in refused.value.recipients] == [550]

    errors, _reply = send(smtp_sink, outgoing(["gone@customer.example", "ana@customer.example"]))
    assert errors["gone@customer.example"].code == 550
    [got] = smtp_sink.wait_for(1)
    assert got.rcpt_tos == ["ana@customer.example"]


def test_fail_next_refuses_that_many_messages_then_accepts(smtp_sink: SmtpSink) -> None:
    """fail_next(1, 451) turns the next DATA into a 451; the one after is accepted."""
    smtp_sink.fail_next(1, code=451)
    with pytest.raises(aiosmtplib.SMTPDataError) as failed:
        send(smtp_sink, outgoing("ana@customer.example"))
    assert failed.value.code == 451
    assert smtp_sink.received == []
    send(smtp_sink, outgoing("ana@customer.example"))
    assert len(smtp_sink.wait_for(1)) == 1


def test_sink_can_go_down_and_come_back_on_the_same_port(smtp_sink: SmtpSink) -> None:
    """stop() refuses connections; start() listens again on the same port."""
    port = smtp_sink.port
    smtp_sink.stop()
    with pytest.raises(aiosmtplib.SMTPConnectError):
        send(smtp_sink, outgoing("ana@customer.example"))
    smtp_sink.start()
    assert smtp_sink.port == port
    send(smtp_sink, outgoing("ana@customer.example"))
    assert len(smtp_sink.wait_for(1)) == 1


def test_wait_for_says_how_many_arrived_when_it_times_out(smtp_sink: SmtpSink) -> None:
    """wait_for() fails with the count it got instead of hanging."""
    with pytest.raises(AssertionError, match="got 0 of 1"):
        smtp_sink.wait_for(1, timeout=0.01)
