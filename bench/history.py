"""History: one ``run --once`` cycle with 100 and with 100,000 archived conversations.

Issue 11, item 8: a cycle with 100,000 archived conversations should take at most 1.5x the
cycle with 100, and the agent's peak RSS stay under 150 MB. Starts Dovecot (else pymap) and an
aiosmtpd sink the way the test fixtures do (``tests/servers.py``), then for each archive size N:

* **the data_dir** (once per N, in a child interpreter, so that this process stays small): N
  archived conversations spread evenly over 24 month files (the current month and the 23
  before it), each with 2-4 messages carrying Message-IDs and the In-Reply-To / References
  they name (customer, staff's answer, sometimes the customer again and staff again), the
  record of an acknowledgement whose Message-ID comes from ``composing.make_message_id``,
  its kept promise(s), answered (2 in 3) or closed by staff (1 in 3), quiet for 15 days
  before the moment it was archived; tokens from ``new_token`` against every token taken.
  They are written through the real ``Archive.put``, one put per month (so the index's log
  and its compactions happen as the puts make them), then the same live working set for
  every N (``--live``, default 200 conversations waiting on a running promise due in 2-8
  hours, so that the sweep owes nothing) through ``Store.commit()``.
* **the mail** (the same batch for every N and every repeat; ``--mails`` in all): replies to
  archived conversations (a tenth: half answer staff's last message, half our
  acknowledgement, so the index is asked by message key and by the token in our
  Message-ID; their conversations spread over all the months, in shuffled order), replies
  to live conversations (a twentieth), mail read again (a twentieth: a customer's archived
  message delivered again, the same Message-ID), and new customers (the rest).
* **each repeat** (``--repeat``, default 3): a copy of that data_dir, a fresh IMAP account
  holding the batch, and one ``inbox-agent --config ... run --once`` in a subprocess, timed
  from start to exit as ``bench/throughput.py`` times it (interpreter start and imports
  included). Its peak RSS is the child's ``VmHWM`` read from ``/proc/PID/status`` every
  10 ms while it runs: ``ru_maxrss`` from ``wait4`` is not the child's own on Linux (a child
  started with vfork + exec carries the parent's high-water mark over; it is printed beside,
  as a bound). Afterwards it checks what the cycle must have done (every mail fetched, every
  archived conversation written into brought back, every mail read again known as filed,
  one acknowledgement to each new customer and to each closed conversation written into, as
  many copies in Sent, ``--archivable`` conversations archived by the cycle), and then it
  measures the live file (``inbox-agent.json``), the archive folder, the archive's index
  (``index.bin`` + ``index.log``) and ``Store(data_dir).open()`` (median of 3, imports done
  first, in a child interpreter running the same code as the agent; the files are in the
  page cache, as they are for a daemon that has been running).

Two variants of the data_dir: ``--full-log`` leaves the last four months' index entries in
the index's log (read into a dict at open; the puts alone happen to end on a compaction at
100k), near the most the log holds before it is compacted; ``--archivable K`` adds K live
conversations that are done and quiet, so that the cycle's archive pass (hourly, and in
every ``run --once``) rewrites the current month's file.

It prints the machine, one line per run, then the table: archived N, cycle seconds (median of
the repeats), the ratio to the smallest N, peak RSS, live file, archive, index, store open.

    python bench/history.py                                   # 100 and 100,000 archived
    python bench/history.py --archived 100,10000 --repeat 1   # quicker
    python bench/history.py --profile                         # and a cProfile'd run at the
                                                              # largest N: where the time goes
    python bench/history.py --full-log                        # the index's log near full
    python bench/history.py --archivable 20                   # a cycle that archives too
    python bench/history.py --code /tmp/before                # another tree (with the archive)

The agent is only driven through its command line; the data_dir is written with the store's
and the archive's own classes (imported from ``--code`` when given). Needs Dovecot
(``apt-get install dovecot-imapd``) and root, as the IMAP tests do. Prints figures; there is
no threshold.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# Last, not first: ``inbox_agent`` is then the one the ``inbox-agent`` command runs (an
# editable install may point at another checkout); ``--code`` puts its tree first instead.
sys.path.append(str(ROOT))

from bench.common import PASSWORD_ENV, agent_command, load, print_machine, write_config
from bench.throughput import folder_size, new_account, print_profile, session

MONTHS = 24
DOMAIN = "example.com"  # the bench accounts' domain: our archived Message-IDs carry it
STAFF = "alice@example.com"  # the config's staff (bench/common.py)
ITEMS = ("kettle", "lamp", "speaker", "router", "toothbrush", "scale", "fan", "clock")
BODY = """\
Hello,

