"""The staff page is usable without a mouse and on a phone, in headless Chromium (the
``chromium`` fixture) over three weeks of a shop's mail (``report_world``):

- keyboard only: from the login form to a snoozed conversation with Tab, Shift+Tab and Enter,
  the first Tab on each page reaching the skip link, and every focused control outlined;
- 375 px wide: no page scrolls sideways, and the report's chart labels neither overlap nor
  shrink below a readable size.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from inbox_agent.adapters.store import Store
from inbox_agent.agent import cycle
from inbox_agent.web.app import Backend, make_app
from inbox_agent.web.auth import Users
from tests.report_world import NOW, three_weeks
from tests.servers import free_port

PASSWORD = "correct horse battery"
WAIT_MS = 60_000
PHONE = {"width": 375, "height": 812}
SMALLEST_LABEL_PX = 10.0  # chart text rendered smaller than this is not readable on a phone


class Served:
    """The staff page over a store, served from a thread of its own."""

    def __init__(self, data_dir: Path) -> None:
        settings, _ = three_weeks(data_dir)
        Users(settings.agent.data_dir).set_password("alice", PASSWORD)
        self.settings = settings
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        assert self._ready.wait(60)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        store = Store(self.settings.agent.data_dir).open()
        adapters = cycle.Adapters(mailbox=_nowhere, mailer=_nowhere)
        agent = cycle.Agent(self.settings, store, adapters, clock=lambda: NOW)

        async def apply() -> None:
            agent.apply_staff_requests()

        app = make_app(Backend(self.settings, lambda: agent.ledger, agent.clock, apply))
        self.runner = web.AppRunner(app)
        self._loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", self.port)
        self._loop.run_until_complete(site.start())
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._loop.run_until_complete(self.runner.cleanup())
            store.close()

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(60)


def _nowhere(_: object) -> Any:
    raise AssertionError("the staff page reaches no mailbox and no relay")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("usable") / "data"
    folder.mkdir()
    server = Served(folder)
    yield server
    server.stop()


@pytest.fixture
def browser(chromium: str) -> Iterator[Any]:
    from playwright.sync_api import expect, sync_playwright  # noqa: PLC0415 - fixture checked

    expect.set_options(timeout=WAIT_MS)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium)
        try:
            yield launched
        finally:
            launched.close()


def logged_in(browser: Any, served: Served, viewport: dict[str, int]) -> Any:
    page = browser.new_page(viewport=viewport)
    page.set_default_timeout(WAIT_MS)
    page.goto(f"{served.base}/login")
    page.get_by_label("Name").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{served.base}/conversations")
    return page


def test_no_page_scrolls_sideways_on_a_phone(served: Served, browser: Any) -> None:
    """At 375 px every page fits its width: long names, addresses and subjects wrap, the list
    and the missed promises stack, and wide charts scroll inside their own box."""
    page = logged_in(browser, served, PHONE)
    token = _first_conversation(page, served)
    paths = [
        "/conversations?filter=all",
        f"/conversations/{token}",
        "/templates",
        "/templates/acknowledgement.txt.j2",
        "/templates/acknowledgement.txt.j2/history",
        "/report?since=21d",
    ]
    for path in paths:
        page.goto(served.base + path)
        for fold in page.locator("details summary").all():  # what is folded is read too
            fold.click()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{path} is {width} px wide"
    page.context.clear_cookies()
    page.goto(f"{served.base}/login")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


CHART_TEXT = """() => [...document.querySelectorAll("svg.chart")].map((svg) => {
  const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
  return {
    id: svg.id,
    sizes: [...svg.querySelectorAll("text")].map(
      (t) => parseFloat(getComputedStyle(t).fontSize) * scale),
    boxes: [...svg.querySelectorAll("text")].map((t) => {
      const r = t.getBoundingClientRect();
      return [r.left, r.top, r.right, r.bottom, t.textContent];
    }),
  };
})"""


@pytest.mark.parametrize("viewport", [PHONE, {"width": 1280, "height": 900}])
def test_chart_labels_are_readable_and_apart(
    served: Served, browser: Any, viewport: dict[str, int]
) -> None:
    page = logged_in(browser, served, viewport)
    page.goto(f"{served.base}/report?since=21d")
    charts = page.evaluate(CHART_TEXT)
    assert [c["id"] for c in charts] == ["promises", "first-reply", "per-day", "machine-mail"]
    for chart in charts:
        assert chart["boxes"], chart["id"]
        assert min(chart["sizes"]) >= SMALLEST_LABEL_PX, chart["id"]
        for i, a in enumerate(chart["boxes"]):
            for b in chart["boxes"][i + 1 :]:
                apart = a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]
                assert apart, f"{chart['id']}: {a[4]!r} overlaps {b[4]!r}"


FOCUSED = """() => {
  const e = document.activeElement;
  const style = getComputedStyle(e);
  return {
    tag: e.tagName.toLowerCase(),
    text: (e.getAttribute("aria-label") || e.textContent || e.name || "").trim().slice(0, 60),
    href: e.getAttribute("href"),
    outlined: style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2,
  };
}"""


def test_a_support_person_snoozes_a_customer_with_the_keyboard_only(
    served: Served, browser: Any
) -> None:
    """No mouse: Tab to the fields and the button, Enter to log in; on the list the first Tab
    is the skip link, which takes focus past the menu to the page's own content; Tab to the
    first waiting customer, Enter, Tab to "Snooze until", type, Enter. Every control that
    takes focus on the way is outlined, and Shift+Tab goes back the way it came."""
    from playwright.sync_api import expect  # noqa: PLC0415 - fixture checked

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(WAIT_MS)
    page.goto(f"{served.base}/login")
    walked = [_focused(page)]
    assert walked[0]["text"] == "name"  # the form's first field has the focus already
    page.keyboard.type("alice")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Tab")
    assert _focused(page)["text"] == "Log in"
    page.keyboard.press("Enter")
    page.wait_for_url(f"{served.base}/conversations")

    page.goto(f"{served.base}/conversations?filter=waiting")
    page.keyboard.press("Tab")
    assert _focused(page)["text"] == "Skip to content"
    page.keyboard.press("Enter")
    walked += _tab_until(page, lambda f: (f["href"] or "").startswith("/conversations/"))
    first = _focused(page)
    page.keyboard.press("Shift+Tab")
    assert _focused(page)["href"] != first["href"]
    page.keyboard.press("Tab")
    assert _focused(page)["href"] == first["href"]
    page.keyboard.press("Enter")
    page.wait_for_url(f"{served.base}{first['href']}")

    walked += _tab_until(page, lambda f: f["tag"] == "input" and f["text"] == "until")
    page.keyboard.type("2d")
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_have_text("Snoozed.")
    expect(page.get_by_text("Snoozed until", exact=True)).to_be_visible()
    unoutlined = [f for f in walked if not f["outlined"]]
    assert unoutlined == []
    assert len(walked) < 40  # the skip link spared the menu and the filters


def _tab_until(page: Any, found: Any, most: int = 40) -> list[dict[str, Any]]:
    """Press Tab until the focused element is ``found``; every element focused on the way."""
    walked = []
    for _ in range(most):
        page.keyboard.press("Tab")
        focused = _focused(page)
        walked.append(focused)
        if found(focused):
            return walked
    raise AssertionError(f"not reached in {most} Tabs: {[f['text'] for f in walked]}")


def _focused(page: Any) -> dict[str, Any]:
    focused: dict[str, Any] = page.evaluate(FOCUSED)
    return focused


def _first_conversation(page: Any, served: Served) -> str:
    page.goto(f"{served.base}/conversations?filter=all")
    href: str = page.locator("table.list a").first.get_attribute("href")
    return href.rsplit("/", 1)[1]
