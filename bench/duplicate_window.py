"""The duplicate window in practice: SIGKILL storms, counting lost and duplicated acknowledgements.

SMTP cannot be exactly-once (RFC 1047): a crash after the relay's 250 and before the agent
records it can send a mail twice (README "Delivery guarantees"). ``bench/outbox_window.py``
measures how wide that window is; this counts what it costs. One *storm*: a fresh account
on Dovecot (else pymap) and a fresh aiosmtpd sink; customers write in batches, and after
each batch ``inbox-agent --config ... run --once`` starts and is killed with SIGKILL after a
random delay (or finishes first); a last run, never killed, finishes the work. Then every
customer should have exactly one acknowledgement. The bench prints, per storm and in total,
the kills, the customers with none (lost) and with more than one (duplicated, and the
extra mails), and how many sends the agent found cut short on a start (and of those, sent
again because no copy was in the Sent folder).

    python bench/duplicate_window.py                        # 20 storms of 150 customers
    python bench/duplicate_window.py --storms 3 --seed 7    # repeat a storm sequence
    python bench/duplicate_window.py --code /tmp/before     # another tree's inbox_agent

Defaults follow issue 11: 150 customers in 20 batches, a kill 0.3-1.5 s after each start
(start-up takes about 0.4 s here, so most rounds are killed mid-work: about 15 kills a
storm). The agent is driven only through its command line. Needs Dovecot
(``apt-get install dovecot-imapd``) and root, as the IMAP tests do. Prints figures; there
is no threshold.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from imapclient import IMAPClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import PASSWORD_ENV, agent_command, write_config
from tests.servers import ImapAccount, ImapServer, SmtpSink, imap_kind, start_imap_server

# The agent's warning on start for a send found cut short ("... was cut short by a restart: no
# copy was filed, so it goes again" / ": its copy is in the Sent folder, so it went"). Only
# counted for the table: the figures come from the sink.
CUT_SHORT = re.compile(r"cut short by a restart: (no copy)?")


def customer_mail(run: str, n: int, now: datetime) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Customer {n} <c{n}@customer.example>"
    msg["To"] = "Example Co. Support <support@example.com>"
    msg["Subject"] = f"Question {n} about order {run}-{n:04d}"
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = make_msgid(f"{run}.{n}", domain="customer.example")
    msg.set_content(f"Hello, where is my order {run}-{n:04d}?\n\nCustomer {n}\n")
    return msg.as_bytes()


def deliver(account: ImapAccount, raws: list[bytes], now: datetime) -> None:
    imap = IMAPClient(account.server.host, port=account.server.port, ssl=False, timeout=60)
    try:
        imap.login(account.username, account.password)
        for raw in raws:
            imap.append("INBOX", raw, msg_time=now)
    finally:
        with contextlib.suppress(Exception):
            imap.logout()


@dataclass
class Storm:
    kills: int
    finished: int
    lost: int
    duplicated: int
    extra_copies: int
    cut_short: int
    resent: int
    seconds: float


def storm(  # noqa: PLR0917
    server: ImapServer,
    work: Path,
    command: list[str],
    env: dict[str, str],
    templates: Path,
    rng: random.Random,
    customers: int,
    batches: int,
    kill_after: tuple[float, float],
) -> Storm:
    address = f"support-{secrets.token_hex(3)}@example.com"
    password = secrets.token_hex(8)
    server.add_user(address, password)
    account = ImapAccount(server, address, password, address)
    sink = SmtpSink()
    sink.start()
    started = time.perf_counter()
    try:
        config = write_config(
            work / "config.toml",
            data_dir=work / "data",
            templates=templates,
            address=address,
            imap_port=server.port,
            smtp_port=sink.port,
        )
        argv = [*command, "--config", str(config), "run", "--once"]
        run_env = {**env, PASSWORD_ENV: password}
        run = secrets.token_hex(3)
        bounds = [customers * b // batches for b in range(batches + 1)]
        kills = finished = 0
        logs: list[str] = []
        for batch in range(batches):
            now = datetime.now(UTC)
            deliver(
                account,
                [customer_mail(run, n, now) for n in range(bounds[batch], bounds[batch + 1])],
                now,
            )
            log = work / f"round-{batch}.log"
            with log.open("wb") as out:
                process = subprocess.Popen(  # noqa: S603
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=run_env,
                    cwd=work,
                )
                try:
                    process.wait(timeout=rng.uniform(*kill_after))
                    finished += 1
                except subprocess.TimeoutExpired:
                    process.send_signal(signal.SIGKILL)
                    process.wait()
                    kills += 1
            logs.append(log.read_text(errors="replace"))
        last = subprocess.run(  # noqa: S603
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=run_env,
            cwd=work,
            timeout=600,
            check=False,
        )
        if last.returncode != 0:
            raise SystemExit(
                f"the last, unkilled run exited {last.returncode}:\n{last.stderr[-3000:]}"
            )
        logs.append(last.stderr + last.stdout)
        received = sink.received
    finally:
        sink.stop()
    acks = Counter(
        r.rcpt_tos[0].lower() for r in received if r.message.get("Auto-Submitted") == "auto-replied"
    )
    found = [match for text in logs for match in CUT_SHORT.findall(text)]
    per_customer = [acks[f"c{n}@customer.example"] for n in range(customers)]
    return Storm(
        kills=kills,
        finished=finished,
        lost=sum(1 for c in per_customer if c == 0),
        duplicated=sum(1 for c in per_customer if c > 1),
        extra_copies=sum(c - 1 for c in per_customer if c > 1),
        cut_short=len(found),
        resent=sum(1 for m in found if m),
        seconds=time.perf_counter() - started,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storms", type=int, default=20)
    parser.add_argument("--customers", type=int, default=150)
    parser.add_argument(
        "--batches",
        type=int,
        default=20,
        help="rounds per storm: customers write, then a run that may be killed",
    )
    parser.add_argument(
        "--kill-after",
        default="0.3,1.5",
        help="the SIGKILL comes this many seconds after a start, uniformly "
        "between the two (default 0.3,1.5)",
    )
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument(
        "--code",
        type=Path,
        default=None,
        help="run `python -m inbox_agent` from this source tree instead of "
        "the installed `inbox-agent` command",
    )
    options = parser.parse_args()
    low, high = (float(x) for x in options.kill_after.split(","))
    seed = options.seed if options.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)

    agent = agent_command(options.code.resolve() if options.code else None, ROOT)
    env, command, templates = agent.env, agent.argv, agent.templates

    root = Path(tempfile.mkdtemp(prefix="inbox-agent-duplicates-"))
    root.chmod(0o755)  # Dovecot's unprivileged processes must traverse it
    kind = imap_kind()
    server = start_imap_server(root / kind, kind)
    try:
        print(
            f"{options.storms} storms of {options.customers} customers in {options.batches} "
            f"batches, SIGKILL {low}-{high} s after each start; seed {seed}"
        )
        print(
            f"agent: {' '.join(command)} (code: {options.code or ROOT}); imap: {kind}; "
            f"load {' '.join(f'{x:.2f}' for x in os.getloadavg())}\n"
        )
        print(
            f"{'storm':>5} {'kills':>5} {'lost':>5} {'dup':>5} {'extra':>5} "
            f"{'cut short':>9} {'resent':>6} {'seconds':>8}"
        )
        total = []
        for number in range(1, options.storms + 1):
            work = root / f"storm-{number}"
            work.mkdir()
            result = storm(
                server,
                work,
                command,
                env,
                templates,
                rng,
                options.customers,
                options.batches,
                (low, high),
            )
            total.append(result)
            print(
                f"{number:>5} {result.kills:>5} {result.lost:>5} {result.duplicated:>5} "
                f"{result.extra_copies:>5} {result.cut_short:>9} {result.resent:>6} "
                f"{result.seconds:>8.1f}",
                flush=True,
            )
        with_dup = sum(1 for r in total if r.duplicated)
        print(
            f"\n{len(total)} storms, {sum(r.kills for r in total)} kills: "
            f"{sum(r.lost for r in total)} customers lost, "
            f"{sum(r.duplicated for r in total)} duplicated "
            f"({sum(r.extra_copies for r in total)} extra mails) in {with_dup} of "
            f"{len(total)} storms; sends found cut short on a start: "
            f"{sum(r.cut_short for r in total)}, of which sent again (no copy in Sent): "
            f"{sum(r.resent for r in total)}"
        )
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
