"""Staff logins for the web page: password hashes, signed session cookies, a login rate limit.

Logins live in ``data_dir/web/users.json`` (0600, its folder 0700), never in the config: each
a salted scrypt hash (stdlib ``hashlib.scrypt``, n=2**14, r=8, p=1, a 16-byte salt), compared
in constant time. A session is a cookie the server signs with HMAC-SHA256 under a random key
kept in ``data_dir/web/secret`` (0600, made on first use): it names the user, its expiry, a
CSRF token for the forms and a stamp derived from the password hash, so a changed password
ends every session made with the old one.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import ipaddress
import json
import math
import re
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from inbox_agent.adapters.files import private_dir, write_whole
from inbox_agent.errors import CommandError, StoreCorruptError

WEB_DIR = "web"
USERS_FILE = "users.json"
SECRET_FILE = "secret"  # noqa: S105 (a file name, not a secret)
SESSION_SECONDS = 12 * 3600
SCRYPT = {"n": 2**14, "r": 8, "p": 1}
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")  # no slashes, no dot-first: no paths
MAX_PASSWORD = 1024  # scrypt of a megabyte is a denial of service, not a password
MIN_PASSWORD = 8


def check_name(name: str) -> str:
    """``name`` if it can be a login: letters, digits, ``.``, ``_``, ``@``, ``-``; 64 at most."""
    if not NAME.fullmatch(name):
        raise CommandError(
            f"login name {name[:80]!r} is not allowed; use up to 64 letters, digits, "
            "'.', '_', '@' or '-', starting with a letter or digit"
        )
    return name


def hash_password(password: str, salt: bytes | None = None) -> str:
    """``scrypt$n$r$p$salt$hash`` (hex), the form users.json keeps."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, dklen=32, **SCRYPT)
    return f"scrypt${SCRYPT['n']}${SCRYPT['r']}${SCRYPT['p']}${salt.hex()}${digest.hex()}"


