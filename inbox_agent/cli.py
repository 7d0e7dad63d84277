"""The ``inbox-agent`` command: argparse, logging set up once, errors as one line.

Expected failures (bad config, bad template, a server refusing the login, a locked data
directory) print ``ErrorType: what happened; what to do`` and exit 1, with no traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import sys
from collections.abc import Sequence
from datetime import timedelta

from inbox_agent import __version__, app, checks, config, demo, logs, template_tools, views
from inbox_agent.errors import InboxAgentError

log = logging.getLogger("inbox_agent")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = _parser().parse_args(argv)
    _setup_logging(args.verbose)
    try:
        result: int = args.handler(args)
    except InboxAgentError as exc:
        print(exc.one_line(), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `inbox-agent threads | head`: the reader left, not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="inbox-agent",
        description="Looks after a support mailbox: acknowledges customers with a promise "
                    "in business hours, and keeps it.")
    parser.add_argument("--config", help="config file (default: $INBOX_AGENT_CONFIG, "
                        "else ./config.toml)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    parser.add_argument("--version", action="version", version=f"inbox-agent {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="the daemon, in the foreground")
    run.add_argument("--once", action="store_true",
                     help="one poll of every mailbox, send what is due, exit")
    run.add_argument("--dry-run", action="store_true",
                     help="everything but sending (and nothing is saved)")
    run.set_defaults(handler=_run)

    check = commands.add_parser(
        "check", help="config, templates, data folder, IMAP and SMTP logins (sends nothing)")
    check.set_defaults(handler=_check)

    templates = commands.add_parser("templates", help="check or preview the reply templates")
    template_commands = templates.add_subparsers(dest="templates_command", required=True,
                                                 metavar="check|preview")
    template_commands.add_parser(
        "check", help="compile and render every template; file:line for each mistake"
    ).set_defaults(handler=_templates_check)
    preview = template_commands.add_parser(
        "preview", help="print a mail as it would be sent (headers and text)")
    preview.add_argument("name", help="acknowledgement, follow_up, escalation or "
                                      "escalation_notice")
    preview.add_argument("--thread", metavar="ID", help="a real conversation instead of a sample")
    preview.add_argument("--lang", metavar="L", help="the customer's language, e.g. de")
    preview.add_argument("--html", action="store_true", help="show the HTML part instead")
    preview.set_defaults(handler=_templates_preview)

    threads = commands.add_parser("threads", help="list conversations")
    threads.add_argument("--status", choices=views.STATUSES, default="all")
    threads.add_argument("--json", action="store_true", help="a JSON array")
    threads.set_defaults(handler=_threads)

    thread = commands.add_parser("thread", help="one conversation in full")
    thread.add_argument("id", help="the conversation token, e.g. K7Q2")
    thread.add_argument("--json", action="store_true", help="a JSON object")
    thread.set_defaults(handler=_thread)

    for name, text in (("close", "close a conversation by hand"),
                       ("reopen", "reopen a closed conversation (nothing is sent)")):
        staff_cmd = commands.add_parser(name, help=text)
        staff_cmd.add_argument("id", help="the conversation token, e.g. K7Q2")
        staff_cmd.set_defaults(handler=_staff, until=None)
    snooze = commands.add_parser(
        "snooze", help="no follow-ups until a moment; the customer is told nothing")
    snooze.add_argument("id", help="the conversation token, e.g. K7Q2")
    snooze.add_argument("--until", required=True, metavar="WHEN",
                        help="4h or 2d (business time from now), 2026-11-24 (its opening), "
                             "or '2026-11-24 14:00' (business time zone)")
    snooze.set_defaults(handler=_staff)

    skipped = commands.add_parser(
        "skipped", help="mail filed without an answer (machines, loops, old mail), with why")
    skipped.add_argument("--since", type=_age, metavar="AGE",
                         help="only what arrived in the last AGE: 7d, 24h, 30m (clock time)")
    skipped.add_argument("--json", action="store_true", help="a JSON array")
    skipped.set_defaults(handler=_skipped)

    demo_cmd = commands.add_parser("demo", help="the whole story on an in-process mailbox")
    demo_cmd.set_defaults(handler=_demo)
    return parser


def _setup_logging(verbose: bool) -> None:
    # Customer text is escaped in every line, and -v never turns on the libraries' protocol
    # logging (it would copy customers' mail into the log): see inbox_agent.logs.
    logs.setup(verbose)


def _settings(args: argparse.Namespace) -> config.Settings:
    return config.load(config.config_path(args.config))


def _run(args: argparse.Namespace) -> int:
    settings = _settings(args)
    asyncio.run(app.run(settings, once=args.once, dry_run=args.dry_run))
    return 0


def _threads(args: argparse.Namespace) -> int:
    ledger = app.read_ledger(_settings(args))
    chosen = views.select(ledger, args.status)
    if args.json:
        print(json.dumps([views.summary(c) for c in chosen], indent=2, ensure_ascii=False))
    else:
        print(views.threads_table(chosen, ledger.undeliverable))
    return 0


def _templates_check(args: argparse.Namespace) -> int:
    good, mistakes = template_tools.check_templates(_settings(args), app.system_clock())
    for name in good:
        print(f"ok    {name}")
    for mistake in mistakes:
        print(mistake, file=sys.stderr)
    print(f"{len(good)} template(s) fine, {len(mistakes)} mistake(s)")
    return 1 if mistakes else 0


def _templates_preview(args: argparse.Namespace) -> int:
    settings = _settings(args)
    ledger = app.read_ledger(settings) if args.thread else None
    print(template_tools.preview(settings, ledger, args.name,
                                 app.system_clock(), thread=args.thread, language=args.lang,
                                 html=args.html), end="")
    return 0


def _check(args: argparse.Namespace) -> int:
    results = asyncio.run(checks.run_checks(_settings(args), app.system_clock()))
    for result in results:
        print(result.line())
    failed = [r for r in results if r.problem]
    if failed:
        print(f"{failed[0].problem}", file=sys.stderr)
        return 1
    print("everything the agent needs is in place")
    return 0


def _skipped(args: argparse.Namespace) -> int:
    ledger = app.read_ledger(_settings(args))
    since = app.system_clock() - args.since if args.since else None
    rows = views.skipped(ledger, since)
    print(json.dumps(rows, indent=2, ensure_ascii=False) if args.json
          else views.skipped_table(rows))
    return 0


def _age(text: str) -> timedelta:
    """``7d``, ``24h``, ``30m`` or a mix, as clock time (not business time)."""
    parts = re.fullmatch(r"\s*(?:(\d+)\s*d)?\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m)?\s*",
                         text.lower())
    if not text.strip() or parts is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not an age; write e.g. 7d, 24h or 30m")
    days, hours, minutes = (int(p or 0) for p in parts.groups())
    return timedelta(days=days, hours=hours, minutes=minutes)


def _thread(args: argparse.Namespace) -> int:
    ledger = app.read_ledger(_settings(args))
    conversation = ledger.conversations.get(_token(args.id))
    if conversation is None:
        print(f"NotFound: no conversation {args.id!r}; `inbox-agent threads` lists them",
              file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(views.detail(conversation, ledger), indent=2, ensure_ascii=False))
    else:
        print(views.thread_text(conversation, ledger))
    return 0


def _staff(args: argparse.Namespace) -> int:
    settings = _settings(args)
    print(app.staff_command(settings, args.command, _token(args.id), args.until))
    return 0


def _token(text: str) -> str:
    return text.strip().strip("[]#").upper()


def _demo(args: argparse.Namespace) -> int:
    if not args.verbose:  # the demo prints its own timeline; the log would repeat it
        log.setLevel(logging.WARNING)
    return asyncio.run(demo.main())
