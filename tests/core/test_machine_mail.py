"""machine_mail: one table row per rule, the people who must stay people, and bounce reading.

Messages are small synthetic ones built as bytes and parsed with the real parser; the last
tests read a few real bounces from ``../shared/corpus`` (skipped where it is absent).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from inbox_agent.core.bounces import bounced_message_ids, failed_recipients
from inbox_agent.core.machine_mail import (
    OUTLOOK_PREFIXES,
    RULES,
    Identity,
    all_verdicts,
    classify,
)
from inbox_agent.core.message import parse

ARRIVED = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus"
US = Identity(
    addresses=frozenset({"Support@Example.com"}),
    message_ids={"<inbox-agent.K7Q2.ack.0011223344556677@example.com>", "bare-id@example.com"},
    message_id_domain="agent.example.net",
)


def mail(
    *headers: str,
    body: str = "Hello, my order has not arrived.\r\n",
    sender: str = "Ana Lima <ana@customer.example>",
    subject: str = "My order 1234",
) -> bytes:
    """A person's plain message, with extra header lines added (or replacing From/Subject)."""
    names = {h.split(":", 1)[0].lower() for h in headers}
    lines = []
    if "from" not in names:
        lines.append(f"From: {sender}")
    if "subject" not in names:
        lines.append(f"Subject: {subject}")
    if "message-id" not in names:
        lines.append("Message-ID: <person.1@customer.example>")
    lines += ["To: support@example.com", "Date: Mon, 23 Nov 2026 09:00:00 +0000", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode("utf-8")


def verdict_rule(raw: bytes, identity: Identity = US) -> str | None:
    verdict = classify(parse(raw, ARRIVED), identity)
    return None if verdict is None else verdict.rule


DSN = (
    b"Return-Path: <>\r\n"
    b"From: Mail Delivery System <MAILER-DAEMON@mx.customer.example>\r\n"
    b"To: support@example.com\r\n"
    b"Subject: Undelivered Mail Returned to Sender\r\n"
    b"Message-ID: <bounce.1@mx.customer.example>\r\n"
    b"Auto-Submitted: auto-replied\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
    b"--B\r\nContent-Type: text/plain\r\n\r\nI'm sorry to have to inform you...\r\n"
    b"--B\r\nContent-Type: message/delivery-status\r\n\r\n"
    b"Reporting-MTA: dns; mx.customer.example\r\n\r\n"
    b"Final-Recipient: rfc822; ana.lima@mailhost.customer.example\r\n"
    b"Original-Recipient: rfc822;ana@customer.example\r\n"
    b"Action: failed\r\nStatus: 5.1.1\r\n\r\n"
    b"Final-Recipient: rfc822; slow@customer.example\r\n"
    b"Action: delayed\r\nStatus: 4.4.1\r\n\r\n"
    b"--B\r\nContent-Type: message/rfc822\r\n\r\n"
    b"From: support@example.com\r\nTo: ana@customer.example\r\n"
    b"Subject: [#K7Q2] Re: My order 1234\r\n"
    b"Message-ID: <inbox-agent.K7Q2.ack.0011223344556677@example.com>\r\n\r\n"
    b"We will answer by Tuesday.\r\n"
    b"--B--\r\n"
)


def _report(report_type: str, part: str) -> bytes:
    return mail(
        f'Content-Type: multipart/report; report-type={report_type}; boundary="R"',
        "MIME-Version: 1.0",
        sender="Reports <reports@isp.example>",
        subject="Report",
        body=(
            f"--R\r\nContent-Type: text/plain\r\n\r\nA report.\r\n"
            f"--R\r\nContent-Type: {part}\r\n\r\nField: value\r\n--R--\r\n"
        ),
    )


# (case id, message, the rule that must fire first)
MACHINES: list[tuple[str, bytes, str]] = [
    # own-message
    ("from our address, any case", mail(sender="Support <SUPPORT@example.COM>"), "own-message"),
    (
        "a Message-ID we sent",
        mail("Message-ID: <inbox-agent.K7Q2.ack.0011223344556677@example.com>"),
        "own-message",
    ),
    (
        "a Message-ID we sent, kept without brackets",
        mail("Message-ID: <bare-id@example.com>"),
        "own-message",
    ),
    ("our Message-ID domain", mail("Message-ID: <x.1@Agent.Example.NET>"), "own-message"),
    (
        "our own ack, which carries Auto-Submitted",
        mail("Auto-Submitted: auto-replied", sender="support@example.com"),
        "own-message",
    ),
    # bounce-report
    ("DSN", DSN, "bounce-report"),
    (
        "MDN read receipt",
        _report("disposition-notification", "message/disposition-notification"),
        "bounce-report",
    ),
    ("ARF abuse report", _report("feedback-report", "message/feedback-report"), "bounce-report"),
    (
        "delivery-status part in a multipart/mixed",
        mail(
            'Content-Type: multipart/mixed; boundary="M"',
            "MIME-Version: 1.0",
            body="--M\r\nContent-Type: text/plain\r\n\r\nfailed\r\n--M\r\n"
            "Content-Type: message/delivery-status\r\n\r\nAction: failed\r\n--M--\r\n",
        ),
        "bounce-report",
    ),
    # failed-recipients
    (
        "X-Failed-Recipients (Exim)",
        mail("X-Failed-Recipients: ana@customer.example"),
        "failed-recipients",
    ),
    # bounce-sender
    (
        "MAILER-DAEMON without a domain",
        mail(sender="MAILER-DAEMON (Mail Delivery System)"),
        "bounce-sender",
    ),
    ("mailer-daemon", mail(sender="Mail Delivery <mailer-daemon@mx.example>"), "bounce-sender"),
    ("postmaster", mail(sender="postmaster@mx.example"), "bounce-sender"),
    ("post_master (Verizon)", mail(sender="post_master@vtext.example"), "bounce-sender"),
    ("bounces+tag", mail(sender="bounces+1234-ana=customer.example@em.example"), "bounce-sender"),
    ("bounces-xyz", mail(sender="bounces-xyz@lists.example"), "bounce-sender"),
    ("bounce", mail(sender="bounce@mailer.example"), "bounce-sender"),
    (
        "list-bounces in Return-Path (Mailman)",
        mail("Return-Path: <announce-bounces+ana=customer.example@lists.example>"),
        "bounce-sender",
    ),
    (
        "list+bounces in Return-Path (mlmmj)",
        mail("Return-Path: <hackers+bounces-help@lists.example>"),
        "bounce-sender",
    ),
    (
        "BATV-tagged bounces",
        mail("Return-Path: <prvs=12ab=bounces-99@esp.example>"),
        "bounce-sender",
    ),
    (
        "mail system display name with an ordinary address",
        mail(sender="Mail Delivery Subsystem <relay@mx.example>"),
        "bounce-sender",
    ),
    # auto-submitted
    ("Auto-Submitted: auto-replied", mail("Auto-Submitted: auto-replied"), "auto-submitted"),
    ("Auto-Submitted: Auto-Replied (case)", mail("Auto-Submitted: Auto-Replied"), "auto-submitted"),
    (
        "Auto-Submitted: auto-generated (failure)",
        mail("Auto-Submitted: auto-generated (failure)"),
        "auto-submitted",
    ),
    ("Auto-Submitted: auto-notified", mail("Auto-Submitted: auto-notified"), "auto-submitted"),
    ("Auto-Submitted: an unknown keyword", mail("Auto-Submitted: auto-whatever"), "auto-submitted"),
    ("Auto-Submitted, empty", mail("Auto-Submitted: "), "auto-submitted"),
    # autoreply-header
    ("X-Autoreply: yes", mail("X-Autoreply: yes"), "autoreply-header"),
    ("X-Autorespond", mail("X-Autorespond: vacation"), "autoreply-header"),
    ("X-Autoresponder", mail("X-Autoresponder: true"), "autoreply-header"),
    ("X-Auto-Reply spelt with a hyphen", mail("X-Auto-Reply: yes"), "autoreply-header"),
    ("X-AutoReply-From", mail("X-AutoReply-From: ana@customer.example"), "autoreply-header"),
    (
        "X-Mail-Autoreply (CommuniGate)",
        mail("X-Mail-Autoreply: ana@customer.example"),
        "autoreply-header",
    ),
    ("X-Autogenerated: Reply (Outlook)", mail("X-AutoGenerated: Reply"), "autoreply-header"),
    ("X-FC-MachineGenerated (FirstClass)", mail("X-FC-MachineGenerated: true"), "autoreply-header"),
    ("X-Cron-Env", mail("X-Cron-Env: <SHELL=/bin/sh>"), "autoreply-header"),
    # challenge-response
    ("Bluebottle", mail("X-Bluebottle-Request: <1234>"), "challenge-response"),
    ("TMDA", mail("X-Delivery-Agent: TMDA/1.1.12 (Macallan)"), "challenge-response"),
    # helpdesk
    ("RT headers", mail("RT-Ticket: acme.example #33575"), "helpdesk"),
    (
        "RT Message-ID",
        mail("Message-ID: <rt-4.2.8-22046-1529425595-591.33575-211-0@rt.acme.example>"),
        "helpdesk",
    ),
    ("Redmine notification", mail("X-Redmine-Host: redmine.acme.example"), "helpdesk"),
    # precedence
    ("Precedence: bulk", mail("Precedence: bulk"), "precedence"),
    ("Precedence: junk", mail("Precedence: junk"), "precedence"),
    ("Precedence: list", mail("Precedence: list"), "precedence"),
    ("Precedence: auto_reply", mail("Precedence: auto_reply"), "precedence"),
    # mailing-list
    ("List-Id", mail("List-Id: Users <users.lists.example>"), "mailing-list"),
    ("List-Unsubscribe", mail("List-Unsubscribe: <mailto:leave@lists.example>"), "mailing-list"),
    ("List-Post", mail("List-Post: NO"), "mailing-list"),
    (
        "Mailing-List (ezmlm)",
        mail("Mailing-List: contact users-help@lists.example; run by ezmlm"),
        "mailing-list",
    ),
    ("X-Mailman-Version", mail("X-Mailman-Version: 2.1.39"), "mailing-list"),
    # null-return-path
    ("Return-Path: <>", mail("Return-Path: <>"), "null-return-path"),
    # noreply-sender
    ("noreply", mail(sender="Shop <noreply@shop.example>"), "noreply-sender"),
    ("no-reply", mail(sender="no-reply@shop.example"), "noreply-sender"),
    ("do-not-reply", mail(sender="do-not-reply@shop.example"), "noreply-sender"),
    ("donotreply", mail(sender="DoNotReply@shop.example"), "noreply-sender"),
    ("no_reply with a prefix", mail(sender="orders.no_reply@shop.example"), "noreply-sender"),
    ("ne-pas-repondre", mail(sender="ne-pas-repondre@boutique.example"), "noreply-sender"),
    (
        "no-reply From even with a person's Reply-To",
        mail("Reply-To: ana@customer.example", sender="Web form <noreply@site.example>"),
        "noreply-sender",
    ),
    ("no-reply Reply-To", mail("Reply-To: noreply@customer.example"), "noreply-sender"),
    # spam-verdict
    ("X-Spam-Flag: YES", mail("X-Spam-Flag: YES"), "spam-verdict"),
    ("X-Spam-Status: Yes", mail("X-Spam-Status: Yes, score=12.1 required=5.0"), "spam-verdict"),
    # bounce-subject
    (
        "Delivery Status Notification",
        mail(subject="Delivery Status Notification (Failure)"),
        "bounce-subject",
    ),
    (
        "Undelivered Mail Returned to Sender",
        mail(subject="Undelivered Mail Returned to Sender"),
        "bounce-subject",
    ),
    (
        "Mail delivery failed",
        mail(subject="Mail delivery failed: returning message to sender"),
        "bounce-subject",
    ),
    ("Undeliverable:", mail(subject="Undeliverable: My order 1234"), "bounce-subject"),
    ("Returned mail:", mail(subject="Returned mail: see transcript for details"), "bounce-subject"),
    ("failure notice (qmail)", mail(subject="failure notice"), "bounce-subject"),
    ("Unzustellbar:", mail(subject="Unzustellbar: Bestellung"), "bounce-subject"),
    ("Non remis :", mail(subject="Non remis : commande"), "bounce-subject"),
    ("Hotmail complaint", mail(subject="complaint about message from 192.0.2.1"), "bounce-subject"),
    # autoreply-subject
    ("Automatic reply", mail(subject="Automatic reply: My order 1234"), "autoreply-prefix"),
    ("Auto-Reply", mail(subject="Auto-Reply: My order 1234"), "autoreply-subject"),
    ("Autoreply", mail(subject="Autoreply: My order 1234"), "autoreply-subject"),
    ("Auto reply", mail(subject="Auto reply: My order"), "autoreply-subject"),
    ("Out of Office", mail(subject="Out of Office: My order 1234"), "autoreply-subject"),
    (
        "Out of Office AutoReply",
        mail(subject="Out of Office AutoReply: My order"),
        "autoreply-prefix",
    ),
    ("Out of office alone", mail(subject="Out of office"), "autoreply-subject"),
    ("Abwesenheitsnotiz", mail(subject="Abwesenheitsnotiz: Bestellung"), "autoreply-prefix"),
    ("Automatische Antwort", mail(subject="Automatische Antwort: Bestellung"), "autoreply-prefix"),
    ("Réponse automatique", mail(subject="Réponse automatique : commande"), "autoreply-prefix"),
    ("Absence", mail(subject="Absence : commande 1234"), "autoreply-subject"),
    ("Fuori sede", mail(subject="Fuori sede: ordine"), "autoreply-subject"),
    ("Risposta automatica", mail(subject="Risposta automatica: ordine"), "autoreply-prefix"),
    ("Respuesta automática", mail(subject="Respuesta automática: pedido"), "autoreply-prefix"),
    ("Afwezig", mail(subject="Afwezig: bestelling"), "autoreply-subject"),
    ("Automatisch antwoord", mail(subject="Automatisch antwoord: bestelling"), "autoreply-prefix"),
    ("自動応答", mail(subject="自動応答: ご注文"), "autoreply-subject"),
    (
        "RFC 2047 encoded",
        mail(subject="=?utf-8?q?R=C3=A9ponse_automatique=3A_commande?="),
        "autoreply-prefix",
    ),
    ("Abwesenheitsnotiz without a colon", mail(subject="Abwesenheitsnotiz"), "autoreply-subject"),
    ("Automatic reply - dash", mail(subject="Automatic reply - My order"), "autoreply-subject"),
    ("[Auto-Reply] in brackets", mail(subject="[Auto-Reply] My order"), "autoreply-subject"),
    (
        "(Automatic Response) at the end",
        mail(subject="Re: My order (Automatic Response)"),
        "autoreply-subject",
    ),
    (
        "Lotus Notes",
        mail(subject="AUTO: Ana Lima is out of the office. (returning 05/01)"),
        "autoreply-subject",
    ),
    (
        "behind a ticket tag (RT)",
        mail(subject="[acme #33575] AutoReply: My order"),
        "autoreply-subject",
    ),
]


@pytest.mark.parametrize(
    ("raw", "rule"),
    [(raw, rule) for _, raw, rule in MACHINES],
    ids=[case for case, _, _ in MACHINES],
)
def test_machine_mail_is_caught_by_its_rule(raw: bytes, rule: str) -> None:
    """Each kind of machine mail is caught, and by the rule meant for it."""
    assert verdict_rule(raw) == rule


def test_every_rule_has_a_row_in_the_table() -> None:
    """No rule without a test case; rule ids are unique."""
    ids = [each.id for each in RULES]
    assert len(ids) == len(set(ids))
    assert set(ids) == {rule for _, _, rule in MACHINES}


def test_verdict_carries_a_reason_for_staff() -> None:
    """The reason names what was seen, in a sentence staff can read."""
    verdict = classify(parse(mail("Auto-Submitted: auto-replied"), ARRIVED), US)
    assert verdict is not None
    assert verdict.reason == "Auto-Submitted: auto-replied (RFC 3834)"


def test_all_verdicts_lists_every_rule_that_fires_in_order() -> None:
    """A bounce usually trips several rules; classify reports the first."""
    rules = [v.rule for v in all_verdicts(parse(DSN, ARRIVED), Identity())]
    assert rules[0] == "bounce-report"
    assert {"bounce-sender", "auto-submitted", "null-return-path", "bounce-subject"} <= set(rules)
    assert (
        classify(parse(DSN, ARRIVED), Identity())
        == all_verdicts(parse(DSN, ARRIVED), Identity())[0]
    )


FORWARDED_BOUNCE = mail(
    "MIME-Version: 1.0",
    'Content-Type: multipart/mixed; boundary="F"',
    subject="Fwd: Undelivered Mail Returned to Sender",
    body=(
        "--F\r\nContent-Type: text/plain\r\n\r\nMy mail to you bounced, see below.\r\n"
        "--F\r\nContent-Type: message/rfc822\r\n\r\n" + DSN.decode() + "\r\n--F--\r\n"
    ),
)

# (case id, message): people, whatever they look like at first sight
PEOPLE: list[tuple[str, bytes]] = [
    ("plain mail", mail()),
    ("Auto-Submitted: no", mail("Auto-Submitted: no")),
    (
        "Auto-Submitted: auto-forwarded (a mailbox rule passed a person's mail on)",
        mail("Auto-Submitted: auto-forwarded"),
    ),
    ("X-Autogenerated: Forward", mail("X-AutoGenerated: Forward")),
    ("X-Autoreply: no", mail("X-Autoreply: no")),
    (
        "X-Auto-Response-Suppress from Outlook (a request to us, not a sign)",
        mail("X-Auto-Response-Suppress: DR, RN, NRN, OOF, AutoReply"),
    ),
    ("X-Auto-Response-Suppress: All", mail("X-Auto-Response-Suppress: All")),
    ("Precedence: first-class", mail("Precedence: first-class")),
    ("X-Loop naming somebody else", mail("X-Loop: ana@customer.example")),
    (
        "X-Loop naming us (a local procmail step would stamp it on everything)",
        mail("X-Loop: support@example.com"),
    ),
    (
        "Feedback-ID (relayed by a transactional service)",
        mail("Feedback-ID: 1.eu-west-1.x:AmazonSES"),
    ),
    (
        "X-MS-Exchange-Inbox-Rules-Loop (a forward)",
        mail("X-MS-Exchange-Inbox-Rules-Loop: ana@customer.example"),
    ),
    ("X-Spam-Status: No", mail("X-Spam-Status: No, score=-1.0")),
    ("forwarded bounce attached as message/rfc822", FORWARDED_BOUNCE),
    (
        "forwarded bounce pasted inline",
        mail(
            subject="Fwd: Returned mail: see transcript for details",
            body="Forwarding this.\r\n> From: Mail Delivery Subsystem <MAILER-DAEMON>\r\n"
            "> Final-Recipient: rfc822; x@y.example\r\n> Action: failed\r\n",
        ),
    ),
    ("a person called Bounce", mail(sender="Bob Bounce <bob.bounce@customer.example>")),
    ("a person called No Reply", mail(sender='"No Reply" <norah@customer.example>')),
    (
        "a person whose name merely contains Mailer Daemon",
        mail(sender='"Daemon, Mailer" <md@customer.example>'),
    ),
    ("noreply only in the domain", mail(sender="ana@noreply.customer.example")),
    ("postmaster only in the domain", mail(sender="ana@postmaster.example")),
    ("Re: Out of office plans", mail(subject="Re: Out of office plans")),
    ("Out of office plans (no Re:)", mail(subject="Out of office plans for December")),
    (
        "Re: Automatic reply: ... (a person answering an auto-reply)",
        mail(subject="Re: Automatic reply: My order 1234"),
    ),
    ("Fwd: Out of Office", mail(subject="Fwd: Out of Office: Ana")),
    ("Absence of invoice", mail(subject="Absence of invoice on my account")),
    ("Autoreply settings question", mail(subject="Autoreply settings do not work")),
    ("Delivery delayed (a parcel)", mail(subject="Delivery delayed: order 1234")),
    ("Delivery failed (a parcel)", mail(subject="Delivery failed - parcel not received")),
    ("Returned to sender (a parcel)", mail(subject="Returned to sender - where is my order?")),
    ("Returned mail without a colon", mail(subject="Returned mail order 1234")),
    ("Undeliverable address (no colon)", mail(subject="Undeliverable address on my order")),
    ("Vacation rental", mail(subject="Vacation - rental booking 1234")),
    (
        "a reply to our acknowledgement",
        mail(
            "In-Reply-To: <inbox-agent.K7Q2.ack.0011223344556677@example.com>",
            subject="Re: [#K7Q2] Re: My order 1234",
        ),
    ),
    ("a person at our own domain", mail(sender="carol@example.com")),
    ("no headers at all (triage files it as unanswerable)", b"just a body\r\n"),
    ("empty", b""),
]


@pytest.mark.parametrize("raw", [raw for _, raw in PEOPLE], ids=[case for case, _ in PEOPLE])
def test_people_stay_people(raw: bytes) -> None:
    """Human mail, including the look-alikes, gets no machine verdict."""
    email = parse(raw, ARRIVED)
    assert classify(email, US) is None, all_verdicts(email, US)


# One Outlook / Exchange auto-reply per language, as it arrives: that subject and no auto header
# at all (OUTLOOK_PREFIXES in machine_mail says where each prefix comes from).
OUTLOOK_AUTOREPLIES: list[tuple[str, str]] = [
    ("Bulgarian", "Автоматичен отговор: Поръчка 1234"),
    ("Croatian", "Automatski odgovor: Narudžba 1234"),
    ("Czech", "Automatická odpověď: Objednávka 1234"),
    ("Danish", "Automatisk svar: Ordre 1234"),
    ("Dutch", "Automatisch antwoord: Bestelling 1234"),
    ("English", "Automatic reply: My order 1234"),
    ("English", "Out of Office AutoReply: My order 1234"),
    ("Estonian", "Automaatvastus: Tellimus 1234"),
    ("Finnish", "Automaattinen vastaus: Tilaus 1234"),
    ("French", "Réponse automatique : Commande 1234"),
    ("German", "Automatische Antwort: Bestellung 1234"),
    ("German", "Abwesenheitsnotiz: Bestellung 1234"),
    ("Greek", "Αυτόματη απάντηση: Παραγγελία 1234"),
    ("Hungarian", "Automatikus válasz: Rendelés 1234"),
    ("Irish", "Freagra uathoibríoch: Ordú 1234"),
    ("Italian", "Risposta automatica: Ordine 1234"),
    ("Italian", "Risposta Non al computer: Ordine 1234"),
    ("Latvian", "Automātiskā atbilde: Pasūtījums 1234"),
    ("Lithuanian", "Automatinis atsakymas: Užsakymas 1234"),
    ("Polish", "Automatyczna odpowiedź: Zamówienie 1234"),
    ("Portuguese", "Resposta automática: Encomenda 1234"),
    ("Romanian", "Răspuns automat: Comanda 1234"),
    ("Slovak", "Automatická odpoveď: Objednávka 1234"),
    ("Slovenian", "Samodejni odgovor: Naročilo 1234"),
    ("Spanish", "Respuesta automática: Pedido 1234"),
    ("Swedish", "Automatiskt svar: Beställning 1234"),
    ("Swedish", "Autosvar: Beställning 1234"),
    ("Swedish", "Frånvaro: Beställning 1234"),
    ("Russian", "Автоматический ответ: Заказ 1234"),
]


def _only_subject(subject: str) -> bytes:
    """A whole little message: From, To, Date, Message-ID, the subject, a body; nothing auto."""
    return mail(
        subject=subject,
        sender="Ana Lima <ana@customer.example>",
        body="I am out of the office until Monday.\r\n",
    )


@pytest.mark.parametrize(
    ("language", "subject"),
    OUTLOOK_AUTOREPLIES,
    ids=[f"{lang}: {subject}" for lang, subject in OUTLOOK_AUTOREPLIES],
)
def test_outlook_autoreply_prefix_in_every_language(language: str, subject: str) -> None:
    """Outlook's localised prefix alone marks an auto-reply; the reason names the language."""
    raw = _only_subject(subject)
    assert b"Auto" not in raw.split(b"\r\n\r\n")[0].replace(subject.encode(), b"")
    verdict = classify(parse(raw, ARRIVED), US)
    assert verdict is not None
    assert verdict.rule == "autoreply-prefix"
    assert f"Outlook's {language} automatic-reply prefix" in verdict.reason


def test_every_eu_language_with_an_outlook_string_has_an_example() -> None:
    """23 of the 24 official EU languages (not Maltese), each with a test above."""
    eu = {
        "Bulgarian",
        "Croatian",
        "Czech",
        "Danish",
        "Dutch",
        "English",
        "Estonian",
        "Finnish",
        "French",
        "German",
        "Greek",
        "Hungarian",
        "Irish",
        "Italian",
        "Latvian",
        "Lithuanian",
        "Polish",
        "Portuguese",
        "Romanian",
        "Slovak",
        "Slovenian",
        "Spanish",
        "Swedish",
    }
    assert eu <= {language for language, _ in OUTLOOK_PREFIXES}
    assert {language for language, _ in OUTLOOK_PREFIXES} == {
        lang for lang, _ in OUTLOOK_AUTOREPLIES
    }
    assert len(OUTLOOK_AUTOREPLIES) == len(OUTLOOK_PREFIXES)


@pytest.mark.parametrize(
    "subject",
    [
        "ΑΥΤΟΜΑΤΗ ΑΠΑΝΤΗΣΗ: ΠΑΡΑΓΓΕΛΙΑ 1234",  # Greek capitals carry no accents
        "AUTOMATYCZNA ODPOWIEDŹ: ZAMÓWIENIE",
        "Reponse automatique: commande",  # a gateway that strips accents
        "Automatická  odpověď\u00a0: objednávka",  # runs of whitespace, a no-break space
        "Automatyczna odpowiedz\u0301: Zamówienie",  # decomposed (NFD) accent
        "=?utf-8?b?zpHPhc+Ez4zOvM6xz4TOtyDOsc+AzqzOvc+EzrfPg863OiDOoM6xz4HOsc6zzrPOtc67zq/OsQ==?=",
        "[External] Automatische Antwort: Bestellung",  # a gateway's tag in front
    ],
)
def test_outlook_prefix_variants(subject: str) -> None:
    """What gateways and encodings do to the prefix does not hide it."""
    assert verdict_rule(_only_subject(subject)) == "autoreply-prefix"


@pytest.mark.parametrize(
    "subject",
    [
        "Re: my automatic reply settings are broken",
        "Question about Automatische Antwort setup",
        "Automatic reply settings: how do I turn them off?",
        "Automatyczna odpowiedź nie działa",  # "the automatic reply does not work", no colon
        "Re: Automatic reply: My order 1234",  # a person answering an auto-reply
        "AW: Automatische Antwort: Bestellung 1234",
        "RE: Réponse automatique : Commande 1234",
        "Fwd: Automatyczna odpowiedź: Zamówienie",
        "Odp: Automatická odpověď: Objednávka",
        "My Automatic reply: is it on?",
    ],
)
def test_a_person_mentioning_an_autoreply_prefix_is_a_person(subject: str) -> None:
    """The prefix counts only first and with its colon: a reply or a question is a person."""
    email = parse(_only_subject(subject), ARRIVED)
    assert classify(email, US) is None, all_verdicts(email, US)


def test_identity_is_normalised() -> None:
    """Addresses are compared lower-case; the Message-ID domain without '@' or case."""
    identity = Identity(
        addresses=frozenset({" Support@Example.COM "}), message_id_domain="@Agent.Example.NET"
    )
    assert identity.addresses == frozenset({"support@example.com"})
    assert identity.message_id_domain == "agent.example.net"


def test_without_identity_our_address_is_just_an_address() -> None:
    """Nothing is 'ours' unless Identity says so."""
    assert verdict_rule(mail(sender="support@example.com"), Identity()) is None


# ------------------------------------------------------------------------------------------
# bounced_message_ids / failed_recipients
# ------------------------------------------------------------------------------------------


def test_bounce_reports_our_message_id_and_the_failed_recipient() -> None:
    """The returned message's Message-ID links the bounce; only the failed block counts."""
    assert bounced_message_ids(DSN) == ("<inbox-agent.K7Q2.ack.0011223344556677@example.com>",)
    assert failed_recipients(DSN) == ("ana@customer.example",)  # Original-, not Final-Recipient


def test_original_message_id_header_and_rfc822_headers_part() -> None:
    """Original-Message-ID first, then a text/rfc822-headers part; never the bounce's own id."""
    raw = (
        b"From: postmaster@mx.example\r\nMessage-ID: <own@mx.example>\r\n"
        b"Original-Message-ID: <first@example.com>\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        b"--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        b"Message-ID: <second@example.com>\r\nSubject: x\r\n"
        b"--B--\r\n"
    )
    assert bounced_message_ids(raw) == ("<first@example.com>", "<second@example.com>")


def test_inline_bounce_and_x_failed_recipients() -> None:
    """An Exim bounce quotes the original inline and names the failure in a header."""
    raw = (
        b"From: Mail Delivery System <Mailer-Daemon@mx.example>\r\n"
        b"Message-ID: <own@mx.example>\r\n"
        b"X-Failed-Recipients: Ana@Customer.example, bo@customer.example\r\n\r\n"
        b"This message was created automatically by mail delivery software.\r\n\r\n"
        b"------ This is a copy of the message, including all the headers. ------\r\n\r\n"
        b"Message-Id: <inline@example.com>\r\nSubject: x\r\n"
    )
    assert bounced_message_ids(raw) == ("<inline@example.com>",)
    assert failed_recipients(raw) == ("ana@customer.example", "bo@customer.example")


def test_delivered_and_delayed_are_not_failures() -> None:
    """A success DSN or a delay warning names no failed recipient."""
    raw = DSN.replace(b"Action: failed\r\nStatus: 5.1.1", b"Action: delivered\r\nStatus: 2.0.0")
    assert failed_recipients(raw) == ()


def test_a_bounce_inside_an_attached_message_is_not_entered() -> None:
    """A forwarded bounce: the enclosed message is the one reported on, not its insides."""
    assert failed_recipients(FORWARDED_BOUNCE) == ()
    assert bounced_message_ids(FORWARDED_BOUNCE) == ("<bounce.1@mx.customer.example>",)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff" * 50,
        b"Content-Type: multipart/report\r\n\r\n",
        b"Content-Type: message/delivery-status\r\n\r\n\xff\xfe",
    ],
)
def test_bounce_readers_never_raise(raw: bytes) -> None:
    """Garbage in, empty tuples out."""
    assert bounced_message_ids(raw) == ()
    assert failed_recipients(raw) == ()


