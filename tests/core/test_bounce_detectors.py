"""Failed recipients on the shared corpus, and bounces written to hurt.

The corpus results are pinned in ``bounce_corpus.json`` beside this file: for every message of
``../shared/corpus/bounces``, the failed recipients ``failed_recipients`` reports (our reading
of delivery-status parts and X-Failed-Recipients, else GNU Mailman's detectors on the text)
and whether ``reports_failure`` calls it a failure (what triage marks undeliverable on). The
labels name no addresses (see bench/bounce_detectors.py, which prints the comparison with the
labels and with flufl.bounce alone); what is checked against them here is that every address
reported is in the message and is one, and that human mail and auto-replies name none. After a
deliberate change, rewrite the table with
``python -m tests.core.test_bounce_detectors > tests/core/bounce_corpus.json`` and read its
diff.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

import pytest

from inbox_agent.core import bounce_text
from inbox_agent.core.bounce_text import MAX_FAILED, detector_view, one_address, text_failures
from inbox_agent.core.bounces import failed_recipients, reports_failure, stated_failures

CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus"
EXPECTED = Path(__file__).with_name("bounce_corpus.json")


def corpus_files(category: str) -> list[Path]:
    if not CORPUS.is_dir():
        pytest.skip(f"shared corpus not found at {CORPUS}")
    return sorted((CORPUS / category).glob("*/*.eml"))


def reading(raw: bytes) -> dict[str, object]:
    """What the table pins for one bounce."""
    return {"failed": list(failed_recipients(raw)), "failure": reports_failure(raw)}


def test_every_corpus_bounce_reads_as_pinned() -> None:
    """Each bounce's failed recipients and failure verdict are the pinned ones."""
    expected = json.loads(EXPECTED.read_text(encoding="utf-8"))
    found = {str(p.relative_to(CORPUS)): reading(p.read_bytes()) for p in corpus_files("bounces")}
    assert found.keys() == expected.keys()
    changed = {name: (expected[name], now) for name, now in found.items() if now != expected[name]}
    assert not changed


def test_the_library_reads_what_we_could_not() -> None:
    """Bounces stated only as text for a person, each labelled with one failed recipient
    (sisimai's tables): our reader finds none, the pipeline finds the one, and calls it a
    failure."""
    cases = {
        "lhost-qmail-01.eml": "kijitora@example.ne.jp",  # qmail's QSBMF
        "lhost-exchange2003-03.eml": "kijitora@example.jp",
        "lhost-yahoo-03.eml": "kijitora@example.jp",
        "lhost-gmx-02.eml": "shironeko@example.jp",
        "lhost-mimecast-02.eml": "sabatora@example.net",  # "Action : failed": no field we read
        "lhost-x3-05.eml": "kijitora@example.or.jp",  # a delivery-status part with no recipient
    }
    folder = CORPUS / "bounces" / "sisimai-set-of-emails"
    if not folder.is_dir():
        pytest.skip(f"shared corpus not found at {CORPUS}")
    for name, address in cases.items():
        raw = (folder / name).read_bytes()
        assert stated_failures(raw) == (), name
        assert failed_recipients(raw) == (address,), name
        assert reports_failure(raw), name


def test_every_address_reported_is_in_the_bounce_and_is_one() -> None:
    """Nothing is invented or half-caught: each address is one whole address by our rules
    and appears in the bounce as it is (any case); only AOL's bounces name a screen name,
    which Mailman's AOL detector completes with @aol.com."""
    for path in corpus_files("bounces"):
        raw = path.read_bytes().lower()
        for address in failed_recipients(path.read_bytes()):
            assert one_address(address), (path.name, address)
            local, _, domain = address.rpartition("@")
            quoted = address if domain != "aol.com" else local
            assert quoted.encode() in raw, (path.name, address)


@pytest.mark.parametrize("category", ["human", "autoreplies"])
def test_people_and_auto_replies_name_no_failed_recipient(category: str) -> None:
    """The control: no failed recipient in mail that is no bounce."""
    for path in corpus_files(category):
        raw = path.read_bytes()
        assert failed_recipients(raw) == (), path.name
        assert text_failures(raw) == bounce_text.Failures(), path.name


def test_opensmtpd_action_error_is_a_failure() -> None:
    """OpenSMTPD writes ``Action: error`` where RFC 3464 says ``failed`` (flufl.bounce's DSN
    detector knows it; ours now does too); a block naming an Original-Recipient is that one
    recipient, not its Final-Recipient as well."""
    raw = (
        b"From: MAILER-DAEMON@mx.customer.example\r\n"
        b"Subject: Delivery status notification: error\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        b"--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        b"Reporting-MTA: dns; mx.customer.example\r\n\r\n"
        b"Original-Recipient: rfc822; ana@customer.example\r\n"
        b"Final-Recipient: rfc822; ana.lima@mailhost.customer.example\r\n"
        b"Action: error\r\nStatus: 5.0.0\r\n\r\n--B--\r\n"
    )
    assert failed_recipients(raw) == ("ana@customer.example",)
    assert reports_failure(raw)


def test_a_detector_that_raises_finds_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """A detector can raise on a broken bounce (on Python 3.11.7, Yale's raises IndexError on
    a message without a From); Mailman lets that through, we read it as nothing found."""
    raw = qmail("ana@customer.example")
    assert failed_recipients(raw) == ("ana@customer.example",)

    def broken(msg: object) -> None:
        raise IndexError("list index out of range")

    monkeypatch.setattr(bounce_text, "all_failures", broken)
    assert text_failures(raw) == bounce_text.Failures()
    assert failed_recipients(raw) == ()
    assert reports_failure(raw)  # "failure notice": the subject still says what happened


