"""Bulk export jobs: create, enqueue, poll, download, verify, cancel, and keep them in flight.

An :class:`ExportRunner` takes export requests in the order their records must be emitted and
yields each one's verified file in that order, while the next requests' jobs are already
created and queued at Marketo (up to ``max_jobs_in_flight``). Marketo processes them while the
caller reads the current file, so a backfill costs about the processing time, not the sum of
processing, polling and reading.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import logging
import os
import tempfile
import time
import typing as t
from pathlib import Path

import requests

from tap_marketo_bulk import errors
from tap_marketo_bulk.windows import Window

if t.TYPE_CHECKING:
    from tap_marketo_bulk.client import MarketoClient

LOGGER = logging.getLogger("tap_marketo_bulk.exports")

FINAL_STATES = frozenset({"Completed", "Failed", "Cancelled"})
DOWNLOAD_CHUNK_BYTES = 1 << 20
#: How often a dropped download is resumed before giving up.
MAX_DOWNLOAD_RESUMES = 10


@dataclasses.dataclass(frozen=True)
class ExportRequest:
    """What one export job extracts: the bulk entity path, the create body, its window."""

    entity: str  # "leads", "activities" or "program/members"
    body: dict[str, t.Any]
    window: Window | None = None
    label: str = ""

    def describe(self) -> str:
        """Short text for logs and errors: entity, window, label."""
        parts = [self.entity]
        if self.window:
            parts.append(str(self.window))
        if self.label:
            parts.append(self.label)
        return " ".join(parts)


@dataclasses.dataclass
class ExportJob:
    """One Marketo export job as this run knows it."""

    request: ExportRequest
    export_id: str
    status: str = "Created"
    enqueued: bool = False
    attempt: int = 1
    created_at: float = dataclasses.field(default_factory=time.monotonic)
    details: dict[str, t.Any] = dataclasses.field(default_factory=dict)

    def path(self, action: str) -> str:
        """URL path of one lifecycle call (``enqueue.json``, ``status.json``, ...)."""
        return f"/bulk/v1/{self.request.entity}/export/{self.export_id}/{action}"


@dataclasses.dataclass(frozen=True)
class ExportFile:
    """A completed export's verified local file (``path`` is None when it had no records)."""

    request: ExportRequest
    export_id: str
    path: Path | None
    number_of_records: int
    size: int
    file_format: str = "CSV"

    def remove(self) -> None:
        """Delete the temporary file; exports can hold personal data."""
        if self.path is not None:
            self.path.unlink(missing_ok=True)


