"""Issue 10, items 5 and 7: a staff template can neither hang the agent nor read a file that
is not a template, whatever the CLI or the daemon does with it.

The CLI and the daemon run as processes; the agent runs on Dovecot (else pymap) and aiosmtpd.
Item 6 (huge values) is pure and lives in ``tests/core/test_rendering.py``.
"""

from __future__ import annotations

import asyncio
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import jinja2
import pytest

from inbox_agent.adapters.store import Store
from inbox_agent.adapters.templates import TemplatesFolder
from inbox_agent.agent import cycle
from inbox_agent.config import load
from inbox_agent.core.rendering import RenderError, make_environment, render
from inbox_agent.errors import TemplateError
from tests.servers import ImapAccount, SmtpSink
from tests.worlds import ROOT, ServerWorld, customer_mail, ledger, make_settings, server_settings

SILENT_LOOP = "{% for a in 'x' * 100000 %}{% for b in 'x' * 100000 %}{% endfor %}{% endfor %}"
# Few steps, each slow: the 2 s deadline stops it, not the step count.
BUSY_LOOP = "{% for a in 'x' * 100000 %}{% set b = 'y'.ljust(999999).upper() %}{% endfor %}"
SECRET = "TOPSECRET-8d1f"
ACK = "acknowledgement.txt.j2"


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A folder with the default templates and a config pointing at them."""
    shutil.copytree(ROOT / "templates", tmp_path / "templates")
    make_settings(tmp_path, templates=tmp_path / "templates")
    return tmp_path


@pytest.fixture
def secret_link(tmp_path: Path) -> Path:
    """``templates/secrets_link.txt``: a link to a 0600 file outside the templates folder."""
    secret = tmp_path / "secret.txt"
    secret.write_text(f"{SECRET}\n", encoding="utf-8")
    secret.chmod(0o600)
    (tmp_path / "templates").mkdir(exist_ok=True)
    link = tmp_path / "templates" / "secrets_link.txt"
    link.symlink_to(secret)
    return link


def cli(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "inbox_agent", "--config", "config.toml", *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def replace_body(path: Path, body: str) -> None:
    """Staff save ``body`` after the subject line (line 3 of the file)."""
    path.write_text(f"Subject: Re: {{{{ subject }}}}\n\n{body}\n", encoding="utf-8")
    stat = path.stat()  # a later mtime, as an editor saving a second later would leave it
    os.utime(path, (stat.st_atime + 2, stat.st_mtime + 2))


# -- item 5: templates cannot hang the agent ------------------------------------------------


@pytest.mark.parametrize(
    ("loop", "why"), [(SILENT_LOOP, "over 1,000,000 steps"), (BUSY_LOOP, "over 2 s")]
)
def test_templates_check_refuses_a_runaway_loop(workdir: Path, loop: str, why: str) -> None:
    """A loop that writes nothing used to keep `templates check` running for ever; now it is
    one line with file:line, exit 1 (the subprocess timeout is the guard)."""
    replace_body(workdir / "templates" / ACK, loop)
    done = cli(workdir, "templates", "check")
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"templates/{ACK}:3: rendering took {why}; check for a runaway loop"
    ]
    assert done.stdout.splitlines()[-1] == "11 template(s) fine, 1 mistake(s)"  # of 12


@pytest.fixture
def env(imap_account: ImapAccount) -> dict[str, str]:
    """The environment the agent runs in: passwords the way an operator sets them."""
    return {
        **os.environ,
        "TEST_IMAP_PASSWORD": imap_account.password,
        "TEST_SMTP_PASSWORD": "anything",
        "PYTHONPATH": str(ROOT),
    }


def _settings_with_templates(
    tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink
) -> Path:
    """The agent's config on the test servers, with its own templates and a 1 s poll."""
    shutil.copytree(ROOT / "templates", tmp_path / "templates")
    settings = server_settings(tmp_path, imap_account, smtp_sink)
    text = settings.source.read_text(encoding="utf-8").replace(
        f'templates_dir = "{ROOT / "templates"}"',
        f'templates_dir = "{tmp_path / "templates"}"\npoll_interval_seconds = 1',
    )
    settings.source.write_text(text, encoding="utf-8")
    return settings.source


