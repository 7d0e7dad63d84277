"""``core.status``: each mailbox's health, promises due and lapsed, the outbox's backlog;
records and ``now`` in, figures out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from inbox_agent.core.conversations import Conversation, MailKind, Outcome, Promise
from inbox_agent.core.ledger import OutboxEntry, OutboxState
from inbox_agent.core.lifecycle import Status
from inbox_agent.core.status import (
    FolderWatchShown,
    MailboxHealth,
    after_poll,
    after_watch,
    backlog,
    overview,
    quiet_too_long,
    worth_writing,
)

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 11, 17, 10, 0, tzinfo=LONDON)
HOUR = timedelta(hours=1)


def _conversation(token: str, status: Status, *promises: Promise) -> Conversation:
    return Conversation(
        token,
        "support",
        f"{token.lower()}@customer.example",
        "",
        "Help",
        NOW - 24 * HOUR,
        status,
        promises=list(promises),
    )


def _running(due: datetime) -> Promise:
    return Promise(NOW - 24 * HOUR, due, "first reply")


def _settled(due: datetime, outcome: Outcome) -> Promise:
    return Promise(NOW - 24 * HOUR, due, "first reply", due, outcome)


def _mail(state: OutboxState, retry_at: datetime | None = None) -> OutboxEntry:
    return OutboxEntry(
        f"<{state}-{retry_at}@x>",
        "K7Q2",
        "support",
        MailKind.ACKNOWLEDGEMENT,
        "ana@customer.example",
        b"",
        NOW,
        state,
        next_attempt_at=retry_at,
    )


def test_a_mailbox_fails_while_its_error_is_newer_than_its_last_good_poll() -> None:
    """Failing after an error; recovered (the error kept as history) after a good poll."""
    never = MailboxHealth("support")
    assert not never.failing
    failed = after_poll(after_poll(never, NOW), NOW + HOUR, "MailboxConnectionError: refused")
    assert failed.failing
    assert failed.last_poll_at == NOW
    recovered = after_poll(failed, NOW + 2 * HOUR)
    assert not recovered.failing
    assert recovered.last_error == "MailboxConnectionError: refused"
    assert recovered.last_error_at == NOW + HOUR


def test_health_is_written_when_it_changes_else_once_a_minute() -> None:
    """A quiet poll 10 s after the last write is not written; a minute after, it is; a new
    error, or the end of one, is written at once."""
    good = after_poll(MailboxHealth("support"), NOW)
    later = after_poll(good, NOW + timedelta(seconds=10))
    assert worth_writing(None, good, None, NOW)
    assert not worth_writing(good, later, NOW, NOW + timedelta(seconds=10))
    assert worth_writing(good, later, NOW, NOW + timedelta(seconds=60))
    failed = after_poll(good, NOW + timedelta(seconds=10), "LoginError: refused")
    assert worth_writing(good, failed, NOW, NOW + timedelta(seconds=10))
    again = after_poll(failed, NOW + timedelta(seconds=20), "LoginError: refused")
    assert not worth_writing(
        failed, again, NOW + timedelta(seconds=10), NOW + timedelta(seconds=20)
    )
    other = after_poll(again, NOW + timedelta(seconds=30), "ConnectionError: timed out")
    assert worth_writing(again, other, NOW + timedelta(seconds=20), NOW + timedelta(seconds=30))
    back = after_poll(other, NOW + timedelta(seconds=40))
    assert worth_writing(other, back, NOW + timedelta(seconds=30), NOW + timedelta(seconds=40))


def test_due_next_lists_running_promises_within_the_window_soonest_first() -> None:
    """Due in 1 h and 3 h: listed, soonest first; in 9 h, past, or answered: not."""
    conversations = [
        _conversation("LATE", Status.WAITING, _running(NOW + 3 * HOUR)),
        _conversation("SOON", Status.WAITING, _running(NOW + HOUR)),
        _conversation("FAR", Status.WAITING, _running(NOW + 9 * HOUR)),
        _conversation("DONE", Status.ANSWERED, _settled(NOW + HOUR, Outcome.KEPT)),
    ]
    status = overview(conversations, [], [], NOW, 8 * HOUR)
    assert [(p.id, p.promised_by) for p in status.due_next] == [
        ("SOON", NOW + HOUR),
        ("LATE", NOW + 3 * HOUR),
    ]
    assert status.open == 3


def test_lapsed_promises_are_those_past_whether_recorded_or_not_yet_swept() -> None:
    """Past and still running (not swept yet), or settled missed with nothing after: lapsed.
    Missed then extended by a follow-up (a new promise running): not lapsed; answered: not."""
    conversations = [
        _conversation("PAST", Status.WAITING, _running(NOW - HOUR)),
        _conversation("MISS", Status.WAITING, _settled(NOW - 2 * HOUR, Outcome.MISSED)),
        _conversation(
            "EXTD",
            Status.WAITING,
            _settled(NOW - 2 * HOUR, Outcome.MISSED),
            _running(NOW + 2 * HOUR),
        ),
        _conversation("ANSW", Status.ANSWERED, _settled(NOW - 2 * HOUR, Outcome.MISSED)),
        _conversation("OPEN", Status.OPEN),
    ]
    status = overview(conversations, [], [], NOW, 8 * HOUR)
    assert [(p.id, p.promised_by) for p in status.lapsed] == [
        ("MISS", NOW - 2 * HOUR),
        ("PAST", NOW - HOUR),
    ]
    assert [p.id for p in status.due_next] == ["EXTD"]
    assert status.open == 4


def test_the_backlog_counts_pending_retrying_sending_and_failed() -> None:
    """Two pending, one of them waiting to retry later; one with the relay; one failed; a
    retry moment already past is simply pending."""
    entries = [
        _mail(OutboxState.PENDING),
        _mail(OutboxState.PENDING, NOW + HOUR),
        _mail(OutboxState.PENDING, NOW - HOUR),
        _mail(OutboxState.SENDING),
        _mail(OutboxState.FAILED),
        _mail(OutboxState.SENT),
    ]
    counted = backlog(entries, NOW.astimezone(UTC))
    assert (counted.pending, counted.waiting_to_retry, counted.sending, counted.failed) == (
        3,
        1,
        1,
        1,
    )


def test_mailboxes_keep_the_order_given() -> None:
    """The config's order, each with its record."""
    records = [MailboxHealth("sales"), after_poll(MailboxHealth("support"), NOW)]
    status = overview([], [], records, NOW, HOUR)
    assert [m.name for m in status.mailboxes] == ["sales", "support"]


