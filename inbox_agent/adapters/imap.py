"""IMAP with imapclient, which is synchronous, in a worker thread of its own.

What matters on the wire (DESIGN.md, measured):

- Every socket has a timeout (``SocketTimeout``): a server that stops answering must not hang
  the daemon.
- Folders are opened read-only (EXAMINE) and bodies fetched with ``BODY.PEEK[]``: the agent
  never sets ``\\Seen`` and never deletes or moves a customer's mail. Its only write is an
  APPEND of a copy of each mail it sent, flagged ``\\Seen``, to the Sent folder.
- New mail is found with ``UID SEARCH UID n:*`` and filtered to ``uid > last``, because ``n:*``
  always matches the newest message even when its UID is below n.
- Memory is bounded by bytes, not by count: the sizes of the new UIDs are fetched first
  (``RFC822.SIZE``, 1,000 UIDs a command, cheap), then the bodies in runs of at most 1,000
  UIDs whose sizes add up to at most ``fetch_bytes`` (50 MB; a single larger message goes
  alone). A message over ``max_message_size`` is never read: only its header
  (``BODY.PEEK[HEADER]``, at most 1 MB), its size and INTERNALDATE are fetched, and it is
  handed on marked ``headers_only``. UID order is kept across runs, since the caller's
  checkpoint moves to the last UID of each.
- A changed UIDVALIDITY means the UIDs mean something else now: everything is read again and
  the caller's dedupe by Message-ID (or content hash) keeps it from being filed twice.

The connection lives in one thread (a one-worker executor); the event loop only awaits it.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import functools
import imaplib
import re
import socket
import ssl
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timezone
from typing import Any, TypeVar

from imapclient import SEEN, IMAPClient, SocketTimeout
from imapclient.exceptions import CapabilityError, LoginError
from imapclient.util import to_unicode

from inbox_agent.adapters.base import (
    FETCH_BYTES,
    FETCH_CHUNK,
    MAX_HEADER_BYTES,
    FetchedMessage,
    FolderBatch,
    byte_chunks,
)
from inbox_agent.adapters.credentials import Secret, TokenCommand, TokenCommandError
from inbox_agent.adapters.tls import shared_context
from inbox_agent.adapters.worker import WorkerThread
from inbox_agent.config import ServerSettings
from inbox_agent.core.text import one_line
from inbox_agent.errors import (
    MailboxConnectionError,
    MailboxError,
    MailboxFolderError,
    MailboxLoginError,
)

T = TypeVar("T")


_BODY = "BODY.PEEK[]"
_HEADER = f"BODY.PEEK[HEADER]<0.{MAX_HEADER_BYTES}>"  # read-only, and capped


class ImapMailbox:
    """One IMAP account, read through a connection kept in its own thread."""

    fetch_bytes = FETCH_BYTES  # the bodies of one FETCH add up to at most this (tests lower it)

    def __init__(
        self, settings: ServerSettings, secret: Secret, *, max_message_size: int | None = None
    ) -> None:
        self.settings = settings
        self._secret = secret  # the password, or the command printing an OAuth2 token
        self.max_message_size = max_message_size  # [agent] max_message_size; None: no limit
        self._client: IMAPClient | None = None
        self._executor = WorkerThread("imap")  # a daemon thread: a hung read cannot hold exit

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
        limit = self.max_message_size
        for start in range(0, len(uids), FETCH_CHUNK):
            window = uids[start : start + FETCH_CHUNK]
            sizes = await self._call(functools.partial(self._sizes, window))
            too_large = {uid for uid, size in sizes.items() if limit is not None and size > limit}
            costs = [
                (uid, MAX_HEADER_BYTES if uid in too_large else size) for uid, size in sizes.items()
            ]
            for run in byte_chunks(costs, self.fetch_bytes):
                messages = await self._call(
                    functools.partial(
                        self._fetch,
                        [u for u in run if u not in too_large],
                        [u for u in run if u in too_large],
                    )
                )
                yield FolderBatch(folder, current, messages)
                del messages  # the next run's bytes are not added to this one's

    async def append(self, folder: str, raw: bytes, at: datetime) -> None:
        """APPEND ``raw`` to ``folder``, flagged \\Seen (staff should not see it as new)."""
        client = self._require_client()
        await self._call(
            lambda: self._in_folder(
                folder, lambda: client.append(folder, raw, flags=(SEEN,), msg_time=at)
            )
        )

    async def has_message_id(self, folder: str, message_id: str) -> bool:
        """SEARCH ``folder`` for the Message-ID (read-only; nothing is flagged)."""

        def search() -> bool:
            self._select(folder)
            return bool(self._require_client().search(["HEADER", "Message-ID", message_id]))

        return await self._call(search)

    async def _call(self, work: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, work)
        except TokenCommandError as exc:
            raise translated(self.settings, self._secret, exc) from None  # no command output
        except LIBRARY_ERRORS as exc:
            raise translated(self.settings, self._secret, exc) from exc

    def _connect(self) -> IMAPClient:
        return connect(self.settings, self._secret)

    def _new_uids(
        self, folder: str, uidvalidity: int | None, last_uid: int
    ) -> tuple[int, list[int]]:
        client = self._require_client()
        status = self._select(folder)
        current = int(status[b"UIDVALIDITY"])
        if uidvalidity is not None and current != uidvalidity:
            last_uid = 0  # the old UIDs mean nothing now: read everything, dedupe does the rest
        found = client.search(["UID", f"{last_uid + 1}:*"])
        return current, sorted(uid for uid in found if uid > last_uid)

    def _sizes(self, uids: list[int]) -> dict[int, int]:
        """RFC822.SIZE of each UID still there, in UID order (expunged ones are left out)."""
        response = self._require_client().fetch(uids, ["RFC822.SIZE"])
        return {
            uid: int(response[uid].get(b"RFC822.SIZE") or 0)
            for uid in sorted(response)
            if b"RFC822.SIZE" in response[uid]
        }

    def _fetch(self, whole: list[int], headers_only: list[int]) -> list[FetchedMessage]:
        """The messages ``whole`` in full and, of ``headers_only``, the header, the size and
        INTERNALDATE alone (their bodies are never asked for); in UID order."""
        client = self._require_client()
        messages = []
        if whole:
            response = client.fetch(whole, [_BODY, "INTERNALDATE"])
            for uid, data in response.items():
                raw = data.pop(b"BODY[]", None)  # popped: the response does not hold it too
                if raw is not None:  # None: expunged since the SEARCH, nothing to file
                    messages.append(
                        FetchedMessage(uid, _aware(data.get(b"INTERNALDATE")), bytes(raw))
                    )
            del response
        if headers_only:
            response = client.fetch(headers_only, [_HEADER, "RFC822.SIZE", "INTERNALDATE"])
            for uid, data in response.items():
                header = next((v for k, v in data.items() if k.startswith(b"BODY[HEADER]")), None)
                if header is not None:
                    messages.append(
                        FetchedMessage(
                            uid,
                            _aware(data.get(b"INTERNALDATE")),
                            bytes(header),
                            size=int(data.get(b"RFC822.SIZE") or 0),
                            headers_only=True,
                        )
                    )
        return sorted(messages, key=lambda m: m.uid)

    def _select(self, folder: str) -> dict[bytes, Any]:
        """EXAMINE ``folder`` (read-only); a folder that does not exist is named as such."""
        client = self._require_client()
        return self._in_folder(folder, lambda: client.select_folder(folder, readonly=True))

    def _in_folder(self, folder: str, work: Callable[[], T]) -> T:
        """``work`` on ``folder``; when the server refuses it, list the server's folders to
        tell a folder that does not exist (a typo in the config) from any other refusal."""
        try:
            return work()
        except imaplib.IMAP4.error as exc:
            if isinstance(exc, imaplib.IMAP4.abort):
                raise
            try:
                listing = self._require_client().list_folders()
            except imaplib.IMAP4.error:
                raise exc from None
            if not any(name == folder for _, _, name in listing):
                raise MailboxFolderError(self._no_such_folder(folder, listing)) from exc
            raise

    def _no_such_folder(self, folder: str, listing: list[tuple[Any, Any, str]]) -> str:
        key = "sent_folder" if folder == self.settings.sent_folder else "folder"
        names = [name for _, _, name in listing]
        flagged = [name for flags, _, name in listing if _SENT in _flags(flags)]
        guess = (flagged[:1] if key == "sent_folder" else []) or _close_name(folder, names)
        shown = ", ".join(
            _shown(name) + (r" (\Sent)" if name in flagged else "") for name in names[:_MAX_LISTED]
        )
        more = f" and {len(names) - _MAX_LISTED} more" if len(names) > _MAX_LISTED else ""
        fix = (
            f"did you mean {_shown(guess[0])}? The server has"
            if guess
            else "set it to one of the server's"
        )
        return (
            f"{self._where()} has no folder {_shown(folder)} ({key} in [mailbox.imap]); "
            f"{fix}: {shown}{more}"
        )

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


# What imapclient, imaplib, ssl and sockets raise; ``translated`` turns each into ours.
LIBRARY_ERRORS = (
    LoginError,
    TokenCommandError,
    CapabilityError,
    imaplib.IMAP4.error,
    OSError,
    EOFError,
)


def connect(
    settings: ServerSettings, secret: Secret, *, read_timeout: float | None = None
) -> IMAPClient:
    """A connection secured as configured and logged in (blocking: call it in a thread).

    ``read_timeout`` shortens the configured timeout for reads (a watch's probe)."""
    s = settings
    context = None if s.security == "none" else shared_context()
    reads = s.timeout_seconds if read_timeout is None else min(s.timeout_seconds, read_timeout)
    client = IMAPClient(
        s.host,
        port=s.port,
        ssl=s.security == "tls",
        ssl_context=context,
        timeout=SocketTimeout(connect=s.timeout_seconds, read=reads),
    )
    client.normalise_times = False  # keep INTERNALDATE's offset instead of local naive time
    if s.security == "starttls":
        client.starttls(context)
    try:
        _log_in(client, settings, secret)
    except BaseException:
        _logout(client)
        raise
    return client


def _log_in(client: IMAPClient, settings: ServerSettings, secret: Secret) -> None:
    """LOGIN with the password, or AUTHENTICATE XOAUTH2 with a token fetched just now."""
    username = settings.username or ""
    if isinstance(secret, TokenCommand):
        client.oauth2_login(username, secret.fetch())
    else:
        client.login(username, secret or "")


def translated(settings: ServerSettings, secret: Secret, exc: BaseException) -> MailboxError:
    """One of ``LIBRARY_ERRORS`` as the agent's own error: one line, with what to do."""
    where = f"IMAP {settings.host}:{settings.port}"
    if isinstance(exc, LoginError):
        return MailboxLoginError(_refused(settings, secret, exc))
    if isinstance(exc, TokenCommandError):
        return MailboxLoginError(str(exc))
    if isinstance(exc, CapabilityError):
        return MailboxConnectionError(
            f"{where}: {_reason(exc)}; the connection is not secured, so nothing was sent: "
            "check security and port in [mailbox.imap]"
        )
    if isinstance(exc, imaplib.IMAP4.abort | OSError | EOFError):
        return MailboxConnectionError(_connection_failure(settings, exc))
    if isinstance(exc, MailboxError):
        return exc
    return MailboxError(f"{where}: the server said {_reason(exc)}")


def _refused(settings: ServerSettings, secret: Secret, exc: LoginError) -> str:
    who = f"IMAP {settings.host}:{settings.port}: login refused for {settings.username!r}"
    if not isinstance(secret, TokenCommand):
        return f"{who}; check the username and the password"
    return (
        f"{who}: the server refused the OAuth2 token printed by oauth2_token_command "
        f"({secret.where}): {_reason(exc)[:200]}; check that the command prints "
        "a current access token for this account, with the mail scope"
    )


_SENT = b"\\sent"
_SMTP_GREETING = re.compile(r"unexpected response: b['\"]220[ -]")  # imaplib's abort text
_MAX_LISTED = 20  # a mailbox can have thousands of folders: the error stays one line


def _flags(flags: Any) -> set[bytes]:
    """A LIST response's flags, lower-cased (``\\Sent`` is spelt either way)."""
    return {f.lower() for f in flags if isinstance(f, bytes)}


def _shown(name: str) -> str:
    """A folder name from the server, quoted on one line and at most 80 characters."""
    text = one_line(name)
    return repr(text if len(text) <= 80 else text[:79] + "…")


def _close_name(folder: str, names: list[str]) -> list[str]:
    by_folded = {name.casefold(): name for name in names}
    close = difflib.get_close_matches(folder.casefold(), list(by_folded), n=1, cutoff=0.5)
    return [by_folded[c] for c in close]


def _connection_failure(settings: ServerSettings, exc: BaseException) -> str:
    """What went wrong reaching the server, and what to change in [mailbox.imap]."""
    where = f"IMAP {settings.host}:{settings.port}"
    if isinstance(exc, ConnectionRefusedError):
        return (
            f"{where}: connection refused; is the server running, and is the port right? "
            "check host and port in [mailbox.imap]"
        )
    if isinstance(exc, imaplib.IMAP4.abort) and _SMTP_GREETING.search(str(exc)):
        return (
            f"{settings.host}:{settings.port} is not an IMAP server (it greeted like "
            "SMTP); check [mailbox.imap] port (IMAP is usually 993, or 143 for starttls)"
        )
    if isinstance(exc, ssl.SSLError) and exc.reason == "WRONG_VERSION_NUMBER":
        return (
            f'{where}: no TLS on this port (security = "tls"); check port and security '
            'in [mailbox.imap]: 993 is "tls", 143 is "starttls"'
        )
    return (
        f"{where}: connection failed ({_reason(exc)}); check host, port and security, "
        "or wait for the server to come back"
    )


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
