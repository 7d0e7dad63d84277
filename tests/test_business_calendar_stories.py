"""Stories of a business's own calendar on real servers (Dovecot, else pymap, and aiosmtpd):
public holidays by place, a lunch break, a half day.

Each shop is the stories' usual config (tests/worlds.py) with its own [business_hours]; the
agent runs as ``run --once`` at the moment given, and what it promised is read from the mail
that went over the wire and from the ledger on disk.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.worlds import ServerWorld, body, customer_mail, london, reshaped, run, threads

LONDON = ZoneInfo("Europe/London")
BERLIN = ZoneInfo("Europe/Berlin")
ANA = "Ana Silva <ana@customer.example>"
JONAS = "Jonas Huber <jonas@kunde.example>"
ENGLAND = """[business_hours]
timezone = "Europe/London"
days = ["mon", "tue", "wed", "thu", "fri"]
start = "09:00"
end = "17:00"
country_holidays = "GB"
"""


def write(world: ServerWorld, sender: str, subject: str, at: datetime) -> None:
    """A customer's mail arrives at ``at``, and the agent runs a minute later."""
    world.deliver(customer_mail(sender, subject, f"{subject}, please help.", at), at)
    run(world, at + timedelta(minutes=1))


def test_england_christmas_eve_is_promised_after_the_bank_holidays(
    server_world: ServerWorld,
) -> None:
    """The issue's example: country_holidays = "GB", no dates listed, open 09:00-17:00 on
    weekdays, a reply within 8h. A mail on Wednesday 24 December 2025 at 16:00 has an hour
    that day; Christmas Day and Boxing Day are bank holidays, then the weekend; Monday 29
    December 09:00 + 7h is 16:00 (a quarter hour already, so not rounded on)."""
    world = reshaped(server_world, ENGLAND)
    write(world, ANA, "Order 1188 never came", datetime(2025, 12, 24, 16, 0, tzinfo=LONDON))
    (ack,) = world.sent()
    text = body(ack)
    assert "reply to you by Monday 29 December, 16:00 London time." in text
    assert "Our opening hours are Monday to Friday, 09:00–17:00 (London time)." in text
    (thread,) = threads(world)
    assert thread["promised_by"] == "2025-12-29T16:00:00+00:00"


@pytest.mark.parametrize(
    ("place", "promised", "words"),
    [
        ("DE-BY", "2026-01-07T16:00:00+01:00", "bis Mittwoch, 7. Januar, 16:00 Uhr Berliner Zeit"),
        (
            "DE-BE",
            "2026-01-06T16:00:00+01:00",
            "bis morgen, Dienstag, 6. Januar, 16:00 Uhr Berliner Zeit",
        ),
    ],
)
def test_epiphany_closes_a_bavarian_shop_not_a_berlin_one(
    server_world: ServerWorld, place: str, promised: str, words: str
) -> None:
    """A German shop open 09:00-17:00 on weekdays, 8h: a mail on Monday 5 January 2026 at
    16:00 has an hour that day. 6 January (Epiphany) is a public holiday in Bavaria, not in
    Berlin: the Bavarian shop promises Wednesday 16:00, the Berlin one Tuesday 16:00, and the
    acknowledgement says so in German."""
    world = reshaped(
        server_world,
        f"""[business_hours]
timezone = "Europe/Berlin"
start = "09:00"
end = "17:00"
country_holidays = "{place}"
""",
        staff='["alice@example.com"]\nlanguage = "de"',
    )
    write(world, JONAS, "Rechnung 2211", datetime(2026, 1, 5, 16, 0, tzinfo=BERLIN))
    (ack,) = world.sent()
    assert f"Sie hören {words}, von uns." in body(ack)
    (thread,) = threads(world)
    assert thread["promised_by"] == promised


def test_a_mail_just_before_lunch_is_promised_after_it_and_chased_after_it(
    server_world: ServerWorld,
) -> None:
    """Open 09:00-12:30 and 13:30-17:30, a reply within 2h, a follow-up 1h before. Ana
    writes on Monday at 12:15: a quarter hour before lunch, then 1h45 after it, so 15:15;
    nothing is sent over lunch or before 14:15, when the follow-up promises 8h after 15:15:
    2h15 on Monday, 3h30 on Tuesday morning, and 2h15 after Tuesday's lunch, 15:45."""
    world = reshaped(
        server_world,
        """[business_hours]
timezone = "Europe/London"
hours = { mon = "09:00-12:30, 13:30-17:30", tue = "09:00-12:30, 13:30-17:30" }
""",
        first_reply_within='"2h"',
    )
    write(world, ANA, "Invoice 2211", london(16, 12, 15))
    (ack,) = world.sent()
    assert "reply to you later today, by 15:15 London time." in body(ack)
    assert (
        "Our opening hours are Monday and Tuesday, 09:00–12:30 and 13:30–17:30; "
        "Wednesday to Friday, 09:00–17:30 (London time)."
    ) in body(ack)
    for moment in (london(16, 12, 45), london(16, 13, 30), london(16, 14, 14)):
        run(world, moment)
    assert len(world.sent()) == 1
    run(world, london(16, 14, 15))
    _, follow_up = world.sent()
    assert "tomorrow (Tuesday 17 November) by 15:45 London time" in body(follow_up)
    (thread,) = threads(world)
    assert thread["promised_by"] == "2026-11-17T15:45:00+00:00"


@pytest.mark.parametrize(
    ("arrives", "promised", "words"),
    [
        (
            datetime(2025, 12, 24, 11, 0, tzinfo=LONDON),
            "2025-12-29T16:00:00+00:00",
            "by Monday 29 December, 16:00 London time",
        ),
        (
            datetime(2025, 12, 24, 12, 30, tzinfo=LONDON),
            "2025-12-29T17:00:00+00:00",
            "by Monday 29 December, 17:00 London time",
        ),
    ],
)
def test_christmas_eve_closes_at_noon(
    server_world: ServerWorld, arrives: datetime, promised: str, words: str
) -> None:
    """closed = ["2025-12-24 from 12:00"], 25 and 26 December listed as holidays, open
    09:00-17:30. At 11:00 on the 24th one hour is left that day, not six and a half, so 8h
    ends on Monday at 16:00; at 12:30 the shop has closed, and 8h counts from Monday 09:00.
    (Christmas 2025, not 2026: the IMAP server files mail dated in its future as arriving
    now.)"""
    world = reshaped(
        server_world,
        """[business_hours]
timezone = "Europe/London"
start = "09:00"
end = "17:30"
holidays = ["2025-12-25", "2025-12-26"]
closed = ["2025-12-24 from 12:00"]
""",
    )
    write(world, ANA, "Gift card", arrives)
    (ack,) = world.sent()
    assert words in body(ack)
    (thread,) = threads(world)
    assert thread["promised_by"] == promised
