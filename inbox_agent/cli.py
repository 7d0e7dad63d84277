"""The ``inbox-agent`` command: argparse, logging set up once, errors as one line.

Expected failures (bad config, bad template, a server refusing the login, a locked data
directory) print ``ErrorType: what happened; what to do`` and exit 1, with no traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from inbox_agent import __version__, logs
from inbox_agent.commands import (
    check,
    demo,
    replay,
    report,
    run,
    staff,
    status,
    templates,
    threads,
    views,
    web,
)
from inbox_agent.errors import InboxAgentError

log = logging.getLogger("inbox_agent")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = _parser().parse_args(argv)
    _setup_logging(args.verbose, args.log_format)
    try:
        result: int = args.handler(args)
    except InboxAgentError as exc:
        if args.log_format == "json":  # a service's log reader parses every line
            log.error("%s", exc.one_line(), extra=logs.fields("exit"))
        else:
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
        "in business hours, and keeps it.",
    )
    parser.add_argument(
        "--config", help="config file (default: $INBOX_AGENT_CONFIG, else ./config.toml)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    parser.add_argument(
        "--log-format",
        choices=logs.FORMATS,
        default="plain",
        help="plain lines (default), or json: one object a line with time, "
        "level, mailbox, conversation, event and message",
    )
    parser.add_argument("--version", action="version", version=f"inbox-agent {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run_cmd = commands.add_parser("run", help="the daemon, in the foreground")
    run_cmd.add_argument(
        "--once", action="store_true", help="one poll of every mailbox, send what is due, exit"
    )
    run_cmd.add_argument(
        "--dry-run", action="store_true", help="everything but sending (and nothing is saved)"
    )
    run_cmd.set_defaults(handler=run.main)

    check_cmd = commands.add_parser(
        "check", help="config, templates, data folder, IMAP and SMTP logins (sends nothing)"
    )
    check_cmd.set_defaults(handler=check.main)

    templates_cmd = commands.add_parser("templates", help="check or preview the reply templates")
    template_commands = templates_cmd.add_subparsers(
        dest="templates_command", required=True, metavar="check|preview"
    )
    template_commands.add_parser(
        "check", help="compile and render every template; file:line for each mistake"
    ).set_defaults(handler=templates.check)
    preview = template_commands.add_parser(
        "preview", help="print a mail as it would be sent (headers and text)"
    )
    preview.add_argument("name", help="acknowledgement, follow_up, escalation or escalation_notice")
    preview.add_argument("--thread", metavar="ID", help="a real conversation instead of a sample")
    preview.add_argument("--lang", metavar="L", help="the customer's language, e.g. de")
    preview.add_argument("--html", action="store_true", help="show the HTML part instead")
    preview.set_defaults(handler=templates.show_preview)

    threads_cmd = commands.add_parser("threads", help="list conversations")
    threads_cmd.add_argument(
        "--status",
        choices=views.STATUSES,
        help=(
            "only this status; answered, closed and all include the archive (without --status: "
            "every conversation in the live store)"
        ),
    )
    threads_cmd.add_argument("--json", action="store_true", help="a JSON array")
    threads_cmd.set_defaults(handler=threads.list_threads)

    thread = commands.add_parser("thread", help="one conversation in full")
    thread.add_argument("id", help="the conversation token, e.g. K7Q2")
    thread.add_argument("--json", action="store_true", help="a JSON object")
    thread.set_defaults(handler=threads.show_thread)

    for name, text in (
        ("close", "close a conversation by hand"),
        ("reopen", "reopen a closed conversation (nothing is sent)"),
    ):
        staff_cmd = commands.add_parser(name, help=text)
        staff_cmd.add_argument("id", help="the conversation token, e.g. K7Q2")
        staff_cmd.set_defaults(handler=staff.main, until=None)
    snooze = commands.add_parser(
        "snooze", help="no follow-ups until a moment; the customer is told nothing"
    )
    snooze.add_argument("id", help="the conversation token, e.g. K7Q2")
    snooze.add_argument(
        "--until",
        required=True,
        metavar="WHEN",
        help="4h or 2d (business time from now), 2026-11-24 (its opening), "
        "or '2026-11-24 14:00' (business time zone)",
    )
    snooze.set_defaults(handler=staff.main)

    skipped = commands.add_parser(
        "skipped", help="mail filed without an answer (machines, loops, old mail), with why"
    )
    skipped.add_argument(
        "--since",
        type=threads.age,
        metavar="AGE",
        help="only what arrived in the last AGE: 7d, 24h, 30m (clock time)",
    )
    skipped.add_argument("--json", action="store_true", help="a JSON array")
    skipped.set_defaults(handler=threads.list_skipped)

    status_cmd = commands.add_parser(
        "status",
        help="at a glance: polls, waiting conversations, promises due or lapsed, "
        "the outbox (works while the daemon runs)",
    )
    status_cmd.add_argument(
        "--within",
        type=threads.age,
        metavar="AGE",
        help="promises due within AGE count as due soon (default 8h)",
    )
    status_cmd.add_argument("--json", action="store_true", help="one JSON object")
    status_cmd.set_defaults(handler=status.main)

    report_cmd = commands.add_parser(
        "report",
        help="for the owner: promises made, kept, extended, missed; time to first "
        "reply; conversations per day; machine mail by rule",
    )
    report_cmd.add_argument(
        "--since",
        type=threads.age,
        metavar="AGE",
        help="the period: the last AGE, e.g. 30d (the default), 7d",
    )
    report_cmd.add_argument(
        "--html", metavar="FILE", help="also write a self-contained HTML page with charts"
    )
    report_cmd.set_defaults(handler=report.main)

    _add_web(commands)
    _add_tryouts(commands)
    return parser


def _add_web(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``web passwd NAME``: the staff page's logins."""
    web_cmd = commands.add_parser("web", help="the staff web page: set a login")
    web_commands = web_cmd.add_subparsers(dest="web_command", required=True, metavar="passwd")
    passwd = web_commands.add_parser(
        "passwd",
        help="set a staff login's password (asked twice, or read from standard input)",
    )
    passwd.add_argument("name", help="the login name, e.g. alice")
    passwd.set_defaults(handler=web.passwd)


