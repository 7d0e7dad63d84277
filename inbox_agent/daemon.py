"""The daemon: APScheduler 3.x runs the cycle; SIGTERM / SIGINT end it cleanly.

This is the only module that imports apscheduler. Deadlines are not scheduler jobs (they would
vanish on restart): the scheduler only says "run a cycle now", and each cycle reads what is due
from the store. The job is set up as DESIGN.md measured: ``misfire_grace_time=None`` (a late run
still runs), ``coalesce=True`` (a backlog of runs becomes one), ``max_instances=1`` (cycles never
overlap).

On a signal the daemon stops scheduling, lets the cycle in flight finish (its send and its
commit included) and returns, so ``run`` exits 0.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from inbox_agent.errors import InboxAgentError

log = logging.getLogger("inbox_agent")


class Daemon:
    """Runs ``cycle`` every ``interval_seconds`` until told to stop."""

    def __init__(self, cycle: Callable[[], Awaitable[object]], interval_seconds: int) -> None:
        self.cycle = cycle
        self.interval_seconds = interval_seconds
        self._stop = asyncio.Event()
        self._cycle_lock = asyncio.Lock()
        self._last_problem: str | None = None

    def stop(self) -> None:
        """Ask the daemon to finish the cycle in flight and return."""
        self._stop.set()

    async def serve(self) -> None:
        """Run until ``stop()`` or SIGTERM / SIGINT."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal, sig)
        scheduler = AsyncIOScheduler(event_loop=loop)
        scheduler.add_job(self.run_cycle, "interval", seconds=self.interval_seconds,
                          next_run_time=datetime.now(UTC), misfire_grace_time=None,
                          coalesce=True, max_instances=1, id="cycle")
        scheduler.start()
        log.info("inbox-agent running; a cycle every %ss", self.interval_seconds)
        try:
            await self._stop.wait()
        finally:
            scheduler.shutdown(wait=False)
            async with self._cycle_lock:  # wait for the cycle in flight to finish
                pass
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
        log.info("inbox-agent stopped")

    async def run_cycle(self) -> None:
        """One cycle; problems are logged once per outage and never end the daemon."""
        if self._stop.is_set():
            return
        async with self._cycle_lock:
            try:
                await self.cycle()
            except InboxAgentError as exc:
                self._report(exc.one_line())
                return
            except Exception:
                log.exception("unexpected error in a cycle; the next cycle will try again")
                return
        if self._last_problem is not None:
            log.warning("recovered: %s is over", self._last_problem)
            self._last_problem = None

    def _report(self, problem: str) -> None:
        # The same failure every poll is one line per outage, not one per minute.
        if problem != self._last_problem:
            log.error("%s", problem)
            self._last_problem = problem

    def _on_signal(self, sig: signal.Signals) -> None:
        log.info("%s received; finishing the current cycle", sig.name)
        self.stop()
