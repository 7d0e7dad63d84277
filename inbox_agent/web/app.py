"""The staff page's aiohttp application: routes, the session check, CSRF, security headers.

Every route but the login form and the stylesheet needs a session: without one a page answers
303 to /login and an action 403, with nothing about customers in the body. Every POST carries
the session's CSRF token in a hidden field. Actions go through the CLI's own code path
(``agent.staff.request``: checked against the last commit and queued for the daemon), then the
daemon is asked to apply the queue at once, so the page it redirects to shows the result.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable

from aiohttp import web

from inbox_agent.adapters.store import StaffRequest
from inbox_agent.adapters.templates import MAX_TEMPLATE_BYTES
from inbox_agent.agent import staff
from inbox_agent.core.wording import local_moment
from inbox_agent.errors import OperatorError, StoreError
from inbox_agent.web import archived, views
from inbox_agent.web.auth import (
    MAX_PASSWORD,
    SESSION_SECONDS,
    RateLimit,
    Session,
    Sessions,
    Users,
    client_address,
    new_token,
    same,
    secret_key,
)
from inbox_agent.web.pages import BACKEND, HERE, PAGES, SESSION, Backend, pages, render
from inbox_agent.web.report_page import report_page
from inbox_agent.web.template_pages import add_routes as add_template_routes

__all__ = ["Backend", "make_app"]
log = logging.getLogger("inbox_agent")
SESSION_COOKIE = "inbox_session"
LOGIN_COOKIE = "inbox_login"  # the login form's CSRF token (double submit: no session yet)
OPEN_PATHS = ("/login", "/static/")
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
FORM_BYTES = 64 * 1024  # a login or an action is a few hundred bytes
# A template's text, form-encoded (up to three bytes a byte), as long as the loader allows: a
# save or preview of a long HTML template must not be refused by the form's size.
TEMPLATE_PATHS = "/templates/"
TEMPLATE_FORM_BYTES = 3 * MAX_TEMPLATE_BYTES + FORM_BYTES
TOO_LONG = f"Too long: a template is at most {MAX_TEMPLATE_BYTES:,} bytes.\n"
ACTIONS = ("close", "reopen", "snooze")
DONE = {"close": "Closed.", "reopen": "Reopened.", "snooze": "Snoozed."}


SESSIONS = web.AppKey("sessions", Sessions)
USERS = web.AppKey("users", Users)
LIMIT = web.AppKey("limit", RateLimit)
SECURE = web.AppKey("secure", bool)


def make_app(backend: Backend, *, limit: RateLimit | None = None) -> web.Application:
    """The application over ``backend``; cookies are ``Secure`` when ``[web] public``."""
    data_dir = backend.settings.agent.data_dir
    app = web.Application(middlewares=[_sessions], client_max_size=FORM_BYTES)
    app[BACKEND] = backend
    app[PAGES] = pages()
    app[SESSIONS] = Sessions(secret_key(data_dir))
    app[USERS] = Users(data_dir)
    app[LIMIT] = limit or RateLimit()
    app[SECURE] = bool(backend.settings.web and backend.settings.web.public)
    app.on_response_prepare.append(_headers)
    app.router.add_get("/", _home)
    app.router.add_get("/login", _login_form)
    app.router.add_post("/login", _login)
    app.router.add_post("/logout", _logout)
    app.router.add_get("/conversations", _conversations)
    app.router.add_get("/report", report_page)
    app.router.add_get("/conversations/{id:[A-Za-z0-9]{1,32}}", _conversation)
    app.router.add_post("/conversations/{id:[A-Za-z0-9]{1,32}}/{action:close|reopen|snooze}", _act)
    app.router.add_static("/static/", HERE / "static", append_version=False)
    add_template_routes(app)
    return app


async def _headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.update(HEADERS)
    if not request.path.startswith("/static/"):
        response.headers["Cache-Control"] = "no-store"


@web.middleware
async def _sessions(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """No session, no page: 303 to /login for a GET, 403 for anything else; a POST's CSRF
    token must match its session's. A data file the page cannot read (the logins) is one line
    in the log and a page that says so, not a traceback."""
    try:
        return await _checked(request, handler)
    except StoreError as exc:
        log.error("web: %s", exc.one_line())
        return web.Response(
            status=503, text="The staff page cannot read its data; the agent's log says why."
        )


async def _checked(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    if request.path.startswith(OPEN_PATHS):
        return await handler(request)
    session = _session(request)
    if session is None:
        if request.method in ("GET", "HEAD"):
            raise web.HTTPSeeOther("/login")
        raise web.HTTPForbidden(text="log in first")
    if request.method == "POST":
        template = request.path.startswith(TEMPLATE_PATHS)
        if template:
            request = request.clone(client_max_size=TEMPLATE_FORM_BYTES)
        try:
            form = await request.post()
        except web.HTTPRequestEntityTooLarge:
            raise web.HTTPRequestEntityTooLarge(
                max_size=request.client_max_size,
                actual_size=request.content_length or 0,
                text=TOO_LONG if template else "Too long for a form.\n",
            ) from None
        if not same(str(form.get("csrf", "")), session.csrf):
            raise web.HTTPForbidden(text="the form is out of date; reload the page")
    request[SESSION] = session
    return await handler(request)


def _session(request: web.Request) -> Session | None:
    cookie = request.cookies.get(SESSION_COOKIE)
    session = request.app[SESSIONS].read(cookie) if cookie else None
    if session is None or not same(session.stamp, request.app[USERS].stamp(session.user) or ""):
        return None  # a changed (or removed) password ends its sessions
    return session


async def _home(request: web.Request) -> web.StreamResponse:
    raise web.HTTPSeeOther("/conversations")


async def _login_form(request: web.Request) -> web.StreamResponse:
    return _login_page(request, "")


def _login_page(request: web.Request, problem: str, status: int = 200) -> web.Response:
    # The token already set is kept: a browser loads /login again behind the form's back (a
    # favicon request redirected here, a second tab), and a new token would refuse the form.
    token = request.cookies.get(LOGIN_COOKIE, "")
    token = token if re.fullmatch(r"[A-Za-z0-9_-]{32}", token) else new_token()
    response = render(request, "login.html.j2", status, login_csrf=token, problem=problem)
    _set_cookie(request, response, LOGIN_COOKIE, token, max_age=3600)
    return response


def _set_cookie(
    request: web.Request, response: web.StreamResponse, name: str, value: str, max_age: int
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="Strict",
        secure=request.app[SECURE],
    )


async def _login(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    name = str(form.get("name", ""))[:64]
    password = str(form.get("password", ""))
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not same(str(form.get("csrf", "")), expected):
        # the form sat open past its cookie, or came from elsewhere: a fresh form, no attempt
        return _login_page(request, "The form was out of date; log in again.", status=403)
    address = client_address(
        request.remote, request.headers.getall("X-Forwarded-For", []), request.app[SECURE]
    )
    wait = request.app[LIMIT].attempt(address, name)
    if wait:
        log.warning("web: login refused: too many failed logins from %s, or at that name", address)
        refused = _login_page(
            request, f"Too many failed logins; try again in {wait} seconds.", status=429
        )
        refused.headers["Retry-After"] = str(wait)
        return refused
    users = request.app[USERS]
    matched = len(password) <= MAX_PASSWORD and await asyncio.to_thread(users.check, name, password)
    stamp = users.stamp(name) if matched else None
    if stamp is None:
        return _login_page(request, "Wrong name or password.", status=401)
    request.app[LIMIT].succeeded(address, name)
    _, cookie = request.app[SESSIONS].make(name, stamp)
    response = _see_other("/conversations")
    _set_cookie(request, response, SESSION_COOKIE, cookie, max_age=SESSION_SECONDS)
    response.del_cookie(LOGIN_COOKIE, path="/")
    log.info("web: %s logged in", name)
    return response


async def _logout(request: web.Request) -> web.StreamResponse:
    response = _see_other("/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


def _see_other(location: str) -> web.Response:
    """A 303 that carries cookies: returned, since aiohttp deprecates returning (rather than
    raising) its HTTPSeeOther exception, and a raised one would drop the cookies set on it."""
    return web.Response(status=303, headers={"Location": location})


async def _conversations(request: web.Request) -> web.StreamResponse:
    backend = request.app[BACKEND]
    chosen = request.query.get("filter", "open")
    chosen = chosen if chosen in views.FILTERS else "open"
    query = request.query.get("q", "")[: views.MAX_QUERY]
    quiet, _ = (
        await archived.conversations(backend.settings.agent.data_dir)
        if chosen in views.WITH_ARCHIVE
        else ([], [])
    )
    found = views.listing(  # the live ledger as it is after the await
        backend.ledger(),
        chosen,
        query,
        backend.clock(),
        backend.settings.calendar.timezone,
        archived=quiet,
    )
    return render(
        request,
        "conversations.html.j2",
        filters=views.FILTERS,
        chosen=chosen,
        query=query,
        listing=found,
        max_rows=views.MAX_ROWS,
    )


async def _conversation(
    request: web.Request, problem: str = "", status: int = 200, until: str = ""
) -> web.Response:
    """One conversation; after a refused action, ``problem`` and the ``until`` typed."""
    backend = request.app[BACKEND]
    token = request.match_info["id"].upper()
    conversation = backend.ledger().conversations.get(token) or await archived.conversation(
        backend.settings.agent.data_dir, token
    )
    if conversation is None:
        return render(request, "missing.html.j2", 404, token=request.match_info["id"])
    ledger = backend.ledger()  # as it is after the await
    zone, now = backend.settings.calendar.timezone, backend.clock()
    done = DONE.get(request.query.get("done", ""), "")
    return render(
        request,
        "conversation.html.j2",
        status,
        c=conversation,
        bounced=conversation.customer in ledger.undeliverable,
        promised_by=local_moment(conversation.promised_by, zone)
        if conversation.promised_by
        else "",
        snoozed_until=local_moment(conversation.snoozed_until, zone)
        if conversation.snoozed_until and conversation.snoozed_until > now
        else "",
        events=views.timeline(conversation, ledger, zone),
        archived=token not in ledger.conversations,
        actions=views.actions(conversation),
        example_day=staff.example_day(backend.settings.calendar, now),
        until=until,
        snooze_lets_promise_lapse=views.snooze_lets_promise_lapse(conversation),
        done=done,
        problem=problem,
    )


async def _act(request: web.Request) -> web.StreamResponse:
    """Close, reopen or snooze, as ``inbox-agent close/reopen/snooze`` do."""
    backend = request.app[BACKEND]
    token, action = request.match_info["id"].upper(), request.match_info["action"]
    form = await request.post()
    now = backend.clock()
    typed = str(form.get("until", ""))[:64]
    try:
        until = (
            staff.parse_until(typed, backend.settings.calendar, now, "Snooze until")
            if action == "snooze"
            else None
        )
        asked = StaffRequest(action, token, until, by=f"{request[SESSION].user} (staff page)")
        await asyncio.to_thread(staff.request, backend.settings, asked, now)
    except OperatorError as exc:
        # staff read words, not error types; what they typed stays in the field
        return await _conversation(request, str(exc), status=400, until=typed)
    log.info("web: %s asked to %s [#%s]", request[SESSION].user, action, token)
    await backend.apply()  # the daemon logs "staff request applied" with what it did
    raise web.HTTPSeeOther(f"/conversations/{token}?done={action}")
