"""Many mailboxes in one daemon: memory, threads, idle CPU, IMAP sessions and pickup latency.

Issue 14, item 3: 200 mailboxes in one process, RSS < 300 MB, idle CPU < 2% of a core, pickup
p50 < 2 s. Starts Dovecot with its limits raised for some 600 concurrent sessions (its
defaults: 100 processes per service, 1,000 clients, 10 connections per user and IP), the
``--mailboxes`` users written to its passwd-file in one go, an aiosmtpd sink, and one daemon
as a service runs it: ``inbox-agent --config X --log-format json run`` in a subprocess, with
one ``[[mailbox]]`` per user (INBOX, sent_folder Sent, its own address) and
``poll_interval_seconds = 300``. Then:

* **start-up**: the time from starting the daemon until every mailbox was polled once (its
  ``health.json`` lists them all), and until its IMAP connections and threads stayed the
  same for ``--settle`` seconds (watches opened, if it has any);
* **at rest**: its RSS and peak RSS (``VmRSS``, ``VmHWM``), threads (``Threads``), the IMAP
  connections it holds (its ESTABLISHED sockets to Dovecot's port, and ``doveadm who``),
  Dovecot's imap processes;
* **idle CPU**: its user + system time (``/proc/PID/stat``) over ``--quiet`` seconds with no
  mail, as a share of one core (and Dovecot's over the same window, all its processes);
* **pickup**: ``--mails`` new customers' first mails, each APPENDed to a random mailbox's
  INBOX (a fresh login each, outside the timed part), ``--spacing`` apart; latency = the
  acknowledgement's arrival at the sink minus the APPEND's completion; n, p50, p95, max, and
  how many beat the next poll (every ``poll_interval_seconds`` from the daemon's
  ``started`` log line).

    python bench/many_mailboxes.py                             # 200 mailboxes, 100 mails
    python bench/many_mailboxes.py --mailboxes 50 --mails 20 --quiet 30
    python bench/many_mailboxes.py --code /tmp/before          # another tree's inbox_agent

A run takes about ``--poll-interval`` plus two minutes while the daemon only polls. Needs
Dovecot (``apt-get install dovecot-imapd``; pymap is not enough) and root, as the IMAP tests
do. Prints figures; there is no threshold.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import re
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
    RunningDaemon,
    cpu_seconds,
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
from bench.pickup import spacing
from tests.servers import DovecotServer, SmtpSink, group_members

# Room for 200 mailboxes x 2 watched folders, their polls, the bench's own logins, and
# Dovecot's own: each IMAP session is an imap process (client_limit 1), each login an
# imap-login process; a user's sessions from 127.0.0.1 are capped per user and IP.
DOVECOT_LIMITS = """
default_process_limit = 1024
default_client_limit = 4096
mail_max_userip_connections = 20
service imap {
  process_limit = 1024
}
service imap-login {
  process_limit = 1024
}
"""
ENDED = re.compile(r"imap\(([^)@]+)@[^)]*\)<[^>]*><[^>]*>: Info: Disconnected")


def start_dovecot(root: Path, logins: list[tuple[str, str]]) -> DovecotServer:
    if shutil.which("dovecot") is None:
        raise SystemExit("needs Dovecot: apt-get install dovecot-imapd")
    server = DovecotServer(root / "dovecot", extra_config=DOVECOT_LIMITS)
    server.prepare()
    server.add_users(logins)  # before the start: no reload
    server.start()
    return server


def check_inotify(mailboxes: int) -> None:
    """Say the kernel's inotify limit, and what it does to IDLE when too low.

    Every Dovecot session in IDLE holds an inotify instance, all under the one UID Dovecot
    runs mail as, and Linux allows 128 per user by default: past that Dovecot logs "Inotify
    instance limit ... exceeded, disabling" and that session learns of new mail only at its
    ``mailbox_idle_check_interval`` (30 s). That is the server's limit, not the agent's."""
    path = Path("/proc/sys/fs/inotify/max_user_instances")
    try:
        limit = int(path.read_text())
    except (OSError, ValueError):
        return
    needed = 2 * mailboxes + 16  # two watches a mailbox, polls, the bench's own logins
    print(
        f"inotify : max_user_instances {limit}"
        + (
            ""
            if limit >= needed
            else f" < about {needed} IDLE sessions: Dovecot checks the rest every 30 s instead "
            f"of at once; raise it (sysctl fs.inotify.max_user_instances=1024) for figures "
            f"that are the agent's"
        ),
        flush=True,
    )


def logged_out(server: DovecotServer) -> set[str]:
    """The users with an IMAP session ended in Dovecot's log: before the bench's own logins,
    every one the daemon's poll of that mailbox (a watch stays logged in). ``health.json``
    alone is not enough: with watches it may list a mailbox's first poll only at its next."""
    text = server.log_path.read_text(errors="replace")
    return {match.group(1) for match in ENDED.finditer(text)}


