"""The daemon: APScheduler 3.x runs the jobs; SIGTERM / SIGINT end it cleanly.

This is the only module that imports apscheduler. Deadlines are not scheduler jobs (they would
vanish on restart): the scheduler only says "poll now" (every ``poll_interval_seconds``) and
"sweep now" (every 30 s), and each run reads what is due from the store. Jobs are set up as
DESIGN.md measured: ``misfire_grace_time=None`` (a late run still runs), ``coalesce=True`` (a
backlog of runs becomes one), ``max_instances=1``; and one lock makes sure no two runs of any
job overlap, since they share the store.

On a signal the daemon stops scheduling, lets the run in flight finish (its send and its commit
included) and returns, so ``run`` exits 0.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from inbox_agent import logs
from inbox_agent.errors import InboxAgentError

log = logging.getLogger("inbox_agent")


@dataclass(frozen=True)
class Job:
    """Something to run every ``seconds``."""

    name: str
    run: Callable[[], Awaitable[object]]
    seconds: int


class Daemon:
    """Runs its jobs on their intervals, one at a time, until told to stop."""

    def __init__(self, jobs: list[Job]) -> None:
        self.jobs = jobs
        self._stop = asyncio.Event()
        self._lock = asyncio.Lock()
        self._last_problem: str | None = None

    def stop(self) -> None:
        """Ask the daemon to finish the run in flight and return."""
        self._stop.set()

    async def serve(self) -> None:
        """Run until ``stop()`` or SIGTERM / SIGINT."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal, sig)
        scheduler = AsyncIOScheduler(event_loop=loop)
        for job in self.jobs:
            scheduler.add_job(self.run_job, "interval", args=[job], seconds=job.seconds,
                              next_run_time=datetime.now(UTC), misfire_grace_time=None,
                              coalesce=True, max_instances=1, id=job.name)
        scheduler.start()
        log.info("inbox-agent running: %s", ", ".join(f"{j.name} every {j.seconds}s"
                                                      for j in self.jobs),
                 extra=logs.fields("started"))
        try:
            await self._stop.wait()
        finally:
            scheduler.shutdown(wait=False)
            async with self._lock:  # wait for the run in flight to finish
                pass
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
        log.info("inbox-agent stopped", extra=logs.fields("stopped"))

    async def run_job(self, job: Job) -> None:
        """One run; problems are logged once per outage and never end the daemon."""
        if self._stop.is_set():
            return
        async with self._lock:
            if self._stop.is_set():
                return
            try:
                await job.run()
            except InboxAgentError as exc:
                self._report(exc.one_line())
                return
            except Exception:
                log.exception("unexpected error in the %s job; the next run will try again",
                              job.name)
                return
        if self._last_problem is not None:
            log.warning("recovered: %s is over", self._last_problem)
            self._last_problem = None

    def _report(self, problem: str) -> None:
        # The same failure every poll is one line per outage, not one per minute.
        if problem != self._last_problem:
            log.error("%s", problem, extra=logs.fields("error"))
            self._last_problem = problem

    def _on_signal(self, sig: signal.Signals) -> None:
        log.info("%s received; finishing the current cycle", sig.name)
        self.stop()
