"""``core.report``: the owner's figures from conversations, skipped mail and a period, no I/O."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from inbox_agent.core.business_time import Calendar
from inbox_agent.core.conversations import Conversation, FiledMessage, Outcome, Promise, Role
from inbox_agent.core.ledger import SkippedMessage
from inbox_agent.core.machine_mail import RULES, Identity, all_verdicts
from inbox_agent.core.message import parse
from inbox_agent.core.report import OTHER, build, percentile, reason_kind
from tests.core.test_corpus import CORPUS

LONDON = ZoneInfo("Europe/London")
OFFICE = Calendar(LONDON, frozenset(range(5)), time(9), time(17, 30))
SINCE = datetime(2026, 11, 2, 0, 0, tzinfo=LONDON)  # a Monday
NOW = datetime(2026, 11, 15, 12, 0, tzinfo=LONDON)  # the Sunday of the next week


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=LONDON)


def message(role: Role, arrived: datetime, note: str = "") -> FiledMessage:
    return FiledMessage(
        f"{role}-{arrived.isoformat()}-{note}",
        None,
        role,
        arrived,
        "someone@example.com",
        "Help",
        "INBOX",
        note,
    )


def conversation(
    token: str, *messages: FiledMessage, promises: tuple[Promise, ...] = (), subject: str = "Help"
) -> Conversation:
    return Conversation(
        token,
        "support",
        f"{token.lower()}@customer.example",
        "",
        subject,
        messages[0].arrived_at,
        messages=list(messages),
        promises=list(promises),
    )


def promise(made: datetime, outcome: Outcome | None) -> Promise:
    due = made + timedelta(hours=8)
    return Promise(made, due, "first reply", None if outcome is None else due, outcome)


def test_promises_made_in_the_period_are_counted_by_how_they_ended() -> None:
    """Kept, extended, missed, withdrawn, running; one made before the period is left out."""
    conversations = [
        conversation(
            "AAAA",
            message(Role.CUSTOMER, at(3, 10)),
            promises=(promise(at(3, 10), Outcome.EXTENDED), promise(at(3, 16), Outcome.MISSED)),
        ),
        conversation(
            "BBBB", message(Role.CUSTOMER, at(4, 10)), promises=(promise(at(4, 10), Outcome.KEPT),)
        ),
        conversation(
            "CCCC",
            message(Role.CUSTOMER, at(5, 10)),
            promises=(promise(at(5, 10), Outcome.WITHDRAWN),),
        ),
        conversation(
            "DDDD", message(Role.CUSTOMER, at(13, 10)), promises=(promise(at(13, 10), None),)
        ),
        conversation(
            "OLD1", message(Role.CUSTOMER, at(1, 10)), promises=(promise(at(1, 10), Outcome.KEPT),)
        ),
    ]
    counts = build(conversations, [], SINCE, NOW, OFFICE).promises
    assert (
        counts.made,
        counts.kept,
        counts.extended,
        counts.missed,
        counts.withdrawn,
        counts.running,
    ) == (5, 1, 1, 1, 1, 1)


def test_first_reply_is_business_time_grouped_by_week() -> None:
    """Friday 17:00 to Monday 09:30 is one business hour; per week: answered, median and p90
    by nearest rank, and the conversations nobody answered yet."""
    week_one = [
        conversation("FRI1", message(Role.CUSTOMER, at(6, 17)), message(Role.STAFF, at(9, 9, 30))),
        conversation("TUE1", message(Role.CUSTOMER, at(3, 10)), message(Role.STAFF, at(3, 10, 20))),
        conversation("WED1", message(Role.CUSTOMER, at(4, 10)), message(Role.STAFF, at(4, 14))),
        conversation("THU1", message(Role.CUSTOMER, at(5, 10))),  # nobody yet
    ]
    staff_first = conversation(
        "STF1",
        message(Role.STAFF, at(10, 9)),
        message(Role.CUSTOMER, at(10, 10)),
        message(Role.STAFF, at(10, 11)),
    )
    report = build([*week_one, staff_first], [], SINCE, NOW, OFFICE)
    first, second = report.first_reply
    assert (first.week, first.answered, first.unanswered) == (date(2026, 11, 2), 3, 1)
    assert (first.median_minutes, first.p90_minutes) == (60, 240)
    assert (second.week, second.answered, second.unanswered) == (date(2026, 11, 9), 1, 0)
    assert (second.median_minutes, second.p90_minutes) == (60, 60)


def test_percentile_is_the_nearest_rank() -> None:
    """The median of 1..4 is 2, the p90 of 1..10 is 9, of nothing None."""
    assert percentile([4, 1, 3, 2], 0.5) == 2
    assert percentile(list(range(1, 11)), 0.9) == 9
    assert percentile([7], 0.9) == 7
    assert percentile([], 0.5) is None


def test_every_day_of_the_period_is_listed_on_the_business_calendar() -> None:
    """Days without a new conversation read 0; 23:30 UTC on a summer night is the next day in
    London; a conversation that started before the period is not counted."""
    summer_since = datetime(2026, 7, 1, 0, 0, tzinfo=LONDON)
    summer_now = datetime(2026, 7, 3, 12, 0, tzinfo=LONDON)
    late = datetime(2026, 7, 1, 23, 30, tzinfo=UTC)  # 00:30 on 2 July in London
    conversations = [
        conversation("LATE", message(Role.CUSTOMER, late)),
        conversation("MORN", message(Role.CUSTOMER, datetime(2026, 7, 2, 9, 0, tzinfo=LONDON))),
        conversation("OLD1", message(Role.CUSTOMER, datetime(2026, 6, 30, 9, 0, tzinfo=LONDON))),
    ]
    report = build(conversations, [], summer_since, summer_now, OFFICE)
    assert report.per_day == ((date(2026, 7, 1), 0), (date(2026, 7, 2), 2), (date(2026, 7, 3), 0))


def test_a_conversation_live_and_archived_counts_once_the_live_copy_winning() -> None:
    """The caller passes the live store first; its copy is the one counted."""
    live = conversation(
        "K7Q2",
        message(Role.CUSTOMER, at(3, 10)),
        message(Role.STAFF, at(3, 11)),
        promises=(promise(at(3, 10), Outcome.KEPT),),
    )
    archived = conversation(
        "K7Q2", message(Role.CUSTOMER, at(3, 10)), promises=(promise(at(3, 10), None),)
    )
    report = build([live, archived], [], SINCE, NOW, OFFICE)
    assert (report.promises.made, report.promises.kept) == (1, 1)
    assert sum(count for _, count in report.per_day) == 1


def test_machine_mail_is_counted_by_rule_wherever_it_was_filed() -> None:
    """Skipped mail and machine mail filed in a conversation, in the period, by rule; the
    agent's own copy from the Sent folder is not machine mail; older mail is left out."""
    out_of_office = "Auto-Submitted: auto-replied (RFC 3834)"
    skipped = [
        SkippedMessage(f"k{n}", "support", message(Role.MACHINE, at(3, 10 + n), note))
        for n, note in enumerate(
            [out_of_office, out_of_office, "List-Id: <news.example.com> (mailing list)"]
        )
    ]
    skipped.append(
        SkippedMessage("old", "support", message(Role.MACHINE, at(1, 10), out_of_office))
    )
    bounce = message(
        Role.MACHINE,
        at(4, 10),
        "multipart/report (delivery-status); delivery failed to ana@customer.example",
    )
    in_conversation = conversation(
        "K7Q2",
        message(Role.CUSTOMER, at(4, 9)),
        bounce,
        message(Role.AGENT, at(4, 9, 1), "the agent's own copy"),
    )
    report = build([in_conversation], skipped, SINCE, NOW, OFFICE)
    assert report.machine_mail == (("auto-submitted", 2), ("bounce-report", 1), ("mailing-list", 1))


