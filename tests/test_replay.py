"""``inbox-agent replay``: the real agent over exported mail, the clock following the mail.

The export is real-world mail from ``../shared/corpus`` (human mail, bounces, auto-replies,
a thread), written by the test as an mbox and as a folder of .eml files, with two staff
replies made here. The command runs in-process (``cli.main``) with every socket connection
refused, against a config whose servers do not exist, so nothing can reach the network; the
data_dir it names is checked byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import stat
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest

from inbox_agent import cli, config
from inbox_agent.adapters.store import Store
from inbox_agent.agent.replaying import first_true
from tests.core.test_corpus import CORPUS
from tests.worlds import CONFIG, ROOT

SUPPORT = "support@example.com"
# Human mail, each a new customer. Sent Tue 20 Nov 2012 14:35:50 GMT; Wed 3 Jun 2020 14:29:36
# BST; Thu 8 Nov 2018 22:39 GMT.
ANSWERED = "human/redmine-mail-handler/thunderbird_with_attachment_iso-8859-1.eml"
UNANSWERED = "human/redmine-mail-handler/smime_signature.eml"
ANSWERED_BY_STAFF = "human/sisimai-set-of-emails/is-not-bounce-02.eml"
LAST = "human/redmine-mail-handler/news_reply.eml"  # 19 Jan 2023: the clock runs past the chases
BOUNCES = (
    "bounces/perl-Mail-DeliveryStatus-BounceParser/aol-senderblock.eml",
    "bounces/perl-Mail-DeliveryStatus-BounceParser/badrcptto.eml",
    "bounces/perl-Mail-DeliveryStatus-BounceParser/mailbox-unknown.eml",
)
AUTOREPLIES = (
    "autoreplies/perl-Mail-DeliveryStatus-BounceParser/aol-vacation.eml",
    "autoreplies/perl-Mail-DeliveryStatus-BounceParser/polish-autoreply.eml",
    "autoreplies/discourse-spec-fixtures/auto_generated_header.eml",
)
THREAD = "threads/notmuch-threading"


def _staff_reply(sender: str, to: str, in_reply_to: str, sent: datetime, **extra: str) -> bytes:
    """A reply as staff's mail client writes it."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    for name, value in extra.items():
        msg[name] = value
    msg["Subject"] = "Re: your mail"
    msg["Date"] = format_datetime(sent)
    msg["Message-ID"] = f"<reply-{sent.timestamp():.0f}@example.com>"
    msg["In-Reply-To"] = in_reply_to
    msg["References"] = in_reply_to
    msg.set_content("Thanks, this is sorted now.")
    return msg.as_bytes()


def _export() -> dict[str, bytes]:
    """The messages to replay, by file name: corpus mail and two staff replies."""
    chosen = [
        ANSWERED,
        UNANSWERED,
        ANSWERED_BY_STAFF,
        LAST,
        *BOUNCES,
        *AUTOREPLIES,
        *(p.relative_to(CORPUS).as_posix() for p in sorted((CORPUS / THREAD).glob("*.eml"))),
    ]
    mails = {path.replace("/", "__"): (CORPUS / path).read_bytes() for path in chosen}
    # From the support address itself (sent from the shared mailbox), an hour and a half later.
    mails["reply-1.eml"] = _staff_reply(
        SUPPORT,
        "jsmith@somenet.foo",
        "<50AB9546.7020800@gmail.com>",
        datetime(2012, 11, 20, 16, 5, tzinfo=UTC),
    )
    # From a staff address, the support address in Cc, the next morning.
    mails["reply-2.eml"] = _staff_reply(
        "alice@example.com",
        "dummy@example.com",
        "<A3CE5E53-2501-4A47-9E48-ACB6137B9E96@example.com>",
        datetime(2018, 11, 9, 10, 0, tzinfo=UTC),
        Cc=SUPPORT,
    )
    return mails


def _write_mbox(path: Path, mails: dict[str, bytes]) -> None:
    """An mbox (mboxo): a From_ line before each message, body lines starting "From "
    quoted with ">", a blank line after each."""
    with path.open("wb") as out:
        for raw in mails.values():
            lines = raw.replace(b"\r\n", b"\n").split(b"\n")
            body = b"\n".join(b">" + line if line.startswith(b"From ") else line for line in lines)
            out.write(
                b"From MAILER-DAEMON Mon Nov 16 10:00:00 2026\n" + body.rstrip(b"\n") + b"\n\n"
            )


def _write_folder(folder: Path, mails: dict[str, bytes]) -> None:
    folder.mkdir()
    for name, raw in mails.items():
        (folder / name).write_bytes(raw)


