"""The layering rules of DESIGN.md, checked on the import statements themselves.

``core/`` imports only the standard library and jinja2; ``adapters/`` may use ``core/`` but not
the app; ``cli.py`` and ``daemon.py`` do not reach into adapters or core directly.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "inbox_agent"


def imports_of(path: Path) -> set[str]:
    """Top-level names of every module ``path`` imports."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_core_imports_only_the_standard_library_and_jinja2() -> None:
    """No sockets, files or third-party I/O libraries can reach the pure core."""
    allowed_third_party = {"jinja2"}
    for path in (PACKAGE / "core").glob("*.py"):
        for name in imports_of(path):
            top = name.split(".")[0]
            if top == "inbox_agent":
                assert name.startswith("inbox_agent.core"), f"{path.name} imports {name}"
            else:
                assert top in sys.stdlib_module_names or top in allowed_third_party, \
                    f"{path.name} imports {name}"


def test_core_does_not_use_io_modules() -> None:
    """Even from the standard library, the core takes no sockets, processes or clock reads."""
    banned = {"socket", "ssl", "subprocess", "asyncio", "os", "shutil", "time", "imaplib",
              "smtplib"}
    for path in (PACKAGE / "core").glob("*.py"):
        used = {name.split(".")[0] for name in imports_of(path)}
        assert not used & banned, f"{path.name} imports {used & banned}"
        source = path.read_text(encoding="utf-8")
        assert ".now(" not in source, path.name
        assert not re.search(r"\bopen\(", source), path.name


def test_adapters_never_import_the_app() -> None:
    """Adapters may use core, never app, cli or daemon."""
    for path in (PACKAGE / "adapters").glob("*.py"):
        for name in imports_of(path):
            assert not name.startswith(("inbox_agent.app", "inbox_agent.cli",
                                        "inbox_agent.daemon")), f"{path.name} imports {name}"


def test_only_daemon_imports_apscheduler() -> None:
    """APScheduler stays behind daemon.py."""
    for path in PACKAGE.rglob("*.py"):
        if path.name != "daemon.py":
            assert not any(n.startswith("apscheduler") for n in imports_of(path)), path.name


def test_cli_goes_through_the_app() -> None:
    """The CLI talks to app, config, views and demo, not to adapters or core."""
    for name in imports_of(PACKAGE / "cli.py"):
        assert not name.startswith(("inbox_agent.adapters", "inbox_agent.core")), name
