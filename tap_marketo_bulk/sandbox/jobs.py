"""Bulk export job state machine, queue limits, daily export quota and file storage.

The machine is driven lazily from the injectable clock on every request (``tick``), so
behaviour is deterministic under ``SandboxServer.advance``.  Jobs flow
Created -> Queued -> Processing -> Completed | Failed, Cancelled from any non-final state.
"""

from __future__ import annotations

import collections
import hashlib
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from .data import SandboxData
from .files import build_file, format_dt
from .validation import ApiError

CHICAGO = ZoneInfo("America/Chicago")
FINAL = ("Completed", "Failed", "Cancelled")
FILE_RETENTION = timedelta(days=7)
ENTITY_PATHS = {"leads": "leads", "activities": "activities", "program_members": "program/members"}
#: The keys Marketo documents for a job object (ExportResponse); a job shows only those of its state.
JOB_KEYS = (
    "exportId",
    "format",
    "status",
    "createdAt",
    "queuedAt",
    "startedAt",
    "finishedAt",
    "numberOfRecords",
    "fileSize",
    "fileChecksum",
    "errorMsg",
)
#: Lenient job-list status filter: any case, and the docs' spelling "Canceled" for "Cancelled".
STATUS_ALIASES = {
    "created": "Created",
    "queued": "Queued",
    "processing": "Processing",
    "completed": "Completed",
    "failed": "Failed",
    "cancelled": "Cancelled",
    "canceled": "Cancelled",
}


def entity_path(entity: str) -> str:
    """URL segment of an entity: ``program_members`` -> ``program/members``; custom objects
    (entity ``customobjects/<apiName>``) and the others are their own path."""
    return ENTITY_PATHS.get(entity, entity)


