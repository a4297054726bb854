"""What a run spends of Marketo's export quotas, and the budget it may not exceed.

Marketo meters bulk extract by jobs and by MB exported per day (500 MB by default, counted
from midnight US Central), shared by every integration of the subscription. This ledger
counts this run's jobs and bytes, stops before ``export_quota_budget_mb`` would be passed,
and says at the end what the run spent and what is left.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import typing as t

from tap_marketo_bulk import errors
from tap_marketo_bulk.windows import parse_marketo_datetime

if t.TYPE_CHECKING:
    from tap_marketo_bulk.exports.model import ExportRequest

LOGGER = logging.getLogger("tap_marketo_bulk.exports")


@dataclasses.dataclass(frozen=True)
class SpendMark:
    """The ledger's counts at one moment."""

    jobs_created: int
    jobs_reattached: int
    bytes_downloaded: int


@dataclasses.dataclass
class ExportSpend:
    """Jobs created and re-attached, bytes downloaded, and the run's export budget."""

    #: Stop before a job that would take this run's downloads past this many bytes.
    budget_bytes: int | None = None
    #: Jobs this run created, per entity.
    jobs_created: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    #: Jobs of an earlier run picked up again instead of being created anew.
    jobs_reattached: int = 0
    #: Entities of those jobs (their quota use is reported at the end).
    entities_reattached: set = dataclasses.field(default_factory=set)
    bytes_downloaded: int = 0
    largest_file: int = 0

    def downloaded(self, size: int) -> None:
        """Count one verified file."""
        self.bytes_downloaded += size
        self.largest_file = max(self.largest_file, size)

    def reattached(self, entity: str) -> None:
        """Count a job of an earlier run used again."""
        self.jobs_reattached += 1
        self.entities_reattached.add(entity)

    def within_budget(self, jobs_in_flight: int) -> bool:
        """Whether one more job fits ``export_quota_budget_mb``, judged by sizes seen so far."""
        if self.budget_bytes is None:
            return True
        projected = self.bytes_downloaded + (jobs_in_flight + 1) * self.largest_file
        return projected <= self.budget_bytes

    def budget_reached(self, request: ExportRequest) -> errors.ExportBudgetReached:
        """The clean stop before ``request``, naming the setting."""
        used_mb = self.bytes_downloaded / 1_000_000
        budget_mb = (self.budget_bytes or 0) / 1_000_000
        msg = (
            f"export_quota_budget_mb={budget_mb:g} reached: this run downloaded {used_mb:.1f} MB "
            f"and the next export ({request.describe()}) would likely exceed it. The last STATE "
            "resumes from here; raise export_quota_budget_mb or run again after the quota resets."
        )
        return errors.ExportBudgetReached(msg)

    def mark(self) -> SpendMark:
        """Where the ledger stands, so a stream can say what it alone spent (:meth:`since`)."""
        return SpendMark(sum(self.jobs_created.values()), self.jobs_reattached, self.bytes_downloaded)

    def since(self, mark: SpendMark) -> str:
        """What was spent since ``mark``: one stream's jobs and MB, for its summary line
        (streams sync one after another, so the difference is theirs)."""
        now = self.mark()
        return (
            f"{now.jobs_created - mark.jobs_created} export jobs created, "
            f"{now.jobs_reattached - mark.jobs_reattached} re-attached, "
            f"{(now.bytes_downloaded - mark.bytes_downloaded) / 1_000_000:.2f} MB downloaded"
        )

    def usage(self) -> str:
        """What this run spent, for quota messages."""
        jobs = sum(self.jobs_created.values())
        return (
            f"This run downloaded {self.bytes_downloaded / 1_000_000:.1f} MB from {jobs} new "
            f"export jobs ({self.jobs_reattached} re-attached)."
        )


def used_today_mb(completed: t.Iterable[t.Mapping[str, t.Any]], entity: str) -> float | None:
    """Export MB this API user's Completed jobs of ``entity`` used since midnight US Central.

    ``completed`` is the job list of Completed jobs (past 7 days, this API user's jobs only):
    the daily export quota counts the same ``fileSize``. A list Marketo refuses (a role or
    subscription without the entity) counts 0: this API user cannot have exported it. None
    when the list cannot be read; it is only reported.
    """
    since = errors.quota_day_start()
    total = 0
    try:
        for job in completed:
            finished = job.get("finishedAt")
            if finished and parse_marketo_datetime(finished) >= since:
                total += int(job.get("fileSize") or 0)
    except errors.Refusal:
        return 0.0
    except (errors.MarketoError, ValueError) as exc:
        LOGGER.info("Could not read today's export usage for %s: %s", entity, exc)
        return None
    return total / 1_000_000


def run_summary(
    spend: ExportSpend,
    calls_made: int,
    used_today: float | None,
    daily_quota_mb: float,
    calls_by_stream: t.Mapping[str, int] | None = None,
) -> str:
    """The end-of-run line: what the run spent, and what is left of the daily export quota
    (``used_today``: this API user's export MB today; not asked for when nothing was exported),
    then the API calls per stream (``calls_by_stream``; the rest went to discovery and tokens)."""
    quota = _quota_summary(spend, calls_made, used_today, daily_quota_mb)
    return quota + _calls_summary(calls_made, calls_by_stream)


def _calls_summary(calls_made: int, calls_by_stream: t.Mapping[str, int] | None) -> str:
    """`` API calls by stream: campaigns 3, leads 12, other 9.`` (nothing when none were counted)."""
    counted = {name: count for name, count in (calls_by_stream or {}).items() if count}
    if not counted:
        return ""
    parts = [f"{name} {count}" for name, count in sorted(counted.items())]
    other = calls_made - sum(counted.values())
    if other > 0:
        parts.append(f"other {other}")
    return f" API calls by stream: {', '.join(parts)}."


def _quota_summary(spend: ExportSpend, calls_made: int, used_today: float | None, daily_quota_mb: float) -> str:
    created = sum(spend.jobs_created.values())
    per_entity = ", ".join(f"{entity} {count}" for entity, count in sorted(spend.jobs_created.items()))
    spent = (
        f"Run spent: {created} export jobs created{f' ({per_entity})' if per_entity else ''}, "
        f"{spend.jobs_reattached} re-attached, {spend.bytes_downloaded / 1_000_000:.1f} MB exported, "
        f"{calls_made} API calls"
    )
    if not (created or spend.jobs_reattached):
        return f"{spent}."
    if used_today is None:
        return f"{spent}; today's export use could not be read."
    return (
        f"{spent}; at most {max(daily_quota_mb - used_today, 0.0):.1f} MB of the {daily_quota_mb:g} MB daily "
        f"export quota left ({used_today:.1f} MB used today by this API user's jobs; other API users' jobs count too)."
    )
