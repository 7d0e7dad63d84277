"""The staff page as a support person uses it, in headless Chromium (the ``chromium`` fixture)
against the real daemon on Dovecot and aiosmtpd: log in, filter and open the customer's
conversation, snooze it; open the acknowledgement's editor, type a typo and see the live
preview name its line while saving is refused; fix it with new wording, save; the next
customer's acknowledgement at the relay has the new words. No console error, no failed
request; SIGTERM and the daemon exits 0."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.servers import ImapAccount, SmtpSink, free_port
from tests.test_sigterm import Daemon
from tests.worlds import ROOT, customer_mail, ledger, make_settings

PASSWORD = "correct horse battery"
WAIT_MS = 60_000  # generous: the machine is shared; a wait ends as soon as the page is ready
ORIGINAL = "Thank you for writing to {{ mailbox_name }}."
TYPO = "Thank you for writing to {{ mailbox_name }."  # an unclosed tag on line 5
NEW_WORDS = "Thanks for writing to Example Co."


def test_a_support_person_snoozes_a_customer_and_rewords_the_acknowledgement(
    tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink, chromium: str
) -> None:
    from playwright.sync_api import expect, sync_playwright  # noqa: PLC0415 - fixture checked

    templates = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", templates)  # saving must not touch the repository
    acknowledgement = templates / "acknowledgement.txt.j2"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = make_settings(
        tmp_path,
        address=imap_account.address,
        imap_port=imap_account.server.port,
        imap_user=imap_account.username,
        smtp_port=smtp_sink.port,
        templates=templates,
        extra=f'\n[web]\nlisten = "127.0.0.1:{port}"\n',
    )
    env = {**os.environ, "TEST_IMAP_PASSWORD": imap_account.password, "TEST_SMTP_PASSWORD": "x"}
    _set_login(settings.source, env)
    now = datetime.now(UTC)
    imap_account.append(
        "INBOX", customer_mail("Ana <ana@customer.example>", "Printer on fire", "Hi", now), now
    )
    daemon = Daemon(settings.source, env)
    try:
        daemon.wait_for(lambda line: "staff page on" in line)
        first = smtp_sink.wait_for(1, timeout=60)[0]
        assert first.rcpt_tos == ["ana@customer.example"]
        assert NEW_WORDS not in _text(first.message)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium)
            try:
                page = browser.new_page()
                page.set_default_timeout(WAIT_MS)
                expect.set_options(timeout=WAIT_MS)
                seen = _watch(page)

                # Log in; the page lands on the conversations.
                page.goto(f"{base}/login")
                page.get_by_label("Name").fill("alice")
                page.get_by_label("Password").fill(PASSWORD)
                page.get_by_role("button", name="Log in").click()
                expect(page).to_have_url(f"{base}/conversations")
                expect(page.get_by_role("heading", name="Conversations")).to_be_visible()

                # Filter "Waiting", open Ana's conversation, snooze it for two days.
                filters = page.get_by_role("navigation", name="Filters")
                filters.get_by_role("link", name="Waiting").click()
                expect(filters.get_by_role("link", name="Waiting")).to_have_attribute(
                    "aria-current", "page"
                )
                page.get_by_role("link", name="Printer on fire").click()
                expect(page.get_by_role("heading", level=1)).to_contain_text("Printer on fire")
                expect(page.get_by_text("Ana <ana@customer.example>")).to_be_visible()
                token = page.url.rsplit("/", 1)[1]
                assert ledger(settings).conversations[token].snoozed_until is None
                page.get_by_label("Snooze until").fill("2d")
                page.get_by_role("button", name="Snooze").click()
                expect(page.get_by_role("status")).to_have_text("Snoozed.")
                expect(page.get_by_text("Snoozed until", exact=True)).to_be_visible()
                snoozed = ledger(settings).conversations[token].snoozed_until
                assert snoozed is not None
                assert snoozed > now

                # The acknowledgement's editor: a typo is shown with its line, and refused.
                page.get_by_role("navigation", name="Main").get_by_role(
                    "link", name="Templates"
                ).click()
                page.get_by_role("link", name="acknowledgement.txt.j2", exact=True).click()
                before = acknowledgement.read_bytes()
                editor = page.get_by_label("Template text")
                original = editor.input_value()
                assert ORIGINAL in original
                preview = page.locator("#preview")
                expect(preview.locator("#preview-body")).to_have_attribute("data-problems", "0")
                editor.fill(original.replace(ORIGINAL, TYPO))
                expect(preview.locator("#preview-body")).to_have_attribute("data-problems", "1")
                expect(preview.get_by_role("alert")).to_contain_text("Line 5")
                expect(preview.get_by_role("alert")).to_contain_text("not saved until fixed")
                page.get_by_role("button", name="Save").click()
                expect(page.locator("#save-problem")).to_contain_text(
                    "not saved until the template passes the checks"
                )
                expect(page.locator("#save-problem")).not_to_contain_text("TemplateEditError")
                expect(page.get_by_role("status")).to_have_count(0)
                assert acknowledgement.read_bytes() == before

                # Fixed, with new wording: the preview shows it, and it saves.
                editor = page.get_by_label("Template text")
                editor.fill(editor.input_value().replace(TYPO, NEW_WORDS))
                expect(preview.locator("#preview-body")).to_have_attribute("data-problems", "0")
                expect(preview.locator("pre.mail-text")).to_contain_text(NEW_WORDS)
                expect(page.locator("#save-problem")).to_have_count(0)  # the refusal is fixed
                page.get_by_role("button", name="Save").click()
                expect(page.get_by_role("status")).to_have_text("Saved.")
                saved = acknowledgement.read_text(encoding="utf-8")
                assert NEW_WORDS in saved
                assert ORIGINAL not in saved
                assert (ROOT / "templates" / "acknowledgement.txt.j2").read_text(
                    encoding="utf-8"
                ).count(ORIGINAL) == 1
                page.close()
            finally:
                browser.close()

        # The next customer gets the new wording through Dovecot and the relay.
        later = datetime.now(UTC)
        imap_account.append(
            "INBOX", customer_mail("Bo <bo@customer.example>", "Lost parcel", "Hi", later), later
        )
        second = smtp_sink.wait_for(2, timeout=60)[1]
        assert second.rcpt_tos == ["bo@customer.example"]
        assert NEW_WORDS in _text(second.message)

        daemon.process.send_signal(signal.SIGTERM)
        assert daemon.finish() == 0
    finally:
        daemon.kill()
    failed = "Failed to load resource: the server responded with a status of"
    expected = {  # the browser's own favicon request; the refused save's 422 page
        f"{base}/favicon.ico: {failed} 404 (Not Found)",
        f"{base}/templates/acknowledgement.txt.j2: {failed} 422 (Unprocessable Entity)",
    }
    assert [error for error in seen["errors"] if error not in expected] == []
    assert [url for url in seen["failed"] if url != f"{base}/favicon.ico"] == []
    log = "".join(daemon.lines)
    assert log.rstrip().endswith("inbox-agent stopped")
    assert "Traceback" not in log


def _set_login(config: Path, env: dict[str, str]) -> None:
    """``inbox-agent web passwd alice``, the password typed on standard input."""
    done = subprocess.run(
        [sys.executable, "-m", "inbox_agent", "--config", str(config), "web", "passwd", "alice"],
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def _watch(page: Any) -> dict[str, list[str]]:
    """Console errors (with the address they are about), page errors, and requests that
    failed or were answered 4xx/5xx; a refused save (422) is the page working as meant, so
    it is not counted as a failed request (Chromium still logs it to the console)."""
    seen: dict[str, list[str]] = {"errors": [], "failed": []}
    page.on("requestfailed", lambda r: seen["failed"].append(r.url))
    page.on(
        "response",
        lambda r: seen["failed"].append(r.url) if r.status >= 400 and r.status != 422 else None,
    )
    page.on("pageerror", lambda e: seen["errors"].append(str(e)))
    page.on(
        "console",
        lambda m: (
            seen["errors"].append(f"{m.location.get('url')}: {m.text}")
            if m.type == "error"
            else None
        ),
    )
    return seen


def _text(message: Any) -> str:
    """The plain-text body of a received mail."""
    return str(message.get_body(("plain",)).get_content())
