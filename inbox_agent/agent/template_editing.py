"""Editing templates from a page: the set that can be edited, preview, check, save, history.

Framework-agnostic: the staff pages call these functions and show what they return; nothing
here knows about HTTP. The rules:

- **Only names from the set.** :func:`editable_templates` lists every template a mailbox can
  use (kind x language x mailbox folder, ``.txt.j2`` and ``.html.j2``), built from the kinds,
  the languages already in the folder or the mailboxes' settings, and the configured mailbox
  names; :func:`find` looks a name up in that set and refuses anything else. A name from a
  request is never joined into a path.
- **The agent's sandbox.** A preview or check renders the candidate text through the same
  ``Composer``, environment, loader and render budget (steps, time, sizes) as the agent, with
  the candidate put in front of the folder's own file for that one name (:class:`_Overlay`).
  Nothing is written by either.
- **A save is checked, atomic and undoable.** Refused while :func:`check` finds a problem;
  the file is written by ``adapters.files.write_whole`` (temp file, fsync, rename); the
  version it replaces goes to a history folder in the *data* folder, not the templates
  folder, so the loader, ``templates check`` and the language-gap warning never see it and a
  templates folder kept in git stays clean (``data_dir/template-history/<name>/<UTC>.j2``,
  the last :data:`MAX_VERSIONS`). A restore is a save of the old text, so it is undoable too.
- **Not the packaged defaults.** They belong to the installation; :func:`save` refuses them
  and :func:`copy_defaults` makes a folder of one's own to point ``templates_dir`` at.
"""

from __future__ import annotations

import difflib
import os
import re
import shutil
import stat
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import jinja2

from inbox_agent.adapters.files import private_dir, write_whole
from inbox_agent.adapters.templates import MAX_TEMPLATE_BYTES, TemplatesFolder
from inbox_agent.agent.composing import Composer, sample_conversation, template_data
from inbox_agent.config import Settings, packaged_templates
from inbox_agent.core import rendering
from inbox_agent.core.conversations import Conversation, MailKind
from inbox_agent.core.promises import ESCALATION
from inbox_agent.errors import CommandError, TemplateError

HISTORY_DIR = "template-history"  # in data_dir
MAX_VERSIONS = 50  # per template: months of edits; older ones are dropped at the next save
NEW_FILE_MODE = 0o644  # a template is no secret; the agent and staff may be different users
_FILE = re.compile(
    r"(?:(?P<mailbox>[^/]+)/)?(?P<kind>[a-z_]+)(?:\.(?P<lang>[A-Za-z]{2,3}(?:-[A-Za-z0-9]+)*))?"
    r"\.(?P<part>txt|html)\.j2"
)
_SAFE_FOLDER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_WHERE = re.compile(r"(?P<file>[^\s:]+\.j2)(?::(?P<line>\d+|\?))?: (?P<message>.*)", re.DOTALL)
_VERSION = re.compile(r"\d{8}T\d{6}\.\d{6}Z(?:-\d+)?\.j2")


class TemplateEditError(CommandError):
    """An edit that cannot be done: a name not in the set, the packaged defaults, or a
    candidate with problems (``problems``: each with its line, for showing next to the text)."""

    def __init__(self, message: str, problems: tuple[Problem, ...] = ()) -> None:
        super().__init__(message)
        self.problems = problems


@dataclass(frozen=True)
class Editable:
    """One template of the set: ``name`` is its file in the templates folder."""

    name: str  # "acknowledgement.txt.j2", "support/follow_up.de.html.j2"
    kind: MailKind
    language: str | None  # None: the default, for every language without its own
    mailbox: str | None  # None: the main folder, for every mailbox without its own
    html: bool
    exists: bool

    @property
    def base(self) -> str:
        """The name without ``.txt.j2`` / ``.html.j2``, as ``rendering.candidates`` has it."""
        return self.name.rsplit(".", 2)[0]


@dataclass(frozen=True)
class Problem:
    """A mistake in a template: ``line`` in ``file`` where Jinja or the checks give one."""

    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line if self.line is not None else '?'}: {self.message}"