# ------------------------------------------------------------------------------------------
# Hostile bounces
# ------------------------------------------------------------------------------------------

QMAIL_HEAD = (
    "From: MAILER-DAEMON@mx.customer.example\r\nTo: support@example.com\r\n"
    "Subject: failure notice\r\n\r\n"
    "Hi. This is the qmail-send program at mx.customer.example.\r\n"
    "I'm afraid I wasn't able to deliver your message to the following addresses.\r\n"
    "\r\n"
)


def qmail(*recipients: str) -> bytes:
    lines = "".join(f"<{r}>:\r\nSorry, no mailbox here by that name.\r\n\r\n" for r in recipients)
    return (QMAIL_HEAD + lines + "--- Below this line is a copy of the message.\r\n\r\n").encode(
        "utf-8", "surrogateescape"
    )


def test_what_a_detector_catches_must_be_one_address() -> None:
    """A display name, a second address, an encoded word, a control character, a header
    smuggled after one: what qmail's detector catches between <...> is dropped unless it is
    one address, as our own reader's addresses are."""
    raw = qmail(
        "ana@customer.example",
        "Ana Lima <bo@customer.example",  # a display name
        "cy@customer.example, eve@attacker.example",  # two
        "=?utf-8?q?victim=40customer.example?=",  # an encoded word
        "di@customer.example\x0bBcc: eve@attacker.example",  # a vertical tab and more
        "@customer.example",
        "",
        "not an address",
    )
    assert failed_recipients(raw) == ("ana@customer.example",)


def test_an_address_with_crlf_is_never_one_address() -> None:
    """CR LF inside what a bounce calls an address: in a delivery-status block, in
    X-Failed-Recipients (a folded header), and in a text bounce, it never yields an address
    with a line break or a second, smuggled one."""
    dsn = (
        b"From: MAILER-DAEMON@mx.customer.example\r\n"
        b"X-Failed-Recipients: ana@customer.example,\r\n =?utf-8?q?eve=0D=0ABcc=3A_x=40y?=\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        b"--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        b"Reporting-MTA: dns; mx.customer.example\r\n\r\n"
        b'Final-Recipient: rfc822; "bo\r\nBcc: eve@attacker.example"@customer.example\r\n'
        b"Action: failed\r\nStatus: 5.1.1\r\n\r\n--B--\r\n"
    )
    text = qmail("cy@customer.example\rBcc: eve@attacker.example")
    for raw in (dsn, text):
        for address in failed_recipients(raw):
            assert "\r" not in address
            assert "\n" not in address
            assert "eve@attacker.example" not in address
            assert one_address(address)
    assert failed_recipients(dsn) == ("ana@customer.example",)


def test_ten_thousand_recipients_are_cut_to_a_hundred() -> None:
    """A bounce naming 10,000 recipients, as text, as delivery-status blocks and in
    X-Failed-Recipients: at most MAX_FAILED addresses, read in bounded time (the text is
    read up to 64 KiB)."""
    many = [f"user{n}@customer.example" for n in range(10_000)]
    blocks = "".join(
        f"Final-Recipient: rfc822; {a}\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n" for a in many
    )
    dsn = (
        "From: MAILER-DAEMON@mx.customer.example\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        f"Reporting-MTA: dns; mx.customer.example\r\n\r\n{blocks}--B--\r\n"
    ).encode()
    header = f"X-Failed-Recipients: {', '.join(many)}\r\n\r\n".encode()
    for raw in (qmail(*many), dsn, header):
        found = failed_recipients(raw)
        assert 0 < len(found) <= MAX_FAILED
        assert set(found) <= set(many)
    assert reports_failure(qmail(*many))


def test_the_detectors_read_a_bounded_copy() -> None:
    """A 5 MB bounce whose report is one enormous line, and an enclosed message: the copy the
    detectors read is at most 64 KiB, no line longer than 512 characters, the enclosed
    message emptied, and base64 text decoded."""
    encoded = base64.encodebytes(
        b"Hi. This is the qmail-send program.\r\n\r\n<ana@customer.example>:\r\nno mailbox\r\n"
    ).decode()
    raw = (
        "From: MAILER-DAEMON@mx.customer.example\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        f"{encoded}\r\n--B\r\nContent-Type: message/rfc822\r\n\r\n"
        "X-Failed-Recipients: inner@customer.example\r\n\r\nThe original.\r\n"
        "--B\r\nContent-Type: text/plain\r\n\r\n" + "x" * 5_000_000 + "\r\n--B--\r\n"
    ).encode()
    view = detector_view(raw)
    text = view.as_string()
    assert len(text) <= bounce_text.MAX_TEXT_BYTES + 4096  # the copy's own headers
    assert max(len(line) for line in text.splitlines()) <= bounce_text.MAX_LINE_CHARS
    assert "inner@customer.example" not in text
    assert text_failures(raw).permanent == ("ana@customer.example",)


if __name__ == "__main__":  # rewrite the pinned table (see the module docstring)
    table = {
        str(p.relative_to(CORPUS)): reading(p.read_bytes())
        for p in sorted((CORPUS / "bounces").glob("*/*.eml"))
    }
    sys.stdout.write(
        "{\n"
        + ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in table.items())
        + "\n}\n"
    )
