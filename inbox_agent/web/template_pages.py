"""The staff page's template editor: the list, the editor with its live preview, save, history.

The handlers only show what ``agent.template_editing`` returns: a name from a request is
looked up with ``find`` (never joined into a path), preview and check run in the agent's
sandbox and bounds, a save is checked, atomic and refused when the file changed since the
editor loaded it (``replaces``). Session and CSRF are checked by the application's middleware
like every other route; a form longer than a template may be (``app.TEMPLATE_FORM_BYTES``) is
refused with 413 before any of this runs.

The HTML part of a preview is shown as escaped source in a ``<pre>``, not rendered in a
sandboxed ``<iframe srcdoc>``: the text staff type would otherwise run as a document on the
page (CSS, forms, images fetched from anywhere once the CSP allowed ``frame-src``), and the
CSP stays ``default-src 'self'`` with nothing relaxed. Staff see exactly the markup sent.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from dataclasses import dataclass
from itertools import groupby
from typing import Any

from aiohttp import web

from inbox_agent.adapters.templates import TemplatesFolder
from inbox_agent.agent import template_editing as editing
from inbox_agent.config import Settings, packaged_templates
from inbox_agent.core.conversations import Conversation, MailKind
from inbox_agent.core.wording import local_time
from inbox_agent.web.pages import BACKEND, PAGES, SESSION, render

NAME = r"{name:[A-Za-z0-9_][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_][A-Za-z0-9_.-]*)?\.j2}"
log = logging.getLogger("inbox_agent")
MAX_CHOICES = 50  # live conversations offered for the preview
DONE = {"saved": "Saved.", "unchanged": "Saved (no change).", "restored": "Restored."}


def add_routes(app: web.Application) -> None:
    """The template pages' routes (``/templates...``)."""
    app.router.add_get("/templates", _list)
    app.router.add_post("/templates/copy-defaults", _copy_defaults)
    app.router.add_post(f"/templates/{NAME}/preview", _live_preview)
    app.router.add_get(f"/templates/{NAME}/history", _history)
    app.router.add_post(f"/templates/{NAME}/restore", _restore)
    app.router.add_get(f"/templates/{NAME}", _editor)
    app.router.add_post(f"/templates/{NAME}", _save_or_preview)


# The kinds in the order a customer's mail goes out, with when each is sent.
KINDS = {
    MailKind.ACKNOWLEDGEMENT: "To a customer who writes to us, at once: heard, and by when.",
    MailKind.FOLLOW_UP: "To the customer before a promise runs out: still on it, a new moment.",
    MailKind.ESCALATION_NOTICE: "To the customer after the last follow-up: a manager has it.",
    MailKind.ESCALATION: "To the manager (escalate_to) at the same moment: the report.",
}


@dataclass(frozen=True)
class Group:
    """The templates of one kind, for the list: those in the folder, and the variants that
    can be added (the mail uses the next one that exists until then)."""

    kind: str
    when: str
    present: list[editing.Editable]
    addable: list[editing.Editable]


def _settings(request: web.Request) -> Settings:
    return request.app[BACKEND].settings


def _packaged(settings: Settings) -> bool:
    return settings.agent.templates_dir.resolve() == packaged_templates().resolve()


def _defaults_missing(settings: Settings) -> bool:
    """Whether a templates folder of one's own lacks some of the packaged defaults."""
    folder = settings.agent.templates_dir
    if _packaged(settings):
        return False
    defaults = TemplatesFolder(packaged_templates()).list_templates()
    return any(not (folder / name).exists() for name in defaults)


def _editable(request: web.Request) -> editing.Editable:
    try:
        return editing.find(_settings(request), request.match_info["name"])
    except editing.TemplateEditError:
        raise web.HTTPNotFound(text="no such template; choose one from /templates") from None


async def _list(request: web.Request) -> web.StreamResponse:
    settings = _settings(request)
    found = editing.editable_templates(settings)
    order = list(KINDS)
    ordered = sorted(
        found, key=lambda e: (order.index(e.kind), e.mailbox or "", e.language or "", e.name)
    )
    groups = []
    for kind, listed in groupby(ordered, key=lambda e: e.kind):
        templates = list(listed)
        present = [t for t in templates if t.exists]
        addable = [t for t in templates if not t.exists]
        groups.append(Group(kind.value, KINDS[kind], present, addable))
    return render(
        request,
        "templates_list.html.j2",
        groups=groups,
        folder=str(settings.agent.templates_dir),
        packaged=_packaged(settings),
        offer_copy=_defaults_missing(settings),
        done=request.query.get("done") == "copied",
    )


def _choices(request: web.Request) -> list[Conversation]:
    """Up to MAX_CHOICES live conversations, newest first."""
    live = request.app[BACKEND].ledger().conversations.values()
    return sorted(live, key=lambda c: c.created_at, reverse=True)[:MAX_CHOICES]


def _chosen(request: web.Request, token: str) -> Conversation | None:
    """A copy of the live conversation ``token`` names, or None (the sample data). A deep
    copy, taken in the event loop: the preview renders in a thread while the agent goes on."""
    found = request.app[BACKEND].ledger().conversations.get(token.strip().upper()[:32])
    return copy.deepcopy(found) if found else None


def _current(settings: Settings, editable: editing.Editable) -> str:
    path = settings.agent.templates_dir / editable.name
    return editing.candidate_text(path.read_bytes()) if path.is_file() else ""


