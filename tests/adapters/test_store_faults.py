"""Store faults (issue 11, item 6): owner-only files, a damaged file in one line, a disk that
refuses writes, and a lock that deleting a file cannot defeat. Real files throughout; disk
faults are injected at the ``os`` call that meets them (a real full or read-only disk too,
where this process may mount a tmpfs)."""

from __future__ import annotations

import asyncio
import errno
import fcntl
import json
import logging
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from inbox_agent.adapters import records
from inbox_agent.adapters.store import DB_FILE, LOCK_FILE, StaffRequest, Store, queue_request
from inbox_agent.core.conversations import (
    Conversation,
    FiledMessage,
    MailKind,
    Promise,
    Role,
    SentMail,
)
from inbox_agent.core.ledger import OutboxEntry
from inbox_agent.core.lifecycle import Status
from inbox_agent.daemon import Daemon, Job
from inbox_agent.errors import (
    StoreCorruptError,
    StoreError,
    StoreLockedError,
    StoreWriteError,
)

NOW = datetime(2026, 11, 16, 10, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]


def _conversation(subject: str = "Invoice") -> Conversation:
    return Conversation(
        id="K7Q2",
        mailbox="support",
        customer="ana@customer.example",
        customer_name="Ana",
        subject=subject,
        created_at=NOW,
        status=Status.WAITING,
        messages=[
            FiledMessage(
                "<m1@x>", "<m1@x>", Role.CUSTOMER, NOW, "ana@customer.example", "Invoice", "INBOX"
            )
        ],
        promises=[Promise(made_at=NOW, due=NOW.replace(hour=17), reason="first reply")],
    )


def _two_commits(data_dir: Path) -> Path:
    """A store with two commits (so a good ``.bak`` exists); the database's path."""
    with Store(data_dir) as store:
        store.ledger.conversations["K7Q2"] = _conversation("first")
        store.ledger.conversations["K7Q2"].sent.append(
            SentMail("<a@x>", MailKind.ACKNOWLEDGEMENT, "ana@customer.example", NOW)
        )
        store.ledger.outbox["<a@x>"] = OutboxEntry(
            "<a@x>",
            "K7Q2",
            "support",
            MailKind.ACKNOWLEDGEMENT,
            "ana@customer.example",
            b"raw",
            NOW,
        )
        store.commit()
        store.ledger.conversations["K7Q2"].subject = "second"
        store.commit()
    return data_dir / DB_FILE


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- everything owner-only, whatever the umask ------------------------------------------------


