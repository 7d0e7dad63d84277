"""Shared fixtures: real IMAP (Dovecot, else pymap) and SMTP (aiosmtpd) servers.

See ``tests/servers.py``. ``INBOX_AGENT_TEST_IMAP=pymap`` picks pymap even where Dovecot is
installed; ``INBOX_AGENT_REQUIRE_DOVECOT=1`` (CI) turns any Dovecot trouble into a failure.
"""

from __future__ import annotations

import itertools
import os
import secrets
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

from tests.oauth2_servers import OAuth2Account, OAuth2DovecotServer, TokenIntrospection
from tests.servers import (
    ImapAccount,
    ImapServer,
    ServerError,
    SmtpSink,
    imap_kind,
    start_imap_server,
)
from tests.worlds import MemoryWorld, ServerWorld, World, make_settings, server_settings

_account_numbers = itertools.count(1)

# Property tests explore new examples on every local run; CI (HYPOTHESIS_PROFILE=ci, set by
# .ci/run) replays a fixed set, so a landing is never decided by a lucky draw. What a local
# run finds is kept in .hypothesis/ and replayed until fixed. No deadline: a per-example time
# limit is a timing threshold in a test, and it fails on a loaded machine ("Falsified on the
# first call but did not on a subsequent one"), not on wrong code.
hypothesis_settings.register_profile("default", deadline=None)
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True, deadline=None)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def pytest_report_header() -> list[str]:
    """Which IMAP server the run uses, at the top of its output."""
    try:
        kind = imap_kind()
    except ValueError as exc:
        return [f"IMAP test server: none ({exc})"]
    if kind == "pymap":
        why = (
            "INBOX_AGENT_TEST_IMAP=pymap"
            if os.environ.get("INBOX_AGENT_TEST_IMAP")
            else "Dovecot is not installed: apt-get install dovecot-imapd"
        )
        return [f"IMAP test server: pymap, the pure-Python server ({why})"]
    dovecot = shutil.which("dovecot") or "dovecot"
    try:
        version = subprocess.run(
            [dovecot, "--version"], capture_output=True, text=True, timeout=30, check=False
        ).stdout.strip()
    except OSError:
        version = "(version unknown)"
    required = os.environ.get("INBOX_AGENT_REQUIRE_DOVECOT") == "1"
    fallback = (
        "required: INBOX_AGENT_REQUIRE_DOVECOT=1"
        if required
        else "if it does not start, pymap, with a warning"
    )
    return [f"IMAP test server: Dovecot {version} ({dovecot}; {fallback})"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that needs the IMAP server ``imap``, so ``-m "not imap"`` skips them."""
    for item in items:
        if _needs_servers(item):
            item.add_marker(pytest.mark.imap)


def _needs_servers(item: pytest.Item) -> bool:
    """It uses ``imap_server`` (its fixture closure says so), or it is a ``world[servers]``
    story: ``world`` asks for ``server_world`` at run time, which no closure shows."""
    if {"imap_server", "oauth2_imap"} & set(getattr(item, "fixturenames", ())):
        return True
    callspec = getattr(item, "callspec", None)
    return callspec is not None and callspec.params.get("world") == "servers"


def _start(root: Path) -> ImapServer:
    """Start the chosen server; fail (never skip) when Dovecot is required and unusable.

    Without the requirement, a Dovecot that was picked automatically but will not start
    falls back to pymap with a warning, so a machine where Dovecot is installed but
    unusable (no root) still runs the IMAP tests.
    """
    required = os.environ.get("INBOX_AGENT_REQUIRE_DOVECOT") == "1"
    try:
        kind = imap_kind()
    except ValueError as exc:
        pytest.fail(str(exc))
    chosen = bool(os.environ.get("INBOX_AGENT_TEST_IMAP"))
    if required and kind != "dovecot":
        why = "INBOX_AGENT_TEST_IMAP picks it" if chosen else "dovecot is not on PATH"
        pytest.fail(
            f"INBOX_AGENT_REQUIRE_DOVECOT=1 but the IMAP tests would run on {kind} "
            f"({why}; apt-get install dovecot-imapd)"
        )
    try:
        return start_imap_server(root / kind, kind)
    except (ServerError, OSError) as exc:  # OSError: e.g. not root, cannot chown for Dovecot
        if required or chosen or kind != "dovecot":
            pytest.fail(f"the {kind} test server did not start: {exc}")
        warnings.warn(f"Dovecot did not start, using pymap: {exc}", stacklevel=1)
        return start_imap_server(root / "pymap", "pymap")


@pytest.fixture(scope="session")
def imap_server() -> Iterator[ImapServer]:
    """A real IMAP server for the whole session, in a fresh scratch folder.

    Not ``tmp_path_factory``: pytest makes its base folder 0700, and Dovecot's unprivileged
    processes (users dovecot, dovenull) must reach the mail folder through every parent.
    """
    root = Path(tempfile.mkdtemp(prefix="inbox-agent-imap-"))
    root.chmod(0o755)  # mkdtemp makes it 0700
    try:
        server = _start(root)
        try:
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def imap_account(imap_server: ImapServer) -> ImapAccount:
    """A fresh, empty mailbox ``support-<n>@example.com`` with its own password."""
    address = f"support-{next(_account_numbers)}@example.com"
    password = secrets.token_hex(8)
    imap_server.add_user(address, password)
    return ImapAccount(imap_server, address, password, address)


@pytest.fixture(scope="session")
def token_introspection() -> Iterator[TokenIntrospection]:
    """The OAuth2 token-introspection endpoint the OAuth2 Dovecot asks (tests/oauth2_servers.py)."""
    endpoint = TokenIntrospection()
    endpoint.start()
    yield endpoint
    endpoint.stop()


@pytest.fixture(scope="session")
def oauth2_imap(token_introspection: TokenIntrospection) -> Iterator[OAuth2DovecotServer]:
    """A Dovecot of its own that also takes XOAUTH2, checking tokens with the endpoint.
    pymap has no XOAUTH2: without Dovecot these tests are skipped (failed under CI's
    INBOX_AGENT_REQUIRE_DOVECOT=1)."""
    if shutil.which("dovecot") is None:
        if os.environ.get("INBOX_AGENT_REQUIRE_DOVECOT") == "1":
            pytest.fail("INBOX_AGENT_REQUIRE_DOVECOT=1 but dovecot is not on PATH")
        pytest.skip("OAuth2 needs Dovecot's oauth2 passdb (apt-get install dovecot-imapd)")
    root = Path(tempfile.mkdtemp(prefix="inbox-agent-oauth2-"))
    root.chmod(0o755)  # as for imap_server: Dovecot's own users must reach the mail folder
    server = OAuth2DovecotServer(root, token_introspection.url)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def oauth2_account(
    oauth2_imap: OAuth2DovecotServer, token_introspection: TokenIntrospection
) -> OAuth2Account:
    """A fresh mailbox on the OAuth2 Dovecot with an access token that logs it in."""
    address = f"oauth-{next(_account_numbers)}@example.com"
    password = secrets.token_hex(8)
    oauth2_imap.add_user(address, password)
    token = f"ya29.{secrets.token_urlsafe(32)}"  # the shape of a Google access token
    token_introspection.grant(token, address)
    return OAuth2Account(ImapAccount(oauth2_imap, address, password, address), token)


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """A recording SMTP relay on 127.0.0.1, stopped after the test."""
    sink = SmtpSink()
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
def server_world(
    tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> ServerWorld:
    """A story's world on real servers: Dovecot (else pymap) and the aiosmtpd relay."""
    monkeypatch.setenv("TEST_IMAP_PASSWORD", imap_account.password)
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "anything")
    return ServerWorld(server_settings(tmp_path, imap_account, smtp_sink), imap_account, smtp_sink)