@dataclass(frozen=True)
class Preview:
    """The whole mail as the customer would get it, or the problems that stop it."""

    headers: tuple[tuple[str, str], ...]  # From, To, Subject, Date, Message-ID, ...
    text: str  # the text part as read ("" when there are problems)
    html: str | None  # the HTML part, where the template has one
    promised_by_text: str  # the promised moment as the mail words it
    problems: tuple[Problem, ...]
    note: str = ""  # e.g. this conversation would get another file of the set


@dataclass(frozen=True)
class Version:
    """A past version of a template, kept by a save."""

    id: str  # the file name in the history folder: "20261202T150405.123456Z.j2"
    saved_at: datetime  # when it was replaced (UTC)
    text: str
    diff: str  # unified diff from this version to the current text


# -- the set -------------------------------------------------------------------------------


def editable_templates(settings: Settings) -> list[Editable]:
    """Every template the agent can use, those in the folder and those that could be added:
    each kind, in the default and every language the folder or a mailbox already has, in the
    main folder and each mailbox's, as text and as HTML. Sorted by name."""
    folder = settings.agent.templates_dir
    present = _present(folder)
    languages = {m["lang"] for name in present if (m := _FILE.fullmatch(name)) and m["lang"]}
    languages |= {m.language for m in settings.mailboxes if m.language}
    mailboxes = [m.name for m in settings.mailboxes if _safe_folder(m.name)]
    found = []
    for kind in MailKind:
        for language in [None, *sorted(languages)]:
            if language is not None and not _FILE.fullmatch(f"{kind.value}.{language}.txt.j2"):
                continue  # not a language tag a file name can carry
            for mailbox in [None, *mailboxes]:
                for html in (False, True):
                    name = _file_name(kind, language, mailbox, html)
                    found.append(Editable(name, kind, language, mailbox, html, name in present))
    return sorted(found, key=lambda e: e.name)


def find(settings: Settings, name: str) -> Editable:
    """The template ``name`` of the set; a TemplateEditError for any other name."""
    for editable in editable_templates(settings):
        if editable.name == name:
            return editable
    shown = name if len(name) <= 80 else name[:80] + "..."
    raise TemplateEditError(
        f"{shown!r} is not one of the templates; choose one from the list of templates"
    )


def _file_name(kind: MailKind, language: str | None, mailbox: str | None, html: bool) -> str:
    folder = f"{mailbox}/" if mailbox else ""
    lang = f".{language}" if language else ""
    return f"{folder}{kind.value}{lang}.{'html' if html else 'txt'}.j2"


def _present(folder: Path) -> set[str]:
    """The names in the folder that are templates of the set's shape."""
    if not folder.is_dir():
        return set()
    names = TemplatesFolder(folder).list_templates()
    return {n for n in names if (m := _FILE.fullmatch(n)) and m["kind"] in rendering.TEMPLATE_NAMES}


def _safe_folder(name: str) -> bool:
    """Whether a mailbox name is a plain folder name (no '/', not '.' or '..')."""
    return bool(_SAFE_FOLDER.fullmatch(name)) and name not in {".", ".."}


# -- preview and check ---------------------------------------------------------------------


class _Overlay(jinja2.BaseLoader):
    """The templates folder, with ``candidates`` in place of (or beside) its own files."""

    def __init__(self, folder: TemplatesFolder, candidates: Mapping[str, str]) -> None:
        self.folder = folder
        self.candidates = dict(candidates)

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str | None, Callable[[], bool] | None]:
        if template in self.candidates:
            return self.candidates[template], template, lambda: True
        return self.folder.get_source(environment, template)

    def list_templates(self) -> list[str]:
        return sorted({*self.folder.list_templates(), *self.candidates})


class _Pinned(rendering.Templates):
    """Templates that always use ``base``: the file being edited, whichever the agent would
    choose for the conversation shown."""

    def __init__(self, env: jinja2.Environment, base: str) -> None:
        super().__init__(env, stopwatch=time.monotonic)
        self.base = base

    def choose(
        self,
        name: str,
        mailbox: str | None = None,
        language: str | None = None,
        available: set[str] | None = None,
    ) -> str:
        return self.base


