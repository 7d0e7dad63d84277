"""Throughput: N new customer mails through ``inbox-agent run --once`` against the protocol floor.

Starts Dovecot (else pymap) and an aiosmtpd sink the way the test fixtures do
(``tests/servers.py``), then for each N:

* **the agent**: a fresh account with N distinct customer mails (different senders, subjects
  and Message-IDs, dated now) in its INBOX, a fresh data_dir and config (business hours all
  week, 00:00-23:59, so the time of day does not matter), and one ``inbox-agent --config ...
  run --once`` in a subprocess, as a user runs it, timed from start to exit (interpreter
  start and imports included). Afterwards it checks that the sink received exactly N
  acknowledgements, to N different customers, and that the Sent folder holds N copies: a
  broken run is reported as such, not as a figure.
* **the protocol floor**, in the same run, on a second account holding the same kind of mail:
  with imapclient SELECT + UID SEARCH + FETCH (BODY.PEEK[] and INTERNALDATE, chunks of 1,000);
  with aiosmtplib N acknowledgement-sized mails (the agent's mean size) in one SMTP session;
  with imapclient N APPENDs of them to Sent. The agent does all three per mail, plus logic.

It prints the machine, then per N: the floor (each step and total), the agent, the ratio
agent / floor, milliseconds per mail, the data_dir's size afterwards and the agent's peak
RSS. The floor is measured three times (``--floor-runs``) and the fastest kept: it is a
lower bound, and on a shared machine Dovecot's fsyncs make one APPEND run take up to 4x
another. The agent runs once per N (a 1,000-mail run takes minutes today).

    python bench/throughput.py                      # 1,000 mails
    python bench/throughput.py --mails 200,1000     # several sizes, one line each
    python bench/throughput.py --mails 400 --profile   # also a cProfile'd run: top 15 by
                                                       # cumulative time (its time inflated)
    python bench/throughput.py --code /tmp/before   # the inbox_agent of another tree (e.g.
                                                    # `git archive` of a commit), run as
                                                    # `python -m inbox_agent` from there

The agent is only driven through its command line (the contract), so the bench survives the
package being reorganised. Needs Dovecot (``apt-get install dovecot-imapd``) and root, as the
IMAP tests do. Prints figures; there is no threshold.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import pstats
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

import aiosmtplib
from imapclient import IMAPClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import PASSWORD_ENV, agent_command, load, print_machine, write_config
from tests.servers import ImapAccount, ImapServer, SmtpSink, imap_kind, start_imap_server

CHUNK = 1_000
BODY = """\
Hello,

my order {order} arrived yesterday but the {item} in it does not switch on. I charged it
overnight and tried the reset button as the leaflet says. Could you tell me what to do, or
send a replacement? The receipt is in my account.

Thank you,
{name}
"""
ITEMS = ("kettle", "lamp", "speaker", "router", "toothbrush", "scale", "fan", "clock")


# --- mail --------------------------------------------------------------------------------------


def customer_mail(run: str, n: int, now: datetime) -> bytes:
    """A person's first mail to support: its own sender, subject and Message-ID."""
    msg = EmailMessage()
    name = f"Customer {run}-{n}"
    msg["From"] = f"{name} <c{n}.{run}@customer{n % 97}.example>"
    msg["To"] = "Example Co. Support <support@example.com>"
    msg["Subject"] = f"My {ITEMS[n % len(ITEMS)]} from order {run}-{n:05d} does not work"
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = make_msgid(f"{run}.{n}", domain=f"customer{n % 97}.example")
    msg.set_content(BODY.format(order=f"{run}-{n:05d}", item=ITEMS[n % len(ITEMS)], name=name))
    return msg.as_bytes()


