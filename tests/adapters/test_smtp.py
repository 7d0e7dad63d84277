"""The SMTP adapter against a real aiosmtpd relay: delivery, refusals, TLS never skipped."""

from __future__ import annotations

import asyncio
import socket

import pytest

from inbox_agent.adapters.smtp import SmtpMailer
from inbox_agent.config import ServerSettings
from inbox_agent.errors import PermanentSendError, TemporarySendError
from tests.servers import SmtpSink

MAIL = (
    b"From: support@example.com\r\nTo: ana@customer.example\r\nSubject: hi\r\n"
    b"Message-ID: <a@example.com>\r\n\r\nhello\r\n"
)


def _mailer(port: int, security: str = "none") -> SmtpMailer:
    settings = ServerSettings(
        host="127.0.0.1",
        port=port,
        security=security,  # type: ignore[arg-type]
        username="support@example.com",
        password_env="UNUSED",
        timeout_seconds=5.0,
    )
    return SmtpMailer(settings, "secret")


def _send(mailer: SmtpMailer, *recipients: str) -> None:
    async def send_and_close() -> None:
        try:
            await mailer.send(MAIL, "support@example.com", list(recipients))
        finally:
            await mailer.close()

    asyncio.run(send_and_close())


def test_a_mail_reaches_the_relay_as_it_was_given(smtp_sink: SmtpSink) -> None:
    """The bytes, envelope sender and recipient arrive unchanged, after a login."""
    _send(_mailer(smtp_sink.port), "ana@customer.example")
    (received,) = smtp_sink.wait_for(1)
    assert received.mail_from == "support@example.com"
    assert received.rcpt_tos == ["ana@customer.example"]
    assert received.message["Message-ID"] == "<a@example.com>"
    assert received.auth_user == "support@example.com"


def test_a_partial_refusal_is_an_error_not_a_success(smtp_sink: SmtpSink) -> None:
    """aiosmtplib returns normally when one of several recipients is refused; we do not."""
    smtp_sink.refuse_recipient("gone@customer.example", 550)
    with pytest.raises(PermanentSendError, match=r"gone@customer\.example \(550"):
        _send(_mailer(smtp_sink.port), "ana@customer.example", "gone@customer.example")


def test_a_refused_only_recipient_is_permanent(smtp_sink: SmtpSink) -> None:
    """A 5xx for the recipient is permanent, with the code kept."""
    smtp_sink.refuse_recipient("gone@customer.example", 550)
    with pytest.raises(PermanentSendError) as caught:
        _send(_mailer(smtp_sink.port), "gone@customer.example")
    assert caught.value.code == 550


def test_a_4xx_is_temporary(smtp_sink: SmtpSink) -> None:
    """451 at DATA means try later."""
    smtp_sink.fail_next(1, 451)
    with pytest.raises(TemporarySendError) as caught:
        _send(_mailer(smtp_sink.port), "ana@customer.example")
    assert caught.value.code == 451
    _send(_mailer(smtp_sink.port), "ana@customer.example")
    assert len(smtp_sink.wait_for(1)) == 1


def test_a_relay_that_is_down_is_temporary() -> None:
    """Connection refused is a temporary failure."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(TemporarySendError):
        _send(_mailer(port), "ana@customer.example")


def test_starttls_is_never_skipped(smtp_sink: SmtpSink) -> None:
    """security = "starttls" against a relay that offers none fails; nothing is sent in clear."""
    with pytest.raises(TemporarySendError, match="STARTTLS"):
        _send(_mailer(smtp_sink.port, "starttls"), "ana@customer.example")
    assert smtp_sink.received == []


def test_implicit_tls_against_a_plain_relay_fails(smtp_sink: SmtpSink) -> None:
    """security = "tls" never falls back to a plain connection."""
    with pytest.raises(TemporarySendError):
        _send(_mailer(smtp_sink.port, "tls"), "ana@customer.example")
    assert smtp_sink.received == []


def test_tls_refuses_an_unverifiable_certificate(self_signed_tls_port: int) -> None:
    """security = "tls" verifies the relay's certificate (the shared context does): a
    self-signed one is refused before anything is sent."""
    with pytest.raises(TemporarySendError, match="CERTIFICATE_VERIFY_FAILED"):
        _send(_mailer(self_signed_tls_port, "tls"), "ana@customer.example")


def test_one_session_carries_several_mails_and_survives_a_refusal(smtp_sink: SmtpSink) -> None:
    """Mail after mail over one login; a refused one drops the session, the next reopens."""
    smtp_sink.refuse_recipient("gone@customer.example", 550)
    mailer = _mailer(smtp_sink.port)

    async def three() -> None:
        try:
            await mailer.send(MAIL, "support@example.com", ["ana@customer.example"])
            with pytest.raises(PermanentSendError):
                await mailer.send(MAIL, "support@example.com", ["gone@customer.example"])
            await mailer.send(MAIL, "support@example.com", ["ben@customer.example"])
        finally:
            await mailer.close()

    asyncio.run(three())
    assert [r.rcpt_tos for r in smtp_sink.received] == [
        ["ana@customer.example"],
        ["ben@customer.example"],
    ]
