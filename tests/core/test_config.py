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


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            '[promise]\nfirst_reply_within = "8x"\n',
            r"\[promise\] first_reply_within '8x' is not a duration; write e\.g\. 30m, 8h or 2d",
        ),
        ('[promise]\nextend_by = "9999d"\n', r"extend_by = '9999d' is longer than a year"),
        (
            "[agent]\npoll_intervall_seconds = 5\n",
            r"\[agent\] poll_intervall_seconds is not a known key; did you mean "
            r"'poll_interval_seconds'\?",
        ),
        (
            '[business_hours]\ntimezone = "Mars/Olympus"\n',
            r"\[business_hours\] timezone 'Mars/Olympus' is not an IANA time zone",
        ),
        ('[business_hours]\ndays = ["mon", "funday"]\n', r"'funday' is not a weekday"),
        ('[business_hours]\nholidays = ["25/12/2026"]\n', r"'25/12/2026' is not a date"),
        ('[business_hours]\nstart = "9am"\n', r"\[business_hours\] start '9am' is not a time"),
        (
            '[agent]\npoll_interval_seconds = "often"\n',
            r"poll_interval_seconds = 'often' should be a whole number",
        ),
    ],
)
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
        _parse(
            MINIMAL.replace(
                'host = "smtp.example.com"', 'host = "smtp.example.com"\nsecurity = "ssl"'
            )
        )


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
    with_command = parse(
        MINIMAL.replace('password_env = "IMAP_PW"', 'password_command = "echo from-command"'),
        Path("c"),
    )
    assert resolve_password(with_command.mailboxes[0].imap, "here") == "from-command"


SECRET = "FilePass-Hunter2"


@pytest.mark.parametrize(
    "line",
    [
        f'password_env = "{SECRET}"',  # the password pasted into the name's place
        'password_env = "IMAP PW"',
        'password_env = "1PASSWORD"',
        'password_env = ""',
    ],
)
def test_password_env_must_be_a_variable_name(line: str) -> None:
    """Only a name is accepted, and the error never shows what was written there."""
    with pytest.raises(
        ConfigError, match=r"password_env is not an environment variable name"
    ) as caught:
        _parse(MINIMAL.replace('password_env = "IMAP_PW"', line))
    message = str(caught.value)
    assert "\n" not in message
    for written in (SECRET, "IMAP PW", "1PASSWORD"):
        assert written not in message


@pytest.mark.parametrize(
    "line", [f'password_env = ["{SECRET}"]', f'password_command = {{ cmd = "{SECRET}" }}']
)
def test_a_password_key_of_the_wrong_type_is_not_echoed(line: str) -> None:
    """A wrong type names the key and the fix, not the value."""
    with pytest.raises(ConfigError, match="should be a string in quotes") as caught:
        _parse(MINIMAL.replace('password_env = "IMAP_PW"', line))
    assert SECRET not in str(caught.value)


def test_a_failing_password_command_shows_none_of_its_output() -> None:
    """Exit status, no output, undecodable output: each a one-line error without the output."""
    for command, expected in (
        (f"echo {SECRET}; echo {SECRET} >&2; exit 3", "exited 3"),
        ("true", "printed nothing"),
        (r"printf '\377hunter2'", "not UTF-8"),
    ):
        line = f"password_command = '''{command}'''"  # a TOML literal string: no escapes
        settings = parse(MINIMAL.replace('password_env = "IMAP_PW"', line), Path("c.toml"))
        with pytest.raises(ConfigError, match=expected) as caught:
            resolve_password(settings.mailboxes[0].imap, "here")
        assert SECRET not in str(caught.value)
        assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    "host", ["imap.example.com", "192.0.2.10", "10.0.0.1", "::2", "localhost.example.com"]
)
def test_clear_text_off_this_machine_is_refused(host: str) -> None:
    """security = "none" to another host would send the password in clear: name the way out."""
    text = MINIMAL.replace('host = "imap.example.com"', f'host = "{host}"\nsecurity = "none"')
    with pytest.raises(
        ConfigError,
        match=r"\[mailbox.imap\] of \[\[mailbox\]\] #1 security "
        r"= \"none\" would send the password to .* in clear; "
        r".*allow_plaintext = true",
    ) as caught:
        _parse(text)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost", "LOCALHOST"]
)
def test_clear_text_to_this_machine_is_fine(host: str) -> None:
    """Loopback (127.0.0.0/8, ::1, localhost) never leaves the machine: the tests' servers."""
    text = MINIMAL.replace('host = "smtp.example.com"', f'host = "{host}"\nsecurity = "none"')
    assert _parse(text) is not None


def test_allow_plaintext_says_so_explicitly() -> None:
    """allow_plaintext = true lets security = "none" reach another host; it must be a bool."""
    text = MINIMAL.replace(
        'host = "imap.example.com"',
        'host = "imap.example.com"\nsecurity = "none"\nallow_plaintext = true',
    )
    settings = parse(text, Path("c.toml"))
    assert settings.mailboxes[0].imap.security == "none"
    with pytest.raises(ConfigError, match="allow_plaintext = 'yes' is not true or false"):
        _parse(text.replace("allow_plaintext = true", 'allow_plaintext = "yes"'))