# (corpus file, Message-IDs, failed recipients) -- real bounce generators
CORPUS_BOUNCES = [
    (
        "bounces/sisimai-set-of-emails/rfc3464-10.eml",
        ("<c15e793e1c6acf9fbc39d1547bbd98b4@example.com>",),
        ("kijitora@example.jp",),
    ),
    (
        "bounces/sisimai-set-of-emails/lhost-postfix-01.eml",  # the enclosed message is empty
        (),
        ("kijitora@example.org",),
    ),
    (
        "bounces/sisimai-set-of-emails/lhost-office365-09.eml",  # a bad header continuation
        ("<SLXP216MB0381A2BCD997D05F53CDB50BA9220@SLXP216MB0381.KORP216.PROD.OUTLOOK.COM>",),
        ("azumakuniyuki@example.ne.jp",),
    ),
    (
        "bounces/sisimai-set-of-emails/lhost-qmail-01.eml",  # qmail: the original inline
        ("<000000000.9999999999999.JavaMail.postmaster@mailhub>",),
        ("kijitora@example.ne.jp",),
    ),  # read by Mailman's qmail detector (core.bounce_text)
    (
        "bounces/sisimai-set-of-emails/lhost-messagingserver-03.eml",  # boundary never comes
        ("<000000000000000000@example.org>",),
        (),
    ),
    (
        "bounces/sisimai-set-of-emails/lhost-apachejames-01.eml",  # In-Reply-To only
        ("<00000000000000.00000.qmail@example.com>",),
        (),
    ),
    ("bounces/sisimai-set-of-emails/lhost-exim-55.eml", (), ("kijitora@example.com",)),
    (
        "bounces/sisimai-set-of-emails/rfc3464-28.eml",  # "deliverable": a success report
        ("<20151025071802.22CC00222233@neko-222-2222.vs.example.ne.jp>",),
        (),
    ),
]


@pytest.mark.parametrize(
    ("path", "ids", "recipients"),
    CORPUS_BOUNCES,
    ids=[p.rsplit("/", 1)[1] for p, _, _ in CORPUS_BOUNCES],
)
def test_real_bounces(path: str, ids: tuple[str, ...], recipients: tuple[str, ...]) -> None:
    """What real bounce generators send is read as far as it can be."""
    file = CORPUS / path
    if not file.exists():
        pytest.skip(f"shared corpus not found at {CORPUS}")
    raw = file.read_bytes()
    assert bounced_message_ids(raw) == ids
    assert failed_recipients(raw) == recipients
