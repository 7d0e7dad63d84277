"""``check`` and the staff page: off when there is no ``[web]``; else it needs a login to
open it with and its address free to listen on (or held by this config's running agent).
On real servers (Dovecot, else pymap, and aiosmtpd), so every other check passes too."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from inbox_agent import config
from inbox_agent.commands.check import Result, run_checks
from inbox_agent.web.auth import Users
from tests.worlds import ServerWorld

NOW = datetime.fromisoformat("2026-11-24T10:00:00+00:00")


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A program of someone else's listening on a loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def with_web(world: ServerWorld, port: int) -> config.Settings:
    path = world.settings.source
    path.write_text(
        path.read_text(encoding="utf-8") + f'\n[web]\nlisten = "127.0.0.1:{port}"\n',
        encoding="utf-8",
    )
    return config.load(path)


def web_line(settings: config.Settings) -> Result:
    results = asyncio.run(run_checks(settings, NOW))
    assert [r.problem for r in results[:-1] if r.problem] == []
    return results[-1]


def line_for_a_held_port(world: ServerWorld, listener: socket.socket) -> tuple[int, str]:
    """``check``'s staff-page line with a login set and ``listener``'s port in [web]."""
    port: int = listener.getsockname()[1]
    settings = with_web(world, port)
    Users(settings.agent.data_dir).set_password("alice", "correct horse battery")
    return port, web_line(settings).line()


def test_without_web_the_page_is_off(server_world: ServerWorld) -> None:
    assert web_line(server_world.settings).line() == (
        "ok    staff page: off (add [web] listen to serve it)"
    )


def test_a_page_without_a_login_fails_with_the_command_that_makes_one(
    server_world: ServerWorld,
) -> None:
    port = free_port()
    assert web_line(with_web(server_world, port)).line() == (
        f"FAIL  staff page http://127.0.0.1:{port}/: no login yet; "
        "run `inbox-agent web passwd NAME` first"
    )


def test_a_page_with_logins_and_a_free_port_names_them(server_world: ServerWorld) -> None:
    port = free_port()
    settings = with_web(server_world, port)
    for name in ("bob", "alice"):
        Users(settings.agent.data_dir).set_password(name, "correct horse battery")
    assert web_line(settings).line() == (
        f"ok    staff page http://127.0.0.1:{port}/: 2 logins: alice, bob"
    )


def test_a_port_another_program_holds_fails(
    server_world: ServerWorld, listener: socket.socket
) -> None:
    port, line = line_for_a_held_port(server_world, listener)
    assert line == (
        f"FAIL  staff page: 127.0.0.1:{port} is in use by another program; "
        "choose a free port for [web] listen"
    )


def test_an_unreadable_logins_file_fails_with_what_to_do(server_world: ServerWorld) -> None:
    settings = with_web(server_world, free_port())
    users = Path(settings.agent.data_dir, "web", "users.json")
    users.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    users.write_text('{"alice": "scrypt$', encoding="utf-8")
    line = web_line(settings).line()
    assert line.startswith(f"FAIL  StoreCorruptError: {users}: the staff logins cannot be read (")
    assert line.endswith(
        "move the file aside and set each login again with `inbox-agent web passwd NAME`"
    )


def test_without_claims_a_port_in_use_may_be_this_agents_own(
    server_world: ServerWorld, listener: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where claims are not supported (not Linux), whose listener it is cannot be told: said
    as such, not failed as another program's."""
    monkeypatch.setattr("inbox_agent.adapters.claims.SUPPORTED", False)
    port, line = line_for_a_held_port(server_world, listener)
    assert line == (
        f"ok    staff page http://127.0.0.1:{port}/: the port is in use (this agent's, if it "
        "runs); 1 login: alice"
    )
