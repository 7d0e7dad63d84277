"""The staff page in a real daemon on Dovecot and aiosmtpd: ``inbox-agent run`` with
``[web] listen``; log in over HTTP, see the acknowledged customer, snooze them, and SIGTERM
with a browser's keep-alive connection still open: the daemon exits 0 (aiohttp would wait 60 s
for it by default)."""

from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import subprocess
import sys
from datetime import UTC, datetime
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

from tests.servers import ImapAccount, SmtpSink, free_port
from tests.test_sigterm import Daemon
from tests.worlds import customer_mail, make_settings

PASSWORD = "correct horse battery"


class Browser:
    """One keep-alive HTTP/1.1 connection with its cookies, as a browser tab holds it."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.cookies: dict[str, str] = {}

    def ask(self, method: str, path: str, form: dict[str, str] | None = None) -> tuple[int, str]:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        body = urlencode(form) if form is not None else None
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.connection.request(method, path, body=body, headers=headers)
        response = self.connection.getresponse()
        text = response.read().decode("utf-8")
        for header in response.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value
        assert response.getheader("Connection", "").lower() != "close"
        return response.status, response.getheader("Location") or text


def csrf_in(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def test_the_daemon_serves_the_page_and_stops_with_a_browser_connected(
    tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink
) -> None:
    port = free_port()
    settings = make_settings(
        tmp_path,
        address=imap_account.address,
        imap_port=imap_account.server.port,
        imap_user=imap_account.username,
        smtp_port=smtp_sink.port,
        extra=f'\n[web]\nlisten = "127.0.0.1:{port}"\n',
    )
    env = {**os.environ, "TEST_IMAP_PASSWORD": imap_account.password, "TEST_SMTP_PASSWORD": "x"}
    command = [sys.executable, "-m", "inbox_agent", "--config", str(settings.source)]
    passwd = subprocess.run(
        [*command, "web", "passwd", "alice"],
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert passwd.returncode == 0, passwd.stderr
    now = datetime.now(UTC)
    imap_account.append(
        "INBOX", customer_mail("Ana <ana@customer.example>", "Printer on fire", "Hi", now), now
    )
    daemon = Daemon(settings.source, env)
    try:
        daemon.wait_for(lambda line: "staff page on" in line)
        daemon.wait_for(lambda line: "sent acknowledgement" in line)
        check = subprocess.run(
            [*command, "check"], capture_output=True, text=True, env=env, timeout=120, check=False
        )
        assert check.returncode == 0, check.stdout + check.stderr
        assert (
            f"ok    staff page http://127.0.0.1:{port}/: served by this config's running agent; "
            "1 login: alice\n"
        ) in check.stdout
        browser = Browser(port)
        status, login = browser.ask("GET", "/login")
        assert status == 200
        form = {"csrf": csrf_in(login), "name": "alice", "password": PASSWORD}
        assert browser.ask("POST", "/login", form) == (303, "/conversations")
        status, listing = browser.ask("GET", "/conversations")
        assert status == 200
        assert "ana@customer.example" in listing
        found = re.search(r'href="/conversations/([A-Z0-9]+)"', listing)
        assert found
        token = found.group(1)
        form = {"csrf": csrf_in(listing), "until": "2d"}
        status, where = browser.ask("POST", f"/conversations/{token}/snooze", form)
        assert (status, where) == (303, f"/conversations/{token}?done=snooze")
        status, shown = browser.ask("GET", where)
        assert "Snoozed." in shown
        assert "Snoozed until" in shown
        assert ", by alice (staff page)</li>" in shown  # queued, applied, noted with who
        # A second tab mid-request on a slow link (its form half sent): its handler is in
        # flight, and aiohttp waits for one up to its shutdown_timeout (60 s by default).
        half = socket.create_connection(("127.0.0.1", port), timeout=60)
        cookie = "; ".join(f"{k}={v}" for k, v in browser.cookies.items())
        half.sendall(
            f"POST /conversations/{token}/close HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Cookie: {cookie}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            "Content-Length: 1000\r\n\r\ncsrf=".encode()
        )
        daemon.process.send_signal(signal.SIGTERM)  # both connections are still open
        assert daemon.finish() == 0
        half.close()
    finally:
        daemon.kill()
    log = "".join(daemon.lines)
    assert "staff request applied: [#" in log
    assert log.rstrip().endswith("inbox-agent stopped")
    assert "Traceback" not in log