@dataclasses.dataclass
class ExportRunner:
    """Runs export jobs within Marketo's limits and hands back verified files in order."""

    client: MarketoClient
    poll_interval: float = 60.0
    job_timeout: float = 3 * 3600.0
    max_jobs_in_flight: int = 2
    temp_dir: str | None = None
    max_job_attempts: int = 3
    sleep: t.Callable[[float], None] = time.sleep
    clock: t.Callable[[], float] = time.monotonic
    #: Jobs this run created: per entity, for the end-of-run summary.
    jobs_created: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    bytes_downloaded: int = 0

    # --- lifecycle calls --------------------------------------------------------------

    def create(self, request: ExportRequest, attempt: int = 1) -> ExportJob:
        """Create the job (status ``Created``); Marketo validates the body here."""
        envelope = self.client.post(f"/bulk/v1/{request.entity}/export/create.json", request.body)
        result = envelope["result"][0]
        job = ExportJob(
            request=request,
            export_id=result["exportId"],
            status=result.get("status", "Created"),
            attempt=attempt,
            created_at=self.clock(),
        )
        self.jobs_created[request.entity] += 1
        LOGGER.info("Export %s %s: Created", request.describe(), job.export_id)
        return job

    def enqueue(self, job: ExportJob) -> bool:
        """Queue the job; False when the subscription's queue is full (try again later)."""
        try:
            envelope = self.client.post(job.path("enqueue.json"))
        except errors.JobAlreadyQueued:
            job.enqueued = True
            return True
        except errors.ExportQueueFull:
            return False
        job.enqueued = True
        self._update(job, envelope["result"][0])
        return True

    def refresh(self, job: ExportJob) -> str:
        """Ask Marketo for the job's status and remember the details."""
        envelope = self.client.get(job.path("status.json"))
        self._update(job, envelope["result"][0])
        return job.status

    def cancel(self, job: ExportJob) -> None:
        """Cancel a job that is not final; failures are logged, never raised (cleanup path)."""
        if job.status in FINAL_STATES:
            return
        try:
            self.client.post(job.path("cancel.json"), retry=False)
            job.status = "Cancelled"
            LOGGER.info("Export %s %s: Cancelled by the tap", job.request.describe(), job.export_id)
        except errors.MarketoError as exc:
            LOGGER.warning("Could not cancel export %s: %s", job.export_id, exc)

    def _update(self, job: ExportJob, details: t.Mapping[str, t.Any]) -> None:
        status = details.get("status", job.status)
        if status != job.status:
            elapsed = self.clock() - job.created_at
            LOGGER.info(
                "Export %s %s: %s after %.0f s",
                job.request.describe(),
                job.export_id,
                status,
                elapsed,
            )
        job.status = status
        job.details = dict(details)

    # --- the pipeline -----------------------------------------------------------------

    def run(self, requests_in_order: t.Iterable[ExportRequest]) -> t.Iterator[ExportFile]:
        """Yield each request's verified file, in order, keeping later jobs in flight.

        Jobs created by this run and not yet consumed are cancelled when the caller stops
        early (an error, a signal, or closing the generator), so they stop costing quota.
        """
        upcoming = iter(requests_in_order)
        in_flight: collections.deque[ExportJob] = collections.deque()
        exhausted = False
        try:
            while True:
                while not exhausted and len(in_flight) < self.max_jobs_in_flight:
                    request = next(upcoming, None)
                    if request is None:
                        exhausted = True
                    else:
                        in_flight.append(self.create(request))
                if not in_flight:
                    return
                head = self._wait_until_completed(in_flight)
                export_file = self.download(head)
                in_flight.popleft()
                try:
                    yield export_file
                finally:
                    export_file.remove()
        finally:
            for job in in_flight:
                self.cancel(job)

    def _enqueue_waiting(self, in_flight: t.Iterable[ExportJob]) -> None:
        """Queue created jobs in order, stopping at the first that finds the queue full."""
        for job in in_flight:
            if not job.enqueued and not self.enqueue(job):
                return

    def _wait_until_completed(self, in_flight: collections.deque[ExportJob]) -> ExportJob:
        """Poll the first job until it completes; recreate it if it fails, a few times."""
        while True:
            head = in_flight[0]
            self._enqueue_waiting(in_flight)
            if head.enqueued:
                status = self.refresh(head)
                if status == "Completed":
                    return head
                if status in {"Failed", "Cancelled"}:
                    in_flight[0] = self._replace_failed(head)
                    continue
            waited = self.clock() - head.created_at
            if waited > self.job_timeout:
                where = "queued behind other jobs" if head.enqueued else "waiting for queue room"
                msg = (
                    f"Export {head.request.describe()} ({head.export_id}) did not complete "
                    f"within job_timeout_seconds={self.job_timeout:.0f} (last status "
                    f"{head.status}, {where}); it was cancelled. Raise job_timeout_seconds or "
                    "check the bulk queue in Marketo for jobs of other integrations."
                )
                self.cancel(head)
                raise errors.ExportFailed(msg)
            self.sleep(self.poll_interval)

    def _replace_failed(self, job: ExportJob) -> ExportJob:
        reason = job.details.get("errorMsg") or "no errorMsg given"
        if job.attempt >= self.max_job_attempts:
            msg = (
                f"Export {job.request.describe()} ({job.export_id}) ended {job.status} "
                f"{job.attempt} times; Marketo says: {reason}"
            )
            raise errors.ExportFailed(msg)
        LOGGER.warning(
            "Export %s %s ended %s (%s); creating it again (attempt %d of %d)",
            job.request.describe(),
            job.export_id,
            job.status,
            reason,
            job.attempt + 1,
            self.max_job_attempts,
        )
        return self.create(job.request, attempt=job.attempt + 1)

    # --- files ------------------------------------------------------------------------

    def download(self, job: ExportJob) -> ExportFile:
        """Download a Completed job's file to a temporary file and verify it.

        The size and ``sha256`` checksum are checked before any record can be read, so a
        truncated or corrupted transfer never reaches the target. A dropped connection resumes
        with ``Range``; a checksum mismatch downloads the whole file once more.
        """
        details = job.details
        records = int(details.get("numberOfRecords", -1))
        file_format = str(details.get("format") or job.request.body.get("format") or "CSV")
        if records == 0:
            return ExportFile(job.request, job.export_id, None, 0, 0, file_format)
        expected_size = details.get("fileSize")
        expected_sum = details.get("fileChecksum")
        fd, name = tempfile.mkstemp(
            prefix=f"marketo-{job.request.entity.replace('/', '-')}-{job.export_id}-",
            suffix=f".{file_format.lower()}",
            dir=self.temp_dir,
        )
        os.close(fd)
        path = Path(name)
        try:
            for attempt in (1, 2):
                digest, size = self._fetch(job, path)
                problem = _verification_problem(digest, size, expected_sum, expected_size)
                if problem is None:
                    break
                if attempt == 2:
                    msg = f"Export {job.export_id}: {problem} after downloading twice"
                    raise errors.ChecksumMismatch(msg)
                LOGGER.warning("Export %s: %s; downloading it again", job.export_id, problem)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        self.bytes_downloaded += size
        LOGGER.info(
            "Export %s %s: downloaded %d bytes, %s records, checksum %s",
            job.request.describe(),
            job.export_id,
            size,
            records if records >= 0 else "?",
            "verified" if expected_sum else "not given by Marketo",
        )
        return ExportFile(job.request, job.export_id, path, records, size, file_format)

    def _fetch(self, job: ExportJob, path: Path) -> tuple[str, int]:
        """Write the file to ``path``, resuming with ``Range`` after a dropped connection."""
        digest = hashlib.sha256()
        written = 0
        expected_size = job.details.get("fileSize")
        resumes = 0
        with path.open("wb") as out:
            while True:
                response = self.client.open_download(job.path("file.json"), written)
                if written and response.status_code == 200:
                    out.seek(0)
                    out.truncate()
                    digest = hashlib.sha256()
                    written = 0
                try:
                    for chunk in response.iter_content(DOWNLOAD_CHUNK_BYTES):
                        out.write(chunk)
                        digest.update(chunk)
                        written += len(chunk)
                except (requests.RequestException, OSError) as exc:
                    resumes += 1
                    if resumes > MAX_DOWNLOAD_RESUMES:
                        msg = f"Export {job.export_id}: download kept dropping ({type(exc).__name__})"
                        raise errors.TransientServerError(msg) from None
                    LOGGER.warning(
                        "Export %s: download dropped after %d bytes (%s); resuming with Range",
                        job.export_id,
                        written,
                        type(exc).__name__,
                    )
                    continue
                finally:
                    response.close()
                if expected_size is not None and written < int(expected_size):
                    resumes += 1
                    if resumes > MAX_DOWNLOAD_RESUMES:
                        break
                    continue
                break
        return f"sha256:{digest.hexdigest()}", written


def _verification_problem(
    digest: str,
    size: int,
    expected_sum: str | None,
    expected_size: t.Any,
) -> str | None:
    """Why a downloaded file cannot be trusted, or None when it matches Marketo's figures."""
    if expected_size is not None and size != int(expected_size):
        return f"size {size} bytes differs from Marketo's fileSize {expected_size}"
    if expected_sum and digest.lower() != str(expected_sum).lower():
        return f"checksum {digest} differs from Marketo's fileChecksum {expected_sum}"
    return None
