"""Outages of the servers the agent depends on: reported once, retried with backoff.

A mail server that is down, or refuses the login, would otherwise print the same error at
every poll for as long as it lasts. Each outage is logged when it starts and when it ends;
meanwhile the agent waits before trying again: 30 s, doubling, at most 10 minutes. The other
mailboxes, the promise sweep and the outbox carry on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from inbox_agent import logs

log = logging.getLogger("inbox_agent")
FIRST_WAIT = timedelta(seconds=30)
LONGEST_WAIT = timedelta(minutes=10)


@dataclass
class Outage:
    """One server's trouble: since when, how often it failed, and when to try again."""

    problem: str
    since: datetime
    failures: int
    retry_at: datetime


class Outages:
    """The outages now running, by what failed (e.g. ``IMAP support``)."""

    def __init__(self, *, quiet: bool = False) -> None:
        self.running: dict[str, Outage] = {}
        self.quiet = quiet  # run --once: the error ends the run and is printed there instead

    def should_wait(self, key: str, now: datetime) -> bool:
        """True while ``key`` is in an outage and its next try has not come."""
        outage = self.running.get(key)
        return outage is not None and now.astimezone(UTC) < outage.retry_at.astimezone(UTC)

    def failed(self, key: str, problem: str, now: datetime) -> None:
        """Record a failure; logged only when an outage starts (or its reason changes)."""
        outage = self.running.get(key)
        failures = 1 if outage is None else outage.failures + 1
        wait = min(FIRST_WAIT * (1 << min(failures - 1, 10)), LONGEST_WAIT)
        if not self.quiet and (outage is None or outage.problem != problem):
            log.error(
                "%s; trying again in %d s, then less often until it works (reported once)",
                problem,
                wait.total_seconds(),
                extra=logs.fields("outage"),
            )
        since = now if outage is None else outage.since
        self.running[key] = Outage(problem, since, failures, now + wait)

    def worked(self, key: str, now: datetime) -> None:
        """``key`` works again: log the end of its outage, if it had one."""
        outage = self.running.pop(key, None)
        if outage is not None:
            minutes = int(
                (now.astimezone(UTC) - outage.since.astimezone(UTC)).total_seconds() // 60
            )
            log.warning(
                "recovered after %d min and %d failed tries: %s",
                minutes,
                outage.failures,
                outage.problem,
                extra=logs.fields("recovered"),
            )
