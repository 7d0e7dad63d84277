"""What a connection logs in with: a password, an OAuth2 token command, or nothing at all.

- A password (``password_env`` / ``password_command``) is looked up once, when the adapters
  are built (``config.resolve_password``).
- ``oauth2_token_command`` is run at **each login**, as isync's ``PassCmd`` and msmtp's
  ``passwordeval`` are: access tokens from Google and Microsoft live an hour, and the helper
  that prints them (``mutt_oauth2.py``, ``oama``) refreshes them with its own refresh token.
  The agent has no OAuth client of its own and keeps no token: the adapters log in with
  XOAUTH2 and forget it.
- Nothing: an SMTP relay on this machine or the LAN that takes mail without AUTH.

A token command that fails is reported by its exit status and the last line of its error
output (bounded, one line): that is where helpers say what is wrong ("refresh token expired,
run ... --authorize"). Its standard output is the token, so it is never shown, and neither is
any copy of it the command may have written to its error output.
"""

from __future__ import annotations

import contextlib
import os
import re
import selectors
import signal
import subprocess
import time
from dataclasses import dataclass

from inbox_agent.config import ServerSettings, resolve_password

TOKEN_COMMAND_SECONDS = 30.0  # a helper that refreshes over the network answers well within
MAX_TOKEN_BYTES = 16 * 1024  # Microsoft's JWT access tokens are 1-3 KB; more is not a token
MAX_ERROR_BYTES = 64 * 1024  # error output kept from the command; the rest is read, dropped
MAX_ERROR_CHARS = 200  # of its last line, in our one-line message
_TOKEN = re.compile(r"[\x21-\x7e]+")  # visible ASCII: base64url, JWT dots, no \x01 or spaces


class TokenCommandError(Exception):
    """The token command failed; the message says how, in one line, without the token."""


@dataclass(frozen=True)
class TokenCommand:
    """``oauth2_token_command`` of one connection; ``where`` names it in errors (the config
    file, the section and the mailbox)."""

    command: str
    where: str

    def __repr__(self) -> str:
        return f"TokenCommand(where={self.where!r})"

    def fetch(self) -> str:
        """Run the command and return the access token it printed (blocking: the IMAP
        adapter calls it in its worker thread, the SMTP adapter in one of asyncio's)."""
        try:
            status, out, err = run_bounded(self.command, TOKEN_COMMAND_SECONDS)
        except TokenCommandError as exc:
            raise TokenCommandError(
                f"{self.where}: oauth2_token_command {exc}; run it by hand to see why"
            ) from None
        if status != 0:
            reason = f"exited {status}" if status > 0 else f"was killed by signal {-status}"
            said = last_line(err, hide=out)
            raise TokenCommandError(
                f"{self.where}: oauth2_token_command {reason}"
                + (f" ({said})" if said else "")
                + "; run it by hand to see why (often: authorize it again)"
            )
        return self._token(out)

    def _token(self, out: bytes) -> str:
        text = out.decode("ascii", "replace").strip()
        if not text:
            raise TokenCommandError(
                f"{self.where}: oauth2_token_command printed nothing; run "
                "it by hand: it should print the access token alone"
            )
        if not _TOKEN.fullmatch(text):
            raise TokenCommandError(
                f"{self.where}: oauth2_token_command printed something that is not an access "
                "token (more than one word or line, or characters a token does not have; not "
                "shown); run it by hand: it should print the access token alone"
            )
        return text


Secret = str | TokenCommand | None  # a password, a token command, or no login


def secret_for(server: ServerSettings, where: str) -> Secret:
    """What ``server`` logs in with: the password (looked up now), the token command (run at
    each login), or None for a relay that needs no login."""
    if server.oauth2_token_command:
        return TokenCommand(server.oauth2_token_command, where)
    if server.username is None:
        return None
    return resolve_password(server, where)


def last_line(err: bytes, *, hide: bytes = b"") -> str:
    """The last non-empty line of ``err``, printable and at most ``MAX_ERROR_CHARS`` long;
    every line of ``hide`` (what the command printed as its token) is blanked out of it."""
    text = err.decode("utf-8", "replace")
    for secret in hide.decode("utf-8", "replace").split():
        if len(secret) >= 8:  # a token, not a word that happens to be printed too
            text = text.replace(secret, "[hidden]")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return ""
    printable = "".join(c if c.isprintable() else "?" for c in lines[-1])
    if len(printable) > MAX_ERROR_CHARS:
        printable = printable[: MAX_ERROR_CHARS - 3] + "..."
    return printable


def run_bounded(command: str, timeout: float) -> tuple[int, bytes, bytes]:
    """Run ``command`` in a shell; return its exit status, standard output and error output.

    Bounded in time (``timeout``; the command and its children are killed then) and in
    memory: at most ``MAX_TOKEN_BYTES`` of output (more is an error) and the last
    ``MAX_ERROR_BYTES`` of error output. Raises ``TokenCommandError`` on timeout or overflow.
    """
    with subprocess.Popen(  # noqa: S602 - the operator's own command, like isync's PassCmd
        command,
        shell=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    ) as proc:
        deadline = time.monotonic() + timeout
        try:
            out, err = _read_both(proc, deadline)
            status = proc.wait(max(0.0, deadline - time.monotonic()))
        except (TokenCommandError, subprocess.TimeoutExpired) as exc:
            _kill_group(proc)
            if isinstance(exc, TokenCommandError):
                raise
            raise TokenCommandError(f"took over {timeout:.0f} s") from None
    return status, out, err


def _read_both(proc: subprocess.Popen[bytes], deadline: float) -> tuple[bytes, bytes]:
    out, err = bytearray(), bytearray()
    with selectors.DefaultSelector() as selector:
        for pipe, buffer in ((proc.stdout, out), (proc.stderr, err)):
            if pipe is not None:  # always, with PIPE; mypy cannot know
                selector.register(pipe, selectors.EVENT_READ, buffer)
        while selector.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                raise subprocess.TimeoutExpired(proc.args, 0)
            for key, _ in selector.select(left):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    selector.unregister(key.fileobj)
                    continue
                key.data.extend(chunk)
                if key.data is err:
                    del err[:-MAX_ERROR_BYTES]  # its end says what went wrong
                elif len(out) > MAX_TOKEN_BYTES:
                    raise TokenCommandError(
                        f"printed over {MAX_TOKEN_BYTES // 1024} KB, which is no access token"
                    )
    return bytes(out), bytes(err)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """The shell and whatever it started (it has a session of its own)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
