"""The daemon: APScheduler 3.x runs the jobs; SIGTERM / SIGINT end it cleanly.

This is the only module that imports apscheduler. Deadlines are not scheduler jobs (they would
vanish on restart): the scheduler only says "poll now" (every ``poll_interval_seconds``) and
"sweep now" (every 30 s), and each run reads what is due from the store. Jobs are set up as
DESIGN.md measured: ``misfire_grace_time=None`` (a late run still runs), ``coalesce=True`` (a
backlog of runs becomes one), ``max_instances=1``; and one lock makes sure no two runs of any
job overlap, since they share the store.

On a signal the daemon stops scheduling, lets the run in flight finish (its send and its commit
included) and returns, so ``run`` exits 0. The scheduler is paused, not shut down, until then:
APScheduler's shutdown cancels a running coroutine job, which would cut a send short between
the relay's 250 and its record (a duplicate at the next start). A run still waiting on a server
that does not answer after ``STOP_GRACE_SECONDS`` is cancelled, so systemd's stop takes seconds,
not a socket timeout: like a crash, that loses nothing (the cycle is rolled back to its last
commit, and mail cut short in ``sending`` is resolved against the Sent folder at the next
start).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from inbox_agent import logs
from inbox_agent.errors import InboxAgentError

log = logging.getLogger("inbox_agent")
STOP_GRACE_SECONDS = 10  # a cycle on servers that answer ends well within it


@dataclass(frozen=True)
class Job:
    """Something to run every ``seconds``."""

    name: str
    run: Callable[[], Awaitable[object]]
    seconds: int


class Service(Protocol):
    """Something that runs beside the scheduled jobs for the daemon's life and asks for runs
    of its own (``Daemon.run_now``): e.g. IMAP IDLE watches calling for a pickup."""

    async def serve(self, daemon: Daemon) -> None:
        """Run until cancelled (after ``stop``)."""

    def stop(self) -> None:
        """The daemon is stopping: ask for no more runs, start ending (without blocking)."""


class Daemon:
    """Runs its jobs on their intervals, and what its services ask for, one at a time, until
    told to stop."""

    def __init__(self, jobs: list[Job], services: Sequence[Service] = ()) -> None:
        self.jobs = jobs
        self.services = list(services)
        self._stop = asyncio.Event()
        self._lock = asyncio.Lock()
        self._last_problem: str | None = None
        self._in_flight: asyncio.Task[Any] | None = None  # the run holding the lock

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
            scheduler.add_job(
                self.run_job,
                "interval",
                args=[job],
                seconds=job.seconds,
                next_run_time=datetime.now(UTC),
                misfire_grace_time=None,
                coalesce=True,
                max_instances=1,
                id=job.name,
            )
        scheduler.start()
        log.info(
            "inbox-agent running: %s",
            ", ".join(f"{j.name} every {j.seconds}s" for j in self.jobs),
            extra=logs.fields("started"),
        )
        services = [asyncio.create_task(self._serve(s)) for s in self.services]
        try:
            await self._stop.wait()
        finally:
            scheduler.pause()  # nothing new starts; the run in flight goes on
            for service in self.services:
                service.stop()
            await self._finish_run_in_flight()
            scheduler.shutdown(wait=False)
            for task in services:  # waiting for a wake-up, or for the lock: nothing in flight
                task.cancel()
            await asyncio.gather(*services, return_exceptions=True)
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
        log.info("inbox-agent stopped", extra=logs.fields("stopped"))

    async def run_now(self, name: str, run: Callable[[], Awaitable[object]]) -> None:
        """Run ``run`` as soon as no other run is in flight (a service's request)."""
        await self.run_job(Job(name, run, 0))

    async def _serve(self, service: Service) -> None:
        try:
            await service.serve(self)
        except asyncio.CancelledError:
            raise
        except Exception:  # a service's bug must not end the daemon: the jobs go on
            log.exception(
                "unexpected error in %s; the scheduled jobs go on", type(service).__name__
            )

    async def run_job(self, job: Job) -> None:
        """One run; problems are logged once per outage and never end the daemon."""
        if self._stop.is_set():
            return
        async with self._lock:
            if self._stop.is_set():
                return
            self._in_flight = asyncio.current_task()
            log.debug("%s: run starts", job.name, extra=logs.fields(f"run_{job.name}"))
            try:
                await job.run()
            except InboxAgentError as exc:
                self._report(exc.one_line())
                return
            except asyncio.CancelledError:
                if not self._stop.is_set():
                    raise
                return  # stopped after the grace (logged by _finish_run_in_flight)
            except Exception:
                log.exception(
                    "unexpected error in the %s job; the next run will try again", job.name
                )
                return
            finally:
                self._in_flight = None
        if self._last_problem is not None:
            log.warning("recovered: %s is over", self._last_problem)
            self._last_problem = None

    async def _finish_run_in_flight(self) -> None:
        """Wait for the run in flight, up to STOP_GRACE_SECONDS; then cancel it (a few times:
        its clean-up may wait on the same server), and let queued runs see the stop."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle(), STOP_GRACE_SECONDS)
            return
        running = self._in_flight
        log.warning(
            "the cycle in flight did not finish within %d s of the signal (a server "
            "not answering); stopping it: it is rolled back to its last commit, and "
            "nothing is lost",
            STOP_GRACE_SECONDS,
            extra=logs.fields("cancelled"),
        )
        for _ in range(5):
            if running is None or running.done():
                break
            running.cancel()
            await asyncio.wait({running}, timeout=1)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle(), 1)

    async def _idle(self) -> None:
        async with self._lock:
            pass

    def _report(self, problem: str) -> None:
        # The same failure every poll is one line per outage, not one per minute.
        if problem != self._last_problem:
            log.error("%s", problem, extra=logs.fields("error"))
            self._last_problem = problem

    def _on_signal(self, sig: signal.Signals) -> None:
        log.info("%s received; finishing the current cycle", sig.name, extra=logs.fields("signal"))
        self.stop()
