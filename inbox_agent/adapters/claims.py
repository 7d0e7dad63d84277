"""Mailbox claims: one mailbox, one agent, per host.

Two agents on one mailbox would both answer every customer. So a running agent (``run``, the
daemon and ``--once``; not ``--dry-run``, not ``replay``) claims each of its mailboxes: it
binds a Linux abstract Unix socket named for the mailbox (a digest of its IMAP host, port,
username and folder) and listens on it. Abstract names are why:

- they are host-wide (per network namespace), across users: an agent run by another user, or
  by another systemd unit, finds the name taken all the same;
- they need no file or folder, so they work under systemd's PrivateTmp and
  ProtectSystem=strict (the units allow AF_UNIX);
- the kernel frees the name the moment the holder's socket closes, when it exits or is killed
  with SIGKILL: a claim is never stale, and there is nothing to clean up.

The holder answers each connection with one JSON line describing itself (pid, config, data_dir,
mailbox) from the agent's event loop, then closes it. A second agent finds the name taken,
asks, and refuses in one line naming the holder (``MailboxClaimedError``). ``check`` asks the
same question without claiming anything.

A holder with our own data_dir is this config's own running agent: ``run`` is refused by the
data_dir's lock before it gets here, and ``check`` accepts it. Containers and pods have network
namespaces of their own, and other hosts are out of reach: there it is the operator's configs
that keep mailboxes disjoint. On platforms other than Linux no claim is made (abstract sockets
are Linux's).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import json
import logging
import os
import socket
import struct
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from inbox_agent.config import MailboxSettings, Settings
from inbox_agent.errors import ConfigError, MailboxClaimedError

log = logging.getLogger("inbox_agent")
SUPPORTED = sys.platform == "linux"
NAME_PREFIX = "inbox-agent/mailbox/"
ANSWER_TIMEOUT_SECONDS = 5.0  # the holder answers from its event loop, between two awaits
MAX_ANSWER = 64 * 1024


@dataclass(frozen=True)
class Holder:
    """The running agent that holds a mailbox's claim, as it describes itself. The pid is the
    kernel's (SO_PEERCRED), so it is known even when the holder does not answer in time."""

    pid: int | None
    config: str | None = None
    data_dir: str | None = None
    data_dir_id: tuple[int, int] | None = None  # (st_dev, st_ino): the same folder, not a path
    mailbox: str | None = None

    def has_data_of(self, settings: Settings) -> bool:
        """Is this the agent of ``settings``' data_dir (the same folder on disk)?"""
        try:
            ours = os.stat(settings.agent.data_dir)
        except OSError:
            return False  # no data_dir yet: no agent runs on it
        if self.data_dir_id is not None:
            return self.data_dir_id == (ours.st_dev, ours.st_ino)
        return self.data_dir == str(settings.agent.data_dir.resolve())

    def describe(self, mailbox: MailboxSettings) -> str:
        """``pid 123, config /etc/inbox-agent/shop1.toml, data_dir /var/lib/...``."""
        parts = [f"pid {self.pid}" if self.pid else "pid unknown"]
        if self.mailbox is not None and self.mailbox != mailbox.name:
            parts.append(f"its mailbox {self.mailbox!r}")
        if self.config is None and self.data_dir is None:
            parts.append("it did not say which config")
        parts += [f"config {self.config}"] if self.config else []
        parts += [f"data_dir {self.data_dir}"] if self.data_dir else []
        return ", ".join(parts)


def claim_name(mailbox: MailboxSettings) -> bytes:
    """The abstract socket name of a mailbox: what makes it one mailbox is its IMAP server,
    login and folder. Host names and logins are compared without case, as servers treat them;
    INBOX is case-insensitive in IMAP (RFC 3501), other folder names are not."""
    imap = mailbox.imap
    folder = "INBOX" if imap.folder.upper() == "INBOX" else imap.folder
    key = "\0".join(
        (imap.host.casefold(), str(imap.port), (imap.username or "").casefold(), folder)
    )
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=16).hexdigest()
    return b"\0" + (NAME_PREFIX + digest).encode("ascii")


def where(mailbox: MailboxSettings) -> str:
    """``mailbox 'support' (support@example.com at imap.example.com:993, INBOX)``."""
    imap = mailbox.imap
    return f"mailbox {mailbox.name!r} ({imap.username} at {imap.host}:{imap.port}, {imap.folder})"


@contextlib.contextmanager
def held(settings: Settings, *, dry_run: bool) -> Iterator[None]:
    """Claim every mailbox of ``settings`` while the block runs, answering who holds them from
    the running event loop; refuse (``MailboxClaimedError``) if another agent holds one. A dry
    run claims nothing: it sends nothing, so it may look at a mailbox another agent keeps."""
    _refuse_one_folder_twice(settings)
    if dry_run or not SUPPORTED:
        yield
        return
    loop = asyncio.get_running_loop()
    listeners: list[socket.socket] = []
    try:
        for mailbox in settings.mailboxes:
            listener = _claim(settings, mailbox)
            if listener is not None:
                listeners.append(listener)
                loop.add_reader(
                    listener.fileno(), _answer, listener, _self_description(settings, mailbox)
                )
        yield
    finally:
        for listener in listeners:
            loop.remove_reader(listener.fileno())
            listener.close()


