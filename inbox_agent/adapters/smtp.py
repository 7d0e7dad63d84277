"""SMTP with aiosmtplib, with TLS forced as configured and every refusal checked.

aiosmtplib's defaults are not what a daemon wants (DESIGN.md): it only upgrades to TLS when the
server offers STARTTLS, so a stripped offer would send the password in clear. Here
``security = "tls"`` means implicit TLS, ``"starttls"`` means STARTTLS or fail, and only
``"none"`` (for a relay on localhost) sends in clear. A partial recipient refusal returns
normally from aiosmtplib; it is turned into an error here.

It logs in only when a login is configured (a relay on the LAN may need none), with the
password, or with XOAUTH2 and a token its command prints at each login (``credentials``).
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import Awaitable
from typing import TypeVar

import aiosmtplib

from inbox_agent.adapters.credentials import Secret, TokenCommand, TokenCommandError
from inbox_agent.adapters.tls import shared_context
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

    def __init__(self, settings: ServerSettings, secret: Secret) -> None:
        self.settings = settings
        self._secret = secret  # a password, the command printing an OAuth2 token, or None
        self._client: aiosmtplib.SMTP | None = None

    async def send(self, raw: bytes, sender: str, recipients: list[str]) -> None:
        """Send ``raw``; raise Temporary/PermanentSendError unless every recipient took it."""
        try:
            client = await self._session()
            refused, _ = await self._unless_login_wanted(client.sendmail(sender, recipients, raw))
        except BaseException:
            await self.close()  # whatever state the session is in, it is not to be trusted
            raise
        if refused:
            raise _refusal(
                [
                    aiosmtplib.SMTPRecipientRefused(r.code, r.message, addr)
                    for addr, r in refused.items()
                ]
            )

    async def check(self, sender: str) -> None:
        """Connect, secure and log in as configured, then QUIT: ``inbox-agent check``.

        Without a login, ``MAIL FROM:<sender>`` then RSET (nothing is sent) asks whether the
        relay takes mail from ``sender`` without one; a relay that wants a login says so."""
        try:
            client = await self._session()
            if self._secret is None:
                await self._unless_login_wanted(client.mail(sender))
                await _translated(self._where(), client.rset())
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
            hostname=s.host,
            port=s.port,
            timeout=s.timeout_seconds,
            use_tls=s.security == "tls",
            start_tls=s.security == "starttls",
            validate_certs=True,
            tls_context=None if s.security == "none" else shared_context(),
        )
        await _translated(self._where(), client.connect())
        try:
            await _translated(self._where(), self._log_in(client), s.username or "")
        except BaseException:
            client.close()
            raise
        self._client = client
        return client

    async def _unless_login_wanted(self, call: Awaitable[T]) -> T:
        """``call`` translated; a 530 from a relay we did not log in to is no refusal of the
        mail (it must not fail for good) but a config to fix: it waits, as a login refused."""
        try:
            return await _translated(self._where(), call)
        except PermanentSendError as exc:
            if exc.code != 530 or self._secret is not None:
                raise
            raise SendLoginError(
                f"{self._where()} wants a login (it answered 530 to MAIL FROM); set username "
                "and password_env, password_command or oauth2_token_command in [mailbox.smtp]",
                code=530,
            ) from exc

    async def _log_in(self, client: aiosmtplib.SMTP) -> None:
        """AUTH as configured, over the connection secured above; none without a login."""
        username, secret = self.settings.username, self._secret
        if username is None or secret is None:
            return
        if not isinstance(secret, TokenCommand):
            await client.login(username, secret)
            return
        if client.is_ehlo_or_helo_needed:
            await client.ehlo()
        if "xoauth2" not in client.server_auth_methods:
            raise SendLoginError(
                f"{self._where()} does not offer XOAUTH2 (needed by oauth2_token_command of "
                f"{secret.where}); check host and port: smtp.gmail.com:587 or "
                'smtp.office365.com:587, security = "starttls"'
            )
        try:
            token = await asyncio.to_thread(secret.fetch)
        except TokenCommandError as exc:
            raise SendLoginError(str(exc)) from None
        try:
            await client.auth_xoauth2(username, token)
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise SendLoginError(
                f"{self._where()}: login refused for {username!r}: the server refused the "
                f"OAuth2 token printed by oauth2_token_command ({secret.where}): {exc.code} "
                f"{exc.message[:200]}; check that the command prints a current access token "
                "for this account, with the mail scope",
                code=exc.code,
            ) from exc

    def _where(self) -> str:
        return f"SMTP {self.settings.host}:{self.settings.port}"


async def _translated(where: str, call: Awaitable[T], username: str = "") -> T:
    """Await ``call``, turning aiosmtplib's errors into the agent's."""
    try:
        return await call
    except aiosmtplib.SMTPAuthenticationError as exc:
        raise SendLoginError(
            f"{where}: login refused for {username!r} ({exc.code}); check the username and "
            "password",
            code=exc.code,
        ) from exc
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
        return (
            f"{where.removeprefix('SMTP ')} is not an SMTP server (it greeted like IMAP); "
            "check [mailbox.smtp] port (SMTP is usually 465, or 587 for starttls)"
        )
    if isinstance(cause, ConnectionRefusedError) or isinstance(exc, ConnectionRefusedError):
        return (
            f"{where}: connection refused; is the server running, and is the port right? "
            "check host and port in [mailbox.smtp]"
        )
    if isinstance(cause, ssl.SSLError) and cause.reason == "WRONG_VERSION_NUMBER":
        return (
            f'{where}: no TLS on this port (security = "tls"); check port and security '
            'in [mailbox.smtp]: 465 is "tls", 587 is "starttls"'
        )
    if type(exc) is aiosmtplib.SMTPException and "STARTTLS extension not supported" in str(exc):
        return (
            f'{where} does not offer STARTTLS, which security = "starttls" requires; '
            "nothing was sent: check port and security in [mailbox.smtp] (465 is "
            'security = "tls")'
        )
    return None


def _refusal(
    refusals: list[aiosmtplib.SMTPRecipientRefused],
) -> TemporarySendError | PermanentSendError:
    worst = max(refusals, key=lambda r: r.code)
    names = ", ".join(f"{r.recipient} ({r.code} {r.message})" for r in refusals)
    return _by_code(worst.code, f"recipient refused: {names}", recipient=True)


def _by_code(
    code: int, message: str, recipient: bool = False
) -> TemporarySendError | PermanentSendError:
    if 500 <= code < 600:
        return PermanentSendError(message, code=code, recipient=recipient)
    return TemporarySendError(message, code=code, recipient=recipient)