{text}

Thank you,
{name}
"""
SAMPLE_EVERY = 0.01  # seconds between two reads of the agent's VmHWM
RECORD_BYTES = 8 + 2 + 13  # one record of the index's log: hash, month, token


# --- the data_dir: written in a child interpreter ----------------------------------------------


def month_start(number: int) -> datetime:
    """The first instant of month ``number`` (``year * 12 + month - 1``), UTC."""
    return datetime(number // 12, number % 12 + 1, 1, tzinfo=UTC)


def generate(  # noqa: PLR0915
    data_dir: Path,
    count: int,
    *,
    live: int,
    mails: Mix,
    seed: int,
    full_log: bool,
    archivable: int,
) -> dict[str, Any]:
    """Write the data_dir (N archived, ``live`` waiting); return the plan the mail is made
    from, and what the writing took. ``full_log``: compact the index before the last four
    months are put, so that they stay in its log (near the most it holds before compacting).
    ``archivable``: live conversations answered and quiet for 15 days besides (archived by the
    cycle's archive pass into the current month's file)."""
    from inbox_agent.adapters.store import Store  # noqa: PLC0415 - the tree under test
    from inbox_agent.agent.composing import make_message_id  # noqa: PLC0415
    from inbox_agent.core.conversations import (  # noqa: PLC0415
        Conversation,
        FiledMessage,
        MailKind,
        Note,
        Outcome,
        Promise,
        Role,
        SentMail,
        new_token,
    )
    from inbox_agent.core.lifecycle import Status  # noqa: PLC0415
    from inbox_agent.core.promises import FIRST_REPLY, WROTE_AGAIN  # noqa: PLC0415

    rng = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    this_month = now.year * 12 + now.month - 1
    taken: set[str] = set()
    ack = MailKind.ACKNOWLEDGEMENT
    started = time.perf_counter()

    def archived(n: int, archived_at: datetime) -> Conversation:
        """Conversation ``n``: 2-4 messages, our acknowledgement, kept promises."""
        customer = f"a{n}@customer{n % 97}.example"
        item = ITEMS[n % len(ITEMS)]
        subject = f"My {item} from order A-{n:06d} does not work"
        first_id = f"<a{n}.{seed}.1@customer{n % 97}.example>"
        token = new_token(first_id, taken)
        taken.add(token)
        t0 = archived_at - timedelta(
            days=15 + n % 20, hours=rng.randrange(24), minutes=rng.randrange(60)
        )
        c = Conversation(
            id=token,
            mailbox="support",
            customer=customer,
            customer_name=f"Customer A{n}",
            subject=subject,
            created_at=t0,
            customer_utc_offset_minutes=0,
        )
        ack_id = make_message_id(token, ack, f"support@{DOMAIN}")
        c.messages.append(
            FiledMessage(first_id, first_id, Role.CUSTOMER, t0, customer, subject, "INBOX")
        )
        c.sent.append(SentMail(ack_id, ack, customer, t0 + timedelta(minutes=1)))
        c.promises.append(Promise(t0 + timedelta(minutes=1), t0 + timedelta(hours=8), FIRST_REPLY))
        shape = n % 3  # 0: customer, staff; 1: customer, more detail, staff; 2: four
        at = t0
        if shape == 1:  # more detail, in reply to our acknowledgement: the same promise
            at += timedelta(minutes=30)
            more = f"<a{n}.{seed}.2@customer{n % 97}.example>"
            c.messages.append(
                FiledMessage(
                    more,
                    more,
                    Role.CUSTOMER,
                    at,
                    customer,
                    f"[#{token}] Re: {subject}",
                    "INBOX",
                    names=(ack_id, first_id),
                )
            )
        at += timedelta(hours=3)
        staff_id = f"<s{n}.{seed}.1@{DOMAIN}>"
        c.messages.append(
            FiledMessage(
                staff_id,
                staff_id,
                Role.STAFF,
                at,
                STAFF,
                f"Re: {subject}",
                "Sent",
                names=(first_id,),
            )
        )
        c.promises[-1].settled_at, c.promises[-1].outcome = at, Outcome.KEPT
        if shape == 2:  # the customer again (a new wait), staff again
            at += timedelta(days=1)
            again = f"<a{n}.{seed}.3@customer{n % 97}.example>"
            c.messages.append(
                FiledMessage(
                    again,
                    again,
                    Role.CUSTOMER,
                    at,
                    customer,
                    f"Re: {subject}",
                    "INBOX",
                    names=(staff_id, first_id),
                )
            )
            c.promises.append(Promise(at, at + timedelta(hours=8), WROTE_AGAIN))
            at += timedelta(hours=2)
            first_staff, staff_id = staff_id, f"<s{n}.{seed}.2@{DOMAIN}>"
            c.messages.append(
                FiledMessage(
                    staff_id,
                    staff_id,
                    Role.STAFF,
                    at,
                    STAFF,
                    f"Re: {subject}",
                    "Sent",
                    names=(again, first_staff, first_id),
                )
            )
            c.promises[-1].settled_at, c.promises[-1].outcome = at, Outcome.KEPT
        if (n // 3) % 3 == 0:  # a third closed by staff, of every shape
            c.status = Status.CLOSED
            c.notes.append(Note(at + timedelta(hours=1), f"closed by {STAFF}"))
        else:
            c.status = Status.ANSWERED
        return c

    # Conversation n lives in month slot n * MONTHS // count: each month one block.
    slots: list[list[int]] = [[] for _ in range(MONTHS)]
    for n in range(count):
        slots[n * MONTHS // count].append(n)
    store = Store(data_dir).open()
    built = put = 0.0
    targets = _targets(count, mails, rng)
    plan: dict[str, Any] = {"archived": [], "reread": [], "live": []}
    wanted = {n: kind for kind in ("archived", "reread") for n in targets[kind]}
    for slot, numbers in enumerate(slots):
        month = this_month - (MONTHS - 1) + slot
        moment = min(month_start(month) + timedelta(days=14, hours=12), now - timedelta(hours=2))
        mark = time.perf_counter()
        conversations = [archived(n, moment) for n in numbers]
        built += time.perf_counter() - mark
        for n, c in zip(numbers, conversations, strict=True):
            if n in wanted:
                plan[wanted[n]].append(
                    {
                        "n": n,
                        "token": c.id,
                        "customer": c.customer,
                        "subject": c.subject,
                        "status": c.status.value,
                        "ack": c.sent[0].message_id,
                        "ids": [m.message_id for m in c.messages],
                        "first": c.messages[0].key,
                        "month": month,
                    }
                )
        mark = time.perf_counter()
        if full_log and slot == MONTHS - 4:
            store.archive.index.compact()
        store.archive.put(conversations, [], moment)
        put += time.perf_counter() - mark
    for n in range(live):  # the live working set: the same for every N
        customer = f"w{n}@customer{n % 89}.example"
        subject = f"Where is my parcel W-{n:05d}?"
        first_id = f"<w{n}.{seed}@customer{n % 89}.example>"
        token = new_token(first_id, taken)
        taken.add(token)
        arrived = now - timedelta(minutes=rng.randrange(360))
        c = Conversation(
            id=token,
            mailbox="support",
            customer=customer,
            customer_name=f"Customer W{n}",
            subject=subject,
            created_at=arrived,
            status=Status.WAITING,
            customer_utc_offset_minutes=0,
        )
        c.messages.append(
            FiledMessage(first_id, first_id, Role.CUSTOMER, arrived, customer, subject, "INBOX")
        )
        ack_id = make_message_id(token, ack, f"support@{DOMAIN}")
        c.sent.append(SentMail(ack_id, ack, customer, arrived + timedelta(seconds=20)))
        c.promises.append(
            Promise(arrived + timedelta(seconds=20), arrived + timedelta(hours=8), FIRST_REPLY)
        )
        store.ledger.conversations[token] = c
        if n in targets["live"]:
            plan["live"].append(
                {
                    "n": n,
                    "token": token,
                    "customer": customer,
                    "subject": subject,
                    "ack": ack_id,
                    "ids": [first_id],
                    "first": first_id,
                }
            )
    for n in range(archivable):  # done and quiet: the cycle's archive pass moves them
        c = archived(10_000_000 + n, now - timedelta(days=2))
        store.ledger.conversations[c.id] = c
    mark = time.perf_counter()
    store.commit()
    committed = time.perf_counter() - mark
    store.close()
    order = {kind: {n: i for i, n in enumerate(targets[kind])} for kind in plan}
    for kind, items in plan.items():  # in the order _targets shuffled them
        items.sort(key=lambda item, kind=kind: order[kind][item["n"]])
    return {
        "plan": plan,
        "build_s": built,
        "put_s": put,
        "commit_s": committed,
        "total_s": time.perf_counter() - started,
        "tokens": len(taken),
    }


@dataclass(frozen=True)
class Mix:
    """How many mails of each kind one batch holds."""

    archived: int  # replies to archived conversations
    live: int  # replies to live conversations
    reread: int  # archived customer mail delivered again
    new: int  # new customers

    @classmethod
    def of(cls, mails: int, live_set: int) -> Mix:
        archived = max(1, mails // 10)
        live = min(live_set, max(1, mails // 20))
        reread = max(1, mails // 20)
        return cls(archived, live, reread, max(0, mails - archived - live - reread))

    @property
    def total(self) -> int:
        return self.archived + self.live + self.reread + self.new


def _targets(count: int, mix: Mix, rng: random.Random) -> dict[str, list[int]]:
    """Which archived conversations are written into and read again (evenly spread over the
    archive, so over every month; shuffled), and which live ones are written into."""
    if mix.archived + mix.reread > count:
        raise SystemExit(
            f"{count} archived conversations are fewer than the "
            f"{mix.archived + mix.reread} the mail refers to"
        )
    archived = [k * count // mix.archived for k in range(mix.archived)]
    chosen = set(archived)
    reread: list[int] = []
    for k in range(mix.reread):
        n = (k * count // mix.reread + count // (2 * mix.reread)) % count
        while n in chosen:
            n = (n + 1) % count
        chosen.add(n)
        reread.append(n)
    rng_order = random.Random(rng.random())
    rng_order.shuffle(archived)
    rng_order.shuffle(reread)
    return {"archived": archived, "reread": reread, "live": list(range(mix.live))}


# --- the mail ----------------------------------------------------------------------------------


def mail(
    sender: str,
    name: str,
    subject: str,
    message_id: str,
    *,
    now: datetime,
    text: str,
    replying: list[str] | None = None,
) -> bytes:
    """A person's mail; ``replying``: the ids it answers, oldest first (References), the last
    one In-Reply-To."""
    msg = EmailMessage()
    msg["From"] = f"{name} <{sender}>"
    msg["To"] = f"Example Co. Support <support@{DOMAIN}>"
    msg["Subject"] = subject
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = message_id
    if replying:
        msg["In-Reply-To"] = replying[-1]
        msg["References"] = " ".join(replying)
    msg.set_content(BODY.format(text=text, name=name))
    return msg.as_bytes()


def batch(plan: dict[str, Any], mix: Mix, tag: str, now: datetime, seed: int) -> list[bytes]:
    """The mail of one run, in a shuffled order fixed by ``seed``."""
    mails: list[bytes] = []
    for k, t in enumerate(plan["archived"]):
        name = f"Customer A{t['n']}"
        mid = f"<back{k}.{tag}@{t['customer'].split('@')[1]}>"
        if k % 2:  # answering our acknowledgement (our Message-ID carries the token)
            mails.append(
                mail(
                    t["customer"],
                    name,
                    f"[#{t['token']}] Re: {t['subject']}",
                    mid,
                    now=now,
                    text="It broke again, the same way as before.",
                    replying=[t["ids"][0], t["ack"]],
                )
            )
        else:  # answering staff's last reply (the last of the ids)
            mails.append(
                mail(
                    t["customer"],
                    name,
                    f"Re: {t['subject']}",
                    mid,
                    now=now,
                    text="Your fix worked for a while, now it is back.",
                    replying=t["ids"],
                )
            )
    for k, t in enumerate(plan["live"]):
        mails.append(
            mail(
                t["customer"],
                f"Customer W{t['n']}",
                f"[#{t['token']}] Re: {t['subject']}",
                f"<more{k}.{tag}@{t['customer'].split('@')[1]}>",
                now=now,
                text="I forgot: the tracking number is 123456.",
                replying=[t["first"], t["ack"]],
            )
        )
    for t in plan["reread"]:  # the very message filed before (its Message-ID), delivered again
        mails.append(
            mail(
                t["customer"],
                f"Customer A{t['n']}",
                t["subject"],
                t["first"],
                now=now,
                text="My order does not work.",
            )
        )
    for n in range(mix.new):
        item = ITEMS[n % len(ITEMS)]
        mails.append(
            mail(
                f"n{n}.{tag}@new{n % 83}.example",
                f"Customer N{n}",
                f"My {item} from order N-{n:05d} does not work",
                f"<new{n}.{tag}@new{n % 83}.example>",
                now=now,
                text=f"My {item} does not switch on. Could you help?",
            )
        )
    random.Random(seed).shuffle(mails)
    return mails


# --- one run -----------------------------------------------------------------------------------


@dataclass
class Run:
    seconds: float
    peak_rss_mb: float
    maxrss_mb: float  # ru_maxrss of wait4: an upper bound here (see the module's docstring)
    summary: str
    brought_back: int
    acks: int
    sent_copies: int
    live_bytes: int
    archive_bytes: int
    index_bytes: int
    open_ms: float
    problems: list[str] = field(default_factory=list)


def vm_hwm(pid: int) -> float | None:
    """The process's peak RSS so far, MB (None once it has gone)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        return None
    return None