def test_a_record_left_alone_too_long_says_the_agent_is_quiet() -> None:
    """Nothing recorded for longer than a running agent allows: quiet too long; an error
    recorded recently counts as a sign of life; never polled is not judged."""
    expected = timedelta(minutes=13)
    polled = after_poll(MailboxHealth("support"), NOW)
    assert not quiet_too_long(polled, NOW + expected, expected)
    assert quiet_too_long(polled, NOW + expected + timedelta(seconds=1), expected)
    failing = after_poll(polled, NOW + HOUR, "MailboxConnectionError: refused")
    assert not quiet_too_long(failing, NOW + HOUR + timedelta(minutes=5), expected)
    assert not quiet_too_long(MailboxHealth("support"), NOW + 100 * HOUR, expected)


def test_how_folders_are_watched_is_kept_per_folder_and_worth_writing() -> None:
    """Rule 7: a folder's watch replaces its last state; a change is written at once."""
    polled = after_poll(MailboxHealth("support"), NOW)
    inbox = after_watch(polled, FolderWatchShown("INBOX", "watching"), "INBOX")
    both = after_watch(inbox, FolderWatchShown("Sent", "watching"), "Sent")
    lost = after_watch(both, FolderWatchShown("INBOX", "reconnecting", "timed out"), "INBOX")
    assert [(w.folder, w.state) for w in lost.watches] == [
        ("Sent", "watching"),
        ("INBOX", "reconnecting"),
    ]
    assert worth_writing(both, lost, NOW, NOW)
    assert not worth_writing(lost, lost, NOW, NOW)
    assert after_watch(lost, None, "INBOX").watches == (FolderWatchShown("Sent", "watching"),)


def test_the_first_good_poll_is_worth_writing_even_after_a_watch_made_the_record() -> None:
    """An IDLE watch can make a mailbox's record before its first poll: that poll still goes
    to disk at once, or `status` would say "never polled" for a minute."""
    watched = after_watch(MailboxHealth("support"), FolderWatchShown("INBOX", "watching"), "INBOX")
    assert worth_writing(watched, after_poll(watched, NOW), NOW, NOW)
