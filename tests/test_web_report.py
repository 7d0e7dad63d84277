"""The staff page's /report through aiohttp's test client, over three weeks of real mail
(``tests.report_world``): refused without a session; the same figures as ``inbox-agent
report``; the charts drawn; a hostile subject only text; a bad ``since`` one line."""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from markupsafe import escape

from inbox_agent import config
from inbox_agent.adapters.store import Store
from inbox_agent.agent import report_html
from inbox_agent.commands import report
from inbox_agent.web.app import Backend, make_app
from inbox_agent.web.auth import Users
from tests.report_world import HOSTILE_SUBJECT, NOW, three_weeks
from tests.worlds import LONDON

Client = TestClient[web.Request, web.Application]
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> config.Settings:
    """Three weeks of mail through the real agent, and a staff login."""
    found, _ = three_weeks(tmp_path_factory.mktemp("history"))
    Users(found.agent.data_dir).set_password("alice", PASSWORD)
    return found


@asynccontextmanager
async def client_of(settings: config.Settings) -> AsyncIterator[Client]:
    """The app over the store held open (as the daemon holds it), its clock at the end."""
    with Store(settings.agent.data_dir) as store:

        async def apply() -> None:
            pass

        app = make_app(Backend(settings, lambda: store.ledger, lambda: NOW, apply))
        async with TestClient(TestServer(app)) as client:
            yield client


async def log_in(client: Client) -> None:
    form = await client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', await form.text())
    assert token
    response = await client.post(
        "/login",
        data={"csrf": token.group(1), "name": "alice", "password": PASSWORD},
        allow_redirects=False,
    )
    assert response.status == 303


def on(settings: config.Settings, test: Callable[[Client], Awaitable[None]]) -> None:
    async def go() -> None:
        async with client_of(settings) as client:
            await test(client)

    asyncio.run(go())


def test_the_report_refuses_without_a_session(settings: config.Settings) -> None:
    async def test(client: Client) -> None:
        for path in ("/report", "/report?since=7d", "/report?since=bad"):
            response = await client.get(path, allow_redirects=False)
            assert response.status == 303
            assert response.headers["Location"] == "/login"
            body = await response.text()
            assert "customer" not in body
            assert "<svg" not in body

    on(settings, test)


def test_the_figures_are_the_cli_reports(settings: config.Settings) -> None:
    """Every figure of ``inbox-agent report --since 21d`` (its text, at the same moment) is
    on the page: the promise counts, each week's reply times, each day's count, each rule's."""
    figures = report.gather(settings, NOW - timedelta(days=21), NOW)
    text = report.as_text(figures, LONDON)

    async def test(client: Client) -> None:
        await log_in(client)
        response = await client.get("/report?since=21d")
        assert response.status == 200
        page = html.unescape(await response.text())
        counts = {name: n for n, name in re.findall(r"<b>(\d+)</b>([a-z ]+)</div>", page)}
        promises = figures.promises
        assert counts == {
            "made": str(promises.made),
            "kept": str(promises.kept),
            "extended": str(promises.extended),
            "missed": str(promises.missed),
            "withdrawn": str(promises.withdrawn),
            "still running": str(promises.running),
        }
        for name in ("made", "kept", "extended", "missed", "withdrawn", "running"):
            cli = re.search(rf"^ *(?:promises )?{name}:?\s+(\d+)", text, re.MULTILINE)
            assert cli, name
            shown = counts["still running" if name == "running" else name]
            assert cli.group(1) == shown, name
        days = re.findall(r'id="per-day".*?</svg>', page, re.DOTALL)[0]
        values = [int(v) for v in re.findall(r'data-value="(\d+)"', days)]
        per_day = text.split("new conversations per day:\n")[1].split("\n\n")[0]
        cli_days = [int(line.split()[3]) for line in per_day.splitlines()]
        assert values == cli_days == [n for _, n in figures.per_day]
        assert sum(values) > 0
        for week in figures.first_reply:
            row = (
                f'<td class="n">{week.answered}</td><td class="n">'
                f"{report_html.duration(week.median_minutes)}</td>"
            )
            assert row in page
        for kind, n in figures.machine_mail:
            assert f'data-value="{n}"' in page
            assert f"({kind})" in text
        assert figures.machine_mail  # the world has an out-of-office and a newsletter

    on(settings, test)