def run_cycle(
    argv: list[str], env: dict[str, str], work: Path, timeout: float
) -> tuple[float, float, float, Path]:
    """One agent run: seconds, peak RSS (sampled VmHWM), ru_maxrss, its log."""
    log = work / "agent.log"
    peak = 0.0
    with log.open("wb") as out:
        started = time.perf_counter()
        process = subprocess.Popen(  # noqa: S603
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=work,
        )
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                seen = vm_hwm(process.pid)
                if seen is not None:
                    peak = max(peak, seen)
                done.wait(SAMPLE_EVERY)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        watchdog = threading.Timer(timeout, process.kill)
        watchdog.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            watchdog.cancel()
        seconds = time.perf_counter() - started
        done.set()
        sampler.join()
        process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(
            f"the agent exited {process.returncode}; its log ({log}):\n"
            + "\n".join(log.read_text(errors="replace").splitlines()[-20:])
        )
    return seconds, peak, usage.ru_maxrss / 1024, log


def index_counts(data_dir: Path) -> str:
    """How many entries the archive's index holds in its sorted base and in its log."""
    folder = data_dir / "archive"
    base = log = 0
    if (folder / "index.bin").exists():
        head = (folder / "index.bin").read_bytes()[:64]
        at = head.index(b"\n") + 1
        base = int.from_bytes(head[at : at + 8], "little")
    if (folder / "index.log").exists():
        log = (folder / "index.log").stat().st_size // RECORD_BYTES
    return f"{base:,} entries in index.bin, {log:,} in index.log"


