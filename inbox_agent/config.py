"""TOML config -> frozen dataclasses, every key checked once, up front.

Each mistake is reported as one line naming the file, the key and the fix, e.g.
``ConfigError: config.toml: [promise] first_reply_within = "8x" is not a duration; write e.g. 30m,
8h or 2d``. Nothing connects to a server here; passwords are only looked up when a connection
needs one (``resolve_password``), so ``threads`` works without them.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
import subprocess
import tomllib
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from importlib import resources
from pathlib import Path
from typing import Any, Literal, NoReturn, TypeVar, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from inbox_agent.core.breakers import Limits
from inbox_agent.core.business_time import Calendar, Duration, parse_duration
from inbox_agent.core.opening_hours import (
    WEEKDAY_NAMES,
    PartDay,
    Period,
    parse_hours,
    parse_part_day,
)
from inbox_agent.core.promises import PromisePolicy
from inbox_agent.core.public_holidays import place_code
from inbox_agent.errors import ConfigError

Security = Literal["tls", "starttls", "none"]
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WEEKDAY_NAMES = tuple(name.lower() for name in WEEKDAY_NAMES)  # "monday": hours' keys
DEFAULT_CONFIG = Path("config.toml")
_MISSING: Any = object()
MAX_DURATION_MINUTES = 260 * 24 * 60  # about a year of business days: a typo, not a promise
T = TypeVar("T")


@dataclass(frozen=True)
class ServerSettings:
    """How to reach and log in to one IMAP or SMTP server."""

    host: str
    port: int
    security: Security
    username: str | None  # None: an SMTP relay that needs no login (IMAP always has one)
    password_env: str | None = None
    password_command: str | None = None
    timeout_seconds: float = 30.0
    folder: str = "INBOX"
    sent_folder: str | None = None
    copy_to_sent: bool = True  # APPEND a copy of every mail the agent sends to sent_folder
    oauth2_token_command: str | None = None  # prints an access token; run at each login
    idle: bool = True  # IMAP: watch folder and sent_folder with IDLE where the server offers it

    @property
    def login(self) -> str:
        """How it logs in, for people: "password", "OAuth2" or "no login"."""
        if self.username is None:
            return "no login"
        return "OAuth2" if self.oauth2_token_command else "password"


@dataclass(frozen=True)
class MailboxSettings:
    """One support mailbox the agent looks after."""

    name: str
    address: str
    display_name: str
    staff: frozenset[str]
    imap: ServerSettings
    smtp: ServerSettings
    language: str | None = None  # templates' default variant, e.g. "de"; None: the plain name


@dataclass(frozen=True)
class AgentSettings:
    """Where the agent keeps its data and templates, and how often it polls."""

    data_dir: Path
    templates_dir: Path
    poll_interval_seconds: int
    max_message_size: int = 25 * 1024 * 1024  # bytes; larger mail is filed from its header
    archive_after: timedelta = timedelta(days=14)  # answered and quiet this long: archived


@dataclass(frozen=True)
class WebSettings:
    """``[web]``: the staff page the daemon serves (absent: none)."""

    host: str
    port: int
    public: bool = False  # True: listening beyond loopback, behind a TLS reverse proxy


@dataclass(frozen=True)
class Settings:
    """The whole validated config."""

    source: Path
    agent: AgentSettings
    calendar: Calendar
    promise: PromisePolicy
    mailboxes: tuple[MailboxSettings, ...]
    limits: Limits = field(default_factory=Limits)
    web: WebSettings | None = None

    def mailbox(self, name: str) -> MailboxSettings:
        """The mailbox called ``name``."""
        for mailbox in self.mailboxes:
            if mailbox.name == name:
                return mailbox
        raise ConfigError(f"{self.source}: no [[mailbox]] named {name!r}")


def config_path(explicit: str | None) -> Path:
    """``--config``, else ``$INBOX_AGENT_CONFIG``, else ``./config.toml``."""
    return Path(explicit or os.environ.get("INBOX_AGENT_CONFIG") or DEFAULT_CONFIG)


def load(path: Path) -> Settings:
    """Read and validate the config file at ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such file; copy config.example.toml there, or pass --config PATH"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror}); check permissions") from exc
    return parse(text, path)


