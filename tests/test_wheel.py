"""Installed from a wheel, not from this checkout: what a user who runs ``pip install
inbox_agent-*.whl`` gets must work on its own.

``python -m build`` makes the sdist, then the wheel from the sdist (so the sdist is known to be
complete), from a copy of the source tree, without build isolation: nothing is downloaded, and
setuptools and build come from the ``test`` extra. The wheel goes into a fresh virtual
environment with only the system's packages beside it (the dependencies, found offline); the
commands run from a folder outside the repository, and ``inbox_agent`` is checked to come from
the environment, not from the checkout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from email.parser import HeaderParser
from pathlib import Path

import pytest

from tests.servers import ImapAccount, SmtpSink
from tests.worlds import CONFIG, ROOT, SUPPORT

PACKAGE = ROOT / "inbox_agent"
DEFAULT_TEMPLATES = sorted(p.name for p in (ROOT / "templates").iterdir() if p.is_file())
# Left out of the copy the build starts from: what git ignores, and the version control.
NOT_SOURCE = {
    ".git",
    ".venv",
    "build",
    "dist",
    "var",
    "config.toml",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    ".hypothesis",
    "inbox_agent.egg-info",
}


@dataclass(frozen=True)
class Built:
    """The sdist and the wheel ``python -m build`` made."""

    sdist: Path
    wheel: Path


@dataclass(frozen=True)
class Installed:
    """A virtual environment with inbox-agent installed from the wheel."""

    venv: Path
    site_packages: Path

    def run(
        self, cwd: Path, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """``inbox-agent ARGS`` as a user of this environment runs it, from ``cwd``."""
        return subprocess.run(
            [str(self.venv / "bin" / "inbox-agent"), *args],
            cwd=cwd,
            env={**outside_env(self.venv), **(env or {})},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


def outside_env(venv: Path) -> dict[str, str]:
    """The environment of a user with ``venv`` activated: nothing pointing at the checkout."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["VIRTUAL_ENV"] = str(venv)
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


def _ignored(folder: str, names: list[str]) -> set[str]:
    top = Path(folder).resolve() == ROOT
    return {n for n in names if n == "__pycache__" or (top and n in NOT_SOURCE)}


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The sdist and, built from it, the wheel, once for the session."""
    source = tmp_path_factory.mktemp("source") / "inbox-agent"
    shutil.copytree(ROOT, source, ignore=_ignored, symlinks=True)
    dist = tmp_path_factory.mktemp("dist")
    done = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (sdist,) = dist.glob("inbox_agent-*.tar.gz")
    (wheel,) = dist.glob("inbox_agent-*-py3-none-any.whl")
    return Built(sdist, wheel)


@pytest.fixture(scope="session")
def installed(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """A fresh venv (``--system-site-packages``: the dependencies are there, offline) with the
    wheel installed by this interpreter's pip (``--python``: no pip of its own to bootstrap),
    ignoring the editable install the system's packages hold."""
    venv = tmp_path_factory.mktemp("venv") / "env"
    subprocess.run(
        [sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)],
        check=True,
        timeout=120,
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "--no-deps",
            "--no-index",
            "--ignore-installed",
            "--disable-pip-version-check",
            str(built.wheel),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return Installed(venv, venv / "lib" / version / "site-packages")


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A working folder with no templates/ and nothing of the repository in it."""
    folder = tmp_path / "shop"
    folder.mkdir()
    assert not folder.resolve().is_relative_to(ROOT)
    return folder


def write_config(
    folder: Path, *, imap_port: int = 143, imap_user: str = SUPPORT, smtp_port: int = 25
) -> Path:
    """The stories' config with no templates_dir: the templates must come from the wheel."""
    text = CONFIG.replace('templates_dir = "{templates}"\n', "")
    assert "templates_dir" not in text
    path = folder / "config.toml"
    path.write_text(
        text.format(
            data_dir=folder / "var",
            address=imap_user,
            imap_host="127.0.0.1",
            imap_port=imap_port,
            imap_user=imap_user,
            folder="INBOX",
            smtp_host="127.0.0.1",
            smtp_port=smtp_port,
        ),
        encoding="utf-8",
    )
    return path


def test_the_wheel_holds_the_code_and_the_default_templates_and_nothing_else(built: Built) -> None:
    """Every module of the package and every default template (as package data in
    inbox_agent/default_templates/), the licence; no tests, no bytecode, no share/ files."""
    names = set(zipfile.ZipFile(built.wheel).namelist())
    modules = {
        p.relative_to(ROOT).as_posix()
        for p in PACKAGE.rglob("*.py")
        if "__pycache__" not in p.parts
    }
    assert modules - names == set(), "a package missing from [tool.setuptools] packages?"
    for name in DEFAULT_TEMPLATES:
        assert f"inbox_agent/default_templates/{name}" in names
    assert "inbox_agent/py.typed" in names
    assert "inbox_agent/agent/report.html.j2" in names
    dist_info = "inbox_agent-0.1.0.dist-info"
    assert f"{dist_info}/licenses/LICENSE" in names
    strays = [
        n
        for n in names
        if n.startswith(("tests/", "bench/", "templates/"))
        or "__pycache__" in n
        or n.endswith(".pyc")
        or ".data/" in n
    ]
    assert strays == []
    tops = {n.split("/")[0] for n in names}
    assert tops == {"inbox_agent", dist_info}


