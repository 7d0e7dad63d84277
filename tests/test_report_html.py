"""``inbox-agent report``: the text for the terminal, and the HTML page opened in a real
headless Chromium (the ``chromium`` fixture): its charts have their bars and points, it loads
nothing, runs no script, and a customer's hostile subject is only text."""

from __future__ import annotations

import stat
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from inbox_agent.agent import report_html
from inbox_agent.cli import main
from inbox_agent.commands import report
from inbox_agent.core.report import Report
from tests.report_world import HOSTILE_SUBJECT, three_weeks
from tests.worlds import LONDON, make_settings

PERIOD = timedelta(days=21)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> tuple[Report, Path]:
    """Three weeks of mail through the real agent; the report of them and its page."""
    data_dir = tmp_path_factory.mktemp("history")
    settings, now = three_weeks(data_dir)
    figures = report.gather(settings, now - PERIOD, now)
    page = data_dir / "report.html"
    page.write_text(report_html.render(figures, LONDON, report.title(settings)), encoding="utf-8")
    return figures, page


@pytest.fixture(scope="module")
def opened(history: tuple[Report, Path], chromium: str) -> dict[str, Any]:
    """The page as Chromium renders it: every request it made, what failed, console errors,
    and the geometry of its charts as laid out."""
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 - the fixture checked it

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium)
        try:
            return _render(browser, history[1])
        finally:
            browser.close()


def _render(browser: Any, path: Path) -> dict[str, Any]:
    page = browser.new_page(viewport={"width": 1000, "height": 1400})
    requests: list[str] = []
    failed: list[str] = []
    errors: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("requestfailed", lambda r: failed.append(r.url))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.as_uri(), wait_until="load")
    charts = page.evaluate("""() => Object.fromEntries(
        [...document.querySelectorAll('svg.chart')].map(svg => [svg.id, {
            width: svg.getBoundingClientRect().width,
            figures: [...svg.querySelectorAll('text.figure-label')].map(t => t.textContent),
            bars: [...svg.querySelectorAll('rect.bar')].map(r => ({
                value: r.dataset.value, height: r.getBBox().height,
                width: r.getBBox().width, shown: r.getBoundingClientRect().width})),
            points: [...svg.querySelectorAll('circle.point')].map(c => ({
                value: c.dataset.value, r: c.r.baseVal.value,
                shown: c.getBoundingClientRect().width}))}]))""")
    dom = page.evaluate("""() => ({
        scripts: document.querySelectorAll('script').length,
        images: document.querySelectorAll('img').length,
        missed: document.querySelector('#missed').textContent,
        title: document.title})""")
    page.close()
    return {
        "url": path.as_uri(),
        "requests": requests,
        "failed": failed,
        "errors": errors,
        "charts": charts,
        "dom": dom,
    }


def test_the_page_loads_nothing_and_nothing_fails(opened: dict[str, Any]) -> None:
    """The only request is the file itself; nothing failed; no console error."""
    assert opened["requests"] == [opened["url"]]
    assert opened["failed"] == []
    assert opened["errors"] == []