def test_a_header_value_cannot_pass_for_another_rule() -> None:
    """The marker a rule writes last wins over one a sender typed into a header's value;
    reasons no rule writes are "other"."""
    assert reason_kind("List-Id: (spam filter verdict) x (mailing list)") == "mailing-list"
    assert reason_kind("Precedence: bulk (mailing list)") == "precedence"
    assert reason_kind("something new") == OTHER


def test_missed_promises_are_listed_latest_first() -> None:
    """Each missed promise with its conversation, customer, subject and moment."""
    conversations = [
        conversation(
            "AAAA",
            message(Role.CUSTOMER, at(3, 10)),
            subject="<b>Invoice</b>",
            promises=(promise(at(3, 10), Outcome.MISSED),),
        ),
        conversation(
            "BBBB",
            message(Role.CUSTOMER, at(5, 10)),
            promises=(promise(at(5, 10), Outcome.MISSED),),
        ),
    ]
    report = build(conversations, [], SINCE, NOW, OFFICE)
    assert [(m.conversation_id, m.subject) for m in report.missed] == [
        ("BBBB", "Help"),
        ("AAAA", "<b>Invoice</b>"),
    ]
    assert report.missed_total == 2


def test_every_machine_mail_reason_in_the_corpus_reads_back_as_its_rule() -> None:
    """Every rule's verdict on every message of the shared corpus (all rules that fire, not
    only the first): its reason, as stored, reads back as that rule."""
    if not CORPUS.is_dir():
        pytest.skip(f"shared corpus not found at {CORPUS.resolve()}")
    identity = Identity(addresses=frozenset({"support@example.com"}))
    rules_seen = set()
    for labels in sorted(CORPUS.glob("*/*/labels.json")):
        for name in json.loads(labels.read_text(encoding="utf-8")):
            email = parse((labels.parent / name).read_bytes(), NOW)
            for verdict in all_verdicts(email, identity):
                assert reason_kind(verdict.reason) == verdict.rule, (name, verdict)
                rules_seen.add(verdict.rule)
    assert rules_seen == {rule.id for rule in RULES}  # the corpus exercises every rule