def child_open(data_dir: Path, times: int = 3) -> None:
    """``--open``: ``Store(data_dir).open()`` in this (child) interpreter, imports done first;
    prints the median of ``times`` in ms (closed each time)."""
    from inbox_agent.adapters.store import Store  # noqa: PLC0415 - the tree under test

    took = []
    for _ in range(times):
        started = time.perf_counter()
        store = Store(data_dir).open()
        took.append(time.perf_counter() - started)
        store.close()
    print(statistics.median(took) * 1000)


def child(mode: str, path: Path, agent: Any, options: argparse.Namespace, *extra: str) -> str:
    """This script in a fresh interpreter (``--generate`` or ``--open``), with the agent's
    environment and ``--code`` first on its path; its last line of output."""
    argv = [sys.executable, str(Path(__file__).resolve()), mode, str(path), *extra]
    if options.code is not None:
        argv += ["--code", str(options.code.resolve())]
    done = subprocess.run(  # noqa: S603
        argv,
        capture_output=True,
        text=True,
        env=agent.env,
        cwd=path.parent,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{mode} {path} failed:\n{done.stderr[-3000:]}")
    return done.stdout.strip().splitlines()[-1]


def store_open_ms(data_dir: Path, agent: Any, options: argparse.Namespace) -> float:
    """``Store(data_dir).open()``, timed in a child interpreter (see ``child_open``): so that
    it opens the tree under test, and this process stays small."""
    return float(child("--open", data_dir, agent, options))


def one_run(
    server: Any,
    template: Path,
    plan: dict[str, Any],
    mix: Mix,
    work: Path,
    *,
    agent: Any,
    options: argparse.Namespace,
    profile: Path | None = None,
) -> Run:
    from tests.servers import SmtpSink  # noqa: PLC0415

    work.mkdir()
    data_dir = work / "data"
    shutil.copytree(template, data_dir)
    account = new_account(server, "support")
    now = datetime.now(UTC)
    mails = batch(plan, mix, f"b{options.seed}", now, options.seed)
    with session(account) as imap:
        for raw in mails:
            imap.append("INBOX", raw, msg_time=now)
    sink = SmtpSink()
    sink.start()
    try:
        config = write_config(
            work / "config.toml",
            data_dir=data_dir,
            templates=agent.templates,
            address=account.address,
            imap_port=server.port,
            smtp_port=sink.port,
        )
        argv = [*agent.argv, "--config", str(config), "run", "--once"]
        if profile is not None:
            argv = [
                sys.executable,
                "-m",
                "cProfile",
                "-o",
                str(profile),
                "-m",
                "inbox_agent",
                *argv[len(agent.argv) :],
            ]
        seconds, peak, maxrss, log = run_cycle(
            argv, {**agent.env, PASSWORD_ENV: account.password}, work, options.timeout
        )
        received = sink.received
    finally:
        sink.stop()
    with session(account) as imap:
        copies = int(imap.folder_status("Sent", [b"MESSAGES"])[b"MESSAGES"])
    text = log.read_text(errors="replace")
    summary = next(
        (line.split("cycle done: ", 1)[1] for line in text.splitlines() if "cycle done: " in line),
        "?",
    )
    acks = [r for r in received if r.message.get("Auto-Submitted") == "auto-replied"]
    closed = sum(1 for t in plan["archived"] if t["status"] == "closed")
    moved = next(
        (
            int(line.split("archived ", 1)[1].split()[0])
            for line in text.splitlines()
            if "archived " in line and " conversations and " in line
        ),
        0,
    )
    run = Run(
        seconds,
        peak,
        maxrss,
        summary,
        text.count("brought back from the archive"),
        len(acks),
        copies,
        (data_dir / "inbox-agent.json").stat().st_size,
        folder_size(data_dir / "archive")[0],
        sum(p.stat().st_size for p in (data_dir / "archive").glob("index.*")),
        store_open_ms(data_dir, agent, options),
    )
    checks = [
        (f"{mix.total} fetched", summary.startswith(f"{mix.total} fetched")),
        (f"{mix.reread} already filed", f", {mix.reread} already filed" in summary),
        (f"{mix.archived} brought back", run.brought_back == mix.archived),
        (f"{mix.new + closed} acknowledgements", run.acks == mix.new + closed),
        (f"{mix.new + closed} Sent copies", copies == mix.new + closed),
        (f"{options.archivable} archived by the cycle", moved == options.archivable),
    ]
    run.problems = [f"expected {what}" for what, ok in checks if not ok]
    if not options.keep:
        shutil.rmtree(data_dir, ignore_errors=True)
    return run


# --- main --------------------------------------------------------------------------------------


def child_generate(options: argparse.Namespace) -> None:
    """``--generate``: write one data_dir and its plan (a child interpreter does this)."""
    mix = Mix.of(options.mails, options.live)
    found = generate(
        options.generate,
        options.count,
        live=options.live,
        mails=mix,
        seed=options.seed,
        full_log=options.full_log,
        archivable=options.archivable,
    )
    (options.generate.parent / "plan.json").write_text(json.dumps(found["plan"]))
    del found["plan"]
    print(json.dumps(found))


def make_template(
    count: int,
    work: Path,
    agent: Any,
    options: argparse.Namespace,
) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    """The data_dir every run for ``count`` copies, written by a child interpreter."""
    template = work / "template"
    started = time.perf_counter()
    stats = json.loads(
        child(
            "--generate",
            template,
            agent,
            options,
            "--count",
            str(count),
            "--live",
            str(options.live),
            "--mails",
            str(options.mails),
            "--seed",
            str(options.seed),
            "--archivable",
            str(options.archivable),
            *(["--full-log"] if options.full_log else []),
        )
    )
    stats["wall_s"] = time.perf_counter() - started
    return template, json.loads((work / "plan.json").read_text()), stats


def main() -> None:  # noqa: PLR0915
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--archived",
        default="100,100000",
        help="comma-separated archive sizes (default 100,100000)",
    )
    parser.add_argument(
        "--mails", type=int, default=200, help="mails in the batch each cycle reads (default 200)"
    )
    parser.add_argument(
        "--live",
        type=int,
        default=200,
        help="live conversations waiting on a promise (default 200)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="timed runs per size, each on a fresh copy (default 3)",
    )
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument(
        "--profile",
        action="store_true",
        help="one more run at the largest size under cProfile; its top 15",
    )
    parser.add_argument(
        "--code", type=Path, default=None, help="run `python -m inbox_agent` from this source tree"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=1800.0,
        help="seconds one agent run may take (default 1800)",
    )
    parser.add_argument(
        "--archivable",
        type=int,
        default=0,
        help="live conversations besides, answered and quiet for 15 days: "
        "the cycle's archive pass moves them (default 0)",
    )
    parser.add_argument(
        "--full-log",
        action="store_true",
        help="leave the last four months' entries in the index's log (read "
        "into a dict at open) rather than where the puts left them",
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--generate", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--open", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.generate is not None or options.open is not None:
        if options.code is not None:  # the tree under test, before this checkout
            sys.path.insert(0, str(options.code))
        if options.generate is not None:
            child_generate(options)
        else:
            child_open(options.open)
        return
    from tests.servers import imap_kind, start_imap_server  # noqa: PLC0415

    sizes = sorted(
        int(part.replace("_", "")) for part in options.archived.split(",") if part.strip()
    )
    mix = Mix.of(options.mails, options.live)
    code = options.code.resolve() if options.code else None
    agent = agent_command(code, ROOT)
    root = Path(tempfile.mkdtemp(prefix="inbox-agent-history-"))
    root.chmod(0o755)  # Dovecot's unprivileged processes must traverse it
    kind = imap_kind()
    server = start_imap_server(root / kind, kind)
    rows = []
    try:
        print_machine(server, code, agent.argv, agent.env, ROOT, startup=True)
        print(
            f"batch   : {mix.total} mails: {mix.new} new customers, {mix.archived} replies to "
            f"archived conversations, {mix.live} to live ones, {mix.reread} read again; "
            f"{options.live} live conversations waiting\n"
        )
        for count in sizes:
            work = root / f"archived-{count}"
            work.mkdir()
            print(f"--- {count:,} archived: writing the data_dir ...", flush=True)
            template, plan, stats = make_template(count, work, agent, options)
            print(
                f"    {stats['wall_s']:.1f} s (conversations built {stats['build_s']:.1f} s, "
                f"Archive.put {stats['put_s']:.1f} s, live commit "
                f"{stats['commit_s'] * 1000:.0f} ms); {stats['tokens']:,} tokens; "
                f"data_dir {folder_size(template)[0] / 1e6:.1f} MB; index: "
                f"{index_counts(template)}",
                flush=True,
            )
            runs = []
            for r in range(options.repeat):
                run = one_run(
                    server, template, plan, mix, work / f"run-{r}", agent=agent, options=options
                )
                runs.append(run)
                print(
                    f"    run {r + 1}: {run.seconds:6.2f} s, peak RSS {run.peak_rss_mb:.0f} MB "
                    f"(ru_maxrss {run.maxrss_mb:.0f}), {run.summary}; brought back "
                    f"{run.brought_back}, acknowledgements {run.acks}, Sent copies "
                    f"{run.sent_copies}: {'; '.join(run.problems) or 'OK'}; load {load()}",
                    flush=True,
                )
            rows.append((count, runs))
            if options.profile and count == sizes[-1]:
                prof = work / "agent.prof"
                print(f"--- {count:,} archived: one run under cProfile ...", flush=True)
                profiled = one_run(
                    server,
                    template,
                    plan,
                    mix,
                    work / "profiled",
                    agent=agent,
                    options=options,
                    profile=prof,
                )
                print(
                    f"    profiled run {profiled.seconds:.2f} s (cProfile overhead included)",
                    flush=True,
                )
                print_profile(prof, top=25)
            if not options.keep:
                shutil.rmtree(template, ignore_errors=True)
        base = statistics.median(r.seconds for r in rows[0][1])
        print(
            f"\ncycle: the median of {options.repeat} runs; peak RSS: the highest VmHWM of the runs"
        )
        print(
            f"{'archived':>9} {'cycle s':>8} {'ratio':>6} {'peak RSS':>9} {'live file':>10} "
            f"{'archive':>9} {'index':>8} {'store open':>11}  check"
        )
        for count, runs in rows:
            cycle = statistics.median(r.seconds for r in runs)
            last = runs[-1]
            bad = sum(1 for r in runs if r.problems)
            print(
                f"{count:>9,} {cycle:>8.2f} {cycle / base:>5.2f}x "
                f"{max(r.peak_rss_mb for r in runs):>6.0f} MB "
                f"{last.live_bytes / 1024:>7.0f} KB {last.archive_bytes / 1e6:>6.1f} MB "
                f"{last.index_bytes / 1e6:>5.1f} MB "
                f"{statistics.median(r.open_ms for r in runs):>8.0f} ms  "
                f"{'ok' if not bad else f'{bad} BROKEN'} "
                f"(runs {', '.join(f'{r.seconds:.2f}' for r in runs)} s)"
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
