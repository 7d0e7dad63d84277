"""``inbox-agent demo``: the real pipeline on an in-process mailbox, told as a timeline.

Nothing is faked but the servers and the clock: the embedded config goes through the real
config loader, mail through the real parser, triage, business-time promises, templates and the
outbox, and the ledger through the real TinyDB store in a temporary folder. The mailbox and the
mail relay are the in-memory ones from ``adapters.memory``; the clock is moved by hand through
a working week, so the story takes a second instead of days.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import logging
import os
import re
import tempfile
from collections import Counter
from dataclasses import replace
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from inbox_agent import config
from inbox_agent.adapters.memory import MemoryMailbox, MemoryMailer, SentRecord
from inbox_agent.adapters.store import Store
from inbox_agent.agent import cycle
from inbox_agent.commands import views

LONDON = ZoneInfo("Europe/London")
MANAGER = "manager@example.com"
DEMO_CONFIG = """
[agent]
poll_interval_seconds = 60

[business_hours]
timezone = "Europe/London"
days = ["mon", "tue", "wed", "thu", "fri"]
start = "09:00"
end = "17:30"
holidays = ["2026-12-25", "2026-12-26"]

[promise]
first_reply_within = "8h"
follow_up_before = "1h"
extend_by = "8h"
max_follow_ups = 2
escalate_to = "manager@example.com"
skip_older_than = "2d"

[[mailbox]]
name = "support"
address = "support@example.com"
display_name = "Example Co. Support"
staff = ["alice@example.com"]

[mailbox.imap]
host = "imap.example.com"
username = "support@example.com"
password_env = "DEMO_UNUSED"

[mailbox.smtp]
host = "smtp.example.com"
username = "support@example.com"
password_env = "DEMO_UNUSED"
"""


def at(day: int, hour: int, minute: int) -> datetime:
    """A moment in the demo week (Monday 23 November 2026 is day 23), London time."""
    return datetime(2026, 11, day, hour, minute, tzinfo=LONDON)


def mail(sender: str, subject: str, body: str, sent: datetime, **headers: str) -> bytes:
    """A message as a mail client would write it."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "Example Co. Support <support@example.com>"
    msg["Subject"] = subject
    msg["Date"] = format_datetime(sent)
    digest = hashlib.sha256(f"{sender}{subject}{sent}".encode()).hexdigest()[:20]
    msg["Message-ID"] = f"<{digest}@mail.example.net>"
    for name, value in headers.items():
        del msg[name.replace("_", "-")]  # To= replaces the support address
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg.as_bytes()


class Story:
    """Drives the agent through the week and prints what happens.

    The clock moves to each arrival, and in between to each moment the store says a promise
    needs chasing, as the daemon's sweep would find it.
    """

    def __init__(self, settings: config.Settings, store: Store) -> None:
        self.now = at(23, 8, 0)
        self.mailbox = MemoryMailbox()
        self.mailer = MemoryMailer()
        adapters = cycle.Adapters(mailbox=lambda _: self.mailbox, mailer=lambda _: self.mailer)
        self.agent = cycle.Agent(settings, store, adapters, clock=lambda: self.now)

    def say(self, moment: datetime, text: str) -> None:
        print(f"{moment:%a %d %b %H:%M}  {text}")

    async def arrives(self, raw: bytes, moment: datetime, what: str, folder: str = "INBOX") -> None:
        """Mail arrives at ``moment``; the agent first keeps what fell due before it."""
        await self.sweep_until(moment)
        self.mailbox.deliver(raw, moment, folder)
        self.say(moment, what)

    async def sweep_until(self, moment: datetime) -> None:
        """Run the agent at every chase moment before ``moment``."""
        while (due := self.agent.next_chase()) is not None and due < moment:
            await self.poll(due)

    async def poll(self, moment: datetime) -> None:
        self.now = moment
        before = len(self.mailer.sent)
        report = await self.agent.run_cycle()
        for note in report.notes:
            self.say(moment, sentence(note))
        for record in self.mailer.sent[before:]:
            self.say(moment, _sent(record))

    def message_id_sent_to(self, address: str) -> str:
        """The Message-ID of the last mail the agent sent to ``address`` (to reply to it)."""
        return str(
            [r for r in self.mailer.sent if r.recipients == [address]][-1].message["Message-ID"]
        )


