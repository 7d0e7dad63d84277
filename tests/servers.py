"""Real mail servers for the test suite: Dovecot (else pymap) for IMAP, aiosmtpd for SMTP.

The adapters are only trusted once they have talked to a real server, so the tests start
real ones: Dovecot (config from ``../shared/testing/dovecot.conf.template``) in a scratch
folder, or pymap (pure Python, from PyPI) where Dovecot is not installed; and an aiosmtpd
relay that records what it receives. Everything listens on 127.0.0.1 only, on a port the
kernel picked.

Each server offers the faults the agent must survive: a dropped session (``kick``), a
restart, a folder rebuilt with a new UIDVALIDITY (``recreate_folder``), an SMTP relay that
is down or refuses a recipient or a message.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import email
import hashlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from imapclient import IMAPClient

HOST = "127.0.0.1"
# The body of ../shared/testing/dovecot.conf.template (Dovecot 2.3), kept here so the
# repository tests alone; fill {root} (absolute, 0755) and {port}.
DOVECOT_CONF = """\
base_dir = {root}/run
state_dir = {root}/state
listen = 127.0.0.1
protocols = imap
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{root}/mail/%u
log_path = {root}/dovecot.log
first_valid_uid = 1
default_internal_user = dovecot
default_internal_group = dovecot
default_login_user = dovenull
namespace inbox {
  inbox = yes
  mailbox Sent {
    special_use = \\Sent
    auto = create
  }
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = {port}
  }
  chroot =
}
service anvil {
  chroot =
}
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}
userdb {
  driver = static
  args = uid=dovecot gid=dovecot home={root}/mail/%u
}
"""
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
POLL = 0.002
APPENDUID = re.compile(rb"\[APPENDUID (\d+) (\d+)\]")


class ServerError(RuntimeError):
    """A test server did not start, stop or behave; the message carries its log."""


# --- small helpers -------------------------------------------------------------------------


def free_port() -> int:
    """A port nobody listens on now: bind port 0 and let the kernel choose.

    Servers that cannot bind port 0 themselves (Dovecot's config needs a number) get this one;
    the tiny race with another process taking it in between is accepted for tests.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def imap_greets(port: int) -> bool:
    """True once a server on ``port`` answers with an IMAP ``* OK`` greeting.

    A TCP accept is not enough: Dovecot's master binds the socket before its login
    process is ready, and a greeting also proves we reached an IMAP server, not a stranger.
    """
    try:
        with socket.create_connection((HOST, port), timeout=1.0) as sock:
            return sock.recv(256).startswith(b"* OK")
    except OSError:
        return False


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` every couple of milliseconds; raise ``ServerError`` on timeout.

    Tests must not sleep for fixed times: this returns as soon as the condition holds.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise ServerError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(POLL)


def tail(path: Path, lines: int = 30) -> str:
    """The end of a log file, for error messages that explain themselves."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


def group_members(pgid: int) -> list[int]:
    """The live processes of process group ``pgid`` (Linux ``/proc``), zombies excluded."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def terminate(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM a child and wait; SIGKILL it if it ignores us for ``STOP_TIMEOUT``."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(STOP_TIMEOUT)


def check_credential(value: str, what: str) -> None:
    """Refuse characters that would corrupt a colon-separated passwd file."""
    if not value or any(char in value for char in ":\r\n"):
        raise ValueError(f"{what} must be non-empty without ':' or newlines: {value!r}")


# --- IMAP ----------------------------------------------------------------------------------


class ImapServer(ABC):
    """A real IMAP server on 127.0.0.1 for one pytest session, with its faults on demand.

    ``kind`` says which server it is ("dovecot" or "pymap"); the API is the same for both.
    All data lives under ``root``; ``restart`` keeps it and the port.
    """

    kind: str

    def __init__(self, root: Path, port: int | None = None) -> None:
        self.root = root
        self.host = HOST
        self.port = port if port is not None else free_port()
        self.mail_dir = root / "mail"
        self.proc: subprocess.Popen[bytes] | None = None
        self.start_seconds = 0.0

    # Lifecycle -----------------------------------------------------------------------------

    @abstractmethod
    def command(self) -> list[str]:
        """The command line that runs the server in the foreground."""

    def prepare(self) -> None:
        """Create what the server needs on disk before its first start."""
        self.mail_dir.mkdir(parents=True, exist_ok=True)

    def start(self) -> None:
        """Start the server as our child and return once it greets IMAP clients.

        Raises ``ServerError`` with the tail of the server's log if it exits or stays mute.
        ``start_seconds`` records how long it took.
        """
        began = time.monotonic()
        self.prepare()
        with self.log_path.open("ab") as log:
            proc = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        self.proc = proc
        try:
            wait_until(
                lambda: proc.poll() is not None or imap_greets(self.port),
                START_TIMEOUT,
                f"{self.kind}'s greeting",
            )
        except ServerError as exc:
            self.stop()
            raise self._fail(str(exc)) from exc
        if proc.poll() is not None:
            self.proc = None
            raise self._fail(f"{self.kind} exited with status {proc.returncode}")
        self.start_seconds = time.monotonic() - began

    @abstractmethod
    def stop(self) -> None:
        """Stop the server and every session it serves; the data stays on disk."""

    def restart(self) -> None:
        """Stop then start on the same port with the same data; open sessions are dropped."""
        self.stop()
        self.start()

    @property
    def log_path(self) -> Path:
        """Where the server logs (read by error messages)."""
        return self.root / f"{self.kind}.log"

    # Accounts and faults -------------------------------------------------------------------

    @abstractmethod
    def add_user(self, username: str, password: str) -> None:
        """Create a login; the running server sees it at once (no restart)."""

    @abstractmethod
    def kick(self, username: str) -> None:
        """Drop every session of ``username``; returns once they are gone."""

    @abstractmethod
    def maildir(self, username: str) -> Path:
        """The maildir that holds ``username``'s INBOX."""

    @abstractmethod
    def uid_state_files(self, username: str) -> list[Path]:
        """The files that remember INBOX's UIDVALIDITY and UIDs (removed to renumber)."""

    # Mail ----------------------------------------------------------------------------------

    @contextlib.contextmanager
    def client(self, username: str, password: str) -> Iterator[IMAPClient]:
        """A logged-in imapclient session over plaintext, logged out afterwards.

        ``normalise_times`` is off so INTERNALDATE comes back timezone-aware, as sent.
        """
        imap = IMAPClient(self.host, port=self.port, ssl=False, timeout=10)
        try:
            imap.normalise_times = False
            imap.login(username, password)
            yield imap
        finally:
            with contextlib.suppress(Exception):  # the session may be kicked: nothing to close
                imap.logout()

    def append(  # noqa: PLR0917
        self,
        username: str,
        password: str,
        folder: str,
        raw: bytes,
        internaldate: datetime | None = None,
        flags: Iterable[str | bytes] = (),
    ) -> int:
        """Deliver ``raw`` into ``folder`` (created if missing); return the new UID.

        ``internaldate`` is the arrival time the server records (Dovecot keeps past dates,
        clamps future ones to now; pymap keeps both). It must be timezone-aware.
        """
        if internaldate is not None and internaldate.utcoffset() is None:
            raise ValueError("internaldate must be timezone-aware")
        with self.client(username, password) as imap:
            if not imap.folder_exists(folder):
                imap.create_folder(folder)
            response = imap.append(folder, raw, flags=tuple(flags), msg_time=internaldate)
        match = APPENDUID.search(response)
        if match is None:
            raise ServerError(f"{self.kind} sent no APPENDUID: {response!r}")
        return int(match.group(2))

    def uidvalidity(self, username: str, password: str, folder: str) -> int:
        """The folder's current UIDVALIDITY (via STATUS)."""
        with self.client(username, password) as imap:
            status = imap.folder_status(folder, [b"UIDVALIDITY"])
        return int(status[b"UIDVALIDITY"])

    def recreate_folder(self, username: str, password: str, folder: str) -> int:
        """Empty ``folder`` and give it a NEW UIDVALIDITY, as when a mailbox is rebuilt.

        Afterwards the folder exists, holds no messages, and its UIDVALIDITY differs from
        before (checked). Returns the new value. Other folders: IMAP DELETE then CREATE.
        INBOX cannot be deleted, so its messages are expunged, then with the server stopped
        the files that remember its UIDs are removed (Dovecot: ``dovecot-uidlist``,
        ``dovecot.index*``, ``dovecot.list.index*``; pymap: ``dovecot-uidlist``) and the
        server restarted, which drops open sessions. Dovecot's ``dovecot-uidvalidity`` file
        is kept, so the next value is the old one plus one, never a repeat.
        """
        before = self.uidvalidity(username, password, folder)
        for _attempt in range(5):  # pymap picks 16 random bits: a repeat is rare, not impossible
            if folder.upper() == "INBOX":
                self._renumber_inbox(username, password)
            else:
                with self.client(username, password) as imap:
                    imap.delete_folder(folder)
                    imap.create_folder(folder)
            after = self.uidvalidity(username, password, folder)
            if after != before:
                return after
        raise ServerError(f"{self.kind}: UIDVALIDITY of {folder} stayed {before}")

    def _renumber_inbox(self, username: str, password: str) -> None:
        """Expunge INBOX, then forget its UIDs on disk with the server stopped."""
        with self.client(username, password) as imap:
            imap.select_folder("INBOX")
            messages = imap.search()
            if messages:
                imap.delete_messages(messages)
                imap.expunge()
        self.stop()
        for path in self.uid_state_files(username):
            path.unlink(missing_ok=True)
        self.start()

    def _fail(self, message: str) -> ServerError:
        """An error that carries the tail of the server's log."""
        return ServerError(
            f"{self.kind} on {self.host}:{self.port}: {message}\n"
            f"--- {self.log_path} ---\n{tail(self.log_path)}"
        )


class DovecotServer(ImapServer):
    """Debian's Dovecot 2.3, run in the foreground (``-F``) as our child from the template.

    Foreground keeps the master our child (we reap it, no daemon to chase) and in its own
    process group, which holds every Dovecot process. The template's ``kill $(cat
    master.pid)`` is not used to stop it: on SIGTERM Dovecot's master leaves open IMAP
    sessions running (they outlive it) and takes 1 s to exit, 5 s after a reload.
    """

    kind = "dovecot"

    def __init__(self, root: Path, port: int | None = None, *, extra_config: str = "") -> None:
        """``extra_config``: lines appended to the generated dovecot.conf (a bench raises
        process and connection limits with it: ``service imap { process_limit = 1024 }``)."""
        super().__init__(root, port)
        self.config = root / "dovecot.conf"
        self.users = root / "users"
        self.extra_config = extra_config

    def prepare(self) -> None:
        """Lay out the scratch folder the template header asks for (once)."""
        if self.config.exists():
            return
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o755)  # dovecot and dovenull must traverse it
        for name in ("run", "state", "mail"):
            (self.root / name).mkdir(exist_ok=True)
        shutil.chown(self.mail_dir, "dovecot", "dovecot")
        self.users.touch()
        self.config.write_text(
            DOVECOT_CONF.replace("{root}", str(self.root)).replace("{port}", str(self.port))
            + self.extra_config
        )

    def command(self) -> list[str]:
        return ["dovecot", "-F", "-c", str(self.config)]

    def stop(self) -> None:
        """Kill the master, then SIGTERM the rest of its process group and wait for it.

        Killing the master first stops it respawning what we end; its children are then
        orphans, re-parented to PID 1, which in containers often never reaps them, so
        zombies count as gone. The imap processes end their sessions cleanly on SIGTERM.
        """
        proc, self.proc = self.proc, None
        if proc is None:
            return
        proc.kill()
        proc.wait(STOP_TIMEOUT)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            wait_until(
                lambda: not group_members(proc.pid), STOP_TIMEOUT, "Dovecot's processes to exit"
            )
        except ServerError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            raise
        (self.root / "run" / "master.pid").unlink(missing_ok=True)

    def add_user(self, username: str, password: str) -> None:
        """Append ``user:{PLAIN}secret`` to the passwd-file, then ``doveadm reload``.

        The passdb re-reads a changed file, but stats it at most once per second, so a user
        added within a second of the last login would be refused. A reload (~10 ms) starts
        a fresh auth process that reads the file; open IMAP sessions are not affected.
        """
        check_credential(username, "username")
        check_credential(password, "password")
        with self.users.open("a") as users:
            users.write(f"{username}:{{PLAIN}}{password}\n")
        if self.proc is not None:
            self.doveadm("reload")

    def add_users(self, logins: Iterable[tuple[str, str]]) -> None:
        """Many ``(username, password)`` logins in one write and one reload (a bench's 200
        mailboxes), where ``add_user`` reloads once per user."""
        lines = []
        for username, password in logins:
            check_credential(username, "username")
            check_credential(password, "password")
            lines.append(f"{username}:{{PLAIN}}{password}\n")
        with self.users.open("a") as users:
            users.writelines(lines)
        if self.proc is not None:
            self.doveadm("reload")

    def doveadm(self, *args: str, ok: tuple[int, ...] = (0,)) -> str:
        """Run ``doveadm`` against this instance; raise with its output when it fails."""
        done = subprocess.run(
            ["doveadm", "-c", str(self.config), *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        if done.returncode not in ok:
            raise self._fail(f"doveadm {' '.join(args)}: {done.stderr or done.stdout}")
        return done.stdout

    def sessions(self, username: str) -> int:
        """How many IMAP sessions ``username`` has open now (``doveadm who``)."""
        lines = self.doveadm("who", username).splitlines()[1:]
        return sum(1 for line in lines if line.split()[:1] == [username])

    def kick(self, username: str) -> None:
        """``doveadm kick``, then wait until ``doveadm who`` shows no session.

        kick only signals the imap processes; waiting makes the next client command fail
        for certain instead of racing the process's exit. doveadm exits 68 when the user
        had no session, which is fine here.
        """
        self.doveadm("kick", username, ok=(0, 68))
        wait_until(
            lambda: self.sessions(username) == 0, STOP_TIMEOUT, f"{username}'s sessions to end"
        )

    def maildir(self, username: str) -> Path:
        return self.mail_dir / username

    def uid_state_files(self, username: str) -> list[Path]:
        home = self.maildir(username)
        return [
            home / "dovecot-uidlist",
            *home.glob("dovecot.index*"),
            *home.glob("dovecot.list.index*"),
        ]


class PymapServer(ImapServer):
    """pymap's ``maildir`` backend in a subprocess: the fallback where Dovecot is missing.

    The maildir backend (not ``dict``) keeps data on disk, so ``restart`` keeps messages,
    and it reads its users files on every login, so ``add_user`` works live. pymap has no
    way to end one user's sessions, so ``kick`` restarts it: every session is dropped.
    Unlike Dovecot it keeps a future INTERNALDATE and creates no Sent folder by itself
    (``add_user`` creates a plain one so the folder lists match).
    """

    kind = "pymap"
    PASSWD = "pymap-etc-passwd"
    SHADOW = "pymap-etc-shadow"

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-c",
            "from pymap.main import main; main()",
            "--pid-file",
            str(self.root / "pymap.pid"),
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--no-tls",
            "maildir",
            str(self.mail_dir),
        ]

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            terminate(proc)  # its sockets, sessions included, close with the process

    def add_user(self, username: str, password: str) -> None:
        """Add passwd and shadow lines, then create Sent like Dovecot's ``auto = create``.

        The shadow entry is a pbkdf2-sha256 digest (pymap's built-in hash) with few rounds:
        the default 500,000 would cost a quarter second per login.
        """
        check_credential(username, "username")
        check_credential(password, "password")
        salt = secrets.token_bytes(8)
        rounds = 1000
        digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, rounds)
        hashed = "$".join(
            [
                "",
                "pbkdf2-sha256",
                str(rounds),
                base64.b64encode(salt).decode(),
                base64.b64encode(digest).decode(),
            ]
        )
        # passwd(5) fields: name:password:uid:gid:comment:home(the maildir):shell
        self._append_line(self.PASSWD, f"{username}:x::::{username}:")
        self._append_line(self.SHADOW, f"{username}:{hashed}")
        with self.client(username, password) as imap:
            if not imap.folder_exists("Sent"):
                imap.create_folder("Sent")

    def _append_line(self, name: str, line: str) -> None:
        """Rewrite a users file by rename, so pymap never reads half a line."""
        path = self.mail_dir / name
        old = path.read_text() if path.exists() else ""
        scratch = path.with_suffix(".new")
        scratch.write_text(f"{old}{line}\n")
        scratch.replace(path)

    def kick(self, username: str) -> None:
        """Restart pymap: it cannot end one user's sessions, so this ends everyone's."""
        self.restart()

    def maildir(self, username: str) -> Path:
        return self.mail_dir / username

    def uid_state_files(self, username: str) -> list[Path]:
        return [self.maildir(username) / "dovecot-uidlist"]


@dataclass(frozen=True)
class ImapAccount:
    """One mailbox login on the test server; ``address`` is also the username."""

    server: ImapServer
    username: str
    password: str
    address: str

    def client(self) -> contextlib.AbstractContextManager[IMAPClient]:
        """A logged-in imapclient session for this account."""
        return self.server.client(self.username, self.password)

    def append(
        self,
        folder: str,
        raw: bytes,
        internaldate: datetime | None = None,
        flags: Iterable[str | bytes] = (),
    ) -> int:
        """Deliver into this account's ``folder``; return the new UID."""
        return self.server.append(self.username, self.password, folder, raw, internaldate, flags)


def imap_kind() -> str:
    """Which IMAP server the tests use: ``INBOX_AGENT_TEST_IMAP`` if set, else Dovecot if
    installed, else pymap."""
    chosen = os.environ.get("INBOX_AGENT_TEST_IMAP", "").strip().lower()
    if chosen:
        if chosen not in ("dovecot", "pymap"):
            raise ValueError(f"INBOX_AGENT_TEST_IMAP must be dovecot or pymap, not {chosen!r}")
        return chosen
    return "dovecot" if shutil.which("dovecot") else "pymap"


def start_imap_server(root: Path, kind: str) -> ImapServer:
    """Start the chosen IMAP server with its data under ``root``."""
    if kind == "dovecot" and shutil.which("dovecot") is None:
        raise ServerError("dovecot is not installed (apt-get install dovecot-imapd)")
    server: ImapServer = DovecotServer(root) if kind == "dovecot" else PymapServer(root)
    server.start()
    return server


# --- SMTP ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    """One message the sink accepted: the envelope, the bytes, and the parsed message."""

    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    message: EmailMessage
    auth_user: str | None = None


class _Recorder:
    """The aiosmtpd handler: records messages and answers the refusals tests ask for.

    aiosmtpd calls it on its own thread; every access to shared state holds the condition.
    """

    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.received: list[Received] = []
        self.refused: dict[str, int] = {}
        self.failures: list[int] = []
        self.tokens: dict[str, str] = {}  # OAuth2 access token -> the user it logs in

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:  # noqa: N802
        """XOAUTH2 as Gmail answers it: a token it knows logs its user in; any other gets a
        334 with a JSON error, then (after the client's empty line) 535."""
        blob = base64.b64decode(args[1]) if len(args) > 1 else await server.challenge_auth("")
        if not isinstance(blob, bytes):  # the client gave up ("*")
            return AuthResult(success=False, handled=True)
        fields = dict(
            part.split("=", 1)
            for part in blob.decode(errors="replace").split("\x01")
            if "=" in part
        )
        user, token = fields.get("user", ""), fields.get("auth", "").removeprefix("Bearer ")
        with self.changed:
            known = self.tokens.get(token)
        if known is not None and known == user:  # the token is never kept in auth_data
            return AuthResult(success=True, auth_data=LoginPassword(user.encode(), b""))
        await server.challenge_auth('{"status":"401","schemes":"bearer"}')
        return AuthResult(
            success=False, handled=False, message="535 5.7.8 Username and token not accepted"
        )

    async def handle_RCPT(  # noqa: N802
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        with self.changed:
            code = self.refused.get(address.lower())
        if code is not None:
            return f"{code} {str(code)[0]}.1.1 <{address}>: recipient refused by test"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
    ) -> str:
        with self.changed:
            if self.failures:
                code = self.failures.pop(0)
                return f"{code} {str(code)[0]}.3.0 message refused by test"
        raw = envelope.original_content or b""
        message = email.message_from_bytes(raw, policy=policy.default)
        assert isinstance(message, EmailMessage)
        auth = session.auth_data
        user = auth.login.decode() if isinstance(auth, LoginPassword) else None
        record = Received(envelope.mail_from or "", list(envelope.rcpt_tos), raw, message, user)
        with self.changed:
            self.received.append(record)
            self.changed.notify_all()
        return "250 OK: recorded"


def _accept_any_login(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    """Let every AUTH succeed: the agent logs in to its relay; the sink records who."""
    return AuthResult(success=True, auth_data=auth_data)


class _PortZeroController(Controller):
    """A Controller that may bind port 0.

    aiosmtpd 1.4.6 connects to ``self.port`` after binding to check the server answers,
    which fails for port 0; read the bound port from the socket first.
    """

    def _trigger_server(self) -> None:
        if isinstance(self.server, asyncio.Server):
            self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


class SmtpSink:
    """An SMTP relay on 127.0.0.1 that records what it receives, and can refuse on demand.

    ``stop`` then ``start`` brings it back on the same port, as a relay that was down.
    AUTH PLAIN/LOGIN is offered without TLS and any credentials are accepted; XOAUTH2 takes
    the tokens given to ``accept_token``. ``auth=False`` offers no AUTH at all (a relay on
    the LAN that needs no login); ``auth_required`` answers MAIL with 530 until AUTH.
    """

    def __init__(self, *, auth: bool = True, auth_required: bool = False) -> None:
        self.host = HOST
        self.port = 0
        self.auth = auth
        self.auth_required = auth_required
        self._recorder = _Recorder()
        self._controller: Controller | None = None

    def accept_token(self, username: str, token: str) -> None:
        """XOAUTH2 with ``token`` logs ``username`` in from now on."""
        with self._recorder.changed:
            self._recorder.tokens[token] = username

    def start(self) -> None:
        """Listen (on a fresh port the first time, on the same port afterwards)."""
        if self._controller is not None:
            return
        controller = _PortZeroController(
            self._recorder,
            hostname=self.host,
            port=self.port,
            server_hostname="sink.test",
            authenticator=_accept_any_login,
            auth_require_tls=not self.auth,  # no TLS: no AUTH
            auth_required=self.auth_required,
        )
        controller.start()
        self.port = controller.port
        self._controller = controller

    def stop(self) -> None:
        """Stop listening; what was received stays readable."""
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    @property
    def received(self) -> list[Received]:
        """A copy of what was accepted so far, in order."""
        with self._recorder.changed:
            return list(self._recorder.received)

    def clear(self) -> None:
        """Forget received messages and pending refusals."""
        with self._recorder.changed:
            self._recorder.received.clear()
            self._recorder.refused.clear()
            self._recorder.failures.clear()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        """Block until ``count`` messages were received (no fixed sleep); return them all."""
        with self._recorder.changed:
            if not self._recorder.changed.wait_for(
                lambda: len(self._recorder.received) >= count, timeout
            ):
                got = len(self._recorder.received)
                raise AssertionError(f"SMTP sink got {got} of {count} messages in {timeout}s")
            return list(self._recorder.received)

    def refuse_recipient(self, address: str, code: int = 550) -> None:
        """Answer RCPT TO:<address> with ``code`` (4xx temporary, 5xx permanent)."""
        with self._recorder.changed:
            self._recorder.refused[address.lower()] = code

    def fail_next(self, count: int, code: int = 451) -> None:
        """Answer the next ``count`` DATA commands with ``code`` instead of accepting."""
        with self._recorder.changed:
            self._recorder.failures.extend([code] * count)