def dovecot_sessions(server: DovecotServer) -> int:
    """IMAP sessions Dovecot holds now, every user's (``doveadm who -1``: one line each)."""
    return len(server.doveadm("who", "-1").splitlines()[1:])


def dovecot_processes(server: DovecotServer) -> list[int]:
    return [] if server.proc is None else group_members(server.proc.pid)


def group_cpu(pids: list[int]) -> dict[int, float]:
    """User + system seconds of each of these processes still running."""
    found = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            found[pid] = cpu_seconds(pid)
    return found


def imap_processes(pids: list[int]) -> int:
    count = 0
    for pid in pids:
        try:
            count += Path(f"/proc/{pid}/comm").read_text().strip() == "imap"
        except OSError:
            continue
    return count


def print_at_rest(daemon: RunningDaemon, server: DovecotServer, label: str) -> None:
    rss, hwm = memory_mb(daemon.pid)
    print(
        f"{label}: RSS {rss:.0f} MB (peak {hwm:.0f} MB), {threads(daemon.pid)} threads, "
        f"{imap_connections(daemon.pid, server.port)} IMAP connections held "
        f"(Dovecot: {dovecot_sessions(server)} sessions, "
        f"{imap_processes(dovecot_processes(server))} imap processes); load {load()}",
        flush=True,
    )
    states = watch_states(daemon.data_dir)
    if states:
        print(
            f"{label}: watches in health.json: "
            + ", ".join(f"{count} {state}" for state, count in sorted(states.items()))
        )


def measure_idle(daemon: RunningDaemon, server: DovecotServer, seconds: float) -> None:
    """The daemon's and Dovecot's CPU over ``seconds`` with no mail, as % of one core."""
    print(f"--- {seconds:.0f} s with no mail ...", flush=True)
    began, ours = time.monotonic(), cpu_seconds(daemon.pid)
    before = group_cpu(dovecot_processes(server))
    time.sleep(seconds)
    wall = time.monotonic() - began
    ours = cpu_seconds(daemon.pid) - ours
    after = group_cpu(dovecot_processes(server))
    # A process that ended in the window is not counted (its time is gone with it); one that
    # began in it counts whole.
    theirs = sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())
    print(
        f"idle CPU: the daemon {ours:.2f} s in {wall:.0f} s = {100 * ours / wall:.2f}% of a "
        f"core; Dovecot {100 * theirs / wall:.2f}% ({len(after)} processes)",
        flush=True,
    )


def deliver(
    server: DovecotServer,
    logins: list[tuple[str, str]],
    count: int,
    gap: tuple[float, float],
    rng: random.Random,
) -> list[tuple[str, float, str]]:
    """``count`` new customers, each to a random mailbox: (customer, APPEND done, mailbox)."""
    run = secrets.token_hex(3)
    sent = []
    for n in range(count):
        time.sleep(rng.uniform(*gap))
        username, password = rng.choice(logins)
        customer, raw = customer_mail(run, n, username)
        with server.client(username, password) as imap:
            imap.append("INBOX", raw)
            sent.append((customer, time.monotonic(), username))
    return sent