def parse(text: str, source: Path) -> Settings:
    """Validate config ``text``; ``source`` names it in errors and anchors relative paths."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML ({exc}); fix the syntax there") from exc
    root = _Section(data, source, "")
    base = source.parent
    agent = _agent(root.section("agent"), base)
    calendar = _calendar(root.section("business_hours"))
    promise = _promise(root.section("promise"))
    limits = _limits(root.section("limits"))
    mailboxes = tuple(_mailbox(s) for s in root.sections("mailbox"))
    web = _web(root.section("web")) if "web" in data else None
    root.finish()
    if not mailboxes:
        raise ConfigError(f"{source}: no [[mailbox]]; add one (see config.example.toml)")
    _unique([m.name for m in mailboxes], source, "name")
    return Settings(source, agent, calendar, promise, mailboxes, limits, web)


def resolve_password(server: ServerSettings, where: str) -> str:
    """The password from ``password_env`` or ``password_command``."""
    if server.password_env:
        value = os.environ.get(server.password_env)
        if value is None:
            raise ConfigError(
                f"{where}: environment variable {server.password_env} is not set; "
                "export it or use password_command"
            )
        if not value:  # an EnvironmentFile line "NAME=" with the password left out
            raise ConfigError(
                f"{where}: environment variable {server.password_env} is set but empty; "
                "put the password in it (or in the service's EnvironmentFile)"
            )
        return value
    if server.password_command:
        return _run_password_command(server.password_command, where)
    raise ConfigError(f"{where}: no password_env or password_command; set one of them")


def _run_password_command(command: str, where: str) -> str:
    # Neither the command's output nor its error output is ever put in a message: either may
    # hold the password (or part of it).
    try:
        done = subprocess.run(  # noqa: S602 - the operator's own command, like git's credential helpers
            command, shell=True, capture_output=True, timeout=30, check=False
        )
    except subprocess.TimeoutExpired:
        raise ConfigError(f"{where}: password_command took over 30 s; check it") from None
    if done.returncode != 0:
        raise ConfigError(
            f"{where}: password_command exited {done.returncode}; run it by hand to see why"
        )
    try:
        password = done.stdout.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        raise ConfigError(
            f"{where}: password_command printed something not UTF-8; run it by hand to see why"
        ) from None
    if not password:
        raise ConfigError(f"{where}: password_command printed nothing; run it by hand to see why")
    return password


def _agent(section: _Section, base: Path) -> AgentSettings:
    agent = AgentSettings(
        data_dir=base / section.get("data_dir", str, "var/inbox-agent"),
        templates_dir=_templates_dir(section, base),
        poll_interval_seconds=section.get("poll_interval_seconds", int, 60),
        max_message_size=_size(section, "max_message_size", "25MB"),
        archive_after=_archive_after(section),
    )
    if agent.poll_interval_seconds < 1:
        section.fail("poll_interval_seconds", "must be at least 1")
    section.finish()
    return agent


def _web(section: _Section) -> WebSettings:
    """``[web] listen = "HOST:PORT"``; beyond loopback only with ``public = true``."""
    listen = section.get("listen", str)
    host, _, port = listen.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        section.fail("listen", f'= {listen!r} should be "HOST:PORT", e.g. "127.0.0.1:8025"')
    web = WebSettings(host, int(port), section.flag("public", False))
    if not web.public and not _is_loopback(host):
        section.fail(
            "listen",
            f"= {listen!r} is reachable from other machines; listen on 127.0.0.1 behind a "
            "TLS reverse proxy and set public = true",
        )
    section.finish()
    return web


def _templates_dir(section: _Section, base: Path) -> Path:
    """``templates_dir`` as written; unset, ``templates/`` beside the config where there is
    one, else the default templates that come with inbox-agent."""
    written = section.get("templates_dir", str, None)
    if written is not None:  # named but missing: check says so; never other mail in its place
        return base / written
    beside = base / "templates"
    return beside if beside.is_dir() else packaged_templates()


def packaged_templates() -> Path:
    """The default templates that come with inbox-agent. Installed from a wheel: its package
    data ``inbox_agent/default_templates/`` (the build copies the repository's ``templates/``
    there); in a checkout or an editable install: that ``templates/`` itself. A folder on disk
    either way, so the one loader serves them as it serves any templates_dir, with the same
    checks (``adapters.templates``)."""
    package = resources.files("inbox_agent")
    shipped = Path(str(package / "default_templates"))
    if shipped.is_dir():
        return shipped
    checkout = Path(str(package)).parent
    if (checkout / "pyproject.toml").is_file() and (checkout / "templates").is_dir():
        return checkout / "templates"
    return shipped  # a broken install: check names each template missing from it


def _archive_after(section: _Section) -> timedelta:
    """Clock time (``14d`` is two weeks, whatever the opening hours), at least a day: the
    circuit breakers count a day of mail, and archived mail is not counted."""
    quiet = section.duration("archive_after", "14d")
    after = timedelta(days=quiet.days, minutes=quiet.minutes)
    if after < timedelta(days=1):
        section.fail(
            "archive_after",
            "must be at least 1d (the circuit breakers count a day "
            "of mail, and archived conversations are not counted)",
        )
    return after


def _calendar(section: _Section) -> Calendar:
    zone = section.get("timezone", str, "UTC")
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        section.fail("timezone", f"{zone!r} is not an IANA time zone; write e.g. Europe/London")
    days = section.get("days", list, ["mon", "tue", "wed", "thu", "fri"])
    opens = section.get("start", str, "09:00")
    closes = section.get("end", str, "17:30")
    holidays = section.get("holidays", list, [])
    open_days = frozenset(_weekday(section, d) for d in days)
    start, end = _clock(section, "start", opens), _clock(section, "end", closes)
    closed_dates = frozenset(_holiday(section, h) for h in holidays)
    hours, place = _hours(section), _place(section)
    part_days = frozenset(_part_day(section, p) for p in section.get("closed", list, []))
    section.finish()
    try:
        return Calendar(
            timezone=tz,
            open_days=open_days,
            opens=start,
            closes=end,
            holidays=closed_dates,
            hours=hours,
            country_holidays=place,
            closed=part_days,
        )
    except ValueError as exc:
        raise ConfigError(f"{section.where()}: {exc}") from exc


def _hours(section: _Section) -> dict[int, tuple[Period, ...]]:
    """``hours = { mon = "09:00-12:30, 13:30-17:30", sat = "closed" }``: weekdays with hours
    of their own; the others keep days/start/end."""
    hours: dict[int, tuple[Period, ...]] = {}
    for key, value in section.get("hours", dict, {}).items():
        where = section.where(f"hours.{key}")
        name = key.strip().lower()
        if name not in WEEKDAYS and name not in _WEEKDAY_NAMES:
            raise ConfigError(f"{where} is not a weekday; write mon, tue, ... sun")
        day = WEEKDAYS.index(name[:3])
        if day in hours:
            raise ConfigError(f"{where} names {WEEKDAYS[day]} a second time; keep one")
        if not isinstance(value, str):
            raise ConfigError(
                f"{where} = {value!r} should be a string in quotes, e.g. "
                '"09:00-12:30, 13:30-17:30" or "closed"'
            )
        try:
            hours[day] = parse_hours(value)
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    return hours


def _place(section: _Section) -> str | None:
    """``country_holidays = "DE-BY"``: the place whose public holidays close the business."""
    text = section.get("country_holidays", str, None)
    if text is None:
        return None
    try:
        return place_code(text)
    except ValueError as exc:
        section.fail("country_holidays", f"= {text!r}: {exc}")


def _part_day(section: _Section, value: object) -> PartDay:
    if not isinstance(value, str):
        section.fail(
            "closed",
            f'= [{value!r}, ...]: each should be a string in quotes, e.g. "2026-12-24 from 12:00"',
        )
    try:
        return parse_part_day(value)
    except ValueError as exc:
        raise ConfigError(f"{section.where('closed')}: {exc}") from None


def _limits(section: _Section) -> Limits:
    window = section.duration("loop_window", "1h")
    echo = section.duration("echo_window", "4h")
    for key, value in (("loop_window", window), ("echo_window", echo)):
        if value.days:
            section.fail(key, "counts clock time: write hours or minutes, e.g. 1h or 30m")
    limits = Limits(
        loop_window=timedelta(minutes=window.minutes),
        per_address_per_day=section.get("per_address_per_day", int, 5),
        per_conversation_per_day=section.get("per_conversation_per_day", int, 3),
        echo_window=timedelta(minutes=echo.minutes),
    )
    for key in ("per_address_per_day", "per_conversation_per_day"):
        if getattr(limits, key) < 1:
            section.fail(key, "must be 1 or more (an acknowledgement is one mail)")
    section.finish()
    return limits


def _promise(section: _Section) -> PromisePolicy:
    duration = section.duration
    promise = PromisePolicy(
        first_reply_within=duration("first_reply_within", "8h"),
        follow_up_before=duration("follow_up_before", "1h"),
        extend_by=duration("extend_by", "8h"),
        max_follow_ups=section.get("max_follow_ups", int, 2),
        escalate_to=_optional_address(section, "escalate_to"),
        skip_older_than=duration("skip_older_than", "2d"),
    )
    if promise.max_follow_ups < 0:
        section.fail("max_follow_ups", "must be 0 or more")
    section.finish()
    return promise


def _mailbox(section: _Section) -> MailboxSettings:
    address = _address(section, "address", section.get("address", str))
    name = section.get("name", str, address.split("@")[0])
    staff = section.get("staff", list, [])
    mailbox = MailboxSettings(
        name=name,
        address=address,
        display_name=section.get("display_name", str, ""),
        staff=frozenset(_address(section, "staff", s) for s in staff),
        imap=_server(section.section("imap"), "imap"),
        smtp=_server(section.section("smtp"), "smtp"),
        language=_language_tag(section),
    )
    section.finish()
    return mailbox


def _language_tag(section: _Section) -> str | None:
    value = section.get("language", str, None)
    if value is None:
        return None
    tag = value.strip().lower()
    if not re.fullmatch(r"[a-z]{2,3}(-[a-z0-9]{2,8})*", tag):
        section.fail("language", f"= {value!r} is not a language tag; write e.g. en, de or pt-br")
    return tag


_DEFAULT_PORTS = {
    ("imap", "tls"): 993,
    ("imap", "starttls"): 143,
    ("imap", "none"): 143,
    ("smtp", "tls"): 465,
    ("smtp", "starttls"): 587,
    ("smtp", "none"): 25,
}


def _server(section: _Section, kind: str) -> ServerSettings:
    security = section.get("security", str, "tls")
    if security not in ("tls", "starttls", "none"):
        section.fail("security", f"{security!r} is not one of tls, starttls, none")
    if "password" in section.data:
        section.fail(
            "password",
            "plain passwords are not read from the file; use password_env or password_command",
        )
    server = ServerSettings(
        host=section.get("host", str),
        port=section.get("port", int, _DEFAULT_PORTS[(kind, security)]),
        security=cast(Security, security),
        username=section.get("username", str, _MISSING if kind == "imap" else None),
        password_env=_password_env(section),
        password_command=section.secret("password_command"),
        timeout_seconds=float(section.get("timeout_seconds", (int, float), 30)),
        folder=section.get("folder", str, "INBOX") if kind == "imap" else "INBOX",
        sent_folder=section.get("sent_folder", str, None) if kind == "imap" else None,
        copy_to_sent=section.flag("copy_to_sent", True) if kind == "imap" else False,
        oauth2_token_command=section.secret("oauth2_token_command"),
        idle=section.flag("idle", True) if kind == "imap" else False,
    )
    _one_way_to_log_in(section, server, kind)
    if not 0 < server.port < 65536:
        section.fail("port", f"{server.port} is not a TCP port")
    _refuse_clear_text(section, server)
    section.finish()
    return server


_SECRET_KEYS = ("password_env", "password_command", "oauth2_token_command")


def _one_way_to_log_in(section: _Section, server: ServerSettings, kind: str) -> None:
    """Exactly one of the secret keys with a username; for SMTP, neither (a relay that needs
    no login) is fine too."""
    given = [key for key in _SECRET_KEYS if getattr(server, key)]
    if len(given) > 1:
        section.fail(
            given[1],
            f"and {given[0]} are both set; keep one: a password "
            "(password_env or password_command) or an OAuth2 token command",
        )
    if server.username is None and given:
        section.fail(
            "username",
            f"is missing; {given[0]} needs the account to log in as "
            "(for Gmail and Microsoft 365, the full address)",
        )
    if server.username is not None and not given:
        relay = " (or remove username for a relay that needs no login)" if kind == "smtp" else ""
        section.fail(
            "password_env",
            "missing; name the environment variable holding the "
            f"password, or set password_command or oauth2_token_command{relay}",
        )


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _password_env(section: _Section) -> str | None:
    """The variable's name; a value that is no name may be the password itself, so unshown."""
    name = section.secret("password_env")
    if name is not None and not _ENV_NAME.fullmatch(name):
        section.fail(
            "password_env",
            "is not an environment variable name (letters, digits and "
            "_, not starting with a digit); if a password was pasted there, change "
            "it and export it in a variable named here",
        )
    return name


