"""``inbox-agent demo``: the real pipeline on an in-process mailbox, told as a timeline.

Nothing is faked but the servers and the clock: the embedded config goes through the real
config loader, mail through the real parser, triage, business-time promises, templates and the
outbox, and the ledger through the real TinyDB store in a temporary folder. The mailbox and the
mail relay are the in-memory ones from ``adapters.memory``; the clock is moved by hand through
a working week, so the story takes a second instead of days.
"""

from __future__ import annotations

import hashlib
import sys
import sysconfig
import tempfile
from dataclasses import replace
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from inbox_agent import app, config, views
from inbox_agent.adapters.memory import MemoryMailbox, MemoryMailer, SentRecord
from inbox_agent.adapters.store import Store

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
    candidates = [Path(__file__).resolve().parents[1] / "templates",
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
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg.as_bytes()


class Story:
    """Drives the agent through the week and prints what happens."""

    def __init__(self, settings: config.Settings, store: Store) -> None:
        self.now = at(23, 8, 0)
        self.mailbox = MemoryMailbox()
        self.mailer = MemoryMailer()
        adapters = app.Adapters(mailbox=lambda _: self.mailbox, mailer=lambda _: self.mailer)
        self.agent = app.Agent(settings, store, adapters, clock=lambda: self.now)

    def say(self, moment: datetime, arrow: str, text: str) -> None:
        print(f"{moment:%a %d %b %H:%M}  {arrow} {text}")

    def arrives(self, raw: bytes, moment: datetime, who: str, what: str) -> None:
        self.mailbox.deliver(raw, moment)
        self.say(moment, "<-", f"{who}: {what}")

    async def poll(self, moment: datetime) -> None:
        self.now = moment
        before = len(self.mailer.sent)
        report = await self.agent.run_cycle()
        for note in report.notes:
            self.say(moment, "  ", note)
        for record in self.mailer.sent[before:]:
            self.say(moment, "->", f"{record.message['Subject']}  to {record.recipients[0]}")
            self.say(moment, "  ", f"   promised: {_promise_line(record)}")


def _promise_line(record: SentRecord) -> str:
    """The sentence of a sent mail that states the promise."""
    body = record.message.get_body(preferencelist=("plain",))
    text = " ".join(str(body.get_content() if body else "").split())
    start = text.find("reply to you")
    return text[start:].split(".")[0] if start >= 0 else "(no promise stated)"


async def tell(story: Story) -> None:
    """The week, in order."""
    ana = "Ana Silva <ana@customer.example>"
    first = mail(ana, "Invoice 2211 shows the wrong VAT number",
                 "Hello, our invoice lists last year's VAT number. Can you reissue it?",
                 at(23, 10, 5))
    story.arrives(first, at(23, 10, 5), ana, "Invoice 2211 shows the wrong VAT number")
    await story.poll(at(23, 10, 6))

    ben = "Ben Okafor <ben@shop.example>"
    story.arrives(mail(ben, "Can't log in since the update", "The login page just reloads.",
                       at(23, 22, 40)), at(23, 22, 40), ben, "Can't log in (late at night)")
    await story.poll(at(23, 22, 41))

    story.arrives(mail("Mail Delivery System <MAILER-DAEMON@mx.example.net>",
                       "Undelivered Mail Returned to Sender", "This is the mail system...",
                       at(24, 9, 1), Auto_Submitted="auto-replied"),
                  at(24, 9, 1), "MAILER-DAEMON", "a bounce")
    chloe = "Chloé Martin <chloe@client.example>"
    story.arrives(mail(chloe, "Out of Office: your order", "Je suis absente jusqu'au 30.",
                       at(24, 9, 2), Auto_Submitted="auto-replied"),
                  at(24, 9, 2), chloe, "an out-of-office reply")
    await story.poll(at(24, 9, 3))

    ack = next(iter(story.agent.ledger.outbox))
    story.arrives(mail(ana, "Re: Invoice 2211 shows the wrong VAT number",
                       "The right number is GB123456789.", at(24, 9, 5),
                       In_Reply_To=ack, References=ack),
                  at(24, 9, 5), ana, "adds the right VAT number")
    await story.poll(at(24, 9, 6))

    story.arrives(mail("Alice <alice@example.com>", "Re: Invoice 2211 shows the wrong VAT number",
                       "Reissued, see attached.", at(24, 9, 25), In_Reply_To=ack,
                       References=ack), at(24, 9, 25), "Alice (staff)", "replies to Ana")
    await story.poll(at(24, 9, 26))
    story.say(at(24, 10, 0), "  ", "one more poll: nothing new, nothing sent")
    await story.poll(at(24, 10, 0))


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
            print(views.threads_table(conversations))
            print(f"\n$ inbox-agent thread {conversations[0].id}\n")
            print(views.thread_text(conversations[0], story.agent.ledger))
            print("\nThe first acknowledgement, as sent:\n")
            sys.stdout.write(story.mailer.sent[0].raw.decode("utf-8", "replace")
                             .replace("\r\n", "\n"))
    return 0


def _with_templates(settings: config.Settings, templates: Path) -> config.Settings:
    return replace(settings, agent=replace(settings.agent, templates_dir=templates))