class Clock:
    """Wall clock plus an offset that tests move forward with ``advance``."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return datetime.fromtimestamp(time.time() + self._offset, tz=timezone.utc)

    def monotonic(self) -> float:
        """Seconds for rate limiting; follows advance() too."""
        with self._lock:
            return time.monotonic() + self._offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds


@dataclass
class Job:
    """One export job; ``visible`` is the snapshot callers see (refreshed every N seconds)."""

    export_id: str
    entity: str
    request: dict[str, Any]
    spec: dict[str, Any]
    fmt: str
    created_at: datetime
    status: str = "Created"
    queued_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    finish_due: datetime | None = None
    records: int | None = None
    content: bytes | None = None
    error_msg: str | None = None
    stuck: bool = False
    will_fail: str | None = None
    visible: dict[str, Any] = field(default_factory=dict)
    visible_at: datetime | None = None
    #: (content, "sha256:...") of the last checksum computed: Marketo computes a file's checksum
    #: once, and hashing a 150 MB file on every status call would slow the benchmarks' polls.
    _checksum: tuple[bytes, str] | None = field(default=None, repr=False)

    def checksum(self) -> str:
        """``sha256:<hex>`` of the file content, computed once per content."""
        assert self.content is not None
        if self._checksum is None or self._checksum[0] is not self.content:
            self._checksum = (self.content, "sha256:" + hashlib.sha256(self.content).hexdigest())
        return self._checksum[1]

    def as_dict(self) -> dict[str, Any]:
        """Marketo job object: fields absent in a state are omitted, never null."""
        d: dict[str, Any] = {
            "exportId": self.export_id,
            "format": self.fmt,
            "status": self.status,
            "createdAt": format_dt(self.created_at),
        }
        if self.queued_at:
            d["queuedAt"] = format_dt(self.queued_at)
        if self.started_at:
            d["startedAt"] = format_dt(self.started_at)
        if self.finished_at:
            d["finishedAt"] = format_dt(self.finished_at)
        if self.status == "Completed" and self.content is not None:
            d["numberOfRecords"] = self.records
            d["fileSize"] = len(self.content)
            d["fileChecksum"] = self.checksum()
        if self.status == "Failed" and self.error_msg:
            d["errorMsg"] = self.error_msg
        return d


class JobManager:
    """Owns all jobs of the (single) subscription and enforces the bulk limits."""

    def __init__(
        self,
        data: SandboxData,
        clock: Clock,
        opts: Any,
        take_fault: Callable[[str, str], dict[str, Any] | None],
    ) -> None:
        self.data = data
        self.clock = clock
        self.opts = opts
        self.take_fault = take_fault
        self.jobs: dict[str, Job] = {}
        #: Jobs created per entity (``leads``, ``customobjects/purchase_c``, ...), ever.
        self.created: collections.Counter[str] = collections.Counter()
        self.lock = threading.RLock()

    # ------------------------------------------------------------------ state machine
    def _duration(self, records: int) -> float:
        return max(
            self.opts.min_processing_seconds,
            records / 1000.0 * self.opts.processing_seconds_per_1000_records,
        )

    def _start(self, job: Job, at: datetime) -> None:
        """Processing starts: the file is built from the data as of now and published on completion."""
        job.status, job.started_at = "Processing", at
        path = f"/bulk/v1/{entity_path(job.entity)}/export/{job.export_id}/"
        fail = self.take_fault("fail_job", path)
        if fail is not None:
            job.will_fail = fail.get("message", "Export failed due to an internal error")
        malformed = self.take_fault("malformed_row", path) is not None
        job.content, job.records = build_file(self.data, job.entity, job.spec, self.opts.end_at_inclusive, malformed)
        job.finish_due = at + timedelta(seconds=self._duration(job.records))

    def _finish(self, job: Job) -> None:
        job.finished_at = job.finish_due
        if job.will_fail:
            job.status, job.error_msg, job.content = "Failed", job.will_fail, None
        else:
            job.status = "Completed"

    def _fill(self, at: datetime) -> None:
        running = sum(1 for j in self.jobs.values() if j.status == "Processing")
        queued = sorted(
            (j for j in self.jobs.values() if j.status == "Queued" and not j.stuck),
            key=lambda j: (j.queued_at, j.created_at),
        )
        for job in queued:
            if running >= self.opts.max_processing:
                break
            self._start(job, max(at, job.queued_at))
            running += 1

    def tick(self) -> datetime:
        """Advance every job to the current clock time, completing jobs in chronological order."""
        now = self.clock.now()
        with self.lock:
            while True:
                due = [j for j in self.jobs.values() if j.status == "Processing" and j.finish_due <= now]
                if not due:
                    break
                job = min(due, key=lambda j: j.finish_due)
                self._finish(job)
                self._fill(job.finish_due)
            self._fill(now)
        return now

    def _visible(self, job: Job, now: datetime, force: bool = False) -> dict[str, Any]:
        """Status snapshot that changes at most every status_refresh_seconds."""
        if (
            force
            or job.visible_at is None
            or (now - job.visible_at).total_seconds() >= self.opts.status_refresh_seconds
        ):
            job.visible, job.visible_at = job.as_dict(), now
        return dict(job.visible)

    # ------------------------------------------------------------------ operations
    def get(self, entity: str, export_id: str) -> Job | None:
        job = self.jobs.get(export_id)
        return job if job and job.entity == entity else None

    def create(self, entity: str, body: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
        now = self.tick()
        with self.lock:
            job = Job(str(uuid.uuid4()), entity, body, spec, spec["format"], now)
            self.jobs[job.export_id] = job
            self.created[entity] += 1
            return self._visible(job, now, force=True)

    def quota_used(self, now: datetime) -> int:
        """Bytes of completed files finished during the current US-Central day."""
        today = now.astimezone(CHICAGO).date()
        return sum(
            len(j.content or b"")
            for j in self.jobs.values()
            if j.status == "Completed" and j.finished_at and j.finished_at.astimezone(CHICAGO).date() == today
        )

    def _quota_message(self) -> str:
        mb = self.opts.export_quota_mb
        return f"Export daily quota {int(mb) if float(mb).is_integer() else mb}MB exceeded."

    def enqueue(self, job: Job, path: str) -> dict[str, Any]:
        now = self.tick()
        with self.lock:
            if job.status in ("Queued", "Processing"):
                raise ApiError("1029", "Job already queued")
            if job.status != "Created":
                raise ApiError("1003", f"Job is in '{job.status}' state and cannot be enqueued")
            if self.take_fault("queue_full", path) is not None:
                raise ApiError("1029", f"Too many jobs ({self.opts.max_queued}) in queue")
            if self.take_fault("quota_exhausted", path) is not None:
                raise ApiError("1029", self._quota_message())
            if self.quota_used(now) > self.opts.export_quota_mb * 1024 * 1024:
                raise ApiError("1029", self._quota_message())
            active = sum(1 for j in self.jobs.values() if j.status in ("Queued", "Processing"))
            if active >= self.opts.max_queued:
                raise ApiError("1029", f"Too many jobs ({self.opts.max_queued}) in queue")
            job.status, job.queued_at = "Queued", now
            job.stuck = self.take_fault("stuck_queued", path) is not None
            self._fill(now)
            # The enqueue answer shows Queued even when a slot was free; later polls see Processing.
            snap = job.as_dict()
            snap.update(status="Queued")
            for k in JOB_KEYS[JOB_KEYS.index("startedAt") :]:
                snap.pop(k, None)
            job.visible, job.visible_at = snap, now
            return dict(snap)

    def cancel(self, job: Job) -> dict[str, Any]:
        now = self.tick()
        with self.lock:
            if job.status in FINAL:
                raise ApiError("1003", f"Job is already in '{job.status}' state and cannot be cancelled")
            job.status, job.content, job.finish_due = "Cancelled", None, None
            self._fill(now)
            return self._visible(job, now, force=True)

    def status(self, job: Job) -> dict[str, Any]:
        now = self.tick()
        with self.lock:
            return self._visible(job, now)

    def file(self, job: Job) -> bytes | None:
        """File bytes when Completed and not yet expired (7 days after completion), else None."""
        now = self.tick()
        with self.lock:
            if job.status != "Completed" or job.content is None:
                return None
            if now - job.finished_at > FILE_RETENTION:
                return None
            return job.content

    def list(self, entity: str, statuses: set[str] | None, lenient: bool = False) -> list[dict[str, Any]]:
        """Jobs of an entity created in the past 7 days (sandbox clock), oldest first, as callers
        currently see them, with the documented job keys only.

        ``statuses`` match the status values exactly, or with ``lenient`` in any case and with
        "Canceled" for "Cancelled" (the docs spell the filter value both ways).
        """
        if statuses and lenient:
            statuses = {STATUS_ALIASES.get(s.lower(), s) for s in statuses}
        now = self.tick()
        with self.lock:
            out = []
            for job in sorted(self.jobs.values(), key=lambda j: j.created_at):
                if job.entity != entity or now - job.created_at > timedelta(days=7):
                    continue
                snap = self._visible(job, now)
                if statuses and snap["status"] not in statuses:
                    continue
                out.append({k: snap[k] for k in JOB_KEYS if k in snap})
            return out

    def describe_all(self) -> list[dict[str, Any]]:
        """Test helper: every job with its true state and the create body as received."""
        self.tick()
        with self.lock:
            out = []
            for job in sorted(self.jobs.values(), key=lambda j: j.created_at):
                d = job.as_dict()
                d.update(entity=job.entity, request=job.request, visibleStatus=job.visible.get("status"))
                out.append(d)
            return out