def _refuse_clear_text(section: _Section, server: ServerSettings) -> None:
    """security = "none" sends the password (or token) in clear: only to this machine, or
    when told. A relay that needs no login is sent no secret, so it may be anywhere."""
    allowed = section.flag("allow_plaintext", False)
    secret = {"password": "the password", "OAuth2": "the OAuth2 token"}.get(server.login)
    if server.security == "none" and secret and not allowed and not _is_loopback(server.host):
        section.fail(
            "security",
            f'= "none" would send {secret} to {server.host} in '
            "clear; use tls or starttls, or set allow_plaintext = true in this "
            "section if the network to it is trusted",
        )


def _is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or "localhost": the connection never leaves this machine."""
    name = host.strip().strip("[]").lower()
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return name == "localhost"


def _weekday(section: _Section, day: object) -> int:
    text = str(day).strip().lower()[:3]
    if text not in WEEKDAYS:
        section.fail("days", f"{day!r} is not a weekday; write mon, tue, ... sun")
    return WEEKDAYS.index(text)


def _clock(section: _Section, key: str, text: str) -> time:
    try:
        return time.fromisoformat(text)
    except ValueError:
        section.fail(key, f"{text!r} is not a time of day; write e.g. 09:00")


def _holiday(section: _Section, value: object) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        section.fail("holidays", f"{value!r} is not a date; write e.g. 2026-12-25")


def _address(section: _Section, key: str, value: object) -> str:
    text = str(value).strip()
    local, _, domain = text.partition("@")
    if not local or "." not in domain or any(c.isspace() for c in text):
        section.fail(key, f"{value!r} is not an email address")
    return text.lower()


def _optional_address(section: _Section, key: str) -> str | None:
    value = section.get(key, str, None)
    return None if value is None else _address(section, key, value)


_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*(b|bytes?|k|kb|kib|m|mb|mib|g|gb|gib)?", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "b": 1, "byte": 1, "bytes": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
MIN_MESSAGE_SIZE = 64 * 1024  # below this, ordinary mail (a reply with a signature logo) is cut


def parse_size(value: object) -> int:
    """A size in bytes: a whole number of bytes, or text such as ``25MB``, ``10M``, ``500KB``,
    ``1.5 GB`` or ``2048 bytes``. K, M and G are 1024, 1024² and 1024³ bytes (KiB, MiB and
    GiB are accepted too). Raises ``ValueError`` with what to write instead."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    match = _SIZE.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"= {value!r} is not a size; write e.g. 25MB, 500KB or 10485760 (bytes)")
    unit = (match.group(2) or "").lower()
    unit = unit if unit in _SIZE_UNITS else unit[0]
    return int(float(match.group(1)) * _SIZE_UNITS[unit])


