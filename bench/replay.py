"""``inbox-agent replay`` over a month of a support mailbox: how long it takes, how much memory.

Writes an mbox of N customers writing over four weeks (Monday to Friday, 08:00 to 19:00
London time, in order), staff answering two in three of them from the support address within
two hours, and runs ``replay`` on it in a child process, as a user would; prints the wall
time, the peak RSS and the summary line.

    python bench/replay.py              # N = 500 and 2,000
    python bench/replay.py 5000

Prints figures; no threshold.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.worlds import CONFIG  # the tests' config, its servers nowhere

LONDON = ZoneInfo("Europe/London")
START = datetime(2026, 11, 2, 8, 0, tzinfo=LONDON)  # a Monday


def _mail(
    sender: str,
    to: str,
    subject: str,
    *,
    sent: datetime,
    message_id: str,
    in_reply_to: str | None = None,
) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg["Date"], msg["Message-ID"] = format_datetime(sent), message_id
    if in_reply_to:
        msg["In-Reply-To"] = msg["References"] = in_reply_to
    msg.set_content("Hello,\n\nmy order has not arrived yet. Could you look into it?\n" * 3)
    return msg.as_bytes()


def _moments(count: int) -> list[datetime]:
    """``count`` moments spread over the open hours of four weeks."""
    days = [day for d in range(28) if (day := START + timedelta(days=d)).weekday() < 5]
    span = 11 * 3600 * len(days)
    found = []
    for n in range(count):
        offset = n * span // count
        day, seconds = divmod(offset, 11 * 3600)
        found.append(days[day] + timedelta(seconds=seconds))
    return found


def write_export(path: Path, count: int) -> None:
    """The mbox: each customer's mail, and staff's answer to two in three of them."""
    mails = []
    for n, moment in enumerate(_moments(count)):
        customer = f"customer{n}@shop{n % 97}.example"
        message_id = f"<{n}@shop.example>"
        mails.append(
            (
                moment,
                _mail(
                    f"Customer {n} <{customer}>",
                    "support@example.com",
                    f"Order {1000 + n}",
                    sent=moment,
                    message_id=message_id,
                ),
            )
        )
        if n % 3:
            answered = moment + timedelta(minutes=20 + n % 100)
            mails.append(
                (
                    answered,
                    _mail(
                        "support@example.com",
                        customer,
                        f"Re: Order {1000 + n}",
                        sent=answered,
                        message_id=f"<r{n}@example.com>",
                        in_reply_to=message_id,
                    ),
                )
            )
    with path.open("wb") as out:
        for moment, raw in sorted(mails, key=lambda m: m[0]):
            stamp = moment.astimezone(UTC).strftime("%a %b %d %H:%M:%S %Y")
            out.write(f"From support@example.com {stamp}\n".encode() + raw.rstrip(b"\n") + b"\n\n")


def run(count: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        config = root / "config.toml"
        config.write_text(
            CONFIG.format(
                data_dir=root / "state",
                templates=ROOT / "templates",
                address="support@example.com",
                imap_host="127.0.0.1",
                imap_port=9,
                imap_user="support@example.com",
                folder="INBOX",
                smtp_host="127.0.0.1",
                smtp_port=9,
            ),
            encoding="utf-8",
        )
        export = root / "month.mbox"
        write_export(export, count)
        started = time.perf_counter()
        done = subprocess.run(  # noqa: S603
            [
                sys.executable,
                "-m",
                "inbox_agent",
                "--config",
                str(config),
                "replay",
                str(export),
            ],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        )
        took = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        size = export.stat().st_size / 1e6
        print(
            f"{count:>6} customers, {size:5.1f} MB mbox: {took:6.1f} s, peak RSS {peak:4.0f} MB"
            f" (the largest child so far)\n        {done.stdout.splitlines()[-1]}"
        )


if __name__ == "__main__":
    for count in [int(a) for a in sys.argv[1:]] or [500, 2000]:
        run(count)
