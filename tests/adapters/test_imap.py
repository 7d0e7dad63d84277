"""The IMAP adapter against a real server: chunks, checkpoints, read-only, errors translated."""

from __future__ import annotations

import asyncio
import copy
import socket
from datetime import UTC, datetime, timedelta, timezone

import pytest

from inbox_agent.adapters.base import FETCH_CHUNK, FolderBatch
from inbox_agent.adapters.imap import ImapMailbox
from inbox_agent.config import ServerSettings
from inbox_agent.errors import MailboxConnectionError, MailboxLoginError
from tests.servers import ImapAccount

ARRIVED = datetime(2026, 11, 16, 10, 0, tzinfo=UTC)


def _settings(account: ImapAccount, **changes: object) -> ServerSettings:
    base: dict[str, object] = {
        "host": "127.0.0.1",
        "port": account.server.port,
        "security": "none",
        "username": account.username,
        "password_env": "UNUSED",
        "timeout_seconds": 5.0,
    }
    base.update(changes)
    return ServerSettings(**base)  # type: ignore[arg-type]


def _mail(n: int) -> bytes:
    return (
        f"From: c{n}@customer.example\r\nMessage-ID: <m{n}@customer.example>\r\n"
        f"Subject: question {n}\r\n\r\nbody {n}\r\n"
    ).encode()


async def _fetch(mailbox: ImapMailbox, uidvalidity: int | None, last_uid: int) -> list[FolderBatch]:
    await mailbox.open()
    try:
        return [batch async for batch in mailbox.fetch_new("INBOX", uidvalidity, last_uid)]
    finally:
        await mailbox.close()


def test_fetch_returns_new_mail_with_internaldate(imap_account: ImapAccount) -> None:
    """New messages come with their UID, bytes and the server's INTERNALDATE, aware."""
    for n in range(3):
        imap_account.append("INBOX", _mail(n), ARRIVED + timedelta(minutes=n))
    (batch,) = asyncio.run(
        _fetch(ImapMailbox(_settings(imap_account), imap_account.password), None, 0)
    )
    assert [m.raw for m in batch.messages] == [_mail(n) for n in range(3)]
    assert [m.arrived_at for m in batch.messages] == [
        ARRIVED + timedelta(minutes=n) for n in range(3)
    ]
    # A stdlib offset, not imapclient's FixedOffset, which cannot be copied or pickled.
    assert all(type(m.arrived_at.tzinfo) is timezone for m in batch.messages)
    assert copy.deepcopy(batch.messages) == batch.messages
    assert batch.uidvalidity > 0


def test_only_uids_after_the_checkpoint_are_fetched(imap_account: ImapAccount) -> None:
    """UID n:* always matches the newest message; the adapter filters it out."""
    uids = [imap_account.append("INBOX", _mail(n), ARRIVED) for n in range(3)]
    mailbox = ImapMailbox(_settings(imap_account), imap_account.password)
    (first,) = asyncio.run(_fetch(mailbox, None, 0))
    assert (
        asyncio.run(
            _fetch(
                ImapMailbox(_settings(imap_account), imap_account.password),
                first.uidvalidity,
                uids[-1],
            )
        )
        == []
    )
    (later,) = asyncio.run(
        _fetch(
            ImapMailbox(_settings(imap_account), imap_account.password), first.uidvalidity, uids[0]
        )
    )
    assert [m.uid for m in later.messages] == uids[1:]


def test_a_changed_uidvalidity_reads_everything_again(imap_account: ImapAccount) -> None:
    """With a stale UIDVALIDITY the whole folder is returned, under the new value."""
    uids = [imap_account.append("INBOX", _mail(n), ARRIVED) for n in range(2)]
    (batch,) = asyncio.run(
        _fetch(ImapMailbox(_settings(imap_account), imap_account.password), 12345, uids[-1])
    )
    assert len(batch.messages) == 2
    assert batch.uidvalidity != 12345


def test_large_folders_come_in_chunks_of_at_most_1000(imap_account: ImapAccount) -> None:
    """1,100 messages arrive as two batches, none larger than FETCH_CHUNK."""
    with imap_account.client() as client:
        for n in range(1_100):
            client.append("INBOX", _mail(n), msg_time=ARRIVED)
    batches = asyncio.run(
        _fetch(ImapMailbox(_settings(imap_account), imap_account.password), None, 0)
    )
    assert [len(b.messages) for b in batches] == [FETCH_CHUNK, 100]