def test_the_charts_are_inline_svg_with_bars_and_no_inline_style(
    settings: config.Settings,
) -> None:
    async def test(client: Client) -> None:
        await log_in(client)
        response = await client.get("/report")  # 30 days by default
        page = await response.text()
        assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")
        for chart in ("promises", "first-reply", "per-day", "machine-mail"):
            svg = re.search(rf'<svg class="chart" id="{chart}".*?</svg>', page, re.DOTALL)
            assert svg, chart
            assert svg.group(0).count('<rect class="bar') >= 2, chart
        assert '<circle class="point"' in page
        assert "style=" not in page  # the CSP refuses inline styles: the stylesheet has them
        assert "<script" not in page
        assert 'value="30d"' in page
        assert '<a href="/report" aria-current="page">Report</a>' in page

    on(settings, test)


def test_a_hostile_subject_is_only_text(settings: config.Settings) -> None:
    async def test(client: Client) -> None:
        await log_in(client)
        page = await (await client.get("/report?since=21d")).text()
        assert str(escape(HOSTILE_SUBJECT)) in page
        assert "<script>alert" not in page
        assert "<img" not in page

    on(settings, test)


@pytest.mark.parametrize(
    "since", ["0d", "367d", "1000d", "30", "7h", "-1d", "", "9" * 40 + "d", "30d;x"]
)
def test_a_bad_since_is_the_form_again_saying_what_to_write(
    settings: config.Settings, since: str
) -> None:
    async def test(client: Client) -> None:
        await log_in(client)
        response = await client.get("/report", params={"since": since})
        body = await response.text()
        assert response.status == 400
        assert (
            '<p class="problem" role="alert" id="since-hint">The period must be whole days '
            "from 1d to 366d, e.g. 30d.</p>"
        ) in body
        assert 'aria-invalid="true"' in body
        assert f'value="{html.escape(since[:20])}"' in body
        assert "customer" not in body
        assert 'class="chart' not in body

    on(settings, test)


def test_the_bounds_are_accepted(settings: config.Settings) -> None:
    async def test(client: Client) -> None:
        await log_in(client)
        for since in ("1d", "366d"):
            response = await client.get("/report", params={"since": since})
            assert response.status == 200, since
            assert f'value="{since}"' in await response.text()

    on(settings, test)


def test_conversations_moved_to_the_archive_still_count(tmp_path: Path) -> None:
    """The page reads the archive as the CLI does, and sees a month file the daemon's archive
    pass rewrote after an earlier request (the parsed archive is kept between requests)."""
    (tmp_path / "history").mkdir()
    settings, _ = three_weeks(tmp_path / "history")
    Users(settings.agent.data_dir).set_password("alice", PASSWORD)

    def figures_in(page: str) -> list[str]:
        return re.findall(r'data-value="([^"]*)"', page)

    async def go() -> None:
        with Store(settings.agent.data_dir) as store:

            async def apply() -> None:
                pass

            app = make_app(Backend(settings, lambda: store.ledger, lambda: NOW, apply))
            async with TestClient(TestServer(app)) as client:
                await log_in(client)
                before = await (await client.get("/report?since=21d")).text()
                done = [
                    c
                    for c in store.ledger.conversations.values()
                    if c.status.value in ("answered", "closed")
                ]
                assert len(done) >= 5
                store.move_to_archive(done, [], NOW)
                store.commit()
                assert not set(store.ledger.conversations) & {c.id for c in done}
                after = await (await client.get("/report?since=21d")).text()
                assert figures_in(after) == figures_in(before)
                cli = report.gather(settings, NOW - timedelta(days=21), NOW)
                assert f"<b>{cli.promises.made}</b>made" in after

    asyncio.run(go())
