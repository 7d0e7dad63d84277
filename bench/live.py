"""What the benches of the running daemon share (``pickup.py``, ``many_mailboxes.py``).

The daemon is ``inbox-agent --config X --log-format json run`` in a subprocess, as a service
runs it; the benches learn what it does only from outside: its log, ``data_dir/health.json``
(each mailbox's last poll, written after a mailbox's first poll), ``/proc/PID`` (memory,
threads, CPU, sockets), the Dovecot it talks to, and the moments its acknowledgements reach
the aiosmtpd sink. So they measure whatever the daemon does (polling, or IDLE once it has it).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import statistics
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from tests.servers import SmtpSink

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
ESTABLISHED = "01"  # the state column of /proc/net/tcp
ITEMS = ("kettle", "lamp", "speaker", "router", "toothbrush", "scale", "fan", "clock")


# --- the machine -------------------------------------------------------------------------------


# --- the daemon ----------------------------------------------------------------------------------


@dataclass
class RunningDaemon:
    """``inbox-agent run`` in a subprocess: its process, log, data_dir, and when it began."""

    process: subprocess.Popen[bytes]
    log: Path
    data_dir: Path
    spawned: float  # time.monotonic() when it was started

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def started(self) -> float:
        """The monotonic moment of its log's ``started`` event (the scheduler's first
        ``poll now``), else the moment it was spawned."""
        offset = time.time() - time.monotonic()
        for line in self.log_lines():
            if line.get("event") == "started" and line.get("time"):
                return datetime.fromisoformat(str(line["time"])).timestamp() - offset
        return self.spawned

    def log_lines(self) -> list[dict[str, object]]:
        """Its JSON log lines so far (other lines, a traceback's, skipped)."""
        lines = []
        for text in self.log.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                doc = json.loads(text)
                if isinstance(doc, dict):
                    lines.append(doc)
        return lines

    def problems(self) -> list[str]:
        """Its WARNING and ERROR lines, for the report."""
        return [
            str(line.get("message"))
            for line in self.log_lines()
            if line.get("level") in ("WARNING", "ERROR", "CRITICAL")
        ]

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, as systemd stops it; SIGKILL after ``timeout``. Its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        return self.process.returncode


def start_daemon(
    command: list[str], env: dict[str, str], config: Path, data_dir: Path, work: Path
) -> RunningDaemon:
    """Start ``command --config config --log-format json run`` with its log in ``work``."""
    log = work / "daemon.log"
    argv = [*command, "--config", str(config), "--log-format", "json", "run"]
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=work,
        )
    return RunningDaemon(process, log, data_dir, time.monotonic())


def polled_mailboxes(data_dir: Path) -> set[str]:
    """The mailboxes ``health.json`` says were polled at least once (missing file: none)."""
    try:
        doc = json.loads((data_dir / "health.json").read_text())
        return {name for name, record in doc["mailboxes"].items() if record.get("last_poll_at")}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return set()


