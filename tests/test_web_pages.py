"""The staff page through aiohttp's test client, over a real Store in a temporary data folder:
no session, no page (and no customer data); CSRF; the login rate limit; ``web passwd``; the
actions change the ledger as the CLI's do; filters, search, and hostile text escaped."""

from __future__ import annotations

import asyncio
import io
import re
import stat
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from inbox_agent import cli, config
from inbox_agent.adapters.store import Store
from inbox_agent.agent import cycle
from inbox_agent.commands import staff as staff_commands
from inbox_agent.config import WebSettings
from inbox_agent.core.ledger import Ledger
from inbox_agent.errors import ConfigError
from inbox_agent.web.app import Backend, make_app
from inbox_agent.web.auth import RateLimit, Users, client_address
from tests.worlds import MemoryWorld, customer_mail, ledger, london, make_settings, run

Client = TestClient[web.Request, web.Application]
WEB = '\n[web]\nlisten = "127.0.0.1:8025"\n'
PASSWORD = "correct horse battery"
NOW = london(16, 11, 0)  # a Monday, open
HOSTILE_NAME = "<script>alert(1)</script>"
HOSTILE_SUBJECT = '<img src=x onerror="alert(2)">'


def a_world(folder: Path) -> MemoryWorld:
    """Ana (printer), Ben (invoice) and a hostile sender, acknowledged at 10:05."""
    folder.mkdir()
    world = MemoryWorld(make_settings(folder, extra=WEB))
    mails = [
        ("Ana Lima <ana@example.org>", "Printer on fire", london(16, 10, 0)),
        ("Ben Ode <ben@example.net>", "Invoice 42 is wrong", london(16, 10, 1)),
        (f'"{HOSTILE_NAME}" <evil@example.com>', HOSTILE_SUBJECT, london(16, 10, 2)),
    ]
    for sender, subject, sent in mails:
        world.deliver(customer_mail(sender, subject, "Hello,\nplease help.\n", sent), sent)
    run(world, london(16, 10, 5))
    Users(world.settings.agent.data_dir).set_password("alice", PASSWORD)
    return world


@pytest.fixture
def world(tmp_path: Path) -> MemoryWorld:
    return a_world(tmp_path / "a")


def token_of(world: MemoryWorld, customer: str) -> str:
    return next(
        c.id for c in ledger(world.settings).conversations.values() if c.customer == customer
    )


@asynccontextmanager
async def page(
    world: MemoryWorld, now: datetime = NOW, limit: RateLimit | None = None
) -> AsyncIterator[tuple[Client, Ledger]]:
    """The app over the store this test holds (as the daemon holds it), and its live ledger."""
    with Store(world.settings.agent.data_dir) as store:
        adapters = cycle.Adapters(mailbox=lambda _: world.mailbox, mailer=lambda _: world.mailer)
        agent = cycle.Agent(world.settings, store, adapters, clock=lambda: now)

        async def apply() -> None:
            agent.apply_staff_requests()

        app = make_app(
            Backend(world.settings, lambda: agent.ledger, agent.clock, apply), limit=limit
        )
        async with TestClient(TestServer(app)) as client:
            yield client, store.ledger