@pytest.fixture(params=[0o000, 0o022], ids=["umask000", "umask022"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    before = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(before)


def test_everything_in_the_data_dir_is_owner_only(tmp_path: Path, umask: int) -> None:
    """The folder, the database, its backup, the lock, kept mail and queued requests."""
    data_dir = tmp_path / "var" / "inbox-agent"
    _two_commits(data_dir)
    with Store(data_dir) as store:
        store.keep_raw("ab" * 32, b"broken mail")
    queue_request(data_dir, StaffRequest("close", "K7Q2"))
    folders = [data_dir, *(p for p in data_dir.rglob("*") if p.is_dir())]
    assert {
        data_dir / "unparsed",
        data_dir / "requests",
        data_dir / "outbox",
        data_dir / "outbox" / "pending",
    } <= set(folders)  # made on the way too: 0700
    files = [p for p in data_dir.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {DB_FILE, DB_FILE + ".bak", LOCK_FILE, "ab" * 32 + ".eml"}
    assert any(p.parent.name == "requests" for p in files)
    assert {str(p): oct(_mode(p)) for p in folders} == {str(p): "0o700" for p in folders}
    assert {str(p): oct(_mode(p)) for p in files} == {str(p): "0o600" for p in files}


def test_temp_files_are_owner_only_before_they_are_renamed(
    tmp_path: Path, umask: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The temp file already has its final mode while it is being written."""
    seen: list[int] = []
    real_replace = os.replace

    def spy(src: Any, dst: Any) -> None:
        seen.append(_mode(Path(src)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    with Store(tmp_path) as store:
        store.commit()
        store.keep_raw("cd" * 32, b"broken mail")
    assert seen
    assert set(seen) == {0o600}


def test_a_leftover_temp_file_does_not_keep_its_wider_mode(tmp_path: Path) -> None:
    """A temp file left by a crash of an older version (0644) is reused as 0600."""
    leftover = tmp_path / (DB_FILE + ".tmp")
    leftover.write_text("half")
    leftover.chmod(0o644)
    seen: list[int] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        seen.append(stat.S_IMODE(os.fstat(fd).st_mode))
        real_fsync(fd)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "fsync", spy)
        with Store(tmp_path) as store:
            store.commit()
    assert seen[0] == 0o600
    assert _mode(tmp_path / DB_FILE) == 0o600


def test_a_data_dir_open_to_others_is_closed_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A data_dir made by an older version (0755, files 0644) is closed when the agent takes
    it; read-only commands change nothing."""
    path = _two_commits(tmp_path)
    for p in (tmp_path, path, tmp_path / (DB_FILE + ".bak"), tmp_path / LOCK_FILE):
        p.chmod(0o755 if p.is_dir() else 0o644)
    Store(tmp_path, read_only=True).open().close()
    assert _mode(tmp_path) == 0o755
    with caplog.at_level(logging.WARNING, logger="inbox_agent"):
        Store(tmp_path).open().close()
    assert _mode(tmp_path) == 0o700
    assert _mode(path) == _mode(tmp_path / (DB_FILE + ".bak")) == 0o600
    assert _mode(tmp_path / LOCK_FILE) == 0o600
    assert "could be read by other users (mode 755)" in caplog.text


# --- a damaged store is one line naming the file and its backup ---------------------------


def _doc(data: dict[str, Any], table: str) -> dict[str, Any]:
    (doc,) = data[table].values()
    assert isinstance(doc, dict)
    return doc


def _drop(key: str) -> Callable[[dict[str, Any]], object]:
    return lambda data: _doc(data, "conversations").pop(key)


def _set(table: str, key: str, value: object) -> Callable[[dict[str, Any]], object]:
    return lambda data: _doc(data, table).__setitem__(key, value)


def _set_message(key: str, value: object) -> Callable[[dict[str, Any]], object]:
    return lambda data: _doc(data, "conversations")["messages"][0].__setitem__(key, value)


DAMAGE: dict[str, Callable[[dict[str, Any]], object]] = {
    "a table that is a list": lambda data: data.__setitem__("conversations", []),
    "a document that is text": lambda data: data.__setitem__("conversations", {"1": "x"}),
    "a document id that is not a number": lambda data: data.__setitem__(
        "conversations", {"one": _doc(data, "conversations")}
    ),
    "a missing key": _drop("status"),
    "a missing list": _drop("messages"),
    "a number for text": _set("conversations", "customer", 5),
    "text for a list": _set("conversations", "messages", "abc"),
    "an unknown status": _set("conversations", "status", "bogus"),
    "a moment without offset": _set_message("arrived_at", "2026-11-16T10:00:00"),
    "a moment that is not one": _set_message("arrived_at", "monday"),
    "a message that is a list": lambda data: _doc(data, "conversations")["messages"].append([]),
    "a uid as text": lambda data: data.__setitem__(
        "checkpoints", {"1": {"folder_key": "support/INBOX", "uidvalidity": 1, "last_uid": "7"}}
    ),
}


def _assert_one_line_naming_file_and_backup(exc: StoreError, path: Path) -> None:
    message = exc.one_line()
    assert "\n" not in message
    assert message.startswith(f"StoreCorruptError: {path}: ")
    assert f"{DB_FILE}.bak" in message


@pytest.mark.parametrize("damage", list(DAMAGE), ids=list(DAMAGE))
def test_a_wrongly_shaped_store_is_refused_in_one_line(tmp_path: Path, damage: str) -> None:
    """Valid JSON of the wrong shape: a schema check at load says where, for the daemon and
    for a read-only command alike, and the file is left as it is."""
    path = _two_commits(tmp_path)
    data = json.loads(path.read_text(encoding="utf-8"))
    DAMAGE[damage](data)
    path.write_text(json.dumps(data), encoding="utf-8")
    before = path.read_bytes()
    for read_only in (False, True):
        with pytest.raises(StoreCorruptError) as caught:
            Store(tmp_path, read_only=read_only).open()
        _assert_one_line_naming_file_and_backup(caught.value, path)
        assert "The previous commit is in inbox-agent.json.bak" in str(caught.value)
    assert path.read_bytes() == before
    (tmp_path / (DB_FILE + ".bak")).replace(path)  # what the message says to do
    with Store(tmp_path) as store:  # works, so the refused open gave the lock back
        assert store.ledger.conversations["K7Q2"].subject == "first"


def test_the_message_says_where_and_what(tmp_path: Path) -> None:
    """The line points at the record and the key, and shows the value found."""
    path = _two_commits(tmp_path)
    data = json.loads(path.read_text(encoding="utf-8"))
    _set_message("arrived_at", 5)(data)
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(
        StoreCorruptError,
        match=r"conversations\[1\]\.messages\[0\]\.arrived_at "
        r"is 5, not a moment",
    ):
        Store(tmp_path).open()


def test_invalid_utf8_is_refused_in_one_line(tmp_path: Path) -> None:
    path = _two_commits(tmp_path)
    path.write_bytes(path.read_bytes().replace(b'"second"', b'"sec\xffnd"'))
    with pytest.raises(StoreCorruptError, match=r"not UTF-8 text \(byte 0xff at offset") as caught:
        Store(tmp_path, read_only=True).open()
    _assert_one_line_naming_file_and_backup(caught.value, path)


def test_without_a_backup_the_message_says_so(tmp_path: Path) -> None:
    path = tmp_path / DB_FILE
    path.write_text('{"conversations": []}', encoding="utf-8")
    with pytest.raises(
        StoreCorruptError,
        match=r"There is no inbox-agent\.json\.bak to go "
        "back to",
    ):
        Store(tmp_path).open()


def test_a_damaged_backup_is_named_as_damaged_too(tmp_path: Path) -> None:
    path = _two_commits(tmp_path)
    path.write_text("[]", encoding="utf-8")
    (tmp_path / (DB_FILE + ".bak")).write_text("{", encoding="utf-8")
    with pytest.raises(
        StoreCorruptError,
        match=r"inbox-agent\.json\.bak, is damaged too "
        r"\(not valid JSON",
    ):
        Store(tmp_path).open()


def test_a_store_from_a_newer_version_is_refused_not_called_damaged(tmp_path: Path) -> None:
    path = _two_commits(tmp_path)
    data = json.loads(path.read_text(encoding="utf-8"))
    data["meta"] = {"1": {"schema": records.SCHEMA_VERSION + 1}}
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(StoreError, match="written by a newer inbox-agent") as caught:
        Store(tmp_path).open()
    assert not isinstance(caught.value, StoreCorruptError)


CONFIG = """
[agent]
data_dir = "{data_dir}"
templates_dir = "{templates}"

[business_hours]
timezone = "Europe/London"

[promise]
escalate_to = "manager@example.com"

[[mailbox]]
name = "support"
address = "support@example.com"

[mailbox.imap]
host = "127.0.0.1"
port = 9
security = "none"
username = "support@example.com"
password_env = "INBOX_AGENT_TEST_NO_PASSWORD"

[mailbox.smtp]
host = "127.0.0.1"
port = 9
security = "none"
username = "support@example.com"
password_env = "INBOX_AGENT_TEST_NO_PASSWORD"
"""


def _cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "INBOX_AGENT_TEST_NO_PASSWORD": "x"}
    return subprocess.run(
        [sys.executable, "-m", "inbox_agent", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
        cwd=config.parent,
    )


def _config(tmp_path: Path, data_dir: Path) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(
        CONFIG.format(data_dir=data_dir, templates=ROOT / "templates"), encoding="utf-8"
    )
    return config


@pytest.mark.parametrize(
    "command",
    [
        ["threads"],
        ["threads", "--json"],
        ["thread", "K7Q2"],
        ["skipped"],
        ["close", "K7Q2"],
        ["run", "--once"],
    ],
    ids=" ".join,
)
def test_every_command_on_a_damaged_store_prints_one_line(
    tmp_path: Path, command: list[str]
) -> None:
    """The CLI process: exit 1, one line naming the file and its backup, no traceback."""
    data_dir = tmp_path / "data"
    path = _two_commits(data_dir)
    path.write_text(
        path.read_text(encoding="utf-8").replace('"status":"waiting"', '"status":7'),
        encoding="utf-8",
    )
    done = _cli(_config(tmp_path, data_dir), *command)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.startswith(f"StoreCorruptError: {path}: conversations[1].status is 7")
    assert done.stderr.count("\n") == 1
    assert "inbox-agent.json.bak" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_damaged_store_fails_check_in_one_line(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    path = _two_commits(data_dir)
    path.write_bytes(b"\xff\xfe")
    done = _cli(_config(tmp_path, data_dir), "check")
    assert done.returncode == 1
    assert "StoreCorruptError: " in done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr


# --- a disk that refuses writes -----------------------------------------------------------


def _refuse(monkeypatch: pytest.MonkeyPatch, name: str, code: int) -> None:
    """Make ``os.<name>`` fail with ``code`` (for every caller, so only around one call)."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, name, refuse)


FAULTS = [
    ("write", errno.ENOSPC, "No space left on device", "free space on its disk"),
    ("fsync", errno.ENOSPC, "No space left on device", "free space on its disk"),
    ("fsync", errno.EIO, "Input/output error", "check its disk"),
    ("open", errno.EROFS, "Read-only file system", "mounted read-only"),
    ("open", errno.EACCES, "Permission denied", "let the agent's user write to"),
    ("replace", errno.EROFS, "Read-only file system", "mounted read-only"),
]


@pytest.mark.parametrize(
    "fault", FAULTS, ids=[f"{c}-{errno.errorcode[e]}" for c, e, _, _ in FAULTS]
)
def test_a_refused_commit_is_one_line_and_rolls_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: tuple[str, int, str, str]
) -> None:
    """The old file stays whole, no temp file is left, the ledger goes back to the last
    commit (not to the one that failed), and the next commit works."""
    call, code, why, fix = fault
    path = _two_commits(tmp_path)
    before = path.read_bytes()
    with Store(tmp_path) as store:
        store.ledger.conversations["K7Q2"].subject = "third"
        with monkeypatch.context() as patch:
            _refuse(patch, call, code)
            with pytest.raises(StoreWriteError) as caught, store.rolled_back_on_error():
                store.commit()
        assert store.ledger.conversations["K7Q2"].subject == "second"
        assert path.read_bytes() == before
        assert not list(tmp_path.glob("*.tmp"))
        message = caught.value.one_line()
        assert message == (
            f"StoreWriteError: {path}: could not write ({why}); nothing was "
            f"sent that is not recorded; {message.split('; ')[-1]}"
        )
        assert fix in message
        assert message.endswith(", the agent retries")
        store.ledger.conversations["K7Q2"].subject = "third"
        store.commit()  # the disk is back: the same change goes through
    assert Store(tmp_path, read_only=True).open().ledger.conversations["K7Q2"].subject == "third"


def test_a_refused_first_commit_rolls_back_to_empty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Store(tmp_path) as store:
        store.ledger.conversations["K7Q2"] = _conversation()
        with monkeypatch.context() as patch:
            _refuse(patch, "write", errno.ENOSPC)
            with pytest.raises(StoreWriteError):
                store.commit()
        store.rollback()
        assert store.ledger.conversations == {}
    assert not (tmp_path / DB_FILE).exists()


def test_kept_mail_and_queued_requests_refused_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Store(tmp_path) as store:
        with monkeypatch.context() as patch:
            _refuse(patch, "write", errno.ENOSPC)
            with pytest.raises(StoreWriteError, match=r"\.eml: could not write \(No space"):
                store.keep_raw("ef" * 32, b"broken mail")
            with pytest.raises(
                StoreWriteError,
                match="the request was not queued; free "
                "space on its disk, then run the command again",
            ):
                queue_request(tmp_path, StaffRequest("close", "K7Q2"))
        assert not list(tmp_path.rglob("*.tmp"))
        assert store.keep_raw("ef" * 32, b"broken mail") == f"unparsed/{'ef' * 32}.eml"


def test_the_daemon_reports_a_refused_commit_once_and_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """daemon.run_job: a StoreWriteError is one log line, the daemon lives, the next run runs."""
    runs: list[int] = []

    async def job() -> None:
        runs.append(1)
        if len(runs) < 3:
            raise StoreWriteError(
                f"{tmp_path / DB_FILE}: could not write (No space left on "
                "device); nothing was sent that is not recorded; free space "
                "on its disk, the agent retries"
            )

    daemon = Daemon([])

    async def three_runs() -> None:
        for _ in range(3):
            await daemon.run_job(Job("poll", job, 60))

    with caplog.at_level(logging.INFO, logger="inbox_agent"):
        asyncio.run(three_runs())
    assert len(runs) == 3
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage().split(":")[0] for r in errors] == ["StoreWriteError"]
    assert errors[0].exc_info is None  # one line, no traceback
    assert "recovered: StoreWriteError" in caplog.text


MOUNT = shutil.which("mount")


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 256 KiB tmpfs (root only; skipped elsewhere)."""
    where = tmp_path / "disk"
    where.mkdir()
    if os.geteuid() != 0 or MOUNT is None:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(
        [MOUNT, "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(where)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace')}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _fill(disk: Path) -> Path:
    """Take every free byte of ``disk``; the filler's path."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as handle:
        while _more(handle):
            pass
    return filler


def _more(handle: BinaryIO) -> bool:
    """Write 4 KiB more; False once the disk is full."""
    try:
        handle.write(b"\0" * 4096)
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
        return False
    return True


def test_a_real_full_disk_then_space_again(tiny_disk: Path) -> None:
    data_dir = tiny_disk / "data"
    path = _two_commits(data_dir)
    before = path.read_bytes()
    with Store(data_dir) as store:
        filler = _fill(tiny_disk)
        store.ledger.conversations["K7Q2"].subject = "x" * 20_000
        with (
            pytest.raises(
                StoreWriteError,
                match=r"could not write \(No space left on "
                r"device\); nothing was sent",
            ),
            store.rolled_back_on_error(),
        ):
            store.commit()
        assert store.ledger.conversations["K7Q2"].subject == "second"
        assert path.read_bytes() == before
        assert not list(data_dir.glob("*.tmp"))
        filler.unlink()
        store.ledger.conversations["K7Q2"].subject = "x" * 20_000
        store.commit()
    assert Store(data_dir, read_only=True).open().ledger.conversations["K7Q2"].subject[:3] == "xxx"


def test_a_real_read_only_disk_then_writable_again(tiny_disk: Path) -> None:
    data_dir = tiny_disk / "data"
    path = _two_commits(data_dir)
    before = path.read_bytes()
    # Remounted before the store opens: a file open for writing (the lock file) makes the
    # kernel refuse a remount, though not a read-only remount after disk errors.
    subprocess.run([MOUNT or "mount", "-o", "remount,ro", str(tiny_disk)], check=True)
    with Store(data_dir) as store:
        store.ledger.conversations["K7Q2"].subject = "third"
        with (
            pytest.raises(
                StoreWriteError,
                match=r"\(Read-only file system\); nothing was "
                r"sent.*mounted read-only",
            ),
            store.rolled_back_on_error(),
        ):
            store.commit()
        assert store.ledger.conversations["K7Q2"].subject == "second"
        assert Store(data_dir, read_only=True).open().ledger.conversations  # reads still work
        subprocess.run([MOUNT or "mount", "-o", "remount,rw", str(tiny_disk)], check=True)
        store.ledger.conversations["K7Q2"].subject = "third"
        store.commit()
    assert path.read_bytes() != before


def test_a_daemon_can_start_on_a_read_only_disk_and_reads_still_work(tiny_disk: Path) -> None:
    """Its lock needs no write; the first commit then says why in one line."""
    data_dir = tiny_disk / "data"
    _two_commits(data_dir)
    subprocess.run([MOUNT or "mount", "-o", "remount,ro", str(tiny_disk)], check=True)
    try:
        with Store(data_dir) as store:
            with pytest.raises(StoreLockedError):
                Store(data_dir).open()
            with pytest.raises(StoreWriteError, match="Read-only file system"):
                store.commit()
    finally:
        subprocess.run([MOUNT or "mount", "-o", "remount,rw", str(tiny_disk)], check=True)


# --- one owner, whatever happens to the lock file -----------------------------------------

HOLDER = """
import sys
from pathlib import Path
from inbox_agent.adapters.store import Store
store = Store(Path(sys.argv[1])).open()
print("ready", flush=True)
sys.stdin.read()  # hold the store until the test closes our stdin
"""

TRY_OPEN = """
import sys
from pathlib import Path
from inbox_agent.adapters.store import Store
from inbox_agent.errors import StoreLockedError
try:
    Store(Path(sys.argv[1])).open()
except StoreLockedError as exc:
    print(exc.one_line())
else:
    print("opened")
"""


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process that owns ``tmp_path`` until the test ends."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    try:
        yield process
    finally:
        assert process.stdin is not None
        process.stdin.close()
        process.wait(timeout=60)


def _second_process(data_dir: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-c", TRY_OPEN, str(data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    return done.stdout.strip()


def test_deleting_the_lock_file_does_not_let_a_second_daemon_in(
    tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    """Today's bug: delete inbox-agent.lock, start a second daemon, every customer gets two
    acknowledgements. The lock is on the folder, so the second one is still refused."""
    assert _second_process(tmp_path).startswith(
        f"StoreLockedError: {tmp_path}: in use by inbox-agent (pid {holder.pid})"
    )
    (tmp_path / LOCK_FILE).unlink()
    refused = _second_process(tmp_path)
    assert refused == (
        f"StoreLockedError: {tmp_path}: in use by inbox-agent (pid unknown); "
        "stop it first, or give this one another data_dir"
    )
    assert not (tmp_path / LOCK_FILE).exists()  # the refused one touched nothing
    with pytest.raises(StoreLockedError):
        Store(tmp_path).open()


def test_read_only_commands_work_while_a_daemon_holds_the_store(tmp_path: Path) -> None:
    _two_commits(tmp_path / "data")
    config = _config(tmp_path, tmp_path / "data")
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path / "data")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
        done = _cli(config, "threads", "--json")
        assert done.returncode == 0, done.stderr
        assert [t["id"] for t in json.loads(done.stdout)] == ["K7Q2"]
    finally:
        assert process.stdin is not None
        process.stdin.close()
        process.wait(timeout=60)


def test_the_store_is_free_again_once_its_owner_is_gone(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    process.kill()  # no clean exit: the kernel drops its locks
    process.wait(timeout=60)
    assert _second_process(tmp_path) == "opened"


def test_an_older_version_holding_only_the_lock_file_keeps_this_one_out(tmp_path: Path) -> None:
    """Versions before this one flock inbox-agent.lock; during an upgrade they still count."""
    old = (tmp_path / LOCK_FILE).open("a+")
    try:
        fcntl.flock(old, fcntl.LOCK_EX | fcntl.LOCK_NB)
        old.write("4242")
        old.flush()
        with pytest.raises(StoreLockedError, match=r"pid 4242"):
            Store(tmp_path).open()
    finally:
        old.close()
    Store(tmp_path).open().close()  # the folder's lock was given back on refusal


def test_a_filesystem_that_cannot_lock_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """NFS emulates flock with fcntl locks, which refuse a folder opened read-only."""

    def no_locks(fd: int, operation: int) -> None:
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(fcntl, "flock", no_locks)
    with pytest.raises(
        StoreError,
        match=r": cannot be locked \(No locks available\); put "
        "data_dir on a local disk",
    ):
        Store(tmp_path).open()


def test_a_queued_request_keeps_who_asked_and_an_older_one_reads_without(tmp_path: Path) -> None:
    """``by`` rides in the request file; one queued by an older version has none."""
    queue_request(tmp_path, StaffRequest("close", "K7Q2", by="alice (staff page)"))
    older = tmp_path / "requests" / "00000000000000000001-1.json"
    older.write_text('{"command": "reopen", "conversation_id": "AB12", "until": null}')
    with Store(tmp_path) as store:
        found = [(r.command, r.conversation_id, r.by) for r in store.pending_requests()]
    assert found == [("reopen", "AB12", ""), ("close", "K7Q2", "alice (staff page)")]