@pytest.fixture(params=["memory", "servers"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> World:
    """The same story in memory and on real servers (Dovecot, else pymap, and aiosmtpd)."""
    if request.param == "memory":
        return MemoryWorld(make_settings(tmp_path))
    server: ServerWorld = request.getfixturevalue("server_world")
    return server


@pytest.fixture(scope="session")
def chromium() -> str:
    """The path of headless Chromium (Debian's ``chromium``, never a downloaded build), for
    the tests that open a page the way an owner does, through Playwright. Skipped where
    either is missing; ``INBOX_AGENT_REQUIRE_BROWSER=1`` (CI) turns that into a failure, as
    for Dovecot: a browser test skipped in CI must not pass silently. A path, not a running
    browser: Playwright's sync API keeps an event loop running while it is started, so each
    test starts and stops it around its own page (``asyncio.run`` elsewhere would fail)."""
    required = os.environ.get("INBOX_AGENT_REQUIRE_BROWSER") == "1"
    executable = shutil.which("chromium")
    try:
        import playwright.sync_api  # noqa: F401, PLC0415 - only to know it is installed
    except ImportError:
        executable = None
    if executable is None:
        why = (
            "chromium or playwright is missing (apt-get install chromium; pip install -e '.[test]')"
        )
        if required:
            pytest.fail(f"INBOX_AGENT_REQUIRE_BROWSER=1 but {why}")
        pytest.skip(why)
    return executable


@pytest.fixture
def self_signed_tls_port(tmp_path: Path) -> Iterator[int]:
    """A TLS listener with a self-signed certificate, as a spoofed server would present."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        try:
            conn, _ = listener.accept()
            with context.wrap_socket(conn, server_side=True) as tls:
                tls.sendall(b"* OK IMAP4rev1 ready\r\n")
        except (OSError, ssl.SSLError):
            return  # the client refused our certificate: exactly what is tested

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield port
    listener.close()
    thread.join(timeout=5)