def csrf_in(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


async def log_in(client: Client, name: str = "alice", password: str = PASSWORD) -> str:
    """Log in; the session's CSRF token."""
    form = await client.get("/login")
    response = await client.post(
        "/login",
        data={"csrf": csrf_in(await form.text()), "name": name, "password": password},
        allow_redirects=False,
    )
    assert response.status == 303, await response.text()
    listing = await client.get("/conversations")
    return csrf_in(await listing.text())


def on(world: MemoryWorld, test: Callable[[Client, Ledger], Awaitable[None]]) -> None:
    async def go() -> None:
        async with page(world) as (client, live):
            await test(client, live)

    asyncio.run(go())


def test_every_route_refuses_without_a_session_and_shows_no_customer(world: MemoryWorld) -> None:
    token = token_of(world, "ana@example.org")

    async def test(client: Client, live: Ledger) -> None:
        for cookie in (None, "forged.0000", "e30.deadbeef"):
            if cookie:
                client.session.cookie_jar.update_cookies({"inbox_session": cookie})
            for path in ("/", "/conversations", "/conversations?q=ana", f"/conversations/{token}"):
                response = await client.get(path, allow_redirects=False)
                assert response.status == 303
                assert response.headers["Location"] == "/login"
                assert "ana@" not in await response.text()
            for action in ("close", "reopen", "snooze"):
                response = await client.post(
                    f"/conversations/{token}/{action}", data={"csrf": "x", "until": "2d"}
                )
                assert response.status == 403
                body = await response.text()
                assert "ana@" not in body
                assert "Printer" not in body
            assert live.conversations[token].status.value == "waiting"
        login = await client.get("/login")
        assert login.status == 200
        assert "ana@" not in await login.text()

    on(world, test)


def test_a_login_shows_the_list_with_the_security_headers(world: MemoryWorld) -> None:
    async def test(client: Client, live: Ledger) -> None:
        await log_in(client)
        response = await client.get("/conversations")
        html = await response.text()
        assert "ana@example.org" in html
        assert "Printer on fire" in html
        assert "Tue 17 Nov 2026 09:45 London time" in html  # promised by, the business's zone
        headers = response.headers
        assert headers["Content-Security-Policy"] == (
            "default-src 'self'; frame-ancestors 'none'; form-action 'self'"
        )
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "same-origin"
        assert headers["Cache-Control"] == "no-store"
        cookie = next(c for c in client.session.cookie_jar if c.key == "inbox_session")
        assert cookie["httponly"]
        assert cookie["samesite"] == "Strict"
        home = await client.get("/", allow_redirects=False)
        assert home.headers["Location"] == "/conversations"
        css = await client.get("/static/style.css")
        assert css.status == 200
        assert css.headers["X-Content-Type-Options"] == "nosniff"

    on(world, test)


def test_a_form_without_its_csrf_token_is_refused(world: MemoryWorld) -> None:
    token = token_of(world, "ana@example.org")

    async def test(client: Client, live: Ledger) -> None:
        csrf = await log_in(client)
        for data in ({}, {"csrf": "wrong"}, {"csrf": csrf[:-1]}):
            response = await client.post(f"/conversations/{token}/close", data=data)
            assert response.status == 403
        assert live.conversations[token].status.value == "waiting"
        client.session.cookie_jar.clear()
        response = await client.post(
            "/login", data={"csrf": "made-up", "name": "alice", "password": PASSWORD}
        )
        assert response.status == 403
        page = await response.text()
        assert "The form was out of date; log in again." in page
        assert '<input id="name" name="name"' in page  # a fresh form to log in with
        assert "inbox_session" not in response.cookies

    on(world, test)


def test_login_attempts_are_limited(world: MemoryWorld) -> None:
    moment = [0.0]
    limit = RateLimit(clock=lambda: moment[0])

    async def go() -> None:
        async with page(world, limit=limit) as (client, _):
            for _ in range(5):
                form = await client.get("/login")
                response = await client.post(
                    "/login",
                    data={"csrf": csrf_in(await form.text()), "name": "alice", "password": "guess"},
                )
                assert response.status == 401
                assert "Wrong name or password" in await response.text()
            form = await client.get("/login")
            response = await client.post(
                "/login",
                data={"csrf": csrf_in(await form.text()), "name": "alice", "password": PASSWORD},
                allow_redirects=False,
            )
            assert response.status == 429
            assert 0 < int(response.headers["Retry-After"]) <= 60
            assert "Too many failed logins; try again in 60 seconds." in await response.text()
            moment[0] = 61.0
            await log_in(client)

    asyncio.run(go())


def test_a_burst_of_guesses_sent_at_once_is_limited_like_a_slow_one(world: MemoryWorld) -> None:
    """Ten wrong passwords sent together, before any has been checked: five are tried, the
    others wait (an attempt counts from its start, not from its failure)."""

    async def go() -> None:
        async with page(world, limit=RateLimit(clock=lambda: 0.0)) as (client, _):
            form = await client.get("/login")
            csrf = csrf_in(await form.text())

            async def guess(n: int) -> int:
                data = {"csrf": csrf, "name": "alice", "password": f"guess {n}"}
                return (await client.post("/login", data=data)).status

            statuses = await asyncio.gather(*(guess(n) for n in range(10)))
            assert sorted(statuses) == [401] * 5 + [429] * 5

    asyncio.run(go())


def test_logins_that_succeed_are_not_limited(world: MemoryWorld) -> None:
    """A team behind one office router logs in at nine: only failures count."""

    async def go() -> None:
        async with page(world, limit=RateLimit(clock=lambda: 0.0)) as (client, _):
            for _ in range(8):
                await log_in(client)

    asyncio.run(go())


def test_a_changed_password_ends_the_sessions(world: MemoryWorld) -> None:
    async def test(client: Client, live: Ledger) -> None:
        await log_in(client)
        assert (await client.get("/conversations", allow_redirects=False)).status == 200
        Users(world.settings.agent.data_dir).set_password("alice", "another long one")
        response = await client.get("/conversations", allow_redirects=False)
        assert response.status == 303

    on(world, test)


def test_web_passwd_reads_standard_input_and_keeps_only_a_hash(
    world: MemoryWorld, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(world.settings.source)
    monkeypatch.setattr("sys.stdin", io.StringIO("a long secret phrase\n"))
    assert cli.main(["--config", config, "web", "passwd", "bob"]) == 0
    folder = world.settings.agent.data_dir / "web"
    users = folder / "users.json"
    assert stat.S_IMODE(users.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert "a long secret phrase" not in users.read_text()
    assert PASSWORD not in users.read_text()
    assert Users(world.settings.agent.data_dir).check("bob", "a long secret phrase")
    assert not Users(world.settings.agent.data_dir).check("bob", "a long secret phrasE")
    for name in ("../etc", "a/b", ".hidden", "x" * 65, ""):
        monkeypatch.setattr("sys.stdin", io.StringIO("a long secret phrase\n"))
        assert cli.main(["--config", config, "web", "passwd", name]) == 1
    assert "not allowed" in capsys.readouterr().err
    assert sorted(Users(world.settings.agent.data_dir).read()) == ["alice", "bob"]


def test_close_snooze_reopen_change_the_ledger_as_the_cli_does(tmp_path: Path) -> None:
    web_world, cli_world = a_world(tmp_path / "web"), a_world(tmp_path / "cli")
    steps = [("snooze", "2d"), ("close", None), ("reopen", None)]

    async def go() -> None:
        token = token_of(web_world, "ana@example.org")
        async with page(web_world) as (client, live):
            csrf = await log_in(client)
            for action, until in steps:
                response = await client.post(
                    f"/conversations/{token}/{action}", data={"csrf": csrf, "until": until or ""}
                )
                assert response.status == 200
                assert response.url.path == f"/conversations/{token}"
                html = await response.text()
                assert {"close": "Closed.", "snooze": "Snoozed.", "reopen": "Reopened."}[
                    action
                ] in html
                status = live.conversations[token].status.value
                shown = re.search(r"<dt>Status</dt><dd>(\w+)", html)
                assert shown  # the page shows the result at once
                assert shown.group(1) == status
                snoozed = '<span class="tag quiet">snoozed</span>' in html
                assert snoozed == (action == "snooze")

    asyncio.run(go())
    cli_token = token_of(cli_world, "ana@example.org")
    for action, until in steps:
        staff_commands.carry_out(cli_world.settings, action, cli_token, until, NOW)
    by_web = ledger(web_world.settings).conversations[token_of(web_world, "ana@example.org")]
    by_cli = ledger(cli_world.settings).conversations[cli_token]
    assert by_web.status == by_cli.status
    assert by_web.snoozed_until == by_cli.snoozed_until
    assert [(p.due, p.outcome, p.settled_at) for p in by_web.promises] == [
        (p.due, p.outcome, p.settled_at) for p in by_cli.promises
    ]
    assert not list((web_world.settings.agent.data_dir / "requests").glob("*.json"))


def test_a_mistaken_action_is_shown_and_changes_nothing(world: MemoryWorld) -> None:
    token = token_of(world, "ana@example.org")

    async def test(client: Client, live: Ledger) -> None:
        csrf = await log_in(client)
        response = await client.post(
            f"/conversations/{token}/snooze", data={"csrf": csrf, "until": "next tuesday"}
        )
        assert response.status == 400
        said = await response.text()
        assert "Snooze until &#39;next tuesday&#39; is not a moment; write e.g. 4h" in said
        assert "CommandError" not in said
        assert 'value="next tuesday" placeholder="4h, 2d or 2026-11-17 14:00"' in said  # kept
        response = await client.post(f"/conversations/{token}/reopen", data={"csrf": csrf})
        assert response.status == 400  # reopening a waiting conversation: the CLI's refusal
        assert live.conversations[token].status.value == "waiting"
        assert live.conversations[token].snoozed_until is None
        missing = await client.get("/conversations/ZZZZ")
        assert missing.status == 404

    on(world, test)


def test_filters_and_search(world: MemoryWorld) -> None:
    ana, ben = token_of(world, "ana@example.org"), token_of(world, "ben@example.net")

    async def listed(client: Client, query: str) -> set[str]:
        html = await (await client.get(f"/conversations?{query}")).text()
        return set(re.findall(r'href="/conversations/([A-Z0-9]+)"', html))

    async def test(client: Client, live: Ledger) -> None:
        csrf = await log_in(client)
        assert {ana, ben} <= await listed(client, "filter=waiting")
        assert await listed(client, "q=PRINTER") == {ana}
        assert await listed(client, "q=ben%40example") == {ben}
        assert await listed(client, "q=Ana+Lima") == {ana}
        assert await listed(client, "q=nobody") == set()
        assert await listed(client, "filter=closed") == set()
        assert await listed(client, "filter=lapsed") == set()
        assert await listed(client, "filter=nonsense") == await listed(client, "filter=open")
        assert (await client.get("/conversations?q=" + "x" * 5000)).status == 200
        await client.post(f"/conversations/{ben}/close", data={"csrf": csrf})
        assert await listed(client, "filter=closed") == {ben}
        assert ben not in await listed(client, "filter=open")
        assert {ana, ben} <= await listed(client, "filter=all")

    on(world, test)
    later = london(17, 16, 0)  # Ana was promised Tue 09:45

    async def afterwards() -> None:
        async with page(world, now=later) as (client, _):
            await log_in(client)
            assert ana in await listed(client, "filter=lapsed")
            assert ana not in await listed(client, "filter=due")

    asyncio.run(afterwards())


def test_hostile_names_and_subjects_are_escaped(world: MemoryWorld) -> None:
    evil = token_of(world, "evil@example.com")

    async def test(client: Client, live: Ledger) -> None:
        await log_in(client)
        for path in ("/conversations", f"/conversations/{evil}", "/conversations?q=%3Cscript"):
            html = await (await client.get(path)).text()
            assert "evil@example.com" in html
            assert "<script>" not in html
            assert "<img" not in html
            assert "&lt;img src=x onerror=" in html or "&lt;script&gt;" in html

    on(world, test)


@pytest.mark.parametrize(
    ("lines", "problem"),
    [
        ('listen = "0.0.0.0:8025"', "reachable from other machines"),
        ('listen = "192.0.2.7:8025"', "behind a TLS reverse proxy"),
        ('listen = "8025"', 'should be "HOST:PORT"'),
        ('listen = "127.0.0.1:99999"', 'should be "HOST:PORT"'),
        ('listen = "127.0.0.1:8025"\npublik = true', "did you mean 'public'"),
    ],
)
def test_web_config_is_refused_in_one_line(tmp_path: Path, lines: str, problem: str) -> None:
    with pytest.raises(ConfigError) as refused:
        make_settings(tmp_path, extra=f"\n[web]\n{lines}\n")
    assert problem in str(refused.value)
    assert "\n" not in str(refused.value)


def test_web_config(tmp_path: Path) -> None:
    assert make_settings(tmp_path).web is None
    local = make_settings(tmp_path, extra='\n[web]\nlisten = "[::1]:8025"\n').web
    assert local == WebSettings("::1", 8025, public=False)
    public = make_settings(tmp_path, extra='\n[web]\nlisten = "0.0.0.0:8025"\npublic = true\n')
    assert public.web == WebSettings("0.0.0.0", 8025, public=True)  # noqa: S104


def test_log_out_ends_the_session_in_the_browser(world: MemoryWorld) -> None:
    async def test(client: Client, live: Ledger) -> None:
        csrf = await log_in(client)
        assert (await client.post("/logout", data={"csrf": "wrong"})).status == 403
        response = await client.post("/logout", data={"csrf": csrf}, allow_redirects=False)
        assert response.headers["Location"] == "/login"
        assert (await client.get("/conversations", allow_redirects=False)).status == 303

    on(world, test)


def test_a_public_page_marks_its_cookies_secure(tmp_path: Path) -> None:
    world = a_world(tmp_path / "a")
    public = make_settings(
        tmp_path / "a", extra='\n[web]\nlisten = "127.0.0.1:8025"\npublic = true\n'
    )
    world.settings = public

    async def go() -> None:
        async with page(world) as (client, _):
            response = await client.get("/login")
            assert "Secure" in response.headers["Set-Cookie"]
            assert "HttpOnly" in response.headers["Set-Cookie"]

    asyncio.run(go())


def test_the_login_form_stays_valid_when_the_browser_loads_it_again(world: MemoryWorld) -> None:
    """Chromium asks for /favicon.ico, which is sent to /login too: the first form's token
    must still be accepted (found with a real browser)."""

    async def test(client: Client, live: Ledger) -> None:
        first = csrf_in(await (await client.get("/login")).text())
        await client.get("/favicon.ico")
        await client.get("/login")
        response = await client.post(
            "/login",
            data={"csrf": first, "name": "alice", "password": PASSWORD},
            allow_redirects=False,
        )
        assert response.status == 303

    on(world, test)


def test_behind_a_proxy_each_forwarded_address_has_its_own_attempts(tmp_path: Path) -> None:
    """With ``public = true`` (behind a reverse proxy) every peer is the proxy; the address it
    forwards is the one limited, so one guesser does not lock the whole shop out. Twenty
    failures at one name from anywhere are still the most a minute."""
    world = a_world_public(tmp_path)
    moment = [0.0]
    limit = RateLimit(clock=lambda: moment[0])

    async def attempt(client: Client, forwarded: str, password: str = "guess") -> int:  # noqa: S107
        form = await client.get("/login")
        login_cookie = form.cookies["inbox_login"].value  # Secure: the client keeps it not
        response = await client.post(
            "/login",
            data={"csrf": csrf_in(await form.text()), "name": "alice", "password": password},
            headers={"X-Forwarded-For": forwarded, "Cookie": f"inbox_login={login_cookie}"},
            allow_redirects=False,
        )
        return response.status

    async def go() -> None:
        async with page(world, limit=limit) as (client, _):
            for _ in range(5):
                assert await attempt(client, "203.0.113.9") == 401
            assert await attempt(client, "203.0.113.9", PASSWORD) == 429
            # the client's own X-Forwarded-For comes first; the proxy's entry is the last
            assert await attempt(client, "203.0.113.7, 198.51.100.4", PASSWORD) == 303
            for failure in range(15):  # 20 failures at alice in all, from four addresses
                assert await attempt(client, f"198.51.100.{10 + failure // 5}") == 401
            assert await attempt(client, "198.51.100.99", PASSWORD) == 429  # the name's limit
            moment[0] = 61.0
            assert await attempt(client, "198.51.100.99", PASSWORD) == 303

    asyncio.run(go())


def a_world_public(tmp_path: Path) -> MemoryWorld:
    world = a_world(tmp_path / "a")
    path = world.settings.source
    path.write_text(path.read_text(encoding="utf-8") + "public = true\n", encoding="utf-8")
    return MemoryWorld(config.load(path))


@pytest.mark.parametrize(
    ("peer", "forwarded", "behind_proxy", "expected"),
    [
        ("127.0.0.1", ["203.0.113.9"], True, "203.0.113.9"),
        ("::1", ["203.0.113.1, 2001:db8::7"], True, "2001:db8::7"),
        ("127.0.0.1", ["203.0.113.1", "203.0.113.2"], True, "203.0.113.2"),
        ("127.0.0.1", ["203.0.113.9"], False, "127.0.0.1"),  # not behind a proxy
        ("192.0.2.5", ["203.0.113.9"], True, "192.0.2.5"),  # not from the proxy here
        ("127.0.0.1", ["unknown"], True, "127.0.0.1"),
        ("127.0.0.1", [], True, "127.0.0.1"),
        (None, [], False, ""),
    ],
)
def test_the_client_address(
    peer: str | None, forwarded: list[str], behind_proxy: bool, expected: str
) -> None:
    assert client_address(peer, forwarded, behind_proxy) == expected


def test_an_unreadable_logins_file_is_a_page_that_says_so(
    world: MemoryWorld, caplog: pytest.LogCaptureFixture
) -> None:
    """Someone edited users.json by hand: the page says it cannot read its data (no customer
    in it, no traceback) and the log has the one line with what to do."""

    async def test(client: Client, live: Ledger) -> None:
        await log_in(client)
        users = world.settings.agent.data_dir / "web" / "users.json"
        users.write_text('{"alice": ', encoding="utf-8")
        response = await client.get("/conversations", allow_redirects=False)
        assert response.status == 503
        text = await response.text()
        assert text == "The staff page cannot read its data; the agent's log says why."

    on(world, test)
    assert "web: StoreCorruptError: " in caplog.text
    assert "set each login again with `inbox-agent web passwd NAME`" in caplog.text
    assert "Traceback" not in caplog.text


def test_an_archived_conversation_is_listed_shown_and_brought_back(world: MemoryWorld) -> None:
    """Ben's closed conversation went quiet and was archived: "Closed" and "All" list it
    (marked), its page shows it, and Reopen brings it back to the live ledger, as
    ``inbox-agent reopen`` does; "Open" does not read the archive."""
    ben = token_of(world, "ben@example.net")
    staff_commands.carry_out(world.settings, "close", ben, None, NOW)
    with Store(world.settings.agent.data_dir) as store:
        store.move_to_archive([store.ledger.conversations[ben]], [], NOW)
        store.commit()

    async def test(client: Client, live: Ledger) -> None:
        csrf = await log_in(client)
        assert ben not in live.conversations
        for chosen in ("closed", "all"):
            listing = await (await client.get(f"/conversations?filter={chosen}")).text()
            assert f'href="/conversations/{ben}"' in listing
            assert 'closed <span class="tag quiet">archived</span>' in listing
        found = await (await client.get("/conversations?filter=all&q=invoice")).text()
        assert f'href="/conversations/{ben}"' in found
        assert "1 conversation." in found
        listing = await (await client.get("/conversations?filter=open")).text()
        assert f'href="/conversations/{ben}"' not in listing
        shown = await client.get(f"/conversations/{ben}")
        assert shown.status == 200
        html = await shown.text()
        assert "Invoice 42 is wrong" in html
        assert 'closed <span class="tag quiet">archived</span>' in html
        assert "An action brings it back to the live conversations first." in html
        response = await client.post(f"/conversations/{ben}/reopen", data={"csrf": csrf})
        assert response.status == 200
        assert "Reopened." in await response.text()
        assert live.conversations[ben].status.value == "open"

    on(world, test)


def test_only_the_actions_the_status_allows_are_offered(world: MemoryWorld) -> None:
    """Waiting: close or snooze; closed: reopen. A snooze past the promise says it lapses."""
    token = token_of(world, "ana@example.org")

    def buttons(html: str) -> list[str]:
        return re.findall(r'<button type="submit">(Close|Reopen|Snooze)</button>', html)

    async def test(client: Client, live: Ledger) -> None:
        csrf = await log_in(client)
        html = await (await client.get(f"/conversations/{token}")).text()
        assert buttons(html) == ["Close", "Snooze"]
        assert "the promise lapses" not in html
        response = await client.post(
            f"/conversations/{token}/snooze", data={"csrf": csrf, "until": "2h"}
        )
        assert "the promise lapses" not in await response.text()  # ends before the promise
        response = await client.post(
            f"/conversations/{token}/snooze", data={"csrf": csrf, "until": "3d"}
        )
        html = await response.text()
        listing = await (await client.get("/conversations?filter=waiting")).text()
        assert 'waiting <span class="tag quiet">snoozed</span>' in listing
        promised = re.search(r"<dt>Promised by</dt><dd>([^<]+)</dd>", html)
        assert promised
        assert (
            "The snooze ends after the promise to the customer: no follow-up goes out before "
            f"it, so the promise lapses unless someone replies by {promised.group(1)}."
        ) in html
        response = await client.post(f"/conversations/{token}/close", data={"csrf": csrf})
        html = await response.text()
        assert buttons(html) == ["Reopen"]
        # the timeline keeps each action, when and by whom
        notes = re.findall(r'<span class="kind">note</span> ([^<]+)</li>', html)
        assert notes[-3:] == [
            "snoozed until Mon 16 Nov 2026 13:00 London time, by alice (staff page)",
            "snoozed until Thu 19 Nov 2026 11:00 London time, by alice (staff page)",
            "closed, by alice (staff page)",
        ]
        assert '<p class="done" role="status" tabindex="-1" autofocus>Closed.</p>' in html

    on(world, test)


def test_a_conversation_archived_while_the_page_runs_is_found(world: MemoryWorld) -> None:
    """The archive's index is kept between requests, and read again once the archive pass
    has added to it: a conversation archived after the first look is found too."""
    ana, ben = token_of(world, "ana@example.org"), token_of(world, "ben@example.net")
    for token in (ana, ben):
        staff_commands.carry_out(world.settings, "close", token, None, NOW)

    async def go() -> None:
        with Store(world.settings.agent.data_dir) as store:

            async def apply() -> None:
                pass  # no actions here

            app = make_app(Backend(world.settings, lambda: store.ledger, lambda: NOW, apply))
            async with TestClient(TestServer(app)) as client:
                await log_in(client)
                store.move_to_archive([store.ledger.conversations[ben]], [], NOW)
                store.commit()
                assert (await client.get(f"/conversations/{ben}")).status == 200
                assert (await client.get(f"/conversations/{ana}")).status == 200  # still live
                store.move_to_archive([store.ledger.conversations[ana]], [], NOW)
                store.commit()
                assert ana not in store.ledger.conversations
                shown = await client.get(f"/conversations/{ana}")
                assert shown.status == 200
                assert 'closed <span class="tag quiet">archived</span>' in await shown.text()

    asyncio.run(go())
