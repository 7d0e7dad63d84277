"""Our bounce reader against GNU Mailman's detectors (flufl.bounce), on the shared corpus.

Three readers of each message's failed recipients (permanent failures, as triage's
``reports_failure`` counts them; delays are not failures):

* **ours**: ``core.bounces.stated_failures``, what a bounce states as data (RFC 3464
  delivery-status blocks whose Action is failed, ``X-Failed-Recipients``);
* **flufl**: ``flufl.bounce.scan_message`` on the whole message, as Mailman calls it; its
  catches as it returns them (lower-cased, not checked);
* **pipeline**: ``core.bounces.failed_recipients``, what the agent now uses: ours, and where a
  bounce states nothing and has no delivery-status part, flufl.bounce's detectors on a bounded
  copy with every address checked (``core.bounce_text``).

Run over every message of ``bounces/`` and, as a control that must yield no failed recipient,
``human/`` and ``autoreplies/``. Printed per message: the labelled count, what each found,
ours and flufl's agreement or each side's extras, the time per message; then the totals.

The labels name no addresses: sisimai's test tables give one entry per failed recipient (its
``sisimai_expected``; feedback reports and delivered notices count none), and
Mail::DeliveryStatus::BounceParser's say only ``is_bounce``. So a *miss* is a labelled
recipient a reader did not find: a sisimai bounce with N entries where it found fewer than N
addresses, or a BounceParser bounce where it found none; *over* is a sisimai bounce where it
found more addresses than entries (ours names both Original- and Final-Recipient of one
block; flufl's heuristics catch addresses that are no recipient).

    python bench/bounce_detectors.py [--corpus ../shared/corpus] [--totals] [--large]

``--large`` adds the times on the corpus's largest message, a 5 MB and a 25 MB bounce, and a
bounce with a 1 MB line, which flufl.bounce's expressions read in quadratic time.
"""

from __future__ import annotations

import argparse
import email
import json
import logging
import platform
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import policy
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import flufl.bounce
from flufl.bounce._detectors.simplematch import PATTERNS  # private: the bench's worst case
from flufl.bounce._detectors.simplewarning import PATTERNS as WARNINGS

from inbox_agent.core.bounce_text import one_address
from inbox_agent.core.bounces import failed_recipients, stated_failures

ROOT = Path(__file__).resolve().parents[1]
CONTROLS = ("human", "autoreplies")
T = TypeVar("T")
REPEAT = 3  # each reader's time a message: the fastest of three runs
NOT_FAILURES = frozenset({"feedback", "delivered"})  # sisimai reasons that name no failure
logging.getLogger("flufl.bounce").setLevel(logging.CRITICAL)  # a line per detector it runs


@dataclass
class Row:
    """One message: what its label expects and what each reader found."""

    category: str
    name: str
    expected: int | None  # failed recipients labelled (at least, when not exact); None: no label
    exact: bool
    ours: frozenset[str]
    flufl: frozenset[str]
    pipeline: frozenset[str]
    seconds: dict[str, float] = field(default_factory=dict)
    flufl_error: str = ""
    detector: str = ""


def expected_failures(label: dict[str, Any]) -> tuple[int | None, bool]:
    """How many failed recipients a bounce's label names, and whether exactly: sisimai's
    entries (exact), BounceParser's is_bounce (at least one), or no label (None)."""
    entries = label.get("sisimai_expected")
    if isinstance(entries, list):
        return sum(1 for e in entries if e.get("reason") not in NOT_FAILURES), True
    expectation = label.get("library_expectation")
    if isinstance(expectation, dict) and expectation.get("is_bounce") == 1:
        return 1, False
    return None, False