def probe(settings: Settings, mailbox: MailboxSettings) -> Holder | None:
    """For ``check``: the running agent that holds ``mailbox`` if it is this config's own
    (same data_dir), None if none does; ``MailboxClaimedError`` if another agent does."""
    _refuse_one_folder_twice(settings)
    if not SUPPORTED:
        return None
    holder = ask(claim_name(mailbox))
    if holder is None or holder.has_data_of(settings):
        return holder
    raise MailboxClaimedError(_refusal(mailbox, holder))


def ask(name: bytes) -> Holder | None:
    """Who listens on the abstract socket ``name``: None if no one does."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(ANSWER_TIMEOUT_SECONDS)
        try:
            sock.connect(name)
        except (ConnectionRefusedError, FileNotFoundError):
            return None  # no one holds the name
        except OSError:  # TimeoutError: its backlog is full; it is there all the same
            return Holder(None)
        pid = _peer_pid(sock)
        return _holder(_read_answer(sock), pid)


def _claim(settings: Settings, mailbox: MailboxSettings) -> socket.socket | None:
    """The listening socket that holds ``mailbox``; ``MailboxClaimedError`` if another agent
    holds it. Where the system refuses the socket itself (a sandbox without AF_UNIX), the agent
    runs unclaimed, with a warning: the claim is a safety net, not a need."""
    name = claim_name(mailbox)
    for _ in range(3):  # the holder may exit between our bind and our question
        try:
            listener = _listen(name)
        except OSError as exc:  # EAFNOSUPPORT in a sandbox, EMFILE out of descriptors, ...
            if exc.errno != errno.EADDRINUSE:
                log.warning(
                    "%s: not claimed (%s); make sure no other agent on this host looks after it",
                    where(mailbox),
                    exc.strerror or exc,
                )
                return None
        else:
            return listener
        holder = ask(name)
        if holder is not None:
            raise MailboxClaimedError(_refusal(mailbox, holder))
    raise MailboxClaimedError(_refusal(mailbox, Holder(None)))


def _listen(name: bytes) -> socket.socket:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(name)
        listener.listen(16)  # at once: a question waits in the backlog, not refused
        listener.setblocking(False)
    except BaseException:
        listener.close()
        raise
    return listener


def _refusal(mailbox: MailboxSettings, holder: Holder) -> str:
    return (
        f"{where(mailbox)} is already looked after by another inbox-agent on this host "
        f"({holder.describe(mailbox)}); two agents on one mailbox would both answer every "
        "customer: give each mailbox to one agent (one config per shard)"
    )


def _refuse_one_folder_twice(settings: Settings) -> None:
    """Two [[mailbox]] of one config on the same folder would answer every customer twice."""
    seen: dict[bytes, MailboxSettings] = {}
    for mailbox in settings.mailboxes:
        first = seen.setdefault(claim_name(mailbox), mailbox)
        if first is not mailbox:
            raise ConfigError(
                f"{settings.source}: [[mailbox]] {first.name!r} and "
                f"{mailbox.name!r} read the same folder ({where(mailbox)}); "
                "keep one of them"
            )


def _self_description(settings: Settings, mailbox: MailboxSettings) -> bytes:
    data_dir = settings.agent.data_dir.resolve()
    found = os.stat(data_dir)
    answer = {
        "program": "inbox-agent",
        "pid": os.getpid(),
        "config": str(settings.source.resolve()),
        "data_dir": str(data_dir),
        "data_dir_id": [found.st_dev, found.st_ino],
        "mailbox": mailbox.name,
    }
    return json.dumps(answer).encode("utf-8") + b"\n"


def _answer(listener: socket.socket, line: bytes) -> None:
    """Called by the event loop when someone asks: one line, then the connection closes."""
    try:
        conn, _ = listener.accept()
    except OSError:  # BlockingIOError: another wake-up took it; ECONNABORTED: it went away
        return
    with conn:
        conn.setblocking(False)  # a line this short fits in any socket buffer
        with contextlib.suppress(OSError):  # the asker gave up: nothing to tell
            conn.sendall(line)


def _peer_pid(sock: socket.socket) -> int | None:
    try:
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except OSError:
        return None
    pid = struct.unpack("3i", creds)[0]
    return pid if isinstance(pid, int) and pid > 0 else None


def _read_answer(sock: socket.socket) -> bytes:
    data = b""
    with contextlib.suppress(OSError):  # TimeoutError: busy; what came is all there is
        while b"\n" not in data and len(data) < MAX_ANSWER:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    return data


def _holder(answer: bytes, pid: int | None) -> Holder:
    """The holder from its answer; what is missing or malformed stays unknown."""
    try:
        found: Any = json.loads(answer.split(b"\n", 1)[0])
    except ValueError:
        found = {}
    if not isinstance(found, dict):
        found = {}
    said_pid = found.get("pid")
    ident = found.get("data_dir_id")
    return Holder(
        pid=pid or (said_pid if isinstance(said_pid, int) else None),
        config=_text(found.get("config")),
        data_dir=_text(found.get("data_dir")),
        data_dir_id=(ident[0], ident[1])
        if isinstance(ident, list) and len(ident) == 2 and all(isinstance(n, int) for n in ident)
        else None,
        mailbox=_text(found.get("mailbox")),
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
