"""Peak memory of one poll with large mail: ten 30 MB mails, and one alone, on Dovecot.

Starts Dovecot and the SMTP sink the way the test fixtures do (``tests/servers.py``), APPENDs
the mail (a short text and a base64 attachment, 30 MB in all), and runs one ``run --once``
cycle of the agent in a fresh interpreter per scenario, so the peak RSS (``VmHWM``) is that
cycle's alone. Then it prints what parsing one 30 MB mail costs, step by step (each step in a
fresh interpreter too), to show where the multiplier comes from.

    python bench/fetch_memory.py                       # the code in this tree
    python bench/fetch_memory.py --code /tmp/before    # another tree, e.g. `git archive` of a
                                                       # commit, to compare before / after

Needs Dovecot (``apt-get install dovecot-imapd``) and root, as the IMAP tests do. Prints
figures; there is no threshold.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

HERE = Path(__file__).resolve().parents[1]
MB = 1024 * 1024
LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 11, 16, 10, 0, tzinfo=LONDON)  # a Monday morning


def big_mail(n: int, size: int) -> bytes:
    """A person's mail: a line of text and a base64 attachment, ``size`` bytes in all."""
    head = (
        f"From: Customer {n} <c{n}@customer.example>\r\n"
        f"To: Support <support@example.com>\r\n"
        f"Subject: the video of the crash, take {n}\r\n"
        f"Date: Mon, 16 Nov 2026 09:0{n % 10}:00 +0000\r\n"
        f"Message-ID: <big{n}.{secrets.token_hex(4)}@customer.example>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="XX"\r\n\r\n'
        "--XX\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        "Hello, the recording is attached. It crashes at 0:42.\r\n\r\n"
        "--XX\r\nContent-Type: video/mp4; name=crash.mp4\r\n"
        "Content-Transfer-Encoding: base64\r\n"
        "Content-Disposition: attachment; filename=crash.mp4\r\n\r\n"
    ).encode()
    tail = b"\r\n--XX--\r\n"
    payload = os.urandom((size - len(head) - len(tail)) * 57 // 78)
    body = base64.encodebytes(payload).replace(b"\n", b"\r\n")
    return head + body + tail


# --- the child: one cycle, or one parsing step, in a fresh interpreter ------------------------


def _peak_mb() -> float:
    """This process's peak RSS. ``VmHWM``, not ``ru_maxrss``: Linux carries ru_maxrss over
    from the parent at fork, and the parent here holds 300 MB of mail."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    import resource  # noqa: PLC0415 - not Linux: the best there is

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_cycle(code: Path, config_path: Path) -> None:
    """One ``run --once`` of the agent whose code lives in ``code``."""
    import asyncio  # noqa: PLC0415
    import time  # noqa: PLC0415

    sys.path.insert(0, str(code))
    from inbox_agent import config  # noqa: PLC0415
    from inbox_agent.adapters.store import Store  # noqa: PLC0415

    try:
        from inbox_agent.agent import cycle  # noqa: PLC0415
    except ImportError:  # a tree from before the agent/ package, to compare with
        from inbox_agent import app as cycle  # type: ignore[no-redef]  # noqa: PLC0415

    settings = config.load(config_path)
    before = _peak_mb()

    async def one_cycle() -> cycle.CycleReport:
        with Store(settings.agent.data_dir) as store:
            agent = cycle.Agent(settings, store, cycle.real_adapters(settings), clock=lambda: NOW)
            return await agent.run_cycle()

    started = time.perf_counter()
    report = asyncio.run(one_cycle())
    print(
        json.dumps(
            {
                "peak_mb": _peak_mb(),
                "start_mb": before,
                "seconds": time.perf_counter() - started,
                "summary": report.summary(),
            }
        )
    )


def child_parse(code: Path, mail_path: Path, step: str) -> None:
    """One parsing step over the mail in ``mail_path``: how much does it add to the peak?"""
    sys.path.insert(0, str(code))
    from email import policy  # noqa: PLC0415
    from email.parser import BytesParser  # noqa: PLC0415

    from inbox_agent.core import message  # noqa: PLC0415

    raw = mail_path.read_bytes()
    before = _peak_mb()
    kept: object = None
    if step == "compat32":
        kept = BytesParser(policy=policy.compat32).parsebytes(raw)
    elif step == "default":
        kept = BytesParser(policy=policy.default).parsebytes(raw)
    elif step == "parse":
        kept = message.parse(raw, NOW)
    elif step == "headers":
        end = raw.find(b"\r\n\r\n")
        kept = message.parse(raw[: end + 4], NOW)
    print(json.dumps({"peak_mb": _peak_mb(), "start_mb": before, "kept": kept is not None}))


# --- the parent: servers, mail, scenarios ---------------------------------------------------


def _run_child(*args: str, env: dict[str, str] | None = None) -> dict[str, object]:
    done = subprocess.run(  # noqa: S603 - this very script, in a fresh interpreter
        [sys.executable, __file__, *args], capture_output=True, text=True, env=env, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"child {args[0]} failed:\n{done.stderr[-3000:]}")
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _config(data_dir: Path, account: object, sink: object, max_size: str | None) -> Path:
    from tests import worlds  # noqa: PLC0415

    text = worlds.CONFIG.format(
        data_dir=data_dir,
        templates=worlds.ROOT / "templates",
        address=account.address,  # type: ignore[attr-defined]
        imap_host="127.0.0.1",
        imap_port=account.server.port,  # type: ignore[attr-defined]
        imap_user=account.username,
        folder="INBOX",
        smtp_host="127.0.0.1",  # type: ignore[attr-defined]
        smtp_port=sink.port,
    )  # type: ignore[attr-defined]
    if max_size is not None:
        text = text.replace("[agent]\n", f'[agent]\nmax_message_size = "{max_size}"\n', 1)
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def parent(code: Path, size_mb: int, max_sizes: list[str | None]) -> None:
    sys.path.insert(0, str(HERE))
    from tests.servers import ImapAccount, SmtpSink, start_imap_server  # noqa: PLC0415

    root = Path(tempfile.mkdtemp(prefix="inbox-agent-bench-"))
    root.chmod(0o755)
    server = start_imap_server(root / "dovecot", "dovecot")
    sink = SmtpSink()
    sink.start()
    try:
        size = size_mb * MB
        mails = [big_mail(n, size) for n in range(10)]
        mail_file = root / "one.eml"
        mail_file.write_bytes(mails[0])
        print(
            f"code: {code}\nmail: {len(mails[0]) / MB:.1f} MB each "
            f"(text + base64 attachment), Dovecot on 127.0.0.1:{server.port}\n"
        )
        print(f"{'scenario':<34} {'max_message_size':>16} {'peak RSS':>9} {'cycle':>7}  result")
        for count in (0, 1, 10):
            label = (
                "one small mail (baseline)"
                if count == 0
                else f"{count} x {size_mb} MB mail{'s' if count > 1 else ''}"
            )
            for max_size in max_sizes:  # a fresh mailbox each: nothing read twice
                password = secrets.token_hex(8)
                address = f"support-{count}-{max_size or 'default'}@example.com".lower()
                server.add_user(address, password)
                account = ImapAccount(server, address, password, address)
                for n in range(count):
                    account.append("INBOX", mails[n], NOW - timedelta(minutes=30 - n))
                if count == 0:
                    small = mails[0].split(b"--XX\r\nContent-Type: video")[0] + b"--XX--\r\n"
                    account.append("INBOX", small, NOW - timedelta(minutes=30))
                data_dir = root / f"data-{count}-{max_size}"
                env = dict(os.environ, TEST_IMAP_PASSWORD=account.password, TEST_SMTP_PASSWORD="x")
                result = _run_child(
                    "cycle", str(code), str(_config(data_dir, account, sink, max_size)), env=env
                )
                shown = max_size or "(default)"
                print(
                    f"{label:<34} {shown:>16} {result['peak_mb']:>6.0f} MB "
                    f"{result['seconds']:>6.1f}s  {result['summary']}"
                )
        print(
            f"\nparsing one {size_mb} MB mail (each step alone; the mail read from a file first):"
        )
        for step in ("read only", "compat32", "default", "parse", "headers"):
            result = _run_child("parse", str(code), str(mail_file), step.split()[0])
            grew = float(result["peak_mb"]) - float(result["start_mb"])  # type: ignore[arg-type]
            print(
                f"  {step:<10} peak {result['peak_mb']:>6.0f} MB  (+{grew:.0f} MB over the "
                "bytes alone)"
            )
    finally:
        sink.stop()
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", nargs="?", default="bench", choices=("bench", "cycle", "parse"))
    parser.add_argument("args", nargs="*")
    parser.add_argument(
        "--code", type=Path, default=HERE, help="the source tree whose inbox_agent is measured"
    )
    parser.add_argument("--size-mb", type=int, default=30)
    parser.add_argument(
        "--max-message-size",
        action="append",
        default=None,
        help="also run with this [agent] max_message_size (repeatable)",
    )
    options = parser.parse_args()
    if options.mode == "cycle":
        child_cycle(Path(options.args[0]), Path(options.args[1]))
    elif options.mode == "parse":
        child_parse(Path(options.args[0]), Path(options.args[1]), options.args[2])
    else:
        parent(options.code.resolve(), options.size_mb, [None, *(options.max_message_size or [])])


if __name__ == "__main__":
    main()