def messages(corpus: Path) -> Iterator[tuple[str, str, bytes, tuple[int | None, bool]]]:
    """(category, path in the corpus, bytes, expected failed recipients) of every message."""
    for category in ("bounces", *CONTROLS):
        for folder in sorted((corpus / category).iterdir()):
            labels = json.loads((folder / "labels.json").read_text(encoding="utf-8"))
            for name in sorted(labels):
                raw = (folder / name).read_bytes()
                expected = expected_failures(labels[name]) if category == "bounces" else (0, True)
                yield category, f"{category}/{folder.name}/{name}", raw, expected


def timed(seconds: dict[str, float], key: str, run: Callable[[], T], repeat: int = 1) -> T:
    """``run()``'s result; its fastest time of ``repeat`` runs in ``seconds[key]``."""
    best = float("inf")
    try:
        for _ in range(repeat - 1):
            start = time.perf_counter()
            run()
            best = min(best, time.perf_counter() - start)
        start = time.perf_counter()
        return run()
    finally:
        seconds[key] = min(best, time.perf_counter() - start)


def flufl_scan(raw: bytes) -> frozenset[str]:
    """flufl.bounce as Mailman calls it: the whole message, its permanent failures."""
    msg = email.message_from_bytes(raw, policy=policy.compat32)
    return frozenset(a.decode("ascii", "replace").lower() for a in flufl.bounce.scan_message(msg))


def which_detector(raw: bytes) -> str:
    """The flufl.bounce detector that spoke first (its private list: for this bench only)."""
    detectors = getattr(getattr(flufl.bounce, "_scan", None), "_DETECTORS", [])
    msg = email.message_from_bytes(raw, policy=policy.compat32)
    for detector in detectors:
        try:
            temporary, permanent = detector().process(msg)
        except Exception:  # noqa: BLE001 - the bench reports it as the detector that failed
            return f"{detector.__name__} (raised)"
        if temporary or permanent:
            return str(detector.__name__)
    return ""


def read(category: str, name: str, raw: bytes, expected: tuple[int | None, bool]) -> Row:
    seconds: dict[str, float] = {}
    ours = frozenset(timed(seconds, "ours", partial(stated_failures, raw), REPEAT))
    error = ""
    try:
        found = timed(seconds, "flufl", partial(flufl_scan, raw), REPEAT)
    except Exception as problem:  # noqa: BLE001 - counted: Mailman would log and skip it
        found, error = frozenset(), type(problem).__name__
    pipeline = frozenset(timed(seconds, "pipeline", partial(failed_recipients, raw), REPEAT))
    return Row(
        category,
        name,
        *expected,
        ours,
        found,
        pipeline,
        seconds,
        error,
        which_detector(raw) if found or error else "",
    )


def misses(row: Row, found: frozenset[str]) -> int:
    """Labelled failed recipients not found (by count: the labels name no address)."""
    return max(0, (row.expected or 0) - len(found))


def over(row: Row, found: frozenset[str]) -> int:
    """Addresses found beyond an exact label's count."""
    return max(0, len(found) - (row.expected or 0)) if row.exact else 0


def show(row: Row, addresses: bool) -> str:
    def names(found: frozenset[str]) -> str:
        return ", ".join(sorted(found)) if addresses else f"{len(found)} address(es)"

    label = "no label" if row.expected is None else f"{row.expected}{'' if row.exact else '+'}"
    if row.ours == row.flufl:
        verdict = "agree" if row.ours else "both none"
    else:
        verdict = (
            f"ours+[{names(row.ours - row.flufl)}] flufl+[{names(row.flufl - row.ours)}]"
            f"{' flufl raised ' + row.flufl_error if row.flufl_error else ''}"
        )
    times = " ".join(f"{k} {v * 1000:.1f} ms" for k, v in row.seconds.items())
    return (
        f"{row.name}: label {label}; ours {len(row.ours)}, flufl {len(row.flufl)}"
        f"{' (' + row.detector + ')' if row.detector else ''}, pipeline "
        f"{len(row.pipeline)}; {verdict}; pipeline [{names(row.pipeline)}]; {times}"
    )