def preview(
    settings: Settings,
    name: str,
    candidate: str,
    now: datetime,
    conversation: Conversation | None = None,
) -> Preview:
    """The mail ``candidate`` (the text of template ``name``, not saved) would make, for
    ``conversation`` (one from the live ledger; not changed) or else the sample one, at
    ``now``; rendered by the agent's own composer, sandbox and bounds. Writes nothing."""
    editable = find(settings, name)
    too_big = _size_problem(editable, candidate)
    if too_big:
        return Preview((), "", None, "", (too_big,))
    settings, shown, now, note = _as_sent(settings, editable, now, conversation)
    composer = Composer(settings, _overlay(settings, editable, candidate))
    composer.templates = _Pinned(composer.env, editable.base)
    kind = editable.kind
    to = settings.promise.escalate_to if kind.value == ESCALATION else None
    data = template_data(settings, settings.mailbox(shown.mailbox), shown, now, kind)
    try:
        mail = composer.compose(shown, kind, to or shown.customer, now)
    except TemplateError as exc:
        cause = exc.__cause__ if exc.__cause__ is not None else exc
        return Preview((), "", None, data["promised_by_text"], (_problem(str(cause)),), note)
    message = message_from_bytes(mail.raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    headers = tuple(
        (k, str(v)) for k, v in message.items() if not k.lower().startswith(("content-", "mime-"))
    )
    return Preview(
        headers,
        _part(message, "plain") or "",
        _part(message, "html"),
        data["promised_by_text"],
        (),
        note,
    )


def check(settings: Settings, name: str, candidate: str, now: datetime) -> list[Problem]:
    """What ``templates check`` would say of ``candidate`` as template ``name``: compiled,
    rendered with its sample data (that of ``templates check``, and that of the kind,
    language and mailbox it serves), the ``Subject:`` line rules; within the loader's size
    limit. Empty when it may be saved. Writes nothing."""
    editable = find(settings, name)
    too_big = _size_problem(editable, candidate)
    if too_big:
        return [too_big]
    env = Composer(settings, _overlay(settings, editable, candidate)).env
    problems: list[Problem] = []
    for data in _sample_data(settings, editable, now):
        try:
            rendering.render_file(env, editable.name, data, time.monotonic)
        except rendering.RenderError as exc:
            problem = _problem(str(exc))
            if problem not in problems:
                problems.append(problem)
            if isinstance(exc, rendering.RunawayError):
                break  # a runaway costs its whole budget: once is enough
    return problems


def variables(settings: Settings, name: str, now: datetime) -> list[tuple[str, str]]:
    """What template ``name`` can write in ``{{ }}``, each with its value in the sample the
    preview uses (a moment as its ISO text: it is for the ``date``/``time`` filters)."""
    data = _own_sample_data(settings, find(settings, name), now)
    shown = []
    for key, value in data.items():
        text = value.isoformat() if isinstance(value, datetime) else str(value)
        shown.append((key, text[:120]))
    return shown


def _sample_data(settings: Settings, editable: Editable, now: datetime) -> list[dict[str, Any]]:
    """``templates check``'s data, then the sample of the kind, language and mailbox."""
    first = settings.mailboxes[0]
    checked = template_data(settings, first, sample_conversation(settings, now), now)
    return [checked, _own_sample_data(settings, editable, now)]


def _own_sample_data(settings: Settings, editable: Editable, now: datetime) -> dict[str, Any]:
    """The sample of ``editable``'s kind, language and mailbox, as its preview shows it."""
    own_settings, own, at, _ = _as_sent(settings, editable, now, None)
    mailbox = own_settings.mailbox(own.mailbox)
    return template_data(own_settings, mailbox, own, at, editable.kind)


def _as_sent(
    settings: Settings, editable: Editable, now: datetime, conversation: Conversation | None
) -> tuple[Settings, Conversation, datetime, str]:
    """(settings, conversation, now, note) for showing ``editable``: the sample conversation of its
    kind, language and mailbox (at a quarter hour, as the sweep sends), or a copy of the real
    one in the template's language (the live ledger's is never changed)."""
    note = ""
    if conversation is None:
        now = now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)
        shown = sample_conversation(settings, now, editable.kind, editable.language)
        if editable.mailbox:
            shown = replace(shown, mailbox=editable.mailbox)
    else:
        shown = replace(conversation)
        mailbox = settings.mailbox(shown.mailbox)
        used = rendering.Templates(Composer(settings).env).choose(
            editable.kind.value, mailbox.name, shown.language or mailbox.language
        )
        if used != editable.base:
            note = (
                f"this conversation's mail is written with {used}.txt.j2, not this "
                "template; shown here with this one"
            )
    if editable.language:  # as a customer writing in it sees it, and a shop speaking it
        shown = replace(shown, language=editable.language)
        settings = _speaking(settings, shown.mailbox, editable.language)
    return settings, shown, now, note