def test_every_chart_has_its_bars_laid_out(
    history: tuple[Report, Path], opened: dict[str, Any]
) -> None:
    """One bar per day, per week (with a point per week that has a 90th percentile), per
    promise outcome and per machine-mail rule; each drawn, tall or wide as its figure."""
    figures, _ = history
    charts = opened["charts"]
    assert set(charts) == {"promises", "first-reply", "per-day", "machine-mail"}
    assert all(chart["width"] > 0 for chart in charts.values())
    days = charts["per-day"]["bars"]
    assert [bar["value"] for bar in days] == [str(n) for _, n in figures.per_day]
    assert all((bar["height"] > 0) == (bar["value"] != "0") for bar in days)
    assert all(bar["shown"] > 0 for bar in days)
    assert len(days) <= 31  # few enough that each day's figure is written above its bar
    assert charts["per-day"]["figures"] == [bar["value"] for bar in days]
    weeks = charts["first-reply"]
    assert len(weeks["bars"]) == len(figures.first_reply)
    answered = [w for w in figures.first_reply if w.p90_minutes is not None]
    assert len(weeks["points"]) == len(answered) >= 3
    assert all(point["r"] > 0 and point["shown"] > 0 for point in weeks["points"])
    assert sum(bar["height"] > 0 for bar in weeks["bars"]) == len(answered)
    promises = charts["promises"]["bars"]
    assert [bar["value"] for bar in promises] == [
        str(n)
        for n in (
            figures.promises.kept,
            figures.promises.extended,
            figures.promises.missed,
            figures.promises.withdrawn,
            figures.promises.running,
        )
    ]
    assert all((bar["width"] > 0) == (bar["value"] != "0") for bar in promises)
    machine = charts["machine-mail"]["bars"]
    assert [bar["value"] for bar in machine] == [str(n) for _, n in figures.machine_mail]
    assert len(machine) == 2
    assert all(bar["width"] > 0 for bar in machine)


def test_a_hostile_subject_is_only_text(
    history: tuple[Report, Path], opened: dict[str, Any]
) -> None:
    """A customer's subject with a script and an image in it shows as those characters: no
    script element, no image, no request to its host."""
    figures, _ = history
    assert HOSTILE_SUBJECT in [m.subject for m in figures.missed]
    dom = opened["dom"]
    assert HOSTILE_SUBJECT in dom["missed"]
    assert (dom["scripts"], dom["images"]) == (0, 0)
    assert not any("example.invalid" in url for url in opened["requests"])
    assert dom["title"] == "Support report: support@example.com"


def test_the_text_report_has_the_figures(history: tuple[Report, Path]) -> None:
    """Promises by outcome, the weeks in business hours, every day, machine mail by rule,
    missed promises on London's clock."""
    figures, _ = history
    text = report.as_text(figures, LONDON)
    assert text.startswith(
        "inbox-agent report: Fri 30 Oct 2026 18:00 London time to "
        "Fri 20 Nov 2026 18:00 London time\n"
    )
    assert (
        f"promises made: {figures.promises.made}\n  kept       {figures.promises.kept:>5}" in text
    )
    assert "  Mon 02 Nov         8        25 min    9 h 30 min             3" in text
    assert "  Tue 03 Nov     4  ########################################" in text
    assert "      8  automatic (Auto-Submitted, RFC 3834) (auto-submitted)" in text
    assert "      7  mailing list (mailing-list)" in text
    # customer11x0 wrote Tue 17 Nov 09:10 and nobody answered: Tue 17:15, Wed 16:45, Thu 16:15,
    # then the manager's Fri 15:45 (each 8 open hours on, on a quarter hour) lapsed.
    assert "was due Fri 20 Nov 2026 15:45 London time" in text


def test_report_html_writes_an_owner_only_page(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``report --html FILE`` on a new data_dir: the text, and the page written 0600 (it
    names customers), self-contained."""
    settings = make_settings(tmp_path)
    page = tmp_path / "out" / "report.html"
    page.parent.mkdir()
    assert (
        main(["--config", str(settings.source), "report", "--since", "7d", "--html", str(page)])
        == 0
    )
    out = capsys.readouterr().out
    assert out.startswith("inbox-agent report: ")
    assert f"HTML report written to {page}" in out
    assert stat.S_IMODE(page.stat().st_mode) == 0o600
    html = page.read_text(encoding="utf-8")
    assert html.count('<svg class="chart"') == 2  # no reply, no machine mail: said in words
    assert '<p class="none">No staff reply in this period.</p>' in html
    assert "http://" not in html
    assert "https://" not in html


def test_an_unwritable_html_path_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A folder that does not exist: exit 1, one line naming the file and what to do."""
    settings = make_settings(tmp_path)
    missing = tmp_path / "no-such-folder" / "report.html"
    assert main(["--config", str(settings.source), "report", "--html", str(missing)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"StoreWriteError: {missing}: could not write")
    assert "the report was not written" in err
