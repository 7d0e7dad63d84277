"""A German and a French customer get every mail in their own language, moments included.

Jonas writes in German and Chloé in French (their mail says so: ``Content-Language``). Nobody
answers either, so each gets the acknowledgement, two follow-ups and the notice that a manager
has taken it over, every one of them in their language with the promised moments in it; the
manager gets a report for each, in the shop's language (English here: ``language`` is not set
in ``[[mailbox]]``). Runs in memory and on Dovecot with the aiosmtpd relay; each ``run`` is
one ``run --once`` at the moment the store says the next chase is due.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest

from inbox_agent.core.promises import next_chase_at
from tests.worlds import (
    MemoryWorld,
    World,
    by_recipient,
    customer_mail,
    ledger,
    london,
    make_settings,
    run,
)

JONAS, CHLOE = "jonas@kunde.example", "chloe@client.example"
MANAGER = "manager@example.com"
SUBJECTS = {
    JONAS: "Rechnung 2211 mit falscher USt-IdNr.",
    CHLOE: "Facture 2211 avec un mauvais numéro de TVA",
}
KINDS = ["acknowledgement", "follow_up", "follow_up", "escalation_notice"]
# Words any English sentence of ours would have; none is a German or French word.
ENGLISH = re.compile(
    r"\b(the|and|you|your|we|will|reply|hello|regards|thank|request|sorry|"
    r"today|tomorrow|time|manager|please)\b",
    re.IGNORECASE,
)
# How each language names the business's zone and its days in a promised moment.
MOMENT = {
    JONAS: re.compile(
        r"bis (heute|morgen|Montag|Dienstag|Mittwoch|Donnerstag|Freitag)"
        r"[^\n]*? \d\d:\d\d Uhr Londoner Zeit"
    ),
    CHLOE: re.compile(
        r"(aujourd'hui, d'ici|demain \(\w+ \d+\u00a0\w+\) d'ici|d'ici le "
        r"\w+ \d+\u00a0\w+,) \d+\u00a0h(\u00a0\d\d)?, heure de Londres"
    ),
}


def both_write(world: World) -> None:
    """Jonas at 10:05 in German, Chloé at 10:07 in French; seen at 10:10."""
    world.deliver(
        customer_mail(
            f"Jonas Becker <{JONAS}>",
            SUBJECTS[JONAS],
            "Guten Tag ...",
            london(16, 10, 5),
            Content_Language="de-DE",
        ),
        london(16, 10, 5),
    )
    world.deliver(
        customer_mail(
            f"Chloé Martin <{CHLOE}>",
            SUBJECTS[CHLOE],
            "Bonjour ...",
            london(16, 10, 7),
            Content_Language="fr",
        ),
        london(16, 10, 7),
    )
    run(world, london(16, 10, 10))


def run_every_chase(world: World, until: datetime) -> None:
    """Run the agent at each moment the store says a chase is due, as the sweep would."""
    while True:
        on_disk, settings = ledger(world.settings), world.settings
        due = [
            m
            for c in on_disk.conversations.values()
            if (m := next_chase_at(c, settings.calendar, settings.promise)) is not None
        ]
        if not due or min(due).astimezone(UTC) > until.astimezone(UTC):
            return
        run(world, min(due))


def text(message: EmailMessage) -> str:
    """The text a customer reads, paragraph lines as they are."""
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")


def kind_of(message: EmailMessage) -> str:
    return str(message["Message-ID"]).split(".")[2]  # <inbox-agent.TOKEN.KIND.x@...>


def english_in(message: EmailMessage, customer: str) -> list[str]:
    """English words in a customer's mail, their own subject and our shop's name aside."""
    read = text(message).replace(SUBJECTS[customer], "").replace("Example Co. Support", "")
    return ENGLISH.findall(read)


def test_each_customer_hears_everything_in_their_own_language(world: World) -> None:
    """Acknowledgement, two follow-ups, the escalation notice: German for Jonas, French for
    Chloé, not one English sentence, each naming their request and a moment in their
    language; the manager's two reports arrive, in the shop's language."""
    both_write(world)
    run_every_chase(world, london(20, 17, 30))
    sent = by_recipient(world.sent())
    assert sorted(sent) == sorted([JONAS, CHLOE, MANAGER])
    for customer, greeting in (
        (JONAS, "Guten Tag Jonas Becker,\n\nvielen Dank"),
        (CHLOE, "Bonjour Chloé Martin,\n\nMerci"),
    ):
        mails = sent[customer]
        assert [kind_of(m) for m in mails] == KINDS
        assert text(mails[0]).startswith(greeting)
        for mail in mails:
            assert english_in(mail, customer) == [], (kind_of(mail), text(mail))
            assert MOMENT[customer].search(text(mail)), (kind_of(mail), text(mail))
            assert f"[#{str(mail['Subject']).split(']')[0][2:]}]" in text(mail)
        for chase in mails[1:]:
            assert SUBJECTS[customer] in text(chase)  # "not forgotten" names the request
    assert "ist nicht vergessen" in text(sent[JONAS][1])
    assert "n'est pas oubliée" in text(sent[CHLOE][1])
    reports = sent[MANAGER]
    assert sorted(SUBJECTS[c] in str(r["Subject"]) for r in reports for c in (JONAS, CHLOE)) == [
        False,
        False,
        True,
        True,
    ]
    for report in reports:
        assert text(report).startswith("This request is now yours:")
        assert "London time (in 1 hour)" in text(report)
        assert "Uhr" not in text(report)
        assert " h " not in text(report)


def test_a_promise_the_agent_missed_is_owned_in_their_language(world: World) -> None:
    """Down past the first promise: the follow-up says, in German and in French, what was
    promised and that it was not kept, with that moment in their words."""
    both_write(world)
    run(world, london(17, 12, 0))  # Tuesday noon: both first promises (Tuesday morning) lapsed
    sent = by_recipient(world.sent())
    german, french = text(sent[JONAS][-1]), text(sent[CHLOE][-1])
    assert re.search(
        r"wir hatten Ihnen eine Antwort bis Dienstag, 17\. November, "
        r"\d\d:\d\d Uhr Londoner Zeit zugesagt und haben das nicht geschafft",
        german,
    )
    assert re.search(
        r"Nous vous avions promis une réponse d'ici le mardi 17\u00a0novembre, "
        r"\d+\u00a0h(\u00a0\d\d)?, heure de Londres, et nous n'avons pas tenu",
        french,
    )
    assert english_in(sent[JONAS][-1], JONAS) == []
    assert english_in(sent[CHLOE][-1], CHLOE) == []


@pytest.mark.parametrize(
    ("language", "opening", "moment"),
    [
        ("de", "Diese Anfrage liegt jetzt bei Ihnen:", "Londoner Zeit (in 1 Stunde)"),
        (
            "fr",
            "Cette demande est désormais la vôtre\u00a0:",
            "heure de Londres (dans 1\u00a0heure)",
        ),
    ],
)
def test_the_managers_report_is_in_the_shops_language(
    tmp_path: Path, language: str, opening: str, moment: str
) -> None:
    """A shop with ``language = "de"`` (or ``"fr"``) gets its reports in that language, an
    English-writing customer's too; the customer's own mail stays in the customer's."""
    settings = make_settings(tmp_path)
    shop = replace(settings, mailboxes=(replace(settings.mailboxes[0], language=language),))
    world = MemoryWorld(shop)
    world.deliver(
        customer_mail(
            "Ana Silva <ana@customer.example>",
            "Invoice",
            "Hello",
            london(16, 10, 5),
            Content_Language="en",
        ),
        london(16, 10, 5),
    )
    run(world, london(16, 10, 10))
    run_every_chase(world, london(20, 17, 30))
    sent = by_recipient(world.sent())
    (report,) = sent[MANAGER]
    assert text(report).startswith(opening)
    assert moment in text(report)
    assert text(sent["ana@customer.example"][-1]).startswith("Hello Ana,")