def _add_tryouts(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The commands that try the agent without a mailbox or a relay: replay and demo."""
    replay_cmd = commands.add_parser(
        "replay",
        help="what the agent would have done with exported mail, the clock "
        "following the mail; sends nothing, writes nothing",
    )
    replay_cmd.add_argument("path", help="an mbox file, or a folder of .eml files")
    replay_cmd.add_argument(
        "--mailbox", metavar="NAME", help="the [[mailbox]] the mail came to (default: the first)"
    )
    replay_cmd.add_argument(
        "--until",
        metavar="WHEN",
        help=(
            "run the clock on after the last message, for the follow-ups due by then: 2d "
            "(business time after it), 2026-11-24 (its opening) or '2026-11-24 14:00'"
        ),
    )
    replay_cmd.add_argument(
        "--limit",
        type=replay.limit,
        default=replay.DEFAULT_LIMIT,
        metavar="N",
        help=f"refuse an export of more than N messages (default {replay.DEFAULT_LIMIT})",
    )
    replay_cmd.add_argument("--json", action="store_true", help="one JSON object")
    replay_cmd.set_defaults(handler=replay.main)

    demo_cmd = commands.add_parser("demo", help="the whole story on an in-process mailbox")
    demo_cmd.set_defaults(handler=demo.command)


def _setup_logging(verbose: bool, log_format: logs.LogFormat = "plain") -> None:
    # Customer text is escaped in every line, and -v never turns on the libraries' protocol
    # logging (it would copy customers' mail into the log): see inbox_agent.logs.
    logs.setup(verbose, log_format)
