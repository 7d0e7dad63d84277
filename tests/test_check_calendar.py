"""``check`` says what the agent believes about opening hours, so the owner can correct it:
the week, the place whose public holidays it keeps, and the next ten closed days. Run on
real servers (Dovecot, else pymap, and aiosmtpd), so every other check passes too."""

from __future__ import annotations

import asyncio
from datetime import datetime
from zoneinfo import ZoneInfo

from inbox_agent.commands.check import run_checks
from tests.worlds import ServerWorld, reshaped

LONDON = ZoneInfo("Europe/London")
ENGLAND = """[business_hours]
timezone = "Europe/London"
days = ["mon", "tue", "wed", "thu", "fri"]
start = "09:00"
end = "17:00"
country_holidays = "GB"
"""


def test_check_shows_the_week_the_place_and_the_next_closed_days(server_world: ServerWorld) -> None:
    """``check`` on Saturday 20 December 2025, for the English shop closing at noon on
    Christmas Eve: the week, what GB alone leaves out, and the next ten closed days (the
    weekends are the week's own, so not listed), with the holidays' names: GB alone has no
    Easter Monday or August bank holiday, and Boxing Day 2026 moves to the Monday."""
    world = reshaped(server_world, ENGLAND + 'closed = ["2025-12-24 from 12:00"]\n')
    now = datetime(2025, 12, 20, 10, 0, tzinfo=LONDON)
    results = asyncio.run(run_checks(world.settings, now))
    assert [r.problem for r in results if r.problem] == []
    lines = "\n".join(r.line() for r in results)
    assert "ok    opening hours: Monday to Friday, 09:00–17:00 (London time)\n" in lines
    assert (
        "ok    public holidays: GB, the holidays all of GB shares (a subdivision adds its "
        "own: GB-ENG, GB-NIR, GB-SCT, GB-WLS)\n"
    ) in lines
    assert (
        """ok    next closed days (beyond the week's own):
        Wed 24 Dec 2025  closed from 12:00
        Thu 25 Dec 2025  Christmas Day
        Fri 26 Dec 2025  Boxing Day
        Thu 01 Jan 2026  New Year's Day
        Fri 03 Apr 2026  Good Friday
        Mon 04 May 2026  May Day
        Mon 25 May 2026  Spring Bank Holiday
        Fri 25 Dec 2026  Christmas Day
        Mon 28 Dec 2026  Boxing Day (observed)
        Fri 01 Jan 2027  New Year's Day
"""
        in lines
    )


def test_check_says_when_nothing_beyond_the_week_closes(server_world: ServerWorld) -> None:
    """No holidays, no place, no part days: the week, and no closed days ahead."""
    world = reshaped(
        server_world,
        '[business_hours]\ntimezone = "Europe/London"\n'
        'hours = { mon = "09:00-12:30, 13:30-17:30" }\n',
    )
    results = asyncio.run(run_checks(world.settings, datetime(2025, 12, 20, tzinfo=LONDON)))
    lines = [r.line() for r in results]
    assert (
        "ok    opening hours: Monday, 09:00–12:30 and 13:30–17:30; Tuesday to Friday, "
        "09:00–17:30 (London time)"
    ) in lines
    assert "ok    next closed days (beyond the week's own): none in the next three years" in lines
    assert not any("public holidays" in line for line in lines)
