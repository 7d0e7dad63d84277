"""What the agent promises a customer, as pure functions of the arrival moment and the policy.

A promise counts from when the mail *arrived* (the server's INTERNALDATE), never from the
sender's ``Date`` header, which can be wrong or forged. Mail arriving while the business is
closed counts from the next opening (``business_time`` does that).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from inbox_agent.core.business_time import Calendar, Duration, add_business_time


@dataclass(frozen=True)
class PromisePolicy:
    """The ``[promise]`` section of the config."""

    first_reply_within: Duration
    follow_up_before: Duration
    extend_by: Duration
    max_follow_ups: int
    escalate_to: str | None
    skip_older_than: Duration


def first_reply_due(arrived_at: datetime, calendar: Calendar, policy: PromisePolicy) -> datetime:
    """When a person will have replied to a message that arrived at ``arrived_at``.

    Rounded up to the whole minute: the customer is told minutes, and the moment kept must be
    the moment told, never a few seconds earlier.
    """
    return _whole_minute(add_business_time(calendar, arrived_at, policy.first_reply_within))


def too_old_to_acknowledge(
    arrived_at: datetime, now: datetime, calendar: Calendar, policy: PromisePolicy
) -> bool:
    """True for mail that was already older than ``skip_older_than`` when first seen.

    Such mail is filed but not acknowledged: on a first start against a full mailbox, telling
    hundreds of customers about a promise for mail they sent weeks ago would do more harm than
    good; staff see it as ``open``.
    """
    # Compared in UTC: two datetimes in the same ZoneInfo compare by wall clock, which is wrong
    # in the repeated hour when clocks go back.
    limit = add_business_time(calendar, arrived_at, policy.skip_older_than)
    return limit.astimezone(UTC) < now.astimezone(UTC)


def _whole_minute(moment: datetime) -> datetime:
    if moment.second == 0 and moment.microsecond == 0:
        return moment
    return moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