async def _preview_context(
    request: web.Request, editable: editing.Editable, text: str, token: str
) -> dict[str, Any]:
    """What the preview panel shows for ``text``: the mail, its problems, the promise."""
    backend = request.app[BACKEND]
    settings, now, conversation = backend.settings, backend.clock(), _chosen(request, token)

    def render() -> dict[str, Any]:
        shown = editing.preview(settings, editable.name, text, now, conversation)
        problems = shown.problems or tuple(editing.check(settings, editable.name, text, now))
        return {"preview": shown, "problems": problems, "lines": text.split("\n")}

    return await asyncio.to_thread(render)


async def _editor(request: web.Request) -> web.StreamResponse:
    editable = _editable(request)
    text = _current(_settings(request), editable)
    token = request.query.get("conversation", "")[:32]
    done = DONE.get(request.query.get("done", ""), "")
    return await _editor_page(request, editable, text, text, token, done=done)


async def _editor_page(
    request: web.Request,
    editable: editing.Editable,
    text: str,
    replaces: str,
    token: str,
    *,
    status: int = 200,
    problem: str = "",
    done: str = "",
) -> web.Response:
    context = await _preview_context(request, editable, text, token)
    settings = _settings(request)
    return render(
        request,
        "templates_edit.html.j2",
        status,
        t=editable,
        text=text,
        replaces=replaces,
        token=token.strip().upper(),
        choices=_choices(request),
        packaged=_packaged(settings),
        offer_copy=_defaults_missing(settings),
        variables=editing.variables(settings, editable.name, request.app[BACKEND].clock()),
        problem=problem,
        done=done,
        **context,
    )


async def _fields(request: web.Request) -> tuple[str, str, str]:
    """(text, replaces, conversation) of a posted editor form; the browser's CRLF made LF."""
    form = await request.post()
    text = str(form.get("text", "")).replace("\r\n", "\n")
    replaces = str(form.get("replaces", "")).replace("\r\n", "\n")
    return text, replaces, str(form.get("conversation", ""))[:32]


async def _live_preview(request: web.Request) -> web.StreamResponse:
    """The preview panel alone (an HTML fragment), for the editor's script to swap in."""
    editable = _editable(request)
    text, _, token = await _fields(request)
    context = await _preview_context(request, editable, text, token)
    page = (
        request.app[PAGES].get_template("templates_preview.html.j2").render(t=editable, **context)
    )
    return web.Response(text=page, content_type="text/html", charset="utf-8")


async def _save_or_preview(request: web.Request) -> web.StreamResponse:
    """The editor form: "Preview" re-renders the page, "Save" saves (422 with the problems)."""
    editable = _editable(request)
    text, replaces, token = await _fields(request)
    form = await request.post()
    if form.get("action") != "save":
        return await _editor_page(request, editable, text, replaces, token)
    backend = request.app[BACKEND]
    current = _current(backend.settings, editable)
    if current.replace("\r\n", "\n") == replaces:  # the browser sends every newline as CRLF
        replaces = current
    try:
        kept = await asyncio.to_thread(
            editing.save, backend.settings, editable.name, text, backend.clock(), replaces
        )
    except editing.TemplateEditError as exc:
        status = 422 if exc.problems else 409
        return await _editor_page(
            request, editable, text, replaces, token, status=status, problem=str(exc)
        )
    done = "saved" if kept is not None or not editable.exists else "unchanged"
    if done == "saved":
        log.info("web: %s saved template %s", request[SESSION].user, editable.name)
    raise web.HTTPSeeOther(_editor_url(editable, done, token))


def _editor_url(editable: editing.Editable, done: str, token: str = "") -> str:
    query = f"?done={done}" + (f"&conversation={token.strip().upper()}" if token else "")
    return f"/templates/{editable.name}{query}"


async def _history(request: web.Request) -> web.StreamResponse:
    editable = _editable(request)
    settings = _settings(request)
    found = await asyncio.to_thread(editing.versions, settings, editable.name)
    zone = settings.calendar.timezone
    shown = [(v, local_time(v.saved_at, zone), v.diff.splitlines()) for v in found]
    return render(
        request,
        "templates_history.html.j2",
        t=editable,
        versions=shown,
        packaged=_packaged(settings),
        problem="",
    )


async def _restore(request: web.Request) -> web.StreamResponse:
    editable = _editable(request)
    form = await request.post()
    backend = request.app[BACKEND]
    version = str(form.get("version", ""))[:64]
    try:
        await asyncio.to_thread(
            editing.restore, backend.settings, editable.name, version, backend.clock()
        )
    except editing.TemplateEditError as exc:
        return render(
            request,
            "templates_history.html.j2",
            422 if exc.problems else 409,
            t=editable,
            versions=[],
            packaged=_packaged(backend.settings),
            problem=str(exc),
        )
    log.info("web: %s restored template %s to %s", request[SESSION].user, editable.name, version)
    raise web.HTTPSeeOther(_editor_url(editable, "restored"))


async def _copy_defaults(request: web.Request) -> web.StreamResponse:
    """Copy the packaged defaults into the own templates folder (only missing files)."""
    settings = _settings(request)
    if not _defaults_missing(settings):
        raise web.HTTPConflict(text="nothing to copy: the templates folder has every default")
    await asyncio.to_thread(editing.copy_defaults, settings.agent.templates_dir)
    raise web.HTTPSeeOther("/templates?done=copied")
