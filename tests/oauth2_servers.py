"""OAuth2 on a real IMAP server for the tests: Dovecot's oauth2 passdb, asking a
token-introspection endpoint of ours on 127.0.0.1 whether a token is good.

Dovecot (2.3) takes XOAUTH2 and OAUTHBEARER through ``passdb { driver = oauth2 }``; with
``introspection_mode = post`` it POSTs ``token=...`` to ``introspection_url`` (RFC 7662) and
logs the user in when the JSON answer is ``{"active": true, "username": <the login name>}``.
The endpoint here answers that for the tokens a test ``grant``\\ s and ``{"active": false}``
for any other, as Google's and Microsoft's servers refuse an expired or revoked token.

It is a Dovecot of its own (``OAuth2DovecotServer``), not the session's: the session's
config stays as it is, and every other test keeps its password login. Its passwd-file still
serves PLAIN and LOGIN, so the tests deliver mail with the usual helpers.
"""

from __future__ import annotations

import json
import shlex
import threading
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from inbox_agent import config
from tests.servers import HOST, DovecotServer, ImapAccount, ServerError, SmtpSink
from tests.worlds import make_settings

MAX_REQUEST_BYTES = 64 * 1024


class TokenIntrospection:
    """A token-introspection endpoint on 127.0.0.1 that knows the tokens granted to it."""

    def __init__(self) -> None:
        self._tokens: dict[str, str] = {}  # token -> username
        self._lock = threading.Lock()
        self.asked = 0  # introspection requests answered, good token or not
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server calls it by this name
                length = min(int(self.headers.get("Content-Length") or 0), MAX_REQUEST_BYTES)
                form = urllib.parse.parse_qs(self.rfile.read(length).decode("ascii", "replace"))
                answer = endpoint.introspect(form.get("token", [""])[0])
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                """Quiet: the request line is no business of the test's output."""

        self._server = ThreadingHTTPServer((HOST, 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, daemon=True, name="token-introspection"
        )

    @property
    def url(self) -> str:
        """Where Dovecot asks."""
        return f"http://{HOST}:{self._server.server_address[1]}/introspect"

    def start(self) -> None:
        """Answer requests in a thread of its own."""
        self._thread.start()

    def stop(self) -> None:
        """Stop answering and close the socket."""
        self._server.shutdown()
        self._server.server_close()

    def grant(self, token: str, username: str) -> None:
        """``token`` logs ``username`` in from now on."""
        with self._lock:
            self._tokens[token] = username

    def introspect(self, token: str) -> dict[str, object]:
        """RFC 7662's answer: active with the user, or not active."""
        with self._lock:
            self.asked += 1
            username = self._tokens.get(token)
        return {"active": False} if username is None else {"active": True, "username": username}


class OAuth2DovecotServer(DovecotServer):
    """The session's Dovecot config plus XOAUTH2 / OAUTHBEARER through the oauth2 passdb."""

    def __init__(self, root: Path, introspection_url: str) -> None:
        super().__init__(root)
        self.introspection_url = introspection_url

    def prepare(self) -> None:
        """The usual scratch folder, then the oauth2 passdb in front of the passwd-file."""
        fresh = not self.config.exists()
        super().prepare()
        if not fresh:
            return
        conf = self.config.read_text()
        edits = {
            "auth_mechanisms = plain login": (
                "auth_mechanisms = plain login xoauth2 oauthbearer\nauth_failure_delay = 0"
            ),
            "passdb {\n  driver = passwd-file": "passdb {\n  driver = oauth2\n"
            "  mechanisms = xoauth2 oauthbearer\n"
            f"  args = {self.root}/dovecot-oauth2.conf.ext\n}}\n"
            "passdb {\n  driver = passwd-file\n  mechanisms = plain login",
        }
        for old, new in edits.items():
            if old not in conf:
                raise ServerError(f"the Dovecot config has no {old!r} to extend for OAuth2")
            conf = conf.replace(old, new)
        self.config.write_text(conf)
        (self.root / "dovecot-oauth2.conf.ext").write_text(
            "introspection_mode = post\n"
            f"introspection_url = {self.introspection_url}\n"
            "force_introspection = yes\n"
            "username_attribute = username\n"
            "active_attribute = active\n"
            "active_value = true\n"
        )


@dataclass(frozen=True)
class OAuth2Account:
    """A mailbox on the OAuth2 Dovecot: a password for the test's own deliveries, and an
    access token the introspection endpoint takes for it."""

    account: ImapAccount
    token: str


class TokenHelper:
    """A stand-in for ``mutt_oauth2.py`` or ``oama``: a shell command that prints the token
    in ``NAME.token``, or, while ``NAME.error`` exists, prints that to its error output and
    exits 1. Each run adds a line to ``NAME.runs``."""

    def __init__(self, folder: Path, name: str) -> None:
        self.base = folder / name
        quoted = shlex.quote(str(self.base))
        self.command = (
            f"echo run >> {quoted}.runs; if [ -f {quoted}.error ]; then "
            f"cat {quoted}.error >&2; exit 1; fi; cat {quoted}.token"
        )

    def give(self, token: str) -> None:
        """Print ``token`` from now on (and fail no more)."""
        self.base.with_suffix(".token").write_text(token + "\n")
        self.base.with_suffix(".error").unlink(missing_ok=True)

    def fail(self, message: str) -> None:
        """Exit 1 with ``message`` on the error output from now on."""
        self.base.with_suffix(".error").write_text(message + "\n")

    @property
    def runs(self) -> int:
        """How often the command has run."""
        path = self.base.with_suffix(".runs")
        return len(path.read_text().splitlines()) if path.exists() else 0


def oauth2_settings(
    tmp_path: Path, oauth2: OAuth2Account, sink: SmtpSink, imap: TokenHelper, smtp: TokenHelper
) -> config.Settings:
    """The stories' config with both logins by token command instead of password_env."""
    account = oauth2.account
    settings = make_settings(
        tmp_path,
        address=account.address,
        imap_port=account.server.port,
        imap_user=account.username,
        smtp_port=sink.port,
    )
    text = settings.source.read_text(encoding="utf-8")
    for kind, helper in (("IMAP", imap), ("SMTP", smtp)):
        text = text.replace(
            f'password_env = "TEST_{kind}_PASSWORD"',
            f"oauth2_token_command = '''{helper.command}'''",
        )
    settings.source.write_text(text, encoding="utf-8")
    return config.load(settings.source)