def _settings(tmp_path: Path, agent_keys: str = "", extra: str = "") -> config.Settings:
    """The stories' config; its data_dir does not exist, its servers are nowhere. ``agent_keys``
    go in [agent], ``extra`` (another section) at the end."""
    text = CONFIG.format(
        data_dir=tmp_path / "state",
        templates=ROOT / "templates",
        address=SUPPORT,
        imap_host="127.0.0.1",
        imap_port=9,
        imap_user=SUPPORT,
        folder="INBOX",
        smtp_host="127.0.0.1",
        smtp_port=9,
    )
    path = tmp_path / "config.toml"
    path.write_text(text.replace("[agent]\n", f"[agent]\n{agent_keys}") + extra, encoding="utf-8")
    return config.load(path)


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every connection a replay might open fails the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"replay opened a connection: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def _replay(
    settings: config.Settings, path: Path, capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[int, str, str]:
    status = cli.main(["--config", str(settings.source), "replay", str(path), *extra])
    out, err = capsys.readouterr()
    return status, out, err


def _events(result: dict[str, Any], started_at: str) -> list[dict[str, Any]]:
    """The events of the conversation that began at ``started_at`` (ISO 8601 as the JSON
    has it: London time, with its offset)."""
    [conversation] = [c for c in result["conversations"] if c["started_at"] == started_at]
    events: list[dict[str, Any]] = conversation["events"]
    return events


def _files(folder: Path) -> dict[str, tuple[str, int, int]]:
    found = {}
    for path in [folder, *sorted(folder.rglob("*"))]:
        info = path.lstat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "folder"
        found[str(path.relative_to(folder))] = (
            digest,
            stat.S_IMODE(info.st_mode),
            info.st_mtime_ns,
        )
    return found


@pytest.fixture
def replayed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """The export replayed from an mbox, ``--json``."""
    settings = _settings(tmp_path)
    _write_mbox(tmp_path / "export.mbox", _export())
    status, out, err = _replay(settings, tmp_path / "export.mbox", capsys, "--json")
    assert status == 0, err
    assert not settings.agent.data_dir.exists()  # the real data_dir: not even created
    result: dict[str, Any] = json.loads(out)
    return result


def test_a_human_customer_is_acknowledged_with_the_business_hours_promise(
    replayed: dict[str, Any],
) -> None:
    """Mail at Tue 20 Nov 2012 14:35:50 GMT (23:35 in Tokyo, where it was written): eight
    business hours (09:00-17:30) end on Wednesday at 14:05:50 London time, promised as the
    next quarter hour, 14:15, and the customer is told so in their own clock too."""
    [acknowledged] = [
        e for e in _events(replayed, "2012-11-20T14:35:50+00:00") if e["event"] == "acknowledged"
    ]
    assert acknowledged["at"] == "2012-11-20T14:35:50+00:00"
    assert acknowledged["who"] == "jsmith@somenet.foo"
    assert acknowledged["promised_by"] == "2012-11-21T14:15:00+00:00"
    assert (
        acknowledged["promise_text"]
        == "tomorrow (Wednesday 21 November) by 14:15 London time (23:15 your time)"
    )


def test_a_staff_reply_in_the_export_counts_and_nothing_chases_it(replayed: dict[str, Any]) -> None:
    """A reply sent from the support address itself (the Sent folder) and one from a staff
    address with support in Cc both end the wait: the promise is kept, no follow-up, no
    escalation."""
    for started_at in ("2012-11-20T14:35:50+00:00", "2018-11-08T22:39:34+00:00"):
        assert [e["event"] for e in _events(replayed, started_at)] == [
            "customer_wrote",
            "acknowledged",
            "staff_replied",
            "promise_kept",
        ]


def test_a_thread_nobody_answers_is_followed_up_when_the_promise_is_about_to_lapse(
    replayed: dict[str, Any],
) -> None:
    """Mail at Wed 3 Jun 2020 14:29:36 BST is promised Thu 14:00; an hour of business time
    before that (13:00 BST) the follow-up goes, promising Fri 13:30; the chases go on later
    mail in the export (three years of it) to the escalation."""
    events = [
        (e["event"], e["at"], e["promised_by"])
        for e in _events(replayed, "2020-06-03T14:29:36+01:00")
    ]
    assert events[:3] == [
        ("customer_wrote", "2020-06-03T14:29:36+01:00", None),
        ("acknowledged", "2020-06-03T14:29:36+01:00", "2020-06-04T14:00:00+01:00"),
        ("followed_up", "2020-06-04T13:00:00+01:00", "2020-06-05T13:30:00+01:00"),
    ]
    assert [e for e, _, _ in events].count("followed_up") == 2
    assert "escalated" in [e for e, _, _ in events]


