"""SMTP with aiosmtplib, with TLS forced as configured and every refusal checked.

aiosmtplib's defaults are not what a daemon wants (DESIGN.md): it only upgrades to TLS when the
server offers STARTTLS, so a stripped offer would send the password in clear. Here
``security = "tls"`` means implicit TLS, ``"starttls"`` means STARTTLS or fail, and only
``"none"`` (for a relay on localhost) sends in clear. A partial recipient refusal returns
normally from aiosmtplib; it is turned into an error here.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Awaitable
from typing import TypeVar

import aiosmtplib

from inbox_agent.config import ServerSettings
from inbox_agent.errors import PermanentSendError, SendLoginError, TemporarySendError

T = TypeVar("T")


class SmtpMailer:
    """Sends through one SMTP relay, over one session for as many mails as the owner sends.

    The session is opened by the first ``send`` and kept until ``close``: each mail then costs
    MAIL, RCPT and DATA, and ``send`` returns right at the relay's 250, so the caller can
    record the mail at once (the outbox's RFC 1047 window is as short as it can be). After a
    failed send the session is dropped; the next ``send`` opens a fresh one.
    """

    def __init__(self, settings: ServerSettings, password: str) -> None:
        self.settings = settings
        self._password = password
        self._client: aiosmtplib.SMTP | None = None

    async def send(self, raw: bytes, sender: str, recipients: list[str]) -> None:
        """Send ``raw``; raise Temporary/PermanentSendError unless every recipient took it."""
        try:
            client = await self._session()
            refused, _ = await _translated(self._where(), client.sendmail(sender, recipients, raw))
        except BaseException:
            await self.close()  # whatever state the session is in, it is not to be trusted
            raise
        if refused:
            raise _refusal(
                [aiosmtplib.SMTPRecipientRefused(r.code, r.message, addr)
                 for addr, r in refused.items()])

    async def check(self) -> None:
        """Connect, secure and log in as configured, then QUIT: ``inbox-agent check``."""
        try:
            await self._session()
        finally:
            await self.close()

    async def close(self) -> None:
        """End the session politely (QUIT); one that is already gone is fine."""
        client, self._client = self._client, None
        if client is None or not client.is_connected:
            return
        try:
            await client.quit()
        except (aiosmtplib.SMTPException, OSError):
            client.close()

    async def _session(self) -> aiosmtplib.SMTP:
        if self._client is not None and self._client.is_connected:
            return self._client
        s = self.settings
        client = aiosmtplib.SMTP(
            hostname=s.host, port=s.port, username=s.username, password=self._password,
            timeout=s.timeout_seconds, use_tls=s.security == "tls",
            start_tls=s.security == "starttls", validate_certs=True)
        await _translated(self._where(), client.connect(), s.username)
        self._client = client
        return client

    def _where(self) -> str:
        return f"SMTP {self.settings.host}:{self.settings.port}"


async def _translated(where: str, call: Awaitable[T], username: str = "") -> T:
    """Await ``call``, turning aiosmtplib's errors into the agent's."""
    try:
        return await call
    except aiosmtplib.SMTPAuthenticationError as exc:
        raise SendLoginError(
            f"{where}: login refused for {username!r} ({exc.code}); check the username and "
            "password", code=exc.code) from exc
    except aiosmtplib.SMTPRecipientsRefused as exc:
        raise _refusal(exc.recipients) from exc
    except (aiosmtplib.SMTPException, OSError) as exc:
        if (problem := _connection_problem(where, exc)) is not None:
            raise TemporarySendError(problem) from exc
        if isinstance(exc, aiosmtplib.SMTPResponseException):
            raise _by_code(exc.code, f"{where}: {exc.code} {exc.message}") from exc
        raise TemporarySendError(f"{where}: {exc or type(exc).__name__}") from exc
    except ValueError as exc:  # e.g. a non-ASCII address the relay offers no SMTPUTF8 for
        raise PermanentSendError(f"{where}: cannot be sent ({exc})") from exc


# What a server says first: an IMAP server's "* OK" / "* PREAUTH" / "* BYE" is no SMTP reply.
_IMAP_GREETING = re.compile(r"Malformed SMTP response line: \* (OK|PREAUTH|BYE)\b", re.I)


def _connection_problem(where: str, exc: BaseException) -> str | None:
    """The connection itself went wrong in a way the config can fix: the line that says how
    (``where`` is ``SMTP host:port``); None for anything else."""
    cause = exc.__cause__
    if isinstance(exc, aiosmtplib.SMTPResponseException) and _IMAP_GREETING.match(exc.message):
        return (f"{where.removeprefix('SMTP ')} is not an SMTP server (it greeted like IMAP); "
                "check [mailbox.smtp] port (SMTP is usually 465, or 587 for starttls)")
    if isinstance(cause, ConnectionRefusedError) or isinstance(exc, ConnectionRefusedError):
        return (f"{where}: connection refused; is the server running, and is the port right? "
                "check host and port in [mailbox.smtp]")
    if isinstance(cause, ssl.SSLError) and cause.reason == "WRONG_VERSION_NUMBER":
        return (f'{where}: no TLS on this port (security = "tls"); check port and security '
                'in [mailbox.smtp]: 465 is "tls", 587 is "starttls"')
    if type(exc) is aiosmtplib.SMTPException and "STARTTLS extension not supported" in str(exc):
        return (f'{where} does not offer STARTTLS, which security = "starttls" requires; '
                "nothing was sent: check port and security in [mailbox.smtp] (465 is "
                'security = "tls")')
    return None


def _refusal(
    refusals: list[aiosmtplib.SMTPRecipientRefused],
) -> TemporarySendError | PermanentSendError:
    worst = max(refusals, key=lambda r: r.code)
    names = ", ".join(f"{r.recipient} ({r.code} {r.message})" for r in refusals)
    return _by_code(worst.code, f"recipient refused: {names}", recipient=True)


def _by_code(code: int, message: str,
             recipient: bool = False) -> TemporarySendError | PermanentSendError:
    if 500 <= code < 600:
        return PermanentSendError(message, code=code, recipient=recipient)
    return TemporarySendError(message, code=code, recipient=recipient)
