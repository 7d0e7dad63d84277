"""What every page of the staff web page shares: the running agent it shows (``Backend``), the
page templates (their own autoescaped, strict environment, not the customer templates'
sandbox) and how a page is rendered for the session's user. Its own module so that the
page modules (``app``, ``template_pages``, ``report_page``) import it, not each other."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from inbox_agent.config import Settings
from inbox_agent.core.ledger import Ledger
from inbox_agent.web.auth import Session

HERE = Path(__file__).parent


@dataclass(frozen=True)
class Backend:
    """What the page needs of the running agent."""

    settings: Settings
    ledger: Callable[[], Ledger]  # the live ledger, in memory
    clock: Callable[[], datetime]
    apply: Callable[[], Awaitable[None]]  # apply the queued staff requests now


BACKEND = web.AppKey("backend", Backend)
PAGES = web.AppKey("pages", jinja2.Environment)
SESSION = web.RequestKey("session", Session)  # set by the session check


def pages() -> jinja2.Environment:
    """The page templates: their own environment (autoescaped, strict), not the customer
    templates' sandbox."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(request: web.Request, name: str, status: int = 200, **context: Any) -> web.Response:
    """The page ``name`` with ``context``, for the session's user and its CSRF token."""
    session = request.get(SESSION)
    page = (
        request.app[PAGES]
        .get_template(name)
        .render(
            user=session.user if session else None,
            csrf=session.csrf if session else "",
            here=request.path,  # the menu marks the section it is in
            **context,
        )
    )
    return web.Response(text=page, status=status, content_type="text/html", charset="utf-8")
