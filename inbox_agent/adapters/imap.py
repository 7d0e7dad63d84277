"""IMAP with imapclient, which is synchronous, in a worker thread of its own.

What matters on the wire (DESIGN.md, measured):

- Every socket has a timeout (``SocketTimeout``): a server that stops answering must not hang
  the daemon.
- Folders are opened read-only (EXAMINE) and bodies fetched with ``BODY.PEEK[]``: the agent
  never sets ``\\Seen`` and never deletes or moves a customer's mail. Its only write is an
  APPEND of a copy of each mail it sent, flagged ``\\Seen``, to the Sent folder.
- New mail is found with ``UID SEARCH UID n:*`` and filtered to ``uid > last``, because ``n:*``
  always matches the newest message even when its UID is below n; and fetched in chunks of at
  most 1,000 UIDs.
- A changed UIDVALIDITY means the UIDs mean something else now: everything is read again and
  the caller's dedupe by Message-ID (or content hash) keeps it from being filed twice.

The connection lives in one thread (a one-worker executor); the event loop only awaits it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import imaplib
import socket
import ssl
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timezone
from typing import Any, TypeVar

from imapclient import SEEN, IMAPClient, SocketTimeout
from imapclient.exceptions import CapabilityError, LoginError
from imapclient.util import to_unicode

from inbox_agent.adapters.base import FETCH_CHUNK, FetchedMessage, FolderBatch
from inbox_agent.config import ServerSettings
from inbox_agent.errors import MailboxConnectionError, MailboxError, MailboxLoginError

T = TypeVar("T")


class ImapMailbox:
    """One IMAP account, read through a connection kept in its own thread."""

    def __init__(self, settings: ServerSettings, password: str) -> None:
        self.settings = settings
        self._password = password
        self._client: IMAPClient | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="imap")

    async def open(self) -> None:
        """Connect, secure the connection as configured, and log in."""
        self._client = await self._call(self._connect)

    async def close(self) -> None:
        """Log out politely; a connection that is already gone is fine."""
        client, self._client = self._client, None
        if client is not None:
            await asyncio.get_running_loop().run_in_executor(self._executor, _logout, client)
        self._executor.shutdown(wait=False)

    async def fetch_new(
        self, folder: str, uidvalidity: int | None, last_uid: int
    ) -> AsyncIterator[FolderBatch]:
        """New messages of ``folder`` in chunks; all of them if UIDVALIDITY changed."""
        current, uids = await self._call(lambda: self._new_uids(folder, uidvalidity, last_uid))
        for start in range(0, len(uids), FETCH_CHUNK):
            chunk = uids[start:start + FETCH_CHUNK]
            messages = await self._call(functools.partial(self._fetch, chunk))
            yield FolderBatch(folder, current, messages)

    async def append(self, folder: str, raw: bytes, at: datetime) -> None:
        """APPEND ``raw`` to ``folder``, flagged \\Seen (staff should not see it as new)."""
        client = self._require_client()
        await self._call(lambda: client.append(folder, raw, flags=(SEEN,), msg_time=at))

    async def has_message_id(self, folder: str, message_id: str) -> bool:
        """SEARCH ``folder`` for the Message-ID (read-only; nothing is flagged)."""
        def search() -> bool:
            client = self._require_client()
            client.select_folder(folder, readonly=True)
            return bool(client.search(["HEADER", "Message-ID", message_id]))
        return await self._call(search)

    async def _call(self, work: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, work)
        except LoginError as exc:
            raise MailboxLoginError(
                f"{self._where()}: login refused for {self.settings.username!r}; "
                "check the username and the password"
            ) from exc
        except CapabilityError as exc:
            raise MailboxConnectionError(
                f"{self._where()}: {_reason(exc)}; the connection is not secured, so nothing "
                "was sent: check security and port in [mailbox.imap]"
            ) from exc
        except (imaplib.IMAP4.abort, OSError, EOFError) as exc:
            raise MailboxConnectionError(
                f"{self._where()}: connection failed ({_reason(exc)}); check host, port and "
                "security, or wait for the server to come back"
            ) from exc
        except imaplib.IMAP4.error as exc:
            raise MailboxError(f"{self._where()}: the server said {_reason(exc)}") from exc

    def _connect(self) -> IMAPClient:
        s = self.settings
        context = ssl.create_default_context()  # verifies the certificate and the host name
        timeout = SocketTimeout(connect=s.timeout_seconds, read=s.timeout_seconds)
        client = IMAPClient(s.host, port=s.port, ssl=s.security == "tls", ssl_context=context,
                            timeout=timeout)
        client.normalise_times = False  # keep INTERNALDATE's offset instead of local naive time
        if s.security == "starttls":
            client.starttls(context)
        client.login(s.username, self._password)
        return client

    def _new_uids(
        self, folder: str, uidvalidity: int | None, last_uid: int
    ) -> tuple[int, list[int]]:
        client = self._require_client()
        status = client.select_folder(folder, readonly=True)
        current = int(status[b"UIDVALIDITY"])
        if uidvalidity is not None and current != uidvalidity:
            last_uid = 0  # the old UIDs mean nothing now: read everything, dedupe does the rest
        found = client.search(["UID", f"{last_uid + 1}:*"])
        return current, sorted(uid for uid in found if uid > last_uid)

    def _fetch(self, uids: list[int]) -> list[FetchedMessage]:
        client = self._require_client()
        response = client.fetch(uids, ["BODY.PEEK[]", "INTERNALDATE"])
        messages = []
        for uid in sorted(response):
            data = response[uid]
            raw = data.get(b"BODY[]")
            if raw is None:  # expunged between SEARCH and FETCH: nothing to file
                continue
            messages.append(FetchedMessage(uid, _aware(data.get(b"INTERNALDATE")), bytes(raw)))
        return messages

    def _require_client(self) -> IMAPClient:
        if self._client is None:
            raise MailboxConnectionError(f"{self._where()}: not connected")
        return self._client

    def _where(self) -> str:
        return f"IMAP {self.settings.host}:{self.settings.port}"


def _aware(moment: Any) -> datetime:
    """INTERNALDATE as an aware datetime with a stdlib offset; a server that sends none gets
    "now" in UTC. imapclient's own ``FixedOffset`` is translated here, at the boundary: it
    cannot be copied or pickled, and nothing past the adapter should meet it."""
    if not isinstance(moment, datetime):
        return datetime.now(UTC)
    offset = moment.utcoffset()
    if offset is None:
        return moment.replace(tzinfo=UTC)
    return moment.replace(tzinfo=timezone(offset))


def _logout(client: IMAPClient) -> None:
    try:
        client.logout()
    except (imaplib.IMAP4.error, OSError, EOFError):
        with contextlib.suppress(OSError, imaplib.IMAP4.error):  # the socket is gone already
            client.shutdown()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    text = str(exc) or type(exc).__name__
    return to_unicode(text) if isinstance(text, bytes) else text
