"""The layering rules of DESIGN.md, checked on the import statements themselves.

Four floors, each importing only the floors below: ``core/`` (the standard library, jinja2,
flufl.bounce and holidays only), ``adapters/`` (core), ``agent/`` (adapters and core),
``commands/`` (all of them, called only by ``cli.py``) and ``web/`` beside it (the staff page:
agent, adapters and core; started only by the daemon's wiring in ``agent/cycle.py``, its logins
set by ``commands/web.py``); and no import cycles.
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
    """No sockets, files or third-party I/O libraries can reach the pure core (flufl.bounce:
    Mailman's bounce detectors parse a Message and touch nothing else; core.bounce_text;
    holidays: computes a place's public holidays by rule, core.public_holidays)."""
    allowed_third_party = {"jinja2", "flufl.bounce", "holidays"}
    for path in (PACKAGE / "core").glob("*.py"):
        for name in imports_of(path):
            top = name.split(".")[0]
            if top == "inbox_agent":
                assert name.startswith("inbox_agent.core"), f"{path.name} imports {name}"
            else:
                assert (
                    top in sys.stdlib_module_names
                    or top in allowed_third_party
                    or name in allowed_third_party
                ), f"{path.name} imports {name}"


def test_core_does_not_use_io_modules() -> None:
    """Even from the standard library, the core takes no sockets, processes or clock reads."""
    banned = {
        "socket",
        "ssl",
        "subprocess",
        "asyncio",
        "os",
        "shutil",
        "time",
        "imaplib",
        "smtplib",
    }
    for path in (PACKAGE / "core").glob("*.py"):
        used = {name.split(".")[0] for name in imports_of(path)}
        assert not used & banned, f"{path.name} imports {used & banned}"
        source = path.read_text(encoding="utf-8")
        assert ".now(" not in source, path.name
        assert not re.search(r"\bopen\(", source), path.name


def test_adapters_never_import_the_agent_or_commands() -> None:
    """Adapters may use core (and config, errors), never the agent layer, commands, cli or
    daemon."""
    for path in (PACKAGE / "adapters").glob("*.py"):
        for name in imports_of(path):
            assert not name.startswith(
                (
                    "inbox_agent.agent",
                    "inbox_agent.commands",
                    "inbox_agent.cli",
                    "inbox_agent.daemon",
                )
            ), f"{path.name} imports {name}"


def test_only_the_agent_layer_and_commands_touch_adapters() -> None:
    """Adapters are reached through the agent layer (or a command), never from elsewhere."""
    for path in PACKAGE.rglob("*.py"):
        part = path.relative_to(PACKAGE).parts[0]
        if part in ("adapters", "agent", "commands", "web"):
            continue
        for name in imports_of(path):
            assert not name.startswith("inbox_agent.adapters"), f"{path} imports {name}"


def test_nothing_imports_commands_but_the_cli() -> None:
    """Commands are the top floor: only ``cli.py`` (and commands themselves) import them, and
    the agent layer never reaches up into them."""
    for path in PACKAGE.rglob("*.py"):
        if path.name == "cli.py" or path.parent.name == "commands":
            continue
        for name in imports_of(path):
            assert not name.startswith("inbox_agent.commands"), f"{path} imports {name}"


def test_only_the_daemon_wiring_and_its_command_import_the_web_page() -> None:
    """The staff page is a top floor like ``commands/``: the daemon's wiring starts it
    (``agent/cycle.py``), ``commands/web.py`` sets its logins and ``commands/check.py`` reads
    them (``web.auth``, which imports no aiohttp); nothing else reaches it, and it never
    reaches into the commands."""
    allowed = {
        PACKAGE / "agent" / "cycle.py",
        PACKAGE / "commands" / "web.py",
        PACKAGE / "commands" / "check.py",
    }
    for path in PACKAGE.rglob("*.py"):
        if path in allowed or path.parent.name == "web":
            continue
        for name in imports_of(path):
            assert not name.startswith("inbox_agent.web"), f"{path} imports {name}"
    for path in (PACKAGE / "web").glob("*.py"):
        for name in imports_of(path):
            assert not name.startswith(("inbox_agent.commands", "inbox_agent.cli")), name


def test_cli_goes_through_the_commands() -> None:
    """The CLI parses arguments and calls a command; it reaches into nothing else."""
    for name in imports_of(PACKAGE / "cli.py"):
        assert not name.startswith(
            ("inbox_agent.adapters", "inbox_agent.core", "inbox_agent.agent")
        ), name


def test_only_daemon_imports_apscheduler() -> None:
    """APScheduler stays behind daemon.py."""
    for path in PACKAGE.rglob("*.py"):
        if path.name != "daemon.py":
            assert not any(n.startswith("apscheduler") for n in imports_of(path)), path.name


def test_no_import_cycles() -> None:
    """No module imports one that (through others) imports it back, counting every import
    statement: function-local and ``TYPE_CHECKING`` ones too (a cycle hidden from the
    interpreter is still a knot for the reader)."""
    graph = {module: _inner_imports(path) for module, path in _modules().items()}
    for start in graph:
        path = _path_back(graph, start)
        assert path is None, " -> ".join(path or [])


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _inner_imports(path: Path) -> set[str]:
    """Modules of the package ``path`` imports (``from inbox_agent.x import y`` names module
    ``inbox_agent.x.y`` when there is one, else ``inbox_agent.x``)."""
    modules = _modules()
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in modules)
        elif isinstance(node, ast.ImportFrom) and node.module in modules and node.level == 0:
            subs = {f"{node.module}.{a.name}" for a in node.names}
            found.update(subs & modules.keys() or {node.module})
    return found


def _path_back(graph: dict[str, set[str]], start: str) -> list[str] | None:
    """A chain of imports from ``start`` back to itself, if there is one."""
    stack, seen = [(start, [start])], set()
    while stack:
        module, path = stack.pop()
        for imported in graph.get(module, ()):
            if imported == start:
                return [*path, start]
            if imported not in seen:
                seen.add(imported)
                stack.append((imported, [*path, imported]))
    return None