def test_bounces_and_auto_replies_are_skipped_with_their_reasons(replayed: dict[str, Any]) -> None:
    """Every bounce and auto-reply of the export is filed without a reply, with the agent's
    reason and the rule that fired; the summary counts them by rule."""
    machine = [
        s
        for s in replayed["skipped"]
        if s["label"]
        in (
            "bounce-report",
            "bounce-sender",
            "failed-recipients",
            "auto-submitted",
            "autoreply-subject",
            "precedence",
            "null-return-path",
        )
    ]
    assert len(machine) >= len(BOUNCES) + len(AUTOREPLIES)
    assert all(s["reason"] for s in machine)
    by_reason = replayed["summary"]["skipped_by_reason"]
    assert by_reason["auto-submitted"] >= 2
    assert sum(by_reason.get(r, 0) for r in ("bounce-report", "bounce-sender")) >= 3
    assert replayed["summary"]["skipped"] == sum(by_reason.values())
    acknowledged = {
        c["customer"]
        for c in replayed["conversations"]
        if any(e["event"] == "acknowledged" for e in c["events"])
    }
    assert not {s["sender"] for s in machine} & acknowledged


def test_every_message_is_accounted_for(replayed: dict[str, Any]) -> None:
    """Each distinct message of the export is in a conversation or among the skipped: the
    replay loses nothing (the corpus has two Message-IDs twice)."""
    filed = sum(
        1
        for c in replayed["conversations"]
        for e in c["events"]
        if e["event"]
        in (
            "customer_wrote",
            "customer_wrote_again",
            "not_acknowledged",
            "staff_replied",
            "staff_note",
            "machine_mail",
        )
    )
    outside = sum(1 for s in replayed["skipped"] if s["conversation"] is None)
    assert replayed["messages"] == len(_export())
    assert filed + outside == len(_export())


def test_the_folder_of_eml_and_the_mbox_replay_alike(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], replayed: dict[str, Any]
) -> None:
    """The same mail as a folder of .eml files: the same conversations, events and skips."""
    settings = _settings(tmp_path)
    _write_folder(tmp_path / "export", _export())
    status, out, err = _replay(settings, tmp_path / "export", capsys, "--json")
    assert status == 0, err
    from_folder = json.loads(out)
    for key in ("conversations", "skipped", "summary"):
        assert from_folder[key] == replayed[key]
    assert from_folder["dated_by"] == {"Date": len(_export())}


def test_the_text_report_names_the_zone_and_ends_with_the_counts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Plain text: the zone named, one block per conversation with the promise as the
    customer read it, the skipped mail, and one summary line."""
    settings = _settings(tmp_path)
    _write_mbox(tmp_path / "export.mbox", _export())
    status, out, _ = _replay(settings, tmp_path / "export.mbox", capsys)
    assert status == 0
    lines = out.splitlines()
    assert lines[1] == (
        f"Dated {len(_export())} by their Date header; times are London time "
        "(Europe/London). Nothing was sent, nothing saved."
    )
    assert (
        "  Tue 20 Nov 2012 14:35 London time  acknowledged, promising a reply tomorrow "
        "(Wednesday 21 November) by 14:15 London time (23:15 your time)" in lines
    )
    assert "  Tue 20 Nov 2012 16:05 London time  staff replied (support@example.com)" in lines
    assert "Filed without a reply, in no conversation:" in lines
    summary = lines[-1]
    assert summary.startswith(
        "7 conversations, 7 acknowledged, 4 followed up, 4 escalated, 8 skipped (auto-submitted 2, "
    )


def test_a_working_data_dir_is_left_byte_for_byte(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With a store in use, replay reads and writes nothing of it: every file keeps its
    bytes, mode and time, and nothing is added."""
    settings = _settings(tmp_path)
    with Store(settings.agent.data_dir) as store:
        store.commit()
    before = _files(settings.agent.data_dir)
    _write_folder(tmp_path / "export", _export())
    status, _, err = _replay(settings, tmp_path / "export", capsys)
    assert status == 0, err
    assert _files(settings.agent.data_dir) == before