def test_the_wheel_says_what_it_is(built: Built) -> None:
    """Licence, Python versions, classifiers from the official list, the project's links."""
    trove_classifiers = pytest.importorskip("trove_classifiers")
    with zipfile.ZipFile(built.wheel) as wheel:
        text = wheel.read("inbox_agent-0.1.0.dist-info/METADATA").decode("utf-8")
    metadata = HeaderParser().parsestr(text)
    assert metadata["License-Expression"] == "MIT"
    assert metadata["License-File"] == "LICENSE"
    assert metadata["Requires-Python"] == ">=3.11"
    classifiers = metadata.get_all("Classifier") or []
    unknown = [c for c in classifiers if c not in trove_classifiers.classifiers]
    assert unknown == []
    for wanted in (
        "Environment :: No Input/Output (Daemon)",
        "Operating System :: POSIX :: Linux",
        "Topic :: Communications :: Email",
        "Programming Language :: Python :: 3.13",
    ):
        assert wanted in classifiers
    urls = dict(u.split(", ", 1) for u in metadata.get_all("Project-URL") or [])
    assert set(urls) == {"Homepage", "Documentation", "Changelog", "Issues"}


def test_the_sdist_has_what_a_packager_needs(built: Built) -> None:
    """The source of the wheel (templates/ at the top, as in the repository), the documents,
    the example config, contrib/ and the tests; no bytecode."""
    with tarfile.open(built.sdist) as sdist:
        names = {n.split("/", 1)[1] for n in sdist.getnames() if "/" in n}
    for name in (
        "pyproject.toml",
        "LICENSE",
        "README.md",
        "CHANGELOG.md",
        "MANIFEST.in",
        "config.example.toml",
        "contrib/inbox-agent.service",
        "contrib/kubernetes/inbox-agent.yaml",
        "tests/conftest.py",
        "tests/test_wheel.py",
        "inbox_agent/cli.py",
    ):
        assert name in names, name
    for name in DEFAULT_TEMPLATES:
        assert f"templates/{name}" in names
    assert [n for n in names if "__pycache__" in n or n.endswith(".pyc")] == []


def test_inbox_agent_comes_from_the_wheel(installed: Installed, outside: Path) -> None:
    """Imported from the venv's site-packages, the default templates with it: not from the
    checkout, which the system's packages also know (the editable install)."""
    code = (
        "import inbox_agent, inbox_agent.config as c; print(inbox_agent.__file__); "
        "print(c.packaged_templates())"
    )
    done = subprocess.run(
        [str(installed.venv / "bin" / "python"), "-c", code],
        cwd=outside,
        env=outside_env(installed.venv),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    module, templates = (Path(line) for line in done.stdout.splitlines())
    assert module == installed.site_packages / "inbox_agent" / "__init__.py"
    assert templates == installed.site_packages / "inbox_agent" / "default_templates"
    assert sorted(p.name for p in templates.iterdir()) == DEFAULT_TEMPLATES


def test_the_demo_runs_from_the_wheel(installed: Installed, outside: Path) -> None:
    """The week's story with the packaged templates, and the way on from there (the example
    config is in the source, not in the wheel: it says so)."""
    done = installed.run(outside, "demo")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout.startswith("A week at Example Co. Support")
    assert "The acknowledgement Ana got, as her mail program shows it:" in done.stdout
    assert "Thank you for writing" in done.stdout  # the packaged acknowledgement's words
    assert "config.example.toml is in the inbox-agent source" in done.stdout


def test_templates_check_checks_the_packaged_defaults(installed: Installed, outside: Path) -> None:
    """With no templates_dir and no templates/ beside the config: the defaults in the wheel,
    said first, every one of them fine."""
    write_config(outside)
    done = installed.run(outside, "templates", "check")
    assert done.returncode == 0, done.stdout + done.stderr
    packaged = installed.site_packages / "inbox_agent" / "default_templates"
    lines = done.stdout.splitlines()
    assert lines[0] == f"templates: the defaults that come with inbox-agent, in {packaged}"
    checked = [n for n in DEFAULT_TEMPLATES if n.endswith(".j2")]
    assert lines[1:-1] == [f"ok    {packaged}/{name}" for name in checked]
    assert lines[-1] == f"{len(checked)} template(s) fine, 0 mistake(s)"


def test_check_passes_on_real_servers_from_the_wheel(
    installed: Installed, outside: Path, imap_account: ImapAccount, smtp_sink: SmtpSink
) -> None:
    """``check`` against the test IMAP server and relay: the logins, the folders, the data
    folder and the packaged templates, each rendered."""
    server = imap_account.server
    server_account = imap_account.username
    config = write_config(
        outside, imap_port=server.port, imap_user=server_account, smtp_port=smtp_sink.port
    )
    done = installed.run(
        outside,
        "--config",
        str(config),
        "check",
        env={"TEST_IMAP_PASSWORD": imap_account.password, "TEST_SMTP_PASSWORD": "anything"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    packaged = installed.site_packages / "inbox_agent" / "default_templates"
    assert (
        f"ok    templates: the defaults that come with inbox-agent, in {packaged}\n" in done.stdout
    )
    for kind in ("acknowledgement", "follow_up", "escalation", "escalation_notice"):
        assert f"ok    template {kind}\n" in done.stdout
    assert f"ok    IMAP 127.0.0.1:{server.port} as {server_account}" in done.stdout
    assert done.stdout.endswith("everything the agent needs is in place\n")
