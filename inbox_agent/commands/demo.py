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
import sys
import sysconfig
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


def find_templates() -> Path:
    """The default templates: beside the package (a checkout), else where pip put them."""
    candidates = [Path(__file__).resolve().parents[2] / "templates",
                  Path(sysconfig.get_path("data")) / "share" / "inbox-agent" / "templates"]
    for candidate in candidates:
        if (candidate / "acknowledgement.txt.j2").is_file():
            return candidate
    raise FileNotFoundError("default templates not found; reinstall inbox-agent")


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

    def say(self, moment: datetime, arrow: str, text: str) -> None:
        print(f"{moment:%a %d %b %H:%M}  {arrow} {text}")

    async def arrives(self, raw: bytes, moment: datetime, who: str, what: str,
                      folder: str = "INBOX") -> None:
        """Mail arrives at ``moment``; the agent first keeps what fell due before it."""
        await self.sweep_until(moment)
        self.mailbox.deliver(raw, moment, folder)
        self.say(moment, "<-", f"{who}: {what}")

    async def sweep_until(self, moment: datetime) -> None:
        """Run the agent at every chase moment before ``moment``."""
        while (due := self.agent.next_chase()) is not None and due < moment:
            await self.poll(due)

    async def poll(self, moment: datetime) -> None:
        self.now = moment
        before = len(self.mailer.sent)
        report = await self.agent.run_cycle()
        for note in report.notes:
            self.say(moment, "  ", note)
        for record in self.mailer.sent[before:]:
            self.say(moment, "->", f"{record.message['Subject']}  to {record.recipients[0]}")
            self.say(moment, "  ", f"   {_gist(record)}")

    def message_id_sent_to(self, address: str) -> str:
        """The Message-ID of the last mail the agent sent to ``address`` (to reply to it)."""
        return str([r for r in self.mailer.sent if r.recipients == [address]][-1]
                   .message["Message-ID"])


def _gist(record: SentRecord) -> str:
    """The sentence of a sent mail that matters: the promise, or the manager's task."""
    body = record.message.get_body(preferencelist=("plain",))
    text = " ".join(str(body.get_content() if body else "").split())
    for start in ("Now told:", "A manager", "You will hear", "reply to you"):
        found = text.find(start)
        if found >= 0:
            return text[found:].split(". ")[0].split(" To see")[0].rstrip(".")
    return "(no promise stated)"


async def tell(story: Story) -> None:
    """The week, in order."""
    ana, ben = "Ana Silva <ana@customer.example>", "Ben Okafor <ben@shop.example>"
    await story.arrives(mail(ana, "Invoice 2211 shows the wrong VAT number",
                             "Hello, our invoice lists last year's VAT number. Can you "
                             "reissue it?", at(23, 10, 5)),
                        at(23, 10, 5), ana, "Invoice 2211 shows the wrong VAT number")
    await story.poll(at(23, 10, 6))

    await story.arrives(mail(ben, "Can't log in since the update",
                             "The login page just reloads.", at(23, 22, 40)),
                        at(23, 22, 40), ben, "Can't log in (late at night)")
    await story.poll(at(23, 22, 41))

    await story.arrives(mail("Mail Delivery System <MAILER-DAEMON@mx.example.net>",
                             "Undelivered Mail Returned to Sender",
                             "This is the mail system...", at(24, 9, 1),
                             Auto_Submitted="auto-replied"),
                        at(24, 9, 1), "MAILER-DAEMON", "a bounce")
    chloe = "Chloé Martin <chloe@client.example>"
    await story.arrives(mail(chloe, "Out of Office: your order", "Je suis absente jusqu'au 30.",
                             at(24, 9, 2), Auto_Submitted="auto-replied"),
                        at(24, 9, 2), chloe, "an out-of-office reply")
    await story.poll(at(24, 9, 3))

    to_ana = story.message_id_sent_to("ana@customer.example")
    await story.arrives(mail(ana, "Re: Invoice 2211 shows the wrong VAT number",
                             "The right number is GB123456789.", at(24, 9, 5),
                             In_Reply_To=to_ana, References=to_ana),
                        at(24, 9, 5), ana, "adds the right VAT number")
    await story.poll(at(24, 9, 6))

    await story.arrives(mail("Alice <alice@example.com>",
                             "Re: Invoice 2211 shows the wrong VAT number",
                             "Reissued, see attached.", at(24, 9, 25), To=ana,
                             Cc="support@example.com", In_Reply_To=to_ana, References=to_ana),
                        at(24, 9, 25), "Alice (staff)", "replies to Ana, support in Cc")
    await story.poll(at(24, 9, 26))

    # Nobody answers Ben: two follow-ups, each before its promise lapses, then the manager,
    # who writes to him on Friday with support in Cc, so that it counts as the answer.
    to_ben = story.message_id_sent_to("ben@shop.example")
    await story.arrives(mail("Maria <manager@example.com>", "Re: Can't log in since the update",
                             "Sorry for the wait: your account is unlocked now.",
                             at(27, 10, 0), To=ben, Cc="support@example.com",
                             In_Reply_To=to_ben, References=to_ben),
                        at(27, 10, 0), "Maria (manager)", "replies to Ben, support in Cc")
    await story.poll(at(27, 10, 1))
    await story.poll(at(27, 17, 30))
    story.say(at(27, 17, 30), "  ", f"the week ends: {_promises_kept(story)}")


def _promises_kept(story: Story) -> str:
    """How the promises that fell due this week ended, counted from the ledger."""
    outcomes = Counter(p.outcome.value if p.outcome else "running"
                       for c in story.agent.ledger.conversations.values() for p in c.promises)
    return ", ".join(f"{count} {outcome}" for outcome, count in sorted(outcomes.items())) + (
        " (kept: staff replied in time; extended: restated before it lapsed)")


def command(args: argparse.Namespace) -> int:
    """``inbox-agent demo``; with ``-v`` the agent's own log too."""
    if not args.verbose:  # the demo prints its own timeline; the log would repeat it
        logging.getLogger("inbox_agent").setLevel(logging.WARNING)
    return asyncio.run(main())


async def main() -> int:
    """Run the story and print it; returns the exit status."""
    with tempfile.TemporaryDirectory(prefix="inbox-agent-demo-") as tmp:
        settings = config.parse(DEMO_CONFIG, Path(tmp) / "demo.toml")
        settings = _with_templates(settings, find_templates())
        print("inbox-agent demo: Example Co. Support, open Mon-Fri 09:00-17:30 London time;")
        print("a person replies within 8 business hours. The week of 23 November 2026:\n")
        with Store(settings.agent.data_dir) as store:
            story = Story(settings, store)
            await tell(story)
            print()
            conversations = views.select(story.agent.ledger, "all")
            zone = settings.calendar.timezone
            print(views.threads_table(conversations, zone=zone))
            print(f"\n$ inbox-agent thread {conversations[-1].id}\n")
            print(views.thread_text(conversations[-1], story.agent.ledger, zone))
            print("\nThe first acknowledgement, as sent:\n")
            sys.stdout.write(story.mailer.sent[0].raw.decode("utf-8", "replace")
                             .replace("\r\n", "\n"))
    return 0


def _with_templates(settings: config.Settings, templates: Path) -> config.Settings:
    return replace(settings, agent=replace(settings.agent, templates_dir=templates))