def _big_mail(n: int, size: int) -> bytes:
    line = b"x" * 76 + b"\r\n"
    return _mail(n).replace(b"\r\n\r\n", b"\r\nX-Big: yes\r\n\r\n") + line * (size // 78)


def test_chunks_are_bounded_by_bytes(imap_account: ImapAccount) -> None:
    """With a 250 KB budget: 100 KB mails two at a time, a 400 KB one alone, UID order kept."""
    sizes = [100, 100, 100, 400, 100, 10, 10]
    for n, size in enumerate(sizes):
        imap_account.append("INBOX", _big_mail(n, size * 1024), ARRIVED)
    mailbox = ImapMailbox(_settings(imap_account), imap_account.password)
    mailbox.fetch_bytes = 250 * 1024
    batches = asyncio.run(_fetch(mailbox, None, 0))
    assert [[m.uid for m in b.messages] for b in batches] == [[1, 2], [3], [4], [5, 6, 7]]
    assert [m.raw for b in batches for m in b.messages] == [
        _big_mail(n, size * 1024) for n, size in enumerate(sizes)
    ]
    assert not any(m.headers_only for b in batches for m in b.messages)


def test_mail_over_max_message_size_comes_as_its_header(imap_account: ImapAccount) -> None:
    """Its header, its real size (RFC822.SIZE) and INTERNALDATE; the mail around it whole."""
    imap_account.append("INBOX", _mail(0), ARRIVED)
    big = _big_mail(1, 300 * 1024)
    imap_account.append("INBOX", big, ARRIVED + timedelta(minutes=1))
    imap_account.append("INBOX", _mail(2), ARRIVED)
    mailbox = ImapMailbox(
        _settings(imap_account), imap_account.password, max_message_size=100 * 1024
    )
    (batch,) = asyncio.run(_fetch(mailbox, None, 0))
    small, header, other = batch.messages
    assert (small.raw, other.raw) == (_mail(0), _mail(2))
    assert not small.headers_only
    assert header.headers_only
    assert header.raw == big[: big.index(b"\r\n\r\n") + 4]
    assert (header.uid, header.size, header.full_size) == (2, len(big), len(big))
    assert header.arrived_at == ARRIVED + timedelta(minutes=1)


def test_reading_never_marks_mail_as_seen(imap_account: ImapAccount) -> None:
    """Staff still see customer mail as unread: BODY.PEEK and a read-only folder."""
    imap_account.append("INBOX", _mail(1), ARRIVED)
    asyncio.run(_fetch(ImapMailbox(_settings(imap_account), imap_account.password), None, 0))
    with imap_account.client() as client:
        client.select_folder("INBOX", readonly=True)
        flags = client.get_flags(client.search())
    assert all(b"\\Seen" not in f for f in flags.values())


def test_a_wrong_password_is_a_login_error(imap_account: ImapAccount) -> None:
    """The server's refusal becomes MailboxLoginError saying what to check."""
    mailbox = ImapMailbox(_settings(imap_account), "wrong password")
    with pytest.raises(MailboxLoginError, match=r"login refused for .support-.*check the"):
        asyncio.run(mailbox.open())


def test_nothing_listening_is_a_connection_error() -> None:
    """A closed port becomes MailboxConnectionError, not a socket traceback."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = ServerSettings(
        host="127.0.0.1",
        port=port,
        security="none",
        username="x",
        password_env="UNUSED",
        timeout_seconds=2.0,
    )
    with pytest.raises(MailboxConnectionError, match="connection refused; is the server"):
        asyncio.run(ImapMailbox(settings, "pw").open())


def test_tls_refuses_an_unverifiable_certificate(self_signed_tls_port: int) -> None:
    """security = "tls" verifies the certificate: a self-signed one is refused."""
    settings = ServerSettings(
        host="127.0.0.1",
        port=self_signed_tls_port,
        security="tls",
        username="x",
        password_env="UNUSED",
        timeout_seconds=5.0,
    )
    with pytest.raises(MailboxConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
        asyncio.run(ImapMailbox(settings, "pw").open())


def test_starttls_is_required_when_configured(imap_account: ImapAccount) -> None:
    """security = "starttls" against a server without TLS fails instead of going on in clear."""
    mailbox = ImapMailbox(_settings(imap_account, security="starttls"), imap_account.password)
    with pytest.raises(MailboxConnectionError, match=r"does not support STARTTLS.*not secured"):
        asyncio.run(mailbox.open())