READERS = ("ours", "flufl", "pipeline")


def found(row: Row, reader: str) -> frozenset[str]:
    value: frozenset[str] = getattr(row, reader)
    return value


def real(row: Row, reader: str) -> frozenset[str]:
    """What ``reader`` found in ``row`` that is one address."""
    return frozenset(a for a in found(row, reader) if one_address(a))


def totals(rows: list[Row]) -> list[str]:
    """The comparison table and the agreement line, as BENCHMARKS.md shows them."""
    bounces = [r for r in rows if r.category == "bounces"]
    controls = [r for r in rows if r.category != "bounces"]
    labelled = [r for r in bounces if r.expected]
    zero = [r for r in bounces if r.expected == 0]
    table: dict[str, Callable[[str], object]] = {
        "bounces with a failed recipient found": lambda k: sum(bool(found(r, k)) for r in bounces),
        "addresses found in bounces": lambda k: sum(len(found(r, k)) for r in bounces),
        "labelled recipients missed (an address that is none is no find)": lambda k: sum(
            misses(r, real(r, k)) for r in labelled
        ),
        "labelled bounces with none found (likewise)": lambda k: sum(
            not real(r, k) for r in labelled
        ),
        "sisimai bounces with more found than labelled": lambda k: sum(
            over(r, real(r, k)) > 0 for r in labelled
        ),
        "catches that are not one address (JSON, paths, @host, empty)": lambda k: sum(
            not one_address(a) for r in bounces for a in found(r, k)
        ),
        "bounces labelled with none where some are found": lambda k: sum(
            bool(found(r, k)) for r in zero
        ),
        "false positives on the controls (messages)": lambda k: sum(
            bool(found(r, k)) for r in controls
        ),
        "median time a message (ms)": lambda k: (
            f"{statistics.median(r.seconds[k] for r in rows) * 1000:.2f}"
        ),
        "slowest message (ms)": lambda k: f"{max(r.seconds[k] for r in rows) * 1000:.1f}",
    }
    lines = [
        f"bounces: {len(bounces)} messages, {len(labelled)} labelled with failed "
        f"recipients ({sum(r.expected or 0 for r in labelled)}, counting one for each "
        f"is_bounce label), {len(zero)} with none (feedback, delivered), "
        f"{sum(r.expected is None for r in bounces)} without a label; controls: "
        f"{len(controls)} (human, auto-replies)",
        "",
        "| | ours | flufl.bounce | pipeline |",
        "|---|---:|---:|---:|",
    ]
    lines += [
        f"| {title} | " + " | ".join(str(measure(k)) for k in READERS) + " |"
        for title, measure in table.items()
    ]
    return [*lines, "", *agreement(bounces), *errors(rows, bounces)]


def agreement(bounces: list[Row]) -> list[str]:
    both = [r for r in bounces if r.ours and r.flufl]
    return [
        f"ours and flufl.bounce on the bounces: agree on "
        f"{sum(r.ours == r.flufl for r in both)} (the same addresses), both find none in "
        f"{sum(not r.ours and not r.flufl for r in bounces)}; disagree on "
        f"{sum(r.ours != r.flufl for r in bounces)}: only flufl finds any in "
        f"{sum(bool(r.flufl) and not r.ours for r in bounces)}, only ours in "
        f"{sum(bool(r.ours) and not r.flufl for r in bounces)}, both but not the same in "
        f"{sum(r.ours != r.flufl for r in both)} (addresses only ours has: "
        f"{sum(len(r.ours - r.flufl) for r in both)}, only flufl: "
        f"{sum(len(r.flufl - r.ours) for r in both)})"
    ]