# The agent's notes (one per message filed or promise chased, as the log has them), told as
# sentences; a note of another shape is shown as it is, made a sentence.
_NOTES = (
    (
        re.compile(r"started \[#(\w+)\] as customer mail"),
        "The agent files it as a new conversation, [#{0}].",
    ),
    (
        re.compile(r"filed into \[#(\w+)\] as (\w+) mail"),
        "The agent files it into [#{0}] as {1} mail.",
    ),
    (
        re.compile(r"filed without a reply: (.+)"),
        "The agent files it without a reply. The reason: {0}.",
    ),
    (
        re.compile(r"\[#(\w+)\] (follow-up \d+); new promise (.+)"),
        "Nobody has answered [#{0}] and its promise is an hour away, so the agent sends {1} "
        "with a new promise, {2}.",
    ),
    (
        re.compile(r"\[#(\w+)\] escalation; new promise (.+)"),
        "Still nobody has answered [#{0}], so the agent hands it to the manager, who is to "
        "reply by {1}.",
    ),
)
_KINDS = {
    "acknowledgement": "the acknowledgement",
    "follow_up": "a follow-up",
    "escalation": "the report",
    "escalation_notice": "the escalation notice",
}


def sentence(note: str) -> str:
    """An agent's note as a sentence for the demo's timeline."""
    for pattern, told in _NOTES:
        if (match := pattern.fullmatch(note)) is not None:
            return told.format(*match.groups())
    return note[:1].upper() + note[1:] + ("" if note.endswith(".") else ".")


def _sent(record: SentRecord) -> str:
    """What the agent sent, to whom, and the sentence of it that matters."""
    kind = str(record.message["Message-ID"]).split(".")[2]  # <inbox-agent.TOKEN.KIND.x@...>
    return f"It sends {_KINDS.get(kind, kind)} to {record.recipients[0]}: “{_gist(record)}”"


def _gist(record: SentRecord) -> str:
    """The sentence of a sent mail that matters: the promise (the demo's shop is in London),
    or for the manager, the first paragraph: whose the request is now."""
    body = record.message.get_body(preferencelist=("plain",))
    text = str(body.get_content() if body else "").replace("\r\n", "\n")
    paragraphs = [" ".join(p.split()) for p in text.split("\n\n") if p.strip()]
    if record.recipients[0] == MANAGER:
        return paragraphs[0]
    sentences = [s for p in paragraphs for s in re.split(r"(?<=\.) (?=[A-Z])", p)]
    return next((s for s in sentences if "London time" in s), "(no promise stated)")


async def tell(story: Story) -> None:
    """The week, in order."""
    ana, ben = "Ana Silva <ana@customer.example>", "Ben Okafor <ben@shop.example>"
    await story.arrives(
        mail(
            ana,
            "Invoice 2211 shows the wrong VAT number",
            "Hello, our invoice lists last year's VAT number. Can you reissue it?",
            at(23, 10, 5),
        ),
        at(23, 10, 5),
        "Ana Silva writes: “Invoice 2211 shows the wrong VAT number”.",
    )
    await story.poll(at(23, 10, 6))

    await story.arrives(
        mail(ben, "Can't log in since the update", "The login page just reloads.", at(23, 22, 40)),
        at(23, 22, 40),
        "Ben Okafor writes, late at night: “Can't log in since the update”.",
    )
    await story.poll(at(23, 22, 41))

    await story.arrives(
        mail(
            "Mail Delivery System <MAILER-DAEMON@mx.example.net>",
            "Undelivered Mail Returned to Sender",
            "This is the mail system...",
            at(24, 9, 1),
            Auto_Submitted="auto-replied",
        ),
        at(24, 9, 1),
        "A mail server sends a bounce.",
    )
    chloe = "Chloé Martin <chloe@client.example>"
    await story.arrives(
        mail(
            chloe,
            "Out of Office: your order",
            "Je suis absente jusqu'au 30.",
            at(24, 9, 2),
            Auto_Submitted="auto-replied",
        ),
        at(24, 9, 2),
        "Chloé Martin's mail program sends an out-of-office reply.",
    )
    await story.poll(at(24, 9, 3))

    to_ana = story.message_id_sent_to("ana@customer.example")
    await story.arrives(
        mail(
            ana,
            "Re: Invoice 2211 shows the wrong VAT number",
            "The right number is GB123456789.",
            at(24, 9, 5),
            In_Reply_To=to_ana,
            References=to_ana,
        ),
        at(24, 9, 5),
        "Ana replies with the right VAT number.",
    )
    await story.poll(at(24, 9, 6))

    await story.arrives(
        mail(
            "Alice <alice@example.com>",
            "Re: Invoice 2211 shows the wrong VAT number",
            "Reissued, see attached.",
            at(24, 9, 25),
            To=ana,
            Cc="support@example.com",
            In_Reply_To=to_ana,
            References=to_ana,
        ),
        at(24, 9, 25),
        "Alice, of the staff, answers Ana with the support address in Cc.",
    )
    await story.poll(at(24, 9, 26))

    # Nobody answers Ben: two follow-ups, each before its promise lapses, then the manager,
    # who writes to him on Friday with support in Cc, so that it counts as the answer.
    to_ben = story.message_id_sent_to("ben@shop.example")
    await story.arrives(
        mail(
            "Maria <manager@example.com>",
            "Re: Can't log in since the update",
            "Sorry for the wait: your account is unlocked now.",
            at(27, 10, 0),
            To=ben,
            Cc="support@example.com",
            In_Reply_To=to_ben,
            References=to_ben,
        ),
        at(27, 10, 0),
        "Maria, the manager, answers Ben with the support address in Cc.",
    )
    await story.poll(at(27, 10, 1))
    await story.poll(at(27, 17, 30))
    story.say(at(27, 17, 30), _promises_kept(story))


