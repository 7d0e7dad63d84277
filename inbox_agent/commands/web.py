"""``inbox-agent web passwd NAME``: set a staff login for the web page.

The password is asked twice at a terminal (never echoed), or read from standard input's first
line when that is not a terminal (``printf '%s\\n' "$PW" | inbox-agent web passwd alice``). It
is kept as a salted scrypt hash in ``data_dir/web/users.json`` (0600), never in the config;
sessions made with the old password end.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from inbox_agent.commands.common import settings_of
from inbox_agent.errors import CommandError
from inbox_agent.web.auth import Users, check_name


def passwd(args: argparse.Namespace) -> int:
    """Set (or change) ``args.name``'s password."""
    settings = settings_of(args)
    name = check_name(args.name)
    Users(settings.agent.data_dir).set_password(name, read_password())
    print(f"web login {name!r} set in {settings.agent.data_dir / 'web' / 'users.json'}")
    return 0


def read_password() -> str:
    """From a prompt, asked twice, or standard input's first line when it is not a terminal."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        raise CommandError("the two passwords differ; nothing was changed; run the command again")
    return first
