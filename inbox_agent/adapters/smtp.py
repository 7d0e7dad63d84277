"""SMTP with aiosmtplib, with TLS forced as configured and every refusal checked.

aiosmtplib's defaults are not what a daemon wants (DESIGN.md): it only upgrades to TLS when the
server offers STARTTLS, so a stripped offer would send the password in clear. Here
``security = "tls"`` means implicit TLS, ``"starttls"`` means STARTTLS or fail, and only
``"none"`` (for a relay on localhost) sends in clear. A partial recipient refusal returns
normally from aiosmtplib; it is turned into an error here.
"""

from __future__ import annotations

import aiosmtplib

from inbox_agent.config import ServerSettings
from inbox_agent.errors import PermanentSendError, SendLoginError, TemporarySendError


class SmtpMailer:
    """Sends through one SMTP relay."""

    def __init__(self, settings: ServerSettings, password: str) -> None:
        self.settings = settings
        self._password = password

    async def send(self, raw: bytes, sender: str, recipients: list[str]) -> None:
        """Send ``raw``; raise Temporary/PermanentSendError unless every recipient took it."""
        s = self.settings
        try:
            refused, _ = await aiosmtplib.send(
                raw, sender=sender, recipients=recipients, hostname=s.host, port=s.port,
                username=s.username, password=self._password, timeout=s.timeout_seconds,
                use_tls=s.security == "tls", start_tls=s.security == "starttls",
                validate_certs=True,
            )
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise SendLoginError(
                f"{self._where()}: login refused for {s.username!r} ({exc.code}); "
                "check the username and password", code=exc.code) from exc
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise _refusal(exc.recipients) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise _by_code(exc.code, f"{self._where()}: {exc.code} {exc.message}") from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise TemporarySendError(f"{self._where()}: {exc or type(exc).__name__}") from exc
        except ValueError as exc:  # e.g. a non-ASCII address the relay offers no SMTPUTF8 for
            raise PermanentSendError(f"{self._where()}: cannot be sent ({exc})") from exc
        if refused:
            raise _refusal(
                [aiosmtplib.SMTPRecipientRefused(r.code, r.message, addr)
                 for addr, r in refused.items()])

    def _where(self) -> str:
        return f"SMTP {self.settings.host}:{self.settings.port}"


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