def test_mail_over_max_message_size_is_read_from_its_header_as_the_agent_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 2 MB mail (1.9 MiB) with max_message_size = 1MB: acknowledged from its header, and
    noted so."""
    settings = _settings(tmp_path, 'max_message_size = "1MB"\n')
    big = (CORPUS / ANSWERED).read_bytes().rstrip() + b"\n" + b"x" * 2_000_000 + b"\n"
    _write_folder(tmp_path / "export", {"big.eml": big})
    status, out, err = _replay(settings, tmp_path / "export", capsys, "--json")
    assert status == 0, err
    [conversation] = json.loads(out)["conversations"]
    assert [e["event"] for e in conversation["events"]][:2] == ["customer_wrote", "acknowledged"]
    assert any("too large to read: 1.9 MB" in (e["reason"] or "") for e in conversation["events"])


def test_a_path_that_is_neither_and_an_export_over_the_limit_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A text file, a missing path and an export past --limit: one line each, exit 1."""
    settings = _settings(tmp_path)
    (tmp_path / "notes.txt").write_text("hello\n", encoding="utf-8")
    _write_folder(tmp_path / "export", _export())
    for path, extra, expected in (
        (tmp_path / "notes.txt", (), "is neither an mbox file"),
        (tmp_path / "missing", (), "does not exist"),
        (tmp_path / "export", ("--limit", "5"), "holds more than 5 messages"),
    ):
        status, out, err = _replay(settings, path, capsys, *extra)
        assert status == 1
        assert out == ""
        assert err.startswith("CommandError: ")
        assert expected in err
        assert err.count("\n") == 1


def test_until_runs_the_clock_on_past_the_last_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One unanswered customer alone in the export: without --until the replay ends when
    they wrote, still waiting; with --until 2d the follow-ups come, at their moments."""
    settings = _settings(tmp_path)
    _write_folder(tmp_path / "export", {"one.eml": (CORPUS / UNANSWERED).read_bytes()})
    _, out, _ = _replay(settings, tmp_path / "export", capsys, "--json")
    [alone] = json.loads(out)["conversations"]
    assert [e["event"] for e in alone["events"]] == ["customer_wrote", "acknowledged"]
    assert alone["waiting"] == {
        "promised_by": "2020-06-04T14:00:00+01:00",
        "next_chase_at": "2020-06-04T13:00:00+01:00",
    }
    _, out, _ = _replay(settings, tmp_path / "export", capsys, "--json", "--until", "2d")
    [chased] = json.loads(out)["conversations"]
    assert [(e["event"], e["at"]) for e in chased["events"]][2] == (
        "followed_up",
        "2020-06-04T13:00:00+01:00",
    )


def test_a_chase_held_by_a_breaker_goes_when_the_hold_ends(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """per_conversation_per_day = 1: the follow-up owed Thu 13:00 is held (noted then, as
    the daemon's sweep notes it) until 24 h after the acknowledgement, Thu 14:29:36, and goes
    within the second after; the promise it let lapse is recorded as missed."""
    settings = _settings(tmp_path, extra="\n[limits]\nper_conversation_per_day = 1\n")
    _write_folder(tmp_path / "export", {"one.eml": (CORPUS / UNANSWERED).read_bytes()})
    status, out, err = _replay(
        settings, tmp_path / "export", capsys, "--json", "--until", "2020-06-05"
    )
    assert status == 0, err
    [conversation] = json.loads(out)["conversations"]
    events = [(e["event"], e["at"]) for e in conversation["events"]]
    assert events[2] == ("note", "2020-06-04T13:00:00+01:00")
    assert conversation["events"][2]["reason"].startswith(
        "follow-up held back: 1 automatic mails in this conversation"
    )
    assert events[3][0] == "followed_up"
    assert "2020-06-04T14:29:36+01:00" <= events[3][1] <= "2020-06-04T14:29:37+01:00"
    assert events[4] == ("promise_missed", events[3][1])


def test_the_export_is_read_not_changed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The mbox replayed keeps its bytes (replay never writes the mailbox it reads)."""
    settings = _settings(tmp_path)
    _write_mbox(tmp_path / "export.mbox", _export())
    shutil.copy(tmp_path / "export.mbox", tmp_path / "copy.mbox")
    status, _, _ = _replay(settings, tmp_path / "export.mbox", capsys)
    assert status == 0
    assert (tmp_path / "export.mbox").read_bytes() == (tmp_path / "copy.mbox").read_bytes()


def test_first_true_finds_the_moment_to_the_second() -> None:
    """The bisection ``replay`` uses for a held chase: the first second a monotone
    condition holds."""
    start = datetime(2026, 11, 16, 13, 0, tzinfo=UTC)
    edge = datetime(2026, 11, 17, 14, 29, 36, 500_000, tzinfo=UTC)
    found = first_true(lambda t: t >= edge, start, datetime(2026, 11, 20, tzinfo=UTC))
    assert edge <= found <= edge + timedelta(seconds=1)