def errors(rows: list[Row], bounces: list[Row]) -> list[str]:
    by_detector = Counter(r.detector for r in bounces if r.flufl and not r.ours)
    return [
        f"flufl.bounce raised on {sum(bool(r.flufl_error) for r in rows)} messages "
        f"({', '.join(sorted({r.flufl_error for r in rows if r.flufl_error})) or '-'}); "
        "where only flufl finds any, the detector: "
        + ", ".join(f"{d} {n}" for d, n in by_detector.most_common())
    ]


def large(corpus: Path) -> list[str]:
    """Times on big and hostile messages: flufl.bounce as Mailman calls it, and the pipeline."""
    biggest = max(corpus.rglob("*.eml"), key=lambda p: p.stat().st_size)
    qmail = (
        b"From: MAILER-DAEMON@mx.example\r\nTo: support@example.com\r\n"
        b"Subject: failure notice\r\n\r\nHi. This is the qmail-send program at mx.example."
        b"\r\n\r\n<ana@customer.example>:\r\nSorry, no mailbox here by that name.\r\n\r\n"
        b"--- Below this line is a copy of the message.\r\n\r\n"
    )
    filler = b"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod.\r\n"
    smail = (
        b"From: MAILER-DAEMON@mx.example\r\nSubject: Returned mail\r\n\r\n"
        b"Failed addresses follow:\r\n"
    )
    # Every opening line SimpleMatch and SimpleWarning wait for, then lines of "<", on which
    # <(?P<addr>[^>]*)> backtracks quadratically: as much as the copy they read holds.
    tags = "".join(
        re.sub(r"\\(.)", r"\1", start.pattern.strip("^$")) + "\r\n"
        for start, _, _ in (*PATTERNS, *WARNINGS)
    )
    worst = (
        f"From: MAILER-DAEMON@mx.example\r\nSubject: Returned mail\r\n\r\n{tags}"
        + ("<" * 510 + "\r\n") * 120
    ).encode()
    cases: list[tuple[str, bytes, bool]] = [
        (f"largest corpus message ({biggest.relative_to(corpus)})", biggest.read_bytes(), True),
        ("5 MB qmail bounce", qmail + filler * (5_000_000 // len(filler)), True),
        ("25 MB qmail bounce", qmail + filler * (25_000_000 // len(filler)), True),
        ("Smail bounce, one 40,000-character line", smail + b"a" * 40_000 + b"\r\n", True),
        (
            "Smail bounce, one 1 MB line (flufl alone: about an hour, not run)",
            smail + b"a" * 1_000_000 + b"\r\n",
            False,
        ),
        ("the worst inside the bounds: every opening line, then 120 lines of 510 '<'", worst, True),
    ]
    lines = [
        "| message | size | flufl.bounce (s) | pipeline (s) | pipeline found |",
        "|---|---:|---:|---:|---|",
    ]
    for title, raw, run_flufl in cases:
        seconds: dict[str, float] = {}
        if run_flufl:
            timed(seconds, "flufl", partial(flufl_scan, raw))
        named = timed(seconds, "pipeline", partial(failed_recipients, raw))
        flufl_time = f"{seconds['flufl']:.2f}" if run_flufl else "-"
        lines.append(
            f"| {title} | {len(raw) / 1e6:.1f} MB | {flufl_time} | "
            f"{seconds['pipeline']:.2f} | {', '.join(named) or '-'} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    parser.add_argument("--totals", action="store_true", help="the totals only")
    parser.add_argument("--large", action="store_true", help="times on big and hostile mail")
    args = parser.parse_args()
    rows = []
    for category, name, raw, expected in messages(args.corpus):
        row = read(category, name, raw, expected)
        rows.append(row)
        if not args.totals:
            print(show(row, addresses=category == "bounces"))
    print()
    print(
        f"flufl.bounce {flufl.bounce.__version__}, Python {platform.python_version()}, "
        f"{platform.machine()}, {platform.system()}"
    )
    print("\n".join(totals(rows)))
    if args.large:
        print()
        print("\n".join(large(args.corpus)))


if __name__ == "__main__":
    main()