def main() -> None:  # noqa: PLR0915
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--mailboxes",
        type=int,
        default=200,
        help="mailboxes (Dovecot users) in the one daemon (default 200)",
    )
    parser.add_argument(
        "--mails", type=int, default=100, help="mails, each to a random mailbox (default 100)"
    )
    parser.add_argument(
        "--spacing",
        type=spacing,
        default=(0.5, 1.5),
        help="seconds between two mails, uniform in LOW,HIGH (default 0.5,1.5)",
    )
    parser.add_argument(
        "--quiet",
        type=float,
        default=60.0,
        help="seconds with no mail over which idle CPU is measured (default 60)",
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
        default=10.0,
        help="seconds the daemon's connections and threads must stay the same "
        "after the first full poll before measuring (default 10)",
    )
    parser.add_argument("--seed", type=int, default=None, help="for the mailboxes and jitter")
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
        help="keep the scratch folder (the daemon's log and data_dir, Dovecot's)",
    )
    options = parser.parse_args()
    rng = random.Random(options.seed)
    code = options.code.resolve() if options.code else None
    agent = agent_command(code, ROOT)

    root = Path(tempfile.mkdtemp(prefix="inbox-agent-many-"))
    root.chmod(0o755)  # Dovecot's unprivileged processes must traverse it
    password = secrets.token_hex(8)
    logins = [(f"shop{i:03d}@example.com", password) for i in range(options.mailboxes)]
    server = start_dovecot(root, logins)
    sink = SmtpSink()
    sink.start()
    clock = AckClock(sink)
    clock.start()
    daemon = None
    try:
        print_machine(server, code, agent.argv, agent.env, ROOT)
        check_inotify(options.mailboxes)
        work = root / "agent"
        work.mkdir()
        mailboxes = {username.split("@")[0]: username for username, _ in logins}
        config = write_mailboxes_config(
            work / "config.toml",
            data_dir=work / "data",
            templates=agent.templates,
            mailboxes=mailboxes,
            imap_port=server.port,
            smtp_port=sink.port,
            poll_interval_seconds=options.poll_interval,
        )
        daemon = start_daemon(
            agent.argv, {**agent.env, PASSWORD_ENV: password}, config, work / "data", work
        )
        print(f"--- {options.mailboxes} mailboxes, one daemon: start-up ...", flush=True)
        polled = wait_first_poll(
            daemon, set(mailboxes), timeout=600, seen_elsewhere=lambda: logged_out(server)
        )
        started = daemon.started()
        print(
            f"start-up: the first full poll of {options.mailboxes} mailboxes finished "
            f"{polled - daemon.spawned:.1f} s after the daemon was started "
            f"({polled - started:.1f} s after its `started` line)",
            flush=True,
        )
        settled = wait_steady(
            lambda: (threads(daemon.pid), imap_connections(daemon.pid, server.port)),
            options.settle,
            timeout=300,
        )
        print(
            f"start-up: connections and threads steady for {options.settle:.0f} s, "
            f"{settled:.1f} s after the first full poll",
            flush=True,
        )
        print_at_rest(daemon, server, "at rest")
        measure_idle(daemon, server, options.quiet)
        print_at_rest(daemon, server, "at rest")

        print(
            f"--- {options.mails} mails to random mailboxes, {options.spacing[0]:g}-"
            f"{options.spacing[1]:g} s apart ...",
            flush=True,
        )
        cpu_before, began = cpu_seconds(daemon.pid), time.monotonic()
        sent = deliver(server, logins, options.mails, options.spacing, rng)
        wait_acks(
            clock,
            {customer for customer, _, _ in sent},
            daemon,
            timeout=options.poll_interval + 120,
        )
        busy = cpu_seconds(daemon.pid) - cpu_before
        wall = time.monotonic() - began
        pickups = [
            Pickup(
                appended,
                clock.arrived.get(customer),
                next_poll(started, options.poll_interval, appended),
            )
            for customer, appended, _ in sent
        ]
        acks = [r for r in sink.received if r.message.get("Auto-Submitted") == "auto-replied"]
        print(
            f"acknowledgements at the sink: {len(acks)} for {options.mails} mails to "
            f"{len({m for _, _, m in sent})} mailboxes "
            f"({'OK' if len(acks) == options.mails else 'BROKEN RUN'})"
        )
        print_pickups(pickups, options.poll_interval)
        print(
            f"pickup CPU: the daemon {busy:.1f} s in {wall:.0f} s "
            f"({1000 * busy / max(len(sent), 1):.0f} ms a mail, idle time included)"
        )
        print_at_rest(daemon, server, "after")
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
        warnings = [
            line
            for line in server.log_path.read_text(errors="replace").splitlines()
            if "Warning" in line or "Error" in line or "Fatal" in line
        ]
        print(
            f"dovecot: {len(warnings)} warnings/errors in its log"
            + "".join(f"\n    {line}" for line in warnings[:10])
        )
        server.stop()
        if options.keep:
            print(f"scratch folder kept: {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
