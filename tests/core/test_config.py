"""The config loader: every key checked, one-line errors naming file, key and fix."""

from pathlib import Path

import pytest

from inbox_agent.config import load, parse, resolve_password
from inbox_agent.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
MINIMAL = """
[[mailbox]]
address = "support@example.com"
[mailbox.imap]
host = "imap.example.com"
username = "support@example.com"
password_env = "IMAP_PW"
[mailbox.smtp]
host = "smtp.example.com"
username = "support@example.com"
password_env = "SMTP_PW"
"""


def _parse(text: str) -> object:
    return parse(text, Path("/etc/inbox-agent/config.toml"))


def test_the_example_config_is_valid() -> None:
    """config.example.toml, the documented reference, loads as it is."""
    settings = load(ROOT / "config.example.toml")
    assert settings.mailboxes[0].address == "support@example.com"
    assert settings.promise.max_follow_ups == 2
    assert settings.calendar.timezone.key == "Europe/London"
    assert settings.mailboxes[0].imap.sent_folder == "Sent"


def test_defaults_fill_what_is_left_out() -> None:
    """A minimal file gets DESIGN.md's defaults and paths relative to the file."""
    settings = parse(MINIMAL, Path("/etc/inbox-agent/config.toml"))
    assert settings.agent.data_dir == Path("/etc/inbox-agent/var/inbox-agent")
    assert settings.agent.poll_interval_seconds == 60
    assert settings.mailboxes[0].imap.port == 993
    assert settings.mailboxes[0].smtp.port == 465
    assert settings.mailboxes[0].name == "support"
    assert settings.promise.skip_older_than.days == 2


@pytest.mark.parametrize(("change", "expected"), [
    ('[promise]\nfirst_reply_within = "8x"\n',
     r"\[promise\] first_reply_within '8x' is not a duration; write e\.g\. 30m, 8h or 2d"),
    ('[promise]\nextend_by = "9999d"\n', r"extend_by = '9999d' is longer than a year"),
    ('[agent]\npoll_intervall_seconds = 5\n',
     r"\[agent\] poll_intervall_seconds is not a known key; did you mean "
     r"'poll_interval_seconds'\?"),
    ('[business_hours]\ntimezone = "Mars/Olympus"\n',
     r"\[business_hours\] timezone 'Mars/Olympus' is not an IANA time zone"),
    ('[business_hours]\ndays = ["mon", "funday"]\n', r"'funday' is not a weekday"),
    ('[business_hours]\nholidays = ["25/12/2026"]\n', r"'25/12/2026' is not a date"),
    ('[business_hours]\nstart = "9am"\n', r"\[business_hours\] start '9am' is not a time"),
    ('[agent]\npoll_interval_seconds = "often"\n',
     r"poll_interval_seconds = 'often' should be a whole number"),
])
def test_mistakes_name_the_key_and_the_fix(change: str, expected: str) -> None:
    """Each mistake is one line: the file, the key, what is wrong."""
    with pytest.raises(ConfigError, match=expected) as caught:
        _parse(change + MINIMAL)
    assert "\n" not in str(caught.value)
    assert str(caught.value).startswith("/etc/inbox-agent/config.toml: ")


def test_a_plain_password_in_the_file_is_refused() -> None:
    """Passwords come from the environment or a command, never the file."""
    with pytest.raises(ConfigError, match=r"\[mailbox.imap\] of \[\[mailbox\]\] #1 password"):
        _parse(MINIMAL.replace('password_env = "IMAP_PW"', 'password = "hunter2"'))


def test_a_bad_security_value_is_refused() -> None:
    """security must be tls, starttls or none."""
    with pytest.raises(ConfigError, match="'ssl' is not one of tls, starttls, none"):
        _parse(MINIMAL.replace('host = "smtp.example.com"',
                               'host = "smtp.example.com"\nsecurity = "ssl"'))


def test_no_mailbox_is_an_error() -> None:
    """A config without [[mailbox]] says to add one."""
    with pytest.raises(ConfigError, match=r"no \[\[mailbox\]\]"):
        _parse("[agent]\n")


def test_broken_toml_is_one_line() -> None:
    """A TOML syntax error names the file and says to fix the syntax."""
    with pytest.raises(ConfigError, match="not valid TOML"):
        _parse("[agent\n")


def test_missing_file_says_what_to_do(tmp_path: Path) -> None:
    """A missing config file points at config.example.toml and --config."""
    with pytest.raises(ConfigError, match=r"copy config\.example\.toml"):
        load(tmp_path / "config.toml")


def test_password_from_environment_and_command(monkeypatch: pytest.MonkeyPatch) -> None:
    """password_env reads the variable; a missing one is a ConfigError naming it."""
    settings = parse(MINIMAL, Path("c.toml"))
    imap = settings.mailboxes[0].imap
    monkeypatch.setenv("IMAP_PW", "s3cret")
    assert resolve_password(imap, "here") == "s3cret"
    monkeypatch.delenv("IMAP_PW")
    with pytest.raises(ConfigError, match="IMAP_PW is not set"):
        resolve_password(imap, "here")
    with_command = parse(MINIMAL.replace('password_env = "IMAP_PW"',
                                         'password_command = "echo from-command"'), Path("c"))
    assert resolve_password(with_command.mailboxes[0].imap, "here") == "from-command"