def password_matches(password: str, stored: str) -> bool:
    """True when ``password`` hashes to ``stored`` (constant-time comparison)."""
    if len(password) > MAX_PASSWORD:
        return False
    try:
        _, n, r, p, salt, digest = stored.split("$")
        found = hashlib.scrypt(
            password.encode("utf-8"),
            salt=bytes.fromhex(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(digest) // 2,
        )
    except ValueError:
        return False
    return hmac.compare_digest(found.hex(), digest)


class Users:
    """The staff logins in ``data_dir/web/users.json``."""

    def __init__(self, data_dir: Path) -> None:
        self.folder = data_dir / WEB_DIR
        self.path = self.folder / USERS_FILE

    def read(self) -> dict[str, str]:
        """Name -> stored hash; none when the file does not exist yet."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise StoreCorruptError(
                f"{self.path}: the staff logins cannot be read ({exc}); move the file aside "
                "and set each login again with `inbox-agent web passwd NAME`"
            ) from exc
        if not isinstance(data, dict):
            raise StoreCorruptError(
                f"{self.path}: not a file of staff logins; move it aside and set each login "
                "again with `inbox-agent web passwd NAME`"
            )
        return {str(k): str(v) for k, v in data.items()}

    def set_password(self, name: str, password: str) -> None:
        """Store ``name``'s new password as a salted hash (atomically, 0600)."""
        check_name(name)
        if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
            raise CommandError(
                f"the password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters; "
                "run the command again"
            )
        users = self.read()
        users[name] = hash_password(password)
        outcome = ("the password was not changed", "then run the command again")
        private_dir(self.folder, outcome)
        write_whole(self.path, json.dumps(users, indent=1).encode("utf-8"), outcome)

    def check(self, name: str, password: str) -> bool:
        """True when ``name`` exists and ``password`` is its password. An unknown name costs
        the same hash as a known one, so timing does not tell which names exist."""
        stored = self.read().get(name)
        matched = password_matches(password, stored or _dummy())
        return stored is not None and matched

    def stamp(self, name: str) -> str | None:
        """A short digest of ``name``'s stored hash (None: no such user): sessions carry it."""
        stored = self.read().get(name)
        return hashlib.sha256(stored.encode()).hexdigest()[:16] if stored else None


@functools.cache
def _dummy() -> str:
    """The hash an unknown name is checked against; made at the first login, not at import
    (a scrypt at import cost every command ~70 ms)."""
    return hash_password("not a password", b"\0" * 16)


def secret_key(data_dir: Path) -> bytes:
    """The key sessions are signed with, made on first use (``data_dir/web/secret``, 0600)."""
    path = data_dir / WEB_DIR / SECRET_FILE
    try:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    except FileNotFoundError:
        outcome = ("no session key was made", "then start the agent again")
        private_dir(path.parent, outcome)
        key = secrets.token_bytes(32)
        write_whole(path, key.hex().encode("ascii"), outcome)
        return key


@dataclass(frozen=True)
class Session:
    """A signed-in member of staff."""

    user: str
    expires: int  # Unix seconds
    csrf: str
    stamp: str


class Sessions:
    """Makes and reads session cookies (HMAC-SHA256 over the JSON, base64url)."""

    def __init__(self, key: bytes, clock: Callable[[], float] = time.time) -> None:
        self.key = key
        self.clock = clock

    def make(self, user: str, stamp: str) -> tuple[Session, str]:
        """A new session for ``user`` and its cookie value."""
        session = Session(
            user, int(self.clock()) + SESSION_SECONDS, secrets.token_urlsafe(24), stamp
        )
        body = json.dumps([session.user, session.expires, session.csrf, session.stamp])
        payload = base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")
        return session, f"{payload}.{self._sign(payload)}"

    def read(self, cookie: str) -> Session | None:
        """The session ``cookie`` holds, if it is signed by us and not expired."""
        payload, _, signature = cookie.partition(".")
        if len(cookie) > 1024 or not hmac.compare_digest(self._sign(payload), signature):
            return None
        try:
            raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
            user, expires, csrf, stamp = json.loads(raw)
            session = Session(str(user), int(expires), str(csrf), str(stamp))
        except ValueError:
            return None
        return session if session.expires > self.clock() else None

    def _sign(self, payload: str) -> str:
        return hmac.new(self.key, payload.encode(), hashlib.sha256).hexdigest()


class RateLimit:
    """Failed logins: at most ``per_address`` in ``window`` seconds from one client address,
    and ``per_name`` at one login name from anywhere; past either, every attempt waits, the
    right password too. The first stops one guesser; the second, higher, stops guessing one
    name from many addresses without letting a stranger lock a colleague out with a handful
    of wrong guesses. An attempt counts from the moment it starts (so a burst sent at once
    is stopped like a slow one) and stops counting when it logs in, so a team behind one
    office router can all log in at nine."""

    def __init__(
        self,
        per_address: int = 5,
        per_name: int = 20,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_address = per_address
        self.per_name = per_name
        self.window = window
        self.clock = clock
        self._seen: dict[str, deque[float]] = {}

    def attempt(self, address: str, name: str) -> int:
        """Seconds to wait before an attempt from ``address`` at ``name``; 0: go ahead, and
        the attempt is counted until ``succeeded`` says otherwise."""
        keys = self._keys(address, name)
        now = self.clock()
        waits = []
        for key, most in keys.items():
            seen = self._seen.setdefault(key, deque())
            while seen and seen[0] <= now - self.window:
                seen.popleft()
            if len(seen) >= most:
                waits.append(max(1, math.ceil(seen[0] + self.window - now)))
        if waits:
            return max(waits)
        for key in keys:
            self._seen[key].append(now)
        if len(self._seen) > 10_000:  # a flood of names: forget the quiet ones
            self._seen = {k: v for k, v in self._seen.items() if v}
        return 0

    def succeeded(self, address: str, name: str) -> None:
        """The attempt from ``address`` at ``name`` logged in: it does not count."""
        for key in self._keys(address, name):
            seen = self._seen.get(key)
            if seen:
                seen.pop()

    def _keys(self, address: str, name: str) -> dict[str, int]:
        return {f"address:{address}": self.per_address, f"name:{name}": self.per_name}


def client_address(peer: str | None, forwarded_for: list[str], behind_proxy: bool) -> str:
    """The address a login attempt came from. Behind a reverse proxy (``[web] public``) every
    request's peer is the proxy on this machine, which would make the whole world one address
    for the rate limit; there the proxy's ``X-Forwarded-For`` says who it was. Only its last
    entry is believed (the one the proxy added; the ones before it came with the request), and
    only from a loopback peer: a header from anyone else is the client's own word."""
    peer = peer or ""
    if not (behind_proxy and forwarded_for and _loopback(peer)):
        return peer
    last = forwarded_for[-1].rsplit(",", 1)[-1].strip()
    try:
        return str(ipaddress.ip_address(last))
    except ValueError:
        return peer


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    """A CSRF token for a page without a session (the login form)."""
    return secrets.token_urlsafe(24)


def same(a: str, b: str) -> bool:
    """Constant-time equality of two tokens."""
    return hmac.compare_digest(a.encode(), b.encode())