def format_size(size: int) -> str:
    """``31.4 MB``, ``25 MB``, ``500 KB``, ``812 bytes`` (1 MB = 1024 KB, as parse_size)."""
    for unit, scale in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if size >= scale:
            return f"{size / scale:.1f}".removesuffix(".0") + f" {unit}"
    return f"{size} bytes"


def _size(section: _Section, key: str, default: str) -> int:
    section._read.add(key)  # any TOML value: parse_size says what is wrong with it
    value = section.data.get(key, default)
    try:
        size = parse_size(value)
    except ValueError as exc:
        section.fail(key, str(exc))
    if size < MIN_MESSAGE_SIZE:
        section.fail(
            key,
            f"= {value!r} is below {format_size(MIN_MESSAGE_SIZE)}: ordinary mail "
            "would be left unread; write e.g. 25MB",
        )
    return size


def _unique(names: list[str], source: Path, key: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ConfigError(f"{source}: two [[mailbox]] with {key} = {name!r}; names must differ")
        seen.add(name)


class _Section:
    """A TOML table that remembers where it is, so errors can name the key."""

    def __init__(self, data: dict[str, Any], source: Path, path: str) -> None:
        self.data = data
        self.source = source
        self.path = path
        self._read: set[str] = set()

    def where(self, key: str | None = None) -> str:
        label = " ".join(part for part in (self.path, key) if part)
        return f"{self.source}: {label}" if label else str(self.source)

    def fail(self, key: str, problem: str) -> NoReturn:
        if key not in self.data:
            self._refuse_misspelling_of(key)  # "pasword_env" is why password_env is missing
        raise ConfigError(f"{self.where(key)} {problem}")

    def _refuse_misspelling_of(self, key: str) -> None:
        """A key nobody has read yet that looks like ``key`` is a typo of it: say so, rather
        than that ``key`` is missing. (Keys read later are not known yet, hence the cutoff.)"""
        unread = [k for k in self.data if k not in self._read and k != key]
        close = difflib.get_close_matches(key, unread, n=1, cutoff=0.75)
        if close:
            raise ConfigError(f"{self.where(close[0])} is not a known key; did you mean {key!r}?")

    def get(self, key: str, kind: type[T] | tuple[type, ...], default: Any = _MISSING) -> T:
        self._read.add(key)
        if key not in self.data:
            if default is _MISSING:
                self.fail(key, "is missing; add it (see config.example.toml)")
            return cast(T, default)
        value = self.data[key]
        if not isinstance(value, kind) or isinstance(value, bool):
            names = kind.__name__ if isinstance(kind, type) else "number"
            self.fail(key, f"= {value!r} should be a {_KIND_WORDS.get(names, names)}")
        return cast(T, value)

    def secret(self, key: str) -> str | None:
        """An optional string whose value no error shows: a password may have been put there."""
        self._read.add(key)
        value = self.data.get(key)
        if value is not None and not isinstance(value, str):
            self.fail(key, "should be a string in quotes (its value is not shown)")
        return value

    def flag(self, key: str, default: bool) -> bool:
        self._read.add(key)
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            self.fail(key, f"= {value!r} is not true or false")
        return value

    def duration(self, key: str, default: str) -> Duration:
        text = self.get(key, str, default)
        try:
            duration = parse_duration(text)
        except ValueError as exc:
            self.fail(key, str(exc))
        if duration.days * 24 * 60 + duration.minutes > MAX_DURATION_MINUTES:
            self.fail(key, f"= {text!r} is longer than a year of business time; shorten it")
        return duration

    def section(self, key: str) -> _Section:
        value = self.get(key, dict, {})
        if self.path.startswith("[[mailbox]]"):
            return _Section(value, self.source, f"[mailbox.{key}] of {self.path}")
        return _Section(value, self.source, f"[{key}]")

    def sections(self, key: str) -> list[_Section]:
        value = self.get(key, list, [])
        out = []
        for index, item in enumerate(value):
            if not isinstance(item, dict):
                self.fail(key, "must be written as [[mailbox]] tables")
            out.append(_Section(item, self.source, f"[[{key}]] #{index + 1}"))
        return out

    def finish(self) -> None:
        """Refuse keys nobody read: a typo must not be silently ignored."""
        for key in self.data:
            if key not in self._read:
                close = difflib.get_close_matches(key, self._read, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else "; remove it"
                raise ConfigError(f"{self.where(key)} is not a known key{hint}")


_KIND_WORDS = {
    "str": "string in quotes",
    "int": "whole number",
    "list": "list [...]",
    "dict": "table",
    "number": "number",
}
