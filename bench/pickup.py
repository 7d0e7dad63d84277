"""Pickup latency: mail APPENDed to a running daemon's mailbox -> its acknowledgement at the relay.

Issue 14, item 2: with ``poll_interval_seconds = 300``, p50 under 2 s and p95 under 5 s over
50 mails. Starts Dovecot (else pymap) and an aiosmtpd sink the way the test fixtures do
(``tests/servers.py``), one mailbox, and the daemon as a service runs it: ``inbox-agent
--config X --log-format json run`` in a subprocess. Once it has polled the mailbox (its
``health.json`` says so) and its IMAP connections and threads have stayed the same for
``--settle`` seconds (watches opened, if it has any), it APPENDs ``--mails`` new customers'
first mails (a new sender each) to INBOX over one IMAP session, one at a time, a random
``--spacing`` apart. For each mail, the latency is the moment its acknowledgement reached the
sink minus the moment the APPEND completed (both on this process's monotonic clock; a thread
waiting on the sink stamps each acknowledgement as it is recorded).

It prints the machine, the start-up (first poll, settled, RSS, threads, IMAP connections),
then n, p50, p95, max, and how many mails were acknowledged before the next poll would have
run (the poll job runs every ``poll_interval_seconds`` from the daemon's ``started`` log
line): with polling alone that is none, and the latency is the wait for the next poll.

    python bench/pickup.py                          # 50 mails, 1-2 s apart, polls every 300 s
    python bench/pickup.py --mails 20 --spacing 0.5,1 --each   # and every mail's line
    python bench/pickup.py --code /tmp/before       # the inbox_agent of another tree

A run takes about ``--poll-interval`` plus a minute while the daemon only polls (the mails
wait for the next poll), about ``--mails`` x 1.5 s when it picks mail up at once. Needs
Dovecot (``apt-get install dovecot-imapd``) and root, as the IMAP tests do. Prints figures;
there is no threshold.
"""

from __future__ import annotations

import argparse
import random
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import (
    PASSWORD_ENV,
    agent_command,
    load,
    print_machine,
    write_mailboxes_config,
)
from bench.live import (
    AckClock,
    Pickup,
    customer_mail,
    imap_connections,
    memory_mb,
    next_poll,
    print_pickups,
    start_daemon,
    threads,
    wait_acks,
    wait_first_poll,
    wait_steady,
    watch_states,
)
from bench.throughput import new_account, session
from tests.servers import SmtpSink, imap_kind, start_imap_server


def spacing(text: str) -> tuple[float, float]:
    """``"1,2"`` -> (1.0, 2.0): the least and most seconds between two mails."""
    low, _, high = text.partition(",")
    return float(low), float(high or low)


def main() -> None:  # noqa: PLR0915
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=50, help="how many mails (default 50)")
    parser.add_argument(
        "--spacing",
        type=spacing,
        default=(1.0, 2.0),
        help="seconds between two mails, uniform in LOW,HIGH (default 1,2)",
    )
    parser.add_argument(
        "--poll-interval",
        type=int,
        default=300,
        help="the daemon's poll_interval_seconds (default 300)",
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=5.0,
        help="seconds the daemon's connections and threads must stay the same "
        "after its first poll before mail is sent (default 5)",
    )
    parser.add_argument("--seed", type=int, default=None, help="for the spacing's jitter")
    parser.add_argument("--each", action="store_true", help="print every mail's latency")
    parser.add_argument(
        "--code",
        type=Path,
        default=None,
        help="run `python -m inbox_agent` from this source tree instead of "
        "the installed `inbox-agent` command",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the scratch folder (the daemon's log and data_dir)",
    )
    options = parser.parse_args()
    rng = random.Random(options.seed)
    code = options.code.resolve() if options.code else None
    agent = agent_command(code, ROOT)

    root = Path(tempfile.mkdtemp(prefix="inbox-agent-pickup-"))
    root.chmod(0o755)  # Dovecot's unprivileged processes must traverse it
    kind = imap_kind()
    server = start_imap_server(root / kind, kind)
    sink = SmtpSink()
    sink.start()
    clock = AckClock(sink)
    clock.start()
    daemon = None
    try:
        print_machine(server, code, agent.argv, agent.env, ROOT)
        account = new_account(server, "support")
        work = root / "agent"
        work.mkdir()
        config = write_mailboxes_config(
            work / "config.toml",
            data_dir=work / "data",
            templates=agent.templates,
            mailboxes={"support": account.address},
            imap_port=server.port,
            smtp_port=sink.port,
            poll_interval_seconds=options.poll_interval,
        )
        daemon = start_daemon(
            agent.argv, {**agent.env, PASSWORD_ENV: account.password}, config, work / "data", work
        )
        polled = wait_first_poll(daemon, {"support"}, timeout=120)
        settled = wait_steady(
            lambda: (threads(daemon.pid), imap_connections(daemon.pid, server.port)),
            options.settle,
            timeout=120,
        )
        rss, hwm = memory_mb(daemon.pid)
        print(
            f"start-up: first poll done {polled - daemon.spawned:.2f} s after the daemon "
            f"was started; settled {settled:.1f} s later; RSS {rss:.0f} MB (peak "
            f"{hwm:.0f} MB), {threads(daemon.pid)} threads, "
            f"{imap_connections(daemon.pid, server.port)} IMAP connections",
            flush=True,
        )
        states = watch_states(daemon.data_dir)
        if states:
            print(
                "start-up: watches in health.json: "
                + ", ".join(f"{count} {state}" for state, count in sorted(states.items()))
            )
        started = daemon.started()

        run = secrets.token_hex(3)
        sent: list[tuple[str, float]] = []
        print(
            f"--- {options.mails} mails, {options.spacing[0]:g}-{options.spacing[1]:g} s apart ...",
            flush=True,
        )
        with session(account) as imap:
            for n in range(options.mails):
                time.sleep(rng.uniform(*options.spacing))
                customer, raw = customer_mail(run, n, account.address)
                imap.append("INBOX", raw)
                sent.append((customer, time.monotonic()))
        addresses = {customer for customer, _ in sent}
        wait_acks(clock, addresses, daemon, timeout=options.poll_interval + 120)
        pickups = [
            Pickup(
                appended,
                clock.arrived.get(customer),
                next_poll(started, options.poll_interval, appended),
            )
            for customer, appended in sent
        ]
        if options.each:
            for n, pickup in enumerate(pickups):
                latency = "never" if pickup.latency is None else f"{pickup.latency:7.2f} s"
                print(
                    f"    mail {n:3d}: appended at +{pickup.appended - started:7.2f} s, "
                    f"acknowledged after {latency}; next poll at "
                    f"+{pickup.next_poll - started:.0f} s"
                )
        acks = [r for r in sink.received if r.message.get("Auto-Submitted") == "auto-replied"]
        print(
            f"acknowledgements at the sink: {len(acks)} for {options.mails} mails "
            f"({'OK' if len(acks) == options.mails else 'BROKEN RUN'})"
        )
        print_pickups(pickups, options.poll_interval)
        rss, hwm = memory_mb(daemon.pid)
        print(
            f"after: RSS {rss:.0f} MB (peak {hwm:.0f} MB), {threads(daemon.pid)} threads; "
            f"load {load()}"
        )
    finally:
        if daemon is not None:
            status = daemon.stop()
            problems = daemon.problems()
            print(
                f"daemon: exited {status} on SIGTERM; {len(problems)} warnings/errors logged"
                + "".join(f"\n    {line}" for line in problems[:10])
            )
        clock.stop()
        sink.stop()
        server.stop()
        if options.keep:
            print(f"scratch folder kept: {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