def _speaking(settings: Settings, mailbox: str, language: str) -> Settings:
    """``settings`` with ``mailbox``'s default language ``language`` (the escalation report
    is written in the mailbox's language)."""
    mailboxes = tuple(
        replace(m, language=language) if m.name == mailbox else m for m in settings.mailboxes
    )
    return replace(settings, mailboxes=mailboxes)


def _overlay(settings: Settings, editable: Editable, candidate: str) -> _Overlay:
    return _Overlay(TemplatesFolder(settings.agent.templates_dir), {editable.name: candidate})


def _size_problem(editable: Editable, candidate: str) -> Problem | None:
    """The loader's limits, for text not yet a file: UTF-8, at most MAX_TEMPLATE_BYTES."""
    try:
        size = len(candidate.encode("utf-8"))
    except UnicodeEncodeError as exc:  # a lone surrogate: no file could hold it as UTF-8
        line = 1 + candidate[: exc.start].count("\n")
        return Problem(editable.name, line, "not UTF-8 text (a lone surrogate character)")
    if size <= MAX_TEMPLATE_BYTES:
        return None
    return Problem(
        editable.name, None, f"{size:,} bytes; a template is at most {MAX_TEMPLATE_BYTES:,}"
    )


def _problem(message: str) -> Problem:
    """A RenderError's ``file:line: message`` taken apart."""
    found = _WHERE.fullmatch(message)
    if found is None:
        return Problem("", None, message)
    line = found["line"]
    return Problem(found["file"], int(line) if line and line.isdigit() else None, found["message"])


def _part(message: EmailMessage, subtype: str) -> str | None:
    part = message.get_body(preferencelist=(subtype,))
    if part is None or part.get_content_subtype() != subtype:
        return None
    return str(part.get_content()).replace("\r\n", "\n")  # the wire's CRLF


# -- save, history, restore ----------------------------------------------------------------


def save(
    settings: Settings, name: str, candidate: str, now: datetime, replaces: str | None = None
) -> Version | None:
    """Write ``candidate`` as template ``name``, once :func:`check` finds nothing (else a
    TemplateEditError carrying the problems). The version it replaces is kept in the history
    and returned (None when there was none, or the text is unchanged). The agent uses the new
    text from its next mail (the loader sees the file change). ``replaces``: the text the
    editor started from; when the file no longer holds it (someone saved meanwhile), the save
    is refused rather than losing their change."""
    editable = find(settings, name)
    folder = settings.agent.templates_dir
    _refuse_packaged(folder)
    path = folder / editable.name  # a name of the set, never the caller's string
    if not path.parent.resolve().is_relative_to(folder.resolve()):  # a linked mailbox folder
        raise TemplateEditError(
            f"{path.parent} is a link to {path.parent.resolve()}, outside the templates "
            f"folder; not saved: the agent would not read {editable.name} there either"
        )
    if path.is_symlink():
        raise TemplateEditError(
            f"{path} is a link to {path.resolve()}; edit that template instead, so every "
            "template sharing it changes together"
        )
    problems = check(settings, name, candidate, now)
    if problems:
        raise TemplateEditError(
            f"{problems[0]}; not saved until the template passes the checks", tuple(problems)
        )
    previous = path.read_bytes() if path.is_file() else None
    if replaces is not None and replaces.encode("utf-8", "surrogatepass") != (previous or b""):
        raise TemplateEditError(
            f"{editable.name} was changed by someone else since it was opened; not saved: "
            "open it again (its history holds every version) and redo the change"
        )
    payload = candidate.encode("utf-8")
    if previous == payload:
        return None
    kept = None if previous is None else _keep(settings, editable, previous, candidate, now)
    mode = stat.S_IMODE(path.stat().st_mode) if previous is not None else NEW_FILE_MODE
    path.parent.mkdir(exist_ok=True)  # a mailbox's own folder, for its first variant
    tmp = path.with_name(path.name + ".tmp")
    write_whole(
        path,
        payload,
        (f"template {editable.name} not saved", "then save again"),
        before_replace=lambda: os.chmod(tmp, mode),
    )
    return kept