def _agent(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "inbox_agent", "--config", str(config), *args]


def _deliver(account: ImapAccount, name: str) -> None:
    now = datetime.now(UTC)
    account.append(
        "INBOX",
        customer_mail(
            f"{name} <{name.lower()}@customer.example>", f"Question from {name}", "Hi", now
        ),
        now,
    )


@pytest.mark.parametrize("loop", [SILENT_LOOP, BUSY_LOOP], ids=["silent", "busy"])
def test_run_once_with_a_runaway_acknowledgement_ends_and_keeps_the_mail_owed(
    tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink, env: dict[str, str], loop: str
) -> None:
    """Broken before start: run --once files the mail, keeps its acknowledgement owed, sends
    nothing and ends with one line naming file:line (exit 1); once the template is fixed the
    customer is acknowledged, once."""
    config = _settings_with_templates(tmp_path, imap_account, smtp_sink)
    template = tmp_path / "templates" / ACK
    good = template.read_text(encoding="utf-8")
    replace_body(template, loop)
    _deliver(imap_account, "Ana")
    done = subprocess.run(
        _agent(config, "run", "--once"),
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1].startswith(f"TemplateError: {ACK}:3: rendering took over ")
    assert "Traceback" not in done.stderr
    assert smtp_sink.received == []
    (conversation,) = ledger(load(config)).conversations.values()
    assert conversation.owed == ["acknowledgement"]
    again = subprocess.run(
        _agent(config, "run", "--once"),
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert again.returncode == 1  # still owed, still said
    assert smtp_sink.received == []
    template.write_text(good, encoding="utf-8")
    template.write_text(good, encoding="utf-8")
    fixed = subprocess.run(
        _agent(config, "run", "--once"),
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert fixed.returncode == 0, fixed.stderr
    assert [r.rcpt_tos for r in smtp_sink.wait_for(1)] == [["ana@customer.example"]]
    (conversation,) = ledger(load(config)).conversations.values()
    assert conversation.owed == []


class Daemon:
    """``inbox-agent run`` as a process, its log read as it is written."""

    def __init__(self, config: Path, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            _agent(config, "run"),
            env=env,
            text=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.log: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.log.append(line)
            self.lines.put(line)

    def wait_for_line(self, text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.lines.get(timeout=max(deadline - time.monotonic(), 0.01)):
            pass

    def stop(self) -> float:
        """SIGTERM; how long the daemon took to exit (30 s guard)."""
        self.process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        try:
            self.process.wait(timeout=30)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
        self.reader.join(timeout=5)
        return time.monotonic() - started

    @property
    def stderr(self) -> str:
        return "".join(self.log)


@pytest.mark.parametrize("loop", [SILENT_LOOP, BUSY_LOOP], ids=["silent", "busy"])
def test_a_daemon_broken_before_start_stops_on_sigterm_mid_render(
    tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink, env: dict[str, str], loop: str
) -> None:
    """The daemon starts with a runaway acknowledgement and a customer waiting. SIGTERM sent
    as it files her mail (the render about to run or running) ends it with exit 0: the
    render stops at its bound, nothing is sent, and the mail stays owed for later."""
    config = _settings_with_templates(tmp_path, imap_account, smtp_sink)
    replace_body(tmp_path / "templates" / ACK, loop)
    _deliver(imap_account, "Ana")
    daemon = Daemon(config, env)
    try:
        daemon.wait_for_line("as customer mail")  # filed; the acknowledgement is next
    finally:
        took = daemon.stop()
    print(f"SIGTERM to exit, mid-render of a {loop[:40]!r}... template: {took:.2f} s")
    assert daemon.process.returncode == 0, daemon.stderr
    assert "SIGTERM received" in daemon.stderr
    assert f"{ACK}:3: rendering took over " in daemon.stderr
    assert smtp_sink.received == []
    assert all(
        c.owed == ["acknowledgement"]  # filed, and its acknowledgement still owed
        for c in ledger(load(config)).conversations.values()
    )


def test_a_runaway_edit_while_running_falls_back_to_the_last_good_version(
    tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink, env: dict[str, str]
) -> None:
    """The daemon acknowledges Ana; staff save a silent loop; Ben and Cleo still get the last
    good acknowledgement (the runaway version is tried once, not per mail), the mistake is
    logged once with file:line, and SIGTERM stops the daemon."""
    config = _settings_with_templates(tmp_path, imap_account, smtp_sink)
    _deliver(imap_account, "Ana")
    daemon = Daemon(config, env)
    try:
        smtp_sink.wait_for(1, timeout=30)
        replace_body(tmp_path / "templates" / ACK, SILENT_LOOP)
        _deliver(imap_account, "Ben")
        _deliver(imap_account, "Cleo")
        received = smtp_sink.wait_for(3, timeout=30)
    finally:
        took = daemon.stop()
    print(f"SIGTERM to exit after a runaway edit: {took:.2f} s")
    stderr = daemon.stderr
    assert daemon.process.returncode == 0, stderr
    assert sorted(r.rcpt_tos[0] for r in received) == [
        "ana@customer.example",
        "ben@customer.example",
        "cleo@customer.example",
    ]
    assert all(b"This is an automatic confirmation" in r.raw for r in received)
    assert stderr.count(f"{ACK}:3: rendering took over 1,000,000 steps") == 1
    assert "the last version that worked is used until it is fixed" in stderr


# -- item 7: templates read only templates --------------------------------------------------


def _folder_env(folder: Path) -> jinja2.Environment:
    return make_environment(TemplatesFolder(folder))


def test_templates_check_refuses_an_include_of_a_link_outside(
    workdir: Path, secret_link: Path
) -> None:
    """The acknowledgement includes a link to a 0600 file outside the folder: check used to
    say ok (and the mail carried the secret); now one line with the including file:line."""
    template = workdir / "templates" / ACK
    template.write_text(
        template.read_text(encoding="utf-8") + "{% include 'secrets_link.txt' %}\n",
        encoding="utf-8",
    )
    line = len(template.read_text(encoding="utf-8").splitlines())
    done = cli(workdir, "templates", "check")
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"templates/{ACK}:{line}: 'secrets_link.txt' is a link to {secret_link.resolve()}, "
        "outside the templates folder; only templates in it can be included"
    ]
    assert SECRET not in done.stdout + done.stderr
    preview = cli(workdir, "templates", "preview", "acknowledgement")
    assert preview.returncode == 1
    assert SECRET not in preview.stdout + preview.stderr


@pytest.mark.parametrize(
    ("include", "refusal"),
    [
        ("secrets_link.txt", "'secrets_link.txt' is a link to .*secret.txt, outside the"),
        ("secret.txt.j2", r"'secret.txt.j2' is a link to .*secret.txt, outside the templates"),
        ("../secret.txt", "'../secret.txt' is outside the templates folder"),
        ("../templates/../secret.txt.j2", ".* is outside the templates folder"),
        ("linked/secret.txt", ".* is a link to .*, outside the templates folder"),
        ("notes.txt", "'notes.txt' is not a template"),
        ("fifo.j2", "'fifo.j2' is not a regular file"),
        ("loop.j2", ".* cannot be resolved"),
    ],
)
def test_only_template_files_inside_the_folder_are_served(
    tmp_path: Path, secret_link: Path, include: str, refusal: str
) -> None:
    """Links out (to a file or a folder), ../ names, files that are not .j2, a FIFO (which
    would block the reader) and a loop of links: each refused, at the including line, and
    `ignore missing` does not hide the refusal."""
    folder = secret_link.parent
    (folder / "secret.txt.j2").symlink_to(tmp_path / "secret.txt")
    (folder / "linked").symlink_to(tmp_path)
    (folder / "notes.txt").write_text("internal notes\n", encoding="utf-8")
    os.mkfifo(folder / "fifo.j2")
    (folder / "loop.j2").symlink_to(folder / "loop.j2")
    for source in (
        f"Hi\n{{% include '{include}' %}}\n",
        f"Hi\n{{% include '{include}' ignore missing %}}\n",
        f"Hi\n{{% import '{include}' as x %}}\n",
        f"Hi\n{{% extends '{include}' %}}\n",
    ):
        (folder / "ack.txt.j2").write_text(source, encoding="utf-8")
        env = _folder_env(folder)
        with pytest.raises(RenderError, match=rf"^ack\.txt\.j2:2: {refusal}"):
            render(env, "ack", {})


def test_a_link_inside_the_folder_still_works(tmp_path: Path) -> None:
    """Sharing wording by a link within the folder is allowed: it shows only a template."""
    folder = tmp_path / "templates"
    (folder / "sales").mkdir(parents=True)
    (folder / "greeting.txt.j2").write_text("Hello {{ name }}\n", encoding="utf-8")
    (folder / "sales" / "ack.txt.j2").symlink_to(folder / "greeting.txt.j2")
    (folder / "ack.txt.j2").write_text("{% include 'sales/ack.txt.j2' %}", encoding="utf-8")
    assert render(_folder_env(folder), "ack", {"name": "Ana"}).text == "Hello Ana\n"


def test_a_mistake_in_an_included_template_names_that_template(tmp_path: Path) -> None:
    """file:line is the innermost template's: the included file and its line."""
    folder = tmp_path / "templates"
    (folder / "parts").mkdir(parents=True)
    (folder / "parts" / "sign.txt.j2").write_text("Regards,\n{{ mailbox_nam }}\n", encoding="utf-8")
    (folder / "ack.txt.j2").write_text("Hi\n{% include 'parts/sign.txt.j2' %}\n", encoding="utf-8")
    with pytest.raises(RenderError, match=r"^parts/sign\.txt\.j2:2: 'mailbox_nam' is undefined"):
        render(_folder_env(folder), "ack", {"mailbox_name": "x"})


def test_the_agent_never_mails_a_secret_a_template_links_to(
    tmp_path: Path,
    imap_account: ImapAccount,
    smtp_sink: SmtpSink,
    secret_link: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On Dovecot and aiosmtpd, one agent over three cycles: the acknowledgement includes
    the link before start (no mail, the customer stays owed), is fixed (Ana is acknowledged),
    and then staff add the include again (Ben gets the last good version). The relay never
    receives the secret."""
    for source in (ROOT / "templates").iterdir():
        if not (secret_link.parent / source.name).exists():
            shutil.copy(source, secret_link.parent / source.name)
    monkeypatch.setenv("TEST_IMAP_PASSWORD", imap_account.password)
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "anything")
    settings = make_settings(
        tmp_path,
        address=imap_account.address,
        imap_port=imap_account.server.port,
        imap_user=imap_account.username,
        smtp_port=smtp_sink.port,
        templates=secret_link.parent,
    )
    world = ServerWorld(settings, imap_account, smtp_sink)
    template = secret_link.parent / ACK
    good = template.read_text(encoding="utf-8")
    leaky = good + "{% include 'secrets_link.txt' %}\n"
    replace_body(template, "{% include 'secrets_link.txt' %}")

    async def cycles() -> list[str]:
        problems = []
        with Store(settings.agent.data_dir) as store:
            agent = cycle.Agent(
                settings, store, cycle.real_adapters(settings), clock=lambda: datetime.now(UTC)
            )
            for step, name in enumerate(("Ana", "Ana", "Ben")):
                if step == 1:
                    template.write_text(good, encoding="utf-8")
                if step == 2:
                    template.write_text(leaky, encoding="utf-8")
                    stat = template.stat()
                    os.utime(template, (stat.st_atime + 4, stat.st_mtime + 4))
                    _deliver(imap_account, name)
                if step == 0:
                    _deliver(imap_account, name)
                report = await agent.run_cycle()  # a mail it cannot compose stays owed
                problems += [str(p) for p in report.problems if isinstance(p, TemplateError)]
        return problems

    problems = asyncio.run(cycles())
    assert len(problems) == 1
    assert problems[0].startswith(f"{ACK}:3: 'secrets_link.txt' is a link to ")
    received = smtp_sink.wait_for(2)
    assert sorted(r.rcpt_tos[0] for r in received) == [
        "ana@customer.example",
        "ben@customer.example",
    ]
    assert all(SECRET.encode() not in r.raw for r in received)
    assert all(SECRET not in str(m) for m in world.sent())
    assert all(SECRET.encode() not in m.raw for m in ledger(settings).outbox.values())
