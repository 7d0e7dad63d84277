"""Every error inbox-agent raises on purpose, in one tree.

    InboxAgentError                  root: the CLI prints these as one line and exits 1
    ├── OperatorError                something the person running the agent can fix
    │   ├── ConfigError              the config file: which file, which key, what to write
    │   ├── TemplateError            a template: file:line and the mistake
    │   ├── CommandError             a staff command that cannot be done (unknown id, ...)
    │   ├── MailboxClaimedError      another inbox-agent on this host looks after the mailbox
    │   └── StoreError               the data directory
    │       ├── StoreLockedError     another inbox-agent owns this data_dir
    │       ├── StoreCorruptError    the database cannot be read; it is left untouched
    │       └── StoreWriteError      the disk refused a write (full, read-only, no access)
    └── RemoteError                  a server or the outside world misbehaved
        ├── MailboxError             IMAP
        │   ├── MailboxLoginError    the server refused the login
        │   ├── MailboxFolderError   a folder the config names is not on the server
        │   └── MailboxConnectionError   could not connect, or the connection dropped
        └── SendError                SMTP
            ├── TemporarySendError   4xx, refused connection, timeout: retry later
            │   └── SendLoginError   the relay refused the login: kept until it is fixed
            └── PermanentSendError   5xx, or a recipient refused: do not retry

Library exceptions (imaplib, imapclient, aiosmtplib, OSError) are translated into these at the
adapter boundary, with the original kept as ``__cause__``. Malformed mail is never an error: the
parser files it with the reason (see ``core.message``).
"""

from __future__ import annotations


class InboxAgentError(Exception):
    """Root of every error inbox-agent raises on purpose."""

    def one_line(self) -> str:
        """The message the CLI prints: ``ErrorType: what happened; what to do``."""
        return f"{type(self).__name__}: {self}"


class OperatorError(InboxAgentError):
    """A mistake the operator can fix: config, templates, data directory."""


class ConfigError(OperatorError):
    """The config file is missing a key, has a wrong value, or cannot be read."""


class TemplateError(OperatorError):
    """A template does not compile or does not render with the data it is given."""


class CommandError(OperatorError):
    """A staff command names no conversation, or asks for something its status forbids."""


class MailboxClaimedError(OperatorError):
    """Another running inbox-agent on this host already looks after the mailbox."""


class StoreError(OperatorError):
    """The data directory cannot be used."""


class StoreLockedError(StoreError):
    """Another inbox-agent process owns the data directory."""


class StoreCorruptError(StoreError):
    """The database file exists but cannot be read; it is kept as it is."""


class StoreWriteError(StoreError):
    """A write to the data directory failed; the file it was for is as it was before."""


class RemoteError(InboxAgentError):
    """A server misbehaved or could not be reached."""


class MailboxError(RemoteError):
    """Talking to the IMAP server failed."""


class MailboxLoginError(MailboxError):
    """The IMAP server refused the username or password."""


class MailboxFolderError(MailboxError):
    """A folder the config names (``folder``, ``sent_folder``) does not exist on the server."""


class MailboxConnectionError(MailboxError, ConnectionError):
    """The IMAP server could not be reached or dropped the connection."""


class SendError(RemoteError):
    """Sending over SMTP failed."""

    def __init__(self, message: str, *, code: int | None = None, recipient: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.recipient = recipient  # one recipient refused; the relay itself is fine


class TemporarySendError(SendError):
    """SMTP failed in a way that may pass: try again later."""


class SendLoginError(TemporarySendError):
    """The SMTP relay refused the login; mail waits in the outbox until that is fixed."""


class PermanentSendError(SendError):
    """SMTP refused the message or a recipient for good: do not retry."""