def versions(settings: Settings, name: str) -> list[Version]:
    """The kept versions of template ``name``, newest first, each with its diff to the text
    now in the folder."""
    editable = find(settings, name)
    path = settings.agent.templates_dir / editable.name
    current = path.read_text(encoding="utf-8") if path.is_file() else ""
    return [_version(editable, f, current) for f in _version_files(settings, editable)]


def restore(settings: Settings, name: str, version_id: str, now: datetime) -> Version | None:
    """Save version ``version_id`` of ``name`` again (a save like any other: checked, and
    the text it replaces kept, so a restore can be undone)."""
    editable = find(settings, name)
    for file in _version_files(settings, editable):
        if file.name == version_id:  # looked up in the listing, never joined from input
            return save(settings, name, file.read_text(encoding="utf-8"), now)
    raise TemplateEditError(
        f"no version {version_id[:80]!r} of {editable.name}; the history lists those kept"
    )


def copy_defaults(target: Path) -> list[str]:
    """Copy the default templates that come with inbox-agent into ``target`` (made if
    missing), for ``templates_dir`` to point at; a file already there is left as it is.
    The names copied."""
    source = packaged_templates()
    target.mkdir(parents=True, exist_ok=True)
    copied = []
    for name in TemplatesFolder(source).list_templates():
        destination = target / name
        if destination.exists() or destination.is_symlink():
            continue
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / name, destination)
        copied.append(name)
    return copied


def history_folder(settings: Settings, editable: Editable) -> Path:
    """Where the versions of ``editable`` are kept (in the data folder)."""
    return settings.agent.data_dir / HISTORY_DIR / editable.name


def _refuse_packaged(folder: Path) -> None:
    if folder.resolve() == packaged_templates().resolve():
        raise TemplateEditError(
            f"{folder} holds the default templates that come with inbox-agent and is not "
            "edited in place; set [agent] templates_dir to a folder of your own (copy the "
            "defaults there) and edit those"
        )


def _keep(settings: Settings, editable: Editable, text: bytes, new: str, now: datetime) -> Version:
    """Put ``text`` in the history as the version ``new`` replaces at ``now``; drop the
    oldest beyond MAX_VERSIONS."""
    folder = history_folder(settings, editable)
    private_dir(folder, (f"template {editable.name} not saved", "then save again"))
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    path, n = folder / f"{stamp}.j2", 1
    while path.exists():  # two saves in one microsecond (a test, a script)
        path, n = folder / f"{stamp}-{n}.j2", n + 1
    write_whole(path, text, (f"template {editable.name} not saved", "then save again"))
    for old in _version_files(settings, editable)[MAX_VERSIONS:]:
        old.unlink(missing_ok=True)
    return _version(editable, path, new)


def candidate_text(data: bytes) -> str:
    """Template bytes as text (a version kept from a file that was not UTF-8 still shows)."""
    return data.decode("utf-8", errors="replace")


def _version_files(settings: Settings, editable: Editable) -> list[Path]:
    """The history's files for ``editable``, newest first."""
    folder = history_folder(settings, editable)
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if _VERSION.fullmatch(p.name) and p.is_file()]
    return sorted(found, key=_order, reverse=True)


def _order(path: Path) -> tuple[str, int]:
    stamp, _, n = path.name.removesuffix(".j2").partition("-")
    return stamp, int(n or 0)


def _version(editable: Editable, path: Path, current: str) -> Version:
    text = candidate_text(path.read_bytes())
    stamp = path.name.removesuffix(".j2").partition("-")[0]
    saved_at = datetime.strptime(stamp, "%Y%m%dT%H%M%S.%fZ").replace(tzinfo=UTC)
    diff = "".join(
        difflib.unified_diff(
            text.splitlines(keepends=True),
            current.splitlines(keepends=True),
            f"{editable.name} (this version)",
            f"{editable.name} (now)",
        )
    )
    return Version(path.name, saved_at, text, diff)
