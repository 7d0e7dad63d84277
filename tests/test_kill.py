"""SIGKILL at random moments: dozens of customers, many ``run --once`` killed mid-flight.

The real process against Dovecot (else pymap) and the aiosmtpd relay. Each round starts
``inbox-agent run --once`` and kills it with SIGKILL after a random delay (or lets it
finish); customers keep writing between rounds; a last run finishes the work. Then every
customer must have exactly one acknowledgement. A duplicate is allowed only where the agent
said, on the next start, that a send had been cut short after the relay took it and before
its copy was filed (the RFC 1047 window; README "Delivery guarantees"). The seed is
printed; ``INBOX_AGENT_KILL_SEED`` repeats a run.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.servers import ImapAccount, SmtpSink
from tests.worlds import customer_mail, ledger, server_settings

ROUNDS = 30
PER_ROUND = 2  # customers who write before each round: 60 in all
CUSTOMERS = ROUNDS * PER_ROUND
RESENT = re.compile(r"acknowledgement (<[^>]+>) to \S+ was cut short by a restart: no copy")


def test_sigkill_at_random_moments_loses_nothing_and_repeats_nothing_outside_the_window(
    tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink
) -> None:
    """Every customer ends with one acknowledgement; any second one is explained."""
    settings = server_settings(tmp_path, imap_account, smtp_sink)
    env = {
        **os.environ,
        "TEST_IMAP_PASSWORD": imap_account.password,
        "TEST_SMTP_PASSWORD": "anything",
    }
    arrived = datetime.now(UTC) - timedelta(minutes=1)
    seed = int(os.environ.get("INBOX_AGENT_KILL_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    command = [
        sys.executable,
        "-m",
        "inbox_agent",
        "--config",
        str(settings.source),
        "run",
        "--once",
    ]
    killed = finished = 0
    logs: list[str] = []
    for round_number in range(ROUNDS):
        for n in range(round_number * PER_ROUND, (round_number + 1) * PER_ROUND):
            imap_account.append(
                "INBOX",
                customer_mail(f"C{n} <c{n}@customer.example>", f"Question {n}", "Hello", arrived),
                arrived,
            )
        log_path = tmp_path / f"round-{round_number}.log"
        with log_path.open("w") as log_file:
            process = subprocess.Popen(command, env=env, stdout=log_file, stderr=log_file)
            try:
                # Start-up takes about 0.3 s here; the work comes after it.
                process.wait(timeout=rng.uniform(0.25, 0.7))
                finished += 1
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGKILL)
                process.wait()
                killed += 1
        logs.append(log_path.read_text())
    last = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert last.returncode == 0, last.stderr
    logs.append(last.stderr)

    counts = Counter(r.rcpt_tos[0] for r in smtp_sink.received)
    lost = [n for n in range(CUSTOMERS) if counts[f"c{n}@customer.example"] == 0]
    twice = Counter(str(r.message["Message-ID"]) for r in smtp_sink.received)
    duplicated = sorted(mid for mid, count in twice.items() if count > 1)
    resent = Counter(mid for log in logs for mid in RESENT.findall(log))
    print(
        f"\nseed {seed}: {ROUNDS} rounds, {killed} killed, {finished} finished; "
        f"{CUSTOMERS} customers: {CUSTOMERS - len(lost)} acknowledged, {len(lost)} lost, "
        f"{len(duplicated)} duplicated ({sum(resent.values())} sends found cut short with no "
        "copy filed, so sent again)"
    )
    assert lost == []
    # Each extra copy of a mail matches one restart that found its send cut short.
    assert all(twice[mid] <= 1 + resent[mid] for mid in duplicated), (seed, twice, resent)
    on_disk = ledger(settings)
    assert all(e.state == "sent" for e in on_disk.outbox.values())
    assert len(on_disk.conversations) == CUSTOMERS