def ack_sized_mail(n: int, size: int, now: datetime) -> EmailMessage:
    """An automatic reply of about ``size`` bytes, headers as the agent writes them."""
    msg = EmailMessage()
    msg["From"] = "Example Co. Support <support@example.com>"
    msg["To"] = f"c{n}@customer.example"
    msg["Subject"] = f"[#F{n:05d}] Re: My order does not work"
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = make_msgid(f"floor.{n}", domain="example.com")
    msg["In-Reply-To"] = f"<customer.{n}@customer.example>"
    msg["References"] = f"<customer.{n}@customer.example>"
    msg["Auto-Submitted"] = "auto-replied"
    msg["X-Auto-Response-Suppress"] = "All"
    msg.set_content("x")
    filler = max(size - len(msg.as_bytes()), 0)
    line = "Thank you for writing to Example Co. Support; a person will reply soon.\n"
    msg.set_content((line * (filler // len(line) + 1))[:filler] or "x")
    return msg


@contextlib.contextmanager
def session(account: ImapAccount) -> Iterator[IMAPClient]:
    imap = IMAPClient(account.server.host, port=account.server.port, ssl=False, timeout=60)
    try:
        imap.login(account.username, account.password)
        yield imap
    finally:
        with contextlib.suppress(Exception):
            imap.logout()


def new_account(server: ImapServer, label: str) -> ImapAccount:
    address = f"{label}-{secrets.token_hex(3)}@example.com"
    password = secrets.token_hex(8)
    server.add_user(address, password)
    return ImapAccount(server, address, password, address)


def fill_inbox(account: ImapAccount, count: int, now: datetime) -> None:
    run = secrets.token_hex(3)
    with session(account) as imap:
        for n in range(count):
            imap.append("INBOX", customer_mail(run, n, now), msg_time=now)


# --- the floor -----------------------------------------------------------------------------------


def floor_fetch(account: ImapAccount, count: int) -> float:
    """Connect, log in, SELECT, UID SEARCH, FETCH bodies and arrival times in chunks."""
    started = time.perf_counter()
    with session(account) as imap:
        imap.select_folder("INBOX", readonly=True)
        uids = imap.search(["UID", "1:*"])
        got = 0
        for first in range(0, len(uids), CHUNK):
            fetched = imap.fetch(uids[first : first + CHUNK], ["BODY.PEEK[]", "INTERNALDATE"])
            got += sum(1 for data in fetched.values() if data.get(b"BODY[]"))
    took = time.perf_counter() - started
    if got != count:
        raise SystemExit(f"floor: fetched {got} of {count} mails")
    return took


async def floor_send(sink: SmtpSink, mails: list[EmailMessage]) -> float:
    started = time.perf_counter()
    smtp = aiosmtplib.SMTP(
        hostname=sink.host, port=sink.port, use_tls=False, start_tls=False, timeout=60
    )
    await smtp.connect()
    for mail in mails:
        await smtp.send_message(mail)
    await smtp.quit()
    return time.perf_counter() - started


def floor_append(account: ImapAccount, raws: list[bytes], now: datetime) -> float:
    started = time.perf_counter()
    with session(account) as imap:
        for raw in raws:
            imap.append("Sent", raw, msg_time=now)
    return time.perf_counter() - started


@dataclass
class Floor:
    fetch: float
    send: float
    append: float

    @property
    def total(self) -> float:
        return self.fetch + self.send + self.append


def measure_floor(server: ImapServer, count: int, ack_size: int) -> Floor:
    account = new_account(server, "floor")
    now = datetime.now(UTC)
    fill_inbox(account, count, now)
    fetch = floor_fetch(account, count)
    mails = [ack_sized_mail(n, ack_size, now) for n in range(count)]
    sink = SmtpSink()
    sink.start()
    try:
        send = asyncio.run(floor_send(sink, mails))
        if len(sink.received) != count:
            raise SystemExit(f"floor: the sink received {len(sink.received)} of {count}")
    finally:
        sink.stop()
    append = floor_append(account, [m.as_bytes() for m in mails], now)
    return Floor(fetch, send, append)


# --- the agent -----------------------------------------------------------------------------------


@dataclass
class AgentRun:
    seconds: float
    acks: int
    recipients: int
    sent_copies: int
    data_bytes: int
    data_files: int
    mean_ack_bytes: int
    peak_rss_mb: float
    log: Path


def folder_size(path: Path) -> tuple[int, int]:
    files = [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files), len(files)


def run_agent(  # noqa: PLR0917
    server: ImapServer,
    work: Path,
    count: int,
    command: list[str],
    env: dict[str, str],
    templates: Path,
    timeout: float,
    profile: Path | None = None,
) -> AgentRun:
    account = new_account(server, "support")
    fill_inbox(account, count, datetime.now(UTC))
    sink = SmtpSink()
    sink.start()
    try:
        data_dir = work / "data"
        config = write_config(
            work / "config.toml",
            data_dir=data_dir,
            templates=templates,
            address=account.address,
            imap_port=server.port,
            smtp_port=sink.port,
        )
        argv = [*command, "--config", str(config), "run", "--once"]
        if profile is not None:
            argv = [
                sys.executable,
                "-m",
                "cProfile",
                "-o",
                str(profile),
                "-m",
                "inbox_agent",
                *argv[len(command) :],
            ]
        log = work / "agent.log"
        started = time.perf_counter()
        with log.open("wb") as out:
            process = subprocess.Popen(  # noqa: S603
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**env, PASSWORD_ENV: account.password},
                cwd=work,
            )
            watchdog = threading.Timer(timeout, process.kill)
            watchdog.start()
            try:  # wait4, not wait: its rusage is this child's alone (peak RSS)
                _, status, usage = os.wait4(process.pid, 0)
            finally:
                watchdog.cancel()
            process.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        if process.returncode != 0:
            raise SystemExit(
                f"the agent exited {process.returncode}; its log ({log}):\n"
                + "\n".join(log.read_text(errors="replace").splitlines()[-20:])
            )
        received = sink.received
    finally:
        sink.stop()
    acks = [r for r in received if r.message.get("Auto-Submitted") == "auto-replied"]
    with session(account) as imap:
        copies = int(imap.folder_status("Sent", [b"MESSAGES"])[b"MESSAGES"])
    size, files = folder_size(data_dir)
    mean = sum(len(r.raw) for r in acks) // len(acks) if acks else 0
    return AgentRun(
        seconds,
        len(acks),
        len({tuple(r.rcpt_tos) for r in acks}),
        copies,
        size,
        files,
        mean,
        usage.ru_maxrss / 1024,
        log,
    )  # Linux: ru_maxrss in KiB


# Frames that only carry the call down to the agent's work: left out of the cumulative table.
PLUMBING = (
    "runpy",
    "asyncio",
    "<frozen",
    "<string>",
    "<built-in method builtins.exec>",
    "_contextvars",
    "selectors",
    "__main__.py",
    "cProfile",
    "profile",
)


def print_profile(path: Path, top: int = 15) -> None:
    """Top ``top`` by cumulative time (the event loop and interpreter plumbing left out), then
    the top ten by own time, each with its share of the whole run."""
    stats = pstats.Stats(str(path))
    table: dict[tuple[str, int, str], tuple[int, int, float, float, object]] = stats.stats  # type: ignore[attr-defined]
    whole = max(entry[3] for entry in table.values())

    def name(key: tuple[str, int, str]) -> str:
        file, line, function = key
        if file == "~":
            return function
        parts = Path(file).parts
        short = (
            "/".join(parts[parts.index("inbox_agent") :])
            if "inbox_agent" in parts
            else "/".join(parts[-2:])
        )
        return f"{short}:{line}({function})"

    rows = [
        (key, entry)
        for key, entry in table.items()
        if not any(mark in name(key) or mark in key[0] for mark in PLUMBING)
    ]
    print(f"    top {top} by cumulative time of {whole:.1f} s (plumbing left out):")
    print(f"    {'calls':>9} {'cumul s':>8} {'share':>6} {'own s':>7}  function")
    for key, (_, calls, own, cumulative, _) in sorted(
        rows, key=lambda row: row[1][3], reverse=True
    )[:top]:
        print(
            f"    {calls:>9} {cumulative:>8.2f} {cumulative / whole:>6.0%} {own:>7.2f}  {name(key)}"
        )
    print("    top 10 by own time:")
    for key, (_, calls, own, cumulative, _) in sorted(
        table.items(), key=lambda row: row[1][2], reverse=True
    )[:10]:
        print(f"    {calls:>9} {cumulative:>8.2f} {own / whole:>6.0%} {own:>7.2f}  {name(key)}")


# --- main ----------------------------------------------------------------------------------------


def main() -> None:  # noqa: PLR0915
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--mails",
        default="1000",
        help="comma-separated numbers of new customer mails (default 1000)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="after each timed run, one more under cProfile; print its top 15",
    )
    parser.add_argument(
        "--code",
        type=Path,
        default=None,
        help="run `python -m inbox_agent` from this source tree instead of "
        "the installed `inbox-agent` command",
    )
    parser.add_argument(
        "--floor-runs",
        type=int,
        default=3,
        help="measure the floor this many times, each on a fresh account, "
        "and keep the fastest (default 3): on a shared machine one "
        "APPEND run can take 4x another, and the floor is a lower bound",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=3600.0,
        help="seconds one agent run may take (default 3600)",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the scratch folder (logs, data_dirs, the .prof files)",
    )
    options = parser.parse_args()
    sizes = [int(part.replace("_", "")) for part in options.mails.split(",") if part.strip()]

    code = options.code.resolve() if options.code else None
    agent = agent_command(code, ROOT)
    env, command, templates = agent.env, agent.argv, agent.templates

    root = Path(tempfile.mkdtemp(prefix="inbox-agent-throughput-"))
    root.chmod(0o755)  # Dovecot's unprivileged processes must traverse it
    kind = imap_kind()
    server = start_imap_server(root / kind, kind)
    rows = []
    try:
        print_machine(server, code, command, env, ROOT, startup=True)
        for count in sizes:
            work = root / f"agent-{count}"
            work.mkdir()
            print(f"--- {count} mails: the agent ...", flush=True)
            agent = run_agent(server, work, count, command, env, templates, options.timeout)
            ok = agent.acks == count and agent.recipients == count and agent.sent_copies == count
            print(
                f"    agent   {agent.seconds:8.2f} s   peak RSS {agent.peak_rss_mb:.0f} MB, "
                f"acknowledgements at the sink "
                f"{agent.acks} (to {agent.recipients} customers), Sent copies "
                f"{agent.sent_copies}: {'OK' if ok else 'BROKEN RUN'}; load {load()}",
                flush=True,
            )
            if not ok:
                print(f"    the agent's log: {agent.log}; this run's figures mean nothing")
            print(
                f"--- {count} mails: the protocol floor, {options.floor_runs} times ...", flush=True
            )
            floors = []
            for _ in range(options.floor_runs):
                floor = measure_floor(server, count, agent.mean_ack_bytes or 1500)
                floors.append(floor)
                print(
                    f"    floor   {floor.total:8.2f} s   fetch {floor.fetch:.2f} s, SMTP "
                    f"{floor.send:.2f} s ({agent.mean_ack_bytes or 1500} B each), APPEND "
                    f"{floor.append:.2f} s; load {load()}",
                    flush=True,
                )
            floor = min(floors, key=lambda f: f.total)
            rows.append((count, floor, agent, ok))
            if options.profile:
                prof_work = root / f"profile-{count}"
                prof_work.mkdir()
                prof = prof_work / "agent.prof"
                print(f"--- {count} mails: the agent under cProfile ...", flush=True)
                profiled = run_agent(
                    server, prof_work, count, command, env, templates, options.timeout, profile=prof
                )
                print(
                    f"    profiled run {profiled.seconds:.2f} s (cProfile overhead "
                    f"included), {profiled.acks} acknowledgements",
                    flush=True,
                )
                print_profile(prof)
        print(f"\nfloor: the fastest of {options.floor_runs} runs")
        print(
            f"{'mails':>6} {'floor s':>8} {'agent s':>8} {'agent/floor':>11} "
            f"{'ms/mail':>8} {'floor ms/mail':>13} {'data_dir':>10} {'peak RSS':>9}  check"
        )
        for count, floor, agent, ok in rows:
            print(
                f"{count:>6} {floor.total:>8.2f} {agent.seconds:>8.2f} "
                f"{agent.seconds / floor.total:>10.1f}x {agent.seconds * 1000 / count:>8.1f} "
                f"{floor.total * 1000 / count:>13.2f} "
                f"{agent.data_bytes / 1e6:>7.2f} MB {agent.peak_rss_mb:>6.0f} MB  "
                f"{'ok' if ok else 'BROKEN'} ({agent.data_files} files)"
            )
        print(f"load at the end: {load()}")
    finally:
        server.stop()
        if options.keep:
            print(f"scratch folder kept: {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