_OUTCOMES = {
    "kept": "staff replied in time",
    "extended": "the customer was told a new moment before it lapsed",
    "missed": "the moment passed first",
    "withdrawn": "closed by staff",
    "running": "still running",
}


def _promises_kept(story: Story) -> str:
    """How the week's promises ended, counted from the ledger, as a sentence."""
    outcomes = Counter(
        p.outcome.value if p.outcome else "running"
        for c in story.agent.ledger.conversations.values()
        for p in c.promises
    )
    told = [
        f"{count} {outcome} ({_OUTCOMES[outcome]})"
        for outcome, count in sorted(outcomes.items(), key=lambda item: -item[1])
    ]
    listed = told[0] if len(told) == 1 else ", ".join(told[:-1]) + " and " + told[-1]
    return f"The week ends. Of its {outcomes.total()} promises, {listed}."


def command(args: argparse.Namespace) -> int:
    """``inbox-agent demo``; with ``-v`` the agent's own log too."""
    if not args.verbose:  # the demo prints its own timeline; the log would repeat it
        logging.getLogger("inbox_agent").setLevel(logging.WARNING)
    return asyncio.run(main())


async def main() -> int:
    """Run the story and print it; returns the exit status."""
    with tempfile.TemporaryDirectory(prefix="inbox-agent-demo-") as tmp:
        settings = config.parse(DEMO_CONFIG, Path(tmp) / "demo.toml")
        settings = _with_templates(settings, config.packaged_templates())
        print(
            "A week at Example Co. Support, with inbox-agent running on a mailbox, a mail "
            "relay and a clock inside this program: no account is needed, and no mail "
            "leaves it."
        )
        print(
            "The shop is open Monday to Friday, 09:00–17:30 London time, and promises a "
            "reply within 8 business hours.\n"
        )
        with Store(settings.agent.data_dir) as store:
            story = Story(settings, store)
            await tell(story)
            print("\nWhat the agent filed, as `inbox-agent threads --status all` shows it:\n")
            conversations = views.select(story.agent.ledger, "all")
            zone = settings.calendar.timezone
            print(views.threads_table(conversations, zone=zone))
            print(
                f"\nBen's conversation in full, as `inbox-agent thread "
                f"{conversations[-1].id}` shows it:\n"
            )
            print(views.thread_text(conversations[-1], story.agent.ledger, zone))
            print("\nThe acknowledgement Ana got, as her mail program shows it:\n")
            print(_as_read(story.mailer.sent[0].message))
    print(next_step())
    return 0


def _as_read(message: EmailMessage) -> str:
    """A mail as its reader sees it: the headers people read, then the text."""
    headers = "\n".join(f"{name}: {message[name]}" for name in ("From", "To", "Subject", "Date"))
    body = message.get_body(preferencelist=("plain",))
    text = str(body.get_content() if body else "").replace("\r\n", "\n").rstrip()
    return f"{headers}\n\n{text}"


def next_step() -> str:
    """Where to go from the demo: a config of one's own, then ``check``."""
    example = Path(__file__).resolve().parents[2] / "config.example.toml"
    steps = [
        (
            f"cp {_shown(example) if example.is_file() else 'config.example.toml'} config.toml",
            "then fill in your address, staff and servers",
        ),
        ("inbox-agent check", "logs in to both servers and says what to fix"),
    ]
    width = max(len(command) for command, _ in steps) + 3
    lines = [f"    {command:<{width}}# {why}" for command, why in steps]
    where = "" if example.is_file() else "; config.example.toml is in the inbox-agent source"
    return (
        "\nNext, to point it at your own mailbox:\n\n" + "\n".join(lines) + "\n\n"
        f"README.md, “Pointing it at a real mailbox”, goes step by step{where}."
    )


def _shown(path: Path) -> str:
    """``path`` as a person would type it from here: relative when under the cwd."""
    relative = os.path.relpath(path)
    return path.as_posix() if relative.startswith("..") else Path(relative).as_posix()


def _with_templates(settings: config.Settings, templates: Path) -> config.Settings:
    return replace(settings, agent=replace(settings.agent, templates_dir=templates))
