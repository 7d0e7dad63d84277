"""The staff page as a daemon service: aiohttp in the daemon's own event loop.

It reads the live ledger (in memory, same loop) and applies staff actions through the daemon
(``Daemon.run_now``), so nothing else writes the store. On stop, open browser connections get
``SHUTDOWN_SECONDS`` to finish (aiohttp's default is 60 s: SIGTERM must end the daemon in
seconds).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from aiohttp import web

from inbox_agent.config import Settings, WebSettings
from inbox_agent.core.ledger import Ledger
from inbox_agent.daemon import Daemon
from inbox_agent.web.app import Backend, make_app

log = logging.getLogger("inbox_agent")
SHUTDOWN_SECONDS = 2.0


class Agent(Protocol):
    """What the page uses of ``agent.cycle.Agent``."""

    settings: Settings
    clock: Callable[[], datetime]

    @property
    def ledger(self) -> Ledger: ...

    def apply_staff_requests(self) -> None: ...


class WebService:
    """Serves ``[web] listen`` until the daemon stops."""

    def __init__(self, web_settings: WebSettings, agent: Agent) -> None:
        self.web = web_settings
        self.agent = agent
        self._stopping = asyncio.Event()

    async def serve(self, daemon: Daemon) -> None:
        """Listen, serve until ``stop``, then close every connection within seconds."""
        agent = self.agent

        async def apply_now() -> None:
            async def applied() -> None:
                agent.apply_staff_requests()

            await daemon.run_now("web", applied)

        app = make_app(Backend(agent.settings, lambda: agent.ledger, agent.clock, apply_now))
        runner = web.AppRunner(app, shutdown_timeout=SHUTDOWN_SECONDS, access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.web.host, self.web.port)
            try:
                await site.start()
            except OSError as exc:
                log.error(
                    "[web] listen %s:%s: cannot listen (%s); the agent goes on without the "
                    "staff page; choose a free port and restart",
                    self.web.host,
                    self.web.port,
                    exc.strerror or exc,
                )
                return
            log.info("staff page on http://%s:%s/", self.web.host, self.web.port)
            await self._stopping.wait()
        finally:
            cleanup = asyncio.ensure_future(runner.cleanup())
            try:
                await asyncio.shield(cleanup)
            except asyncio.CancelledError:  # the daemon cancels services: finish closing first
                await cleanup
                raise

    def stop(self) -> None:
        """Stop accepting; ``serve`` closes what is open and returns."""
        self._stopping.set()