def watch_states(data_dir: Path) -> Counter[str]:
    """How many folder watches ``health.json`` shows in each state (none: the daemon only
    polls, or has not written them yet)."""
    try:
        doc = json.loads((data_dir / "health.json").read_text())
        return Counter(
            str(watch.get("state"))
            for record in doc["mailboxes"].values()
            for watch in record.get("watches", [])
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return Counter()


def wait_first_poll(
    daemon: RunningDaemon,
    names: set[str],
    timeout: float,
    seen_elsewhere: Callable[[], set[str]] = set,
) -> float:
    """Block until every mailbox in ``names`` was polled, by ``health.json`` or by
    ``seen_elsewhere()`` (the server's log); the monotonic moment it was seen."""
    deadline = time.monotonic() + timeout
    while not (names <= polled_mailboxes(daemon.data_dir) or names <= seen_elsewhere()):
        if not daemon.alive():
            raise SystemExit(
                f"the daemon exited {daemon.process.returncode}; its log: {daemon.log}"
            )
        if time.monotonic() > deadline:
            missing = len(names - polled_mailboxes(daemon.data_dir))
            raise SystemExit(
                f"{missing} of {len(names)} mailboxes not polled after "
                f"{timeout:.0f} s; the daemon's log: {daemon.log}"
            )
        time.sleep(0.05)
    return time.monotonic()


def wait_steady(sample: Callable[[], object], quiet: float, timeout: float) -> float:
    """Block until ``sample()`` has not changed for ``quiet`` seconds (connections and threads
    after start-up: watches being opened); the seconds it took. Gives up after ``timeout``."""
    began = time.monotonic()
    last, since = sample(), began
    while time.monotonic() - since < quiet and time.monotonic() - began < timeout:
        time.sleep(0.2)
        now = sample()
        if now != last:
            last, since = now, time.monotonic()
    return time.monotonic() - began


# --- /proc -------------------------------------------------------------------------------------


def proc_status(pid: int) -> dict[str, str]:
    """``/proc/PID/status`` as a dict (VmRSS, VmHWM, Threads, ...)."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def memory_mb(pid: int) -> tuple[float, float]:
    """Resident and peak resident memory (VmRSS, VmHWM), MB."""
    status = proc_status(pid)
    return (int(status["VmRSS"].split()[0]) / 1024, int(status["VmHWM"].split()[0]) / 1024)


def threads(pid: int) -> int:
    return int(proc_status(pid)["Threads"])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the whole process (every thread), seconds."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime (fields 14, 15)


def imap_connections(pid: int, port: int) -> int:
    """TCP connections the process holds ESTABLISHED to ``port`` on 127.0.0.1."""
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        parts = line.split()
        remote_port = int(parts[2].split(":")[1], 16)
        if parts[3] == ESTABLISHED and remote_port == port and parts[9] in inodes:
            count += 1
    return count


# --- mail and the sink ---------------------------------------------------------------------------


def customer_mail(run: str, n: int, to: str) -> tuple[str, bytes]:
    """A new customer's first mail to ``to``: (the customer's address, the bytes)."""
    msg = EmailMessage()
    name = f"Customer {run}-{n}"
    address = f"c{n}.{run}@customer{n % 97}.example"
    item = ITEMS[n % len(ITEMS)]
    msg["From"] = f"{name} <{address}>"
    msg["To"] = to
    msg["Subject"] = f"My {item} from order {run}-{n:05d} does not work"
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = make_msgid(f"{run}.{n}", domain=f"customer{n % 97}.example")
    msg.set_content(
        f"Hello,\n\nthe {item} from order {run}-{n:05d} does not switch on. "
        f"What should I do?\n\nThank you,\n{name}\n"
    )
    return address, msg.as_bytes()


@dataclass
class AckClock:
    """Stamps the moment each acknowledgement reaches the sink, by recipient: a thread waits
    on the sink's condition, so a stamp is within a few ms of the sink's 250."""

    sink: SmtpSink
    arrived: dict[str, float] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._watch, name="ack-clock", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def seen(self, addresses: set[str]) -> int:
        with self._lock:
            return len(addresses & self.arrived.keys())

    def _watch(self) -> None:
        seen = 0
        while not self._stop.is_set():
            try:
                received = self.sink.wait_for(seen + 1, timeout=0.5)
            except AssertionError:
                continue
            now = time.monotonic()
            with self._lock:
                for mail in received[seen:]:
                    if mail.message.get("Auto-Submitted") == "auto-replied":
                        for rcpt in mail.rcpt_tos:
                            self.arrived.setdefault(rcpt.lower(), now)
            seen = len(received)


def wait_acks(clock: AckClock, addresses: set[str], daemon: RunningDaemon, timeout: float) -> None:
    """Block until every address in ``addresses`` got its acknowledgement, or ``timeout``."""
    deadline = time.monotonic() + timeout
    while clock.seen(addresses) < len(addresses) and time.monotonic() < deadline:
        if not daemon.alive():
            raise SystemExit(
                f"the daemon exited {daemon.process.returncode}; its log: {daemon.log}"
            )
        time.sleep(0.2)


# --- figures -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pickup:
    """One mail: when its APPEND completed, when its acknowledgement arrived (None: never),
    and the next moment the poll job would have run after the APPEND."""

    appended: float
    acknowledged: float | None
    next_poll: float

    @property
    def latency(self) -> float | None:
        return None if self.acknowledged is None else self.acknowledged - self.appended

    @property
    def before_poll(self) -> bool:
        return self.acknowledged is not None and self.acknowledged < self.next_poll


def next_poll(started: float, interval: float, moment: float) -> float:
    """The first run of a job every ``interval`` s from ``started`` at or after ``moment``."""
    runs = max(0, -(-(moment - started) // interval))  # ceil
    return started + runs * interval


def print_pickups(pickups: list[Pickup], interval: int, label: str = "pickup") -> None:
    """n, p50, p95, max (and min, mean), lost, and how many beat the next poll."""
    latencies = sorted(p.latency for p in pickups if p.latency is not None)
    lost = len(pickups) - len(latencies)
    early = sum(p.before_poll for p in pickups)
    if not latencies:
        print(f"{label}: none of {len(pickups)} mails was acknowledged")
        return
    p95 = (
        statistics.quantiles(latencies, n=20, method="inclusive")[-1]
        if len(latencies) > 1
        else latencies[0]
    )
    print(
        f"{label}: n {len(latencies)}  p50 {statistics.median(latencies):.2f} s  "
        f"p95 {p95:.2f} s  max {latencies[-1]:.2f} s  (min {latencies[0]:.2f} s, mean "
        f"{statistics.fmean(latencies):.2f} s)" + (f"  NOT ACKNOWLEDGED: {lost}" if lost else "")
    )
    print(
        f"{label}: acknowledged before the next poll (every {interval} s) would have run: "
        f"{early} of {len(pickups)}"
    )
