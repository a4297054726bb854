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
import itertools
import json
import logging
import os
import tempfile
import time
import typing as t
from pathlib import Path

import requests
import urllib3

from tap_marketo_bulk import errors, interrupts
from tap_marketo_bulk.types import parse_marketo_datetime
from tap_marketo_bulk.windows import Window

if t.TYPE_CHECKING:
    from tap_marketo_bulk.client import MarketoClient

LOGGER = logging.getLogger("tap_marketo_bulk.exports")

FINAL_STATES = frozenset({"Completed", "Failed", "Cancelled"})
#: Daily quotas: the run stops cleanly, after delivering what was already under way.
QUOTA_ERRORS = (errors.ExportQuotaExhausted, errors.DailyCallQuotaExhausted)
DOWNLOAD_CHUNK_BYTES = 1 << 20
#: A job that takes long is reported at least this often, so a user sees the run is alive.
PROGRESS_LOG_SECONDS = 60.0
#: How often a dropped download is resumed before giving up.
MAX_DOWNLOAD_RESUMES = 10


@dataclasses.dataclass(frozen=True)
class ExportRequest:
    """What one export job extracts: the bulk entity path, the create body, its window."""

    entity: str  # "leads", "activities" or "program/members"
    body: dict[str, t.Any]
    window: Window | None = None
    label: str = ""

    def key(self) -> str:
        """Stable identity of what this job exports, to find its job again after a restart.

        Two requests with the same entity and body export the same records, so a job created
        for one can serve the other; a changed selection or filter gives a different key.
        """
        canonical = json.dumps([self.entity, self.body], sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:20]

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
    #: When a "still waiting" line was last logged, so long waits show progress each minute.
    last_progress_log: float = 0.0

    def __post_init__(self) -> None:
        self.last_progress_log = self.last_progress_log or self.created_at

    def path(self, action: str) -> str:
        """URL path of one lifecycle call (``enqueue.json``, ``status.json``, ...)."""
        return f"/bulk/v1/{self.request.entity}/export/{self.export_id}/{action}"

    def state_entry(self) -> dict[str, str]:
        """What STATE keeps of a job in flight, to re-attach to it after an interruption."""
        entry = {"exportId": self.export_id, "key": self.request.key()}
        if self.request.window:
            entry["window"] = str(self.request.window)
        return entry


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
    #: Stop before a job that would take this run's downloads past this many bytes.
    export_budget_bytes: int | None = None
    #: Jobs this run created: per entity, for the end-of-run summary.
    jobs_created: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    #: Jobs of an earlier run picked up again instead of being created anew.
    jobs_reattached: int = 0
    bytes_downloaded: int = 0
    largest_file: int = 0
    _quota_stop: errors.MarketoError | None = None

    # --- lifecycle calls --------------------------------------------------------------

    def create(self, request: ExportRequest, attempt: int = 1) -> ExportJob:
        """Create the job (status ``Created``); Marketo validates the body here."""
        path = f"/bulk/v1/{request.entity}/export/create.json"
        result = first_result(self.client.post(path, request.body), path)
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
        self._update(job, first_result(envelope, job.path("enqueue.json")))
        return True

    def refresh(self, job: ExportJob) -> str:
        """Ask Marketo for the job's status and remember the details."""
        envelope = self.client.get(job.path("status.json"))
        self._update(job, first_result(envelope, job.path("status.json")))
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

    def run(
        self,
        requests_in_order: t.Iterable[ExportRequest],
        *,
        known_jobs: t.Mapping[str, str] | None = None,
        on_change: t.Callable[[list[ExportJob]], None] | None = None,
    ) -> t.Iterator[ExportFile]:
        """Yield each request's verified file, in order, keeping later jobs in flight.

        ``known_jobs`` maps request keys to export ids of an interrupted earlier run: those
        jobs are used again when Marketo still has them, instead of spending quota twice.
        ``on_change`` gets the jobs in flight whenever that list changes, so the caller can
        keep it in STATE; a job leaves the list only after the caller consumed its file.
        Jobs not yet consumed are cancelled when the caller stops early (an error, a signal,
        or closing the generator), so they stop taking queue room.
        """
        upcoming = iter(requests_in_order)
        in_flight: collections.deque[ExportJob] = collections.deque()
        reusable = dict(known_jobs or {})

        def changed() -> None:
            if on_change is not None:
                on_change(list(in_flight))

        keep_created = False
        keep_reusable = False
        self._quota_stop = None
        try:
            yield from self._pipeline(upcoming, in_flight, reusable, changed)
        except QUOTA_ERRORS as exc:
            exc.args = (f"{exc.args[0]} {self.usage()}",)
            # Jobs never queued cost nothing and STATE lists them: the next run, after the
            # quota resets, re-attaches to them.
            keep_created = True
            raise
        except errors.UnsupportedFilter:
            # The stream retries with another filter: the earlier run's jobs may be its own.
            keep_reusable = True
            raise
        finally:
            with interrupts.held():
                for job in in_flight:
                    if not (keep_created and job.status == "Created"):
                        self.cancel(job)
                if not keep_reusable:
                    for export_id in reusable.values():
                        self._cancel_stale(export_id)

    def used_today_mb(self, entity: str) -> float | None:
        """Export MB this API user's Completed jobs of ``entity`` used since midnight US Central.

        From the job list (past 7 days, this API user's jobs only): the daily export quota
        counts the same ``fileSize``. None when the list cannot be read; it is only reported.
        """
        since = errors.quota_day_start()
        total = 0
        token: str | None = None
        try:
            while True:
                params: dict[str, t.Any] = {"status": "Completed", "batchSize": 300}
                if token:
                    params["nextPageToken"] = token
                envelope = self.client.get(f"/bulk/v1/{entity}/export.json", params)
                for job in envelope.get("result") or []:
                    finished = job.get("finishedAt")
                    if finished and parse_marketo_datetime(finished) >= since:
                        total += int(job.get("fileSize") or 0)
                token = envelope.get("nextPageToken")
                if not envelope.get("moreResult") or not token:
                    return total / 1_000_000
        except (errors.MarketoError, ValueError) as exc:
            LOGGER.info("Could not read today's export usage for %s: %s", entity, exc)
            return None

    def usage(self) -> str:
        """What this run spent, for quota messages and the end-of-run summary."""
        jobs = sum(self.jobs_created.values())
        return (
            f"This run downloaded {self.bytes_downloaded / 1_000_000:.1f} MB from {jobs} new "
            f"export jobs ({self.jobs_reattached} re-attached)."
        )

    def _pipeline(
        self,
        upcoming: t.Iterator[ExportRequest],
        in_flight: collections.deque[ExportJob],
        reusable: dict[str, str],
        changed: t.Callable[[], None],
    ) -> t.Iterator[ExportFile]:
        """Keep up to ``max_jobs_in_flight`` jobs ahead; yield files in request order.

        A consumed job leaves STATE in the same message that lists its successor, so no STATE
        shows a gap in which a job exists at Marketo but not yet in STATE.
        """
        exhausted = False
        consumed = False
        while True:
            while not exhausted and self._quota_stop is None and len(in_flight) < self.max_jobs_in_flight:
                request = next(upcoming, None)
                if request is None:
                    exhausted = True
                    break
                if not self._within_budget(len(in_flight)):
                    if not in_flight:
                        raise self._budget_reached(request)
                    upcoming = itertools.chain([request], upcoming)
                    break
                with interrupts.held():
                    in_flight.append(self._attach_or_create(request, reusable))
                    changed()
                    consumed = False
            if consumed:
                changed()
                consumed = False
            if not in_flight:
                if self._quota_stop is not None:
                    raise self._quota_stop
                return
            if self._quota_stop is not None and not in_flight[0].enqueued:
                raise self._quota_stop
            export_file = self._completed_file(in_flight, changed)
            try:
                yield export_file
            finally:
                export_file.remove()
            in_flight.popleft()
            consumed = True

    def _completed_file(self, in_flight: collections.deque[ExportJob], changed: t.Callable[[], None]) -> ExportFile:
        """Wait for the first job and download its file; recreate it if the file is gone."""
        while True:
            head = self._wait_until_completed(in_flight, changed)
            try:
                return self.download(head)
            except errors.NotFound:
                LOGGER.warning(
                    "Export %s %s: Completed but its file is gone (expired); creating it again",
                    head.request.describe(),
                    head.export_id,
                )
                with interrupts.held():
                    in_flight[0] = self.create(head.request, attempt=head.attempt + 1)
                    changed()

    def _attach_or_create(self, request: ExportRequest, reusable: dict[str, str]) -> ExportJob:
        """Use the job an interrupted run left for this request if Marketo still has it."""
        export_id = reusable.pop(request.key(), None)
        if export_id:
            job = ExportJob(request, export_id, status="Unknown", created_at=self.clock())
            try:
                self.refresh(job)
            except (errors.NotFound, errors.InvalidRequest) as exc:
                job.status = f"gone ({exc})"
            if job.status in {"Created", "Queued", "Processing"} or (
                job.status == "Completed" and self._file_exists(job)
            ):
                job.enqueued = job.status != "Created"
                self.jobs_reattached += 1
                LOGGER.info(
                    "Export %s %s: re-attached (%s) from the last run's STATE",
                    request.describe(),
                    export_id,
                    job.status,
                )
                return job
            LOGGER.info(
                "Export %s %s from the last run's STATE is %s; creating a new one",
                request.describe(),
                export_id,
                job.status,
            )
        return self.create(request)

    def _file_exists(self, job: ExportJob) -> bool:
        """Whether a Completed job's file can still be downloaded (files expire after days)."""
        if int(job.details.get("numberOfRecords", -1)) == 0:
            return True
        try:
            response = self.client.open_download(job.path("file.json"), 0, probe=True)
        except errors.NotFound:
            return False
        response.close()
        return True

    def _cancel_stale(self, export_id: str) -> None:
        """An earlier run's job that no request needs any more: free its queue room."""
        for entity in ("leads", "activities", "program/members"):
            try:
                self.client.post(f"/bulk/v1/{entity}/export/{export_id}/cancel.json", retry=False)
            except errors.MarketoError:
                continue
            LOGGER.info("Cancelled export %s left over from an earlier run", export_id)
            return

    def _within_budget(self, jobs_in_flight: int) -> bool:
        """Whether one more job fits ``export_quota_budget_mb``, judged by sizes seen so far."""
        if self.export_budget_bytes is None:
            return True
        projected = self.bytes_downloaded + (jobs_in_flight + 1) * self.largest_file
        return projected <= self.export_budget_bytes

    def _budget_reached(self, request: ExportRequest) -> errors.ExportBudgetReached:
        used_mb = self.bytes_downloaded / 1_000_000
        budget_mb = (self.export_budget_bytes or 0) / 1_000_000
        msg = (
            f"export_quota_budget_mb={budget_mb:g} reached: this run downloaded {used_mb:.1f} MB "
            f"and the next export ({request.describe()}) would likely exceed it. The last STATE "
            "resumes from here; raise export_quota_budget_mb or run again after the quota resets."
        )
        return errors.ExportBudgetReached(msg)

    def _enqueue_waiting(self, in_flight: collections.deque[ExportJob]) -> None:
        """Queue created jobs in order, stopping at the first that finds the queue full.

        A daily quota refusal for a job behind the first is held back: the jobs ahead of it
        were queued before the quota ran out, so their files are delivered first.
        """
        for job in in_flight:
            if job.enqueued:
                continue
            if self._quota_stop is not None and job is not in_flight[0]:
                return
            try:
                if not self.enqueue(job):
                    return
            except QUOTA_ERRORS as exc:
                if job is in_flight[0]:
                    raise
                self._quota_stop = exc
                return

    def _wait_until_completed(
        self, in_flight: collections.deque[ExportJob], changed: t.Callable[[], None]
    ) -> ExportJob:
        """Poll the first job until it completes; recreate it if it fails, a few times."""
        while True:
            head = in_flight[0]
            self._enqueue_waiting(in_flight)
            if head.enqueued:
                status = self.refresh(head)
                if status == "Completed":
                    return head
                if status in {"Failed", "Cancelled"}:
                    with interrupts.held():
                        in_flight[0] = self._replace_failed(head)
                        changed()
                    continue
            waited = self.clock() - head.created_at
            if waited > self.job_timeout:
                where = {
                    "Created": ", waiting for room in the bulk queue",
                    "Queued": ", queued behind other jobs",
                }.get(head.status, "")
                msg = (
                    f"Export {head.request.describe()} ({head.export_id}) did not complete "
                    f"within job_timeout_seconds={self.job_timeout:.0f} (last status "
                    f"{head.status}{where}); it was cancelled. Raise job_timeout_seconds or "
                    "check the bulk queue in Marketo for jobs of other integrations."
                )
                self.cancel(head)
                raise errors.ExportFailed(msg)
            if self.clock() - head.last_progress_log >= PROGRESS_LOG_SECONDS:
                head.last_progress_log = self.clock()
                LOGGER.info(
                    "Export %s %s: still %s after %.0f s",
                    head.request.describe(),
                    head.export_id,
                    head.status if head.enqueued else "waiting for queue room",
                    waited,
                )
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
        try:
            fd, name = tempfile.mkstemp(
                prefix=f"marketo-{job.request.entity.replace('/', '-')}-{job.export_id}-",
                suffix=f".{file_format.lower()}",
                dir=self.temp_dir,
            )
        except OSError as exc:
            raise self._unwritable(job, exc) from None
        path = Path(name)
        try:
            # Written through mkstemp's own descriptor: opening the path again with "wb"
            # truncates it, and on ext4 a truncated file's blocks are allocated when it is
            # closed (auto_da_alloc), 40 ms for 148 MB, and its unlink takes 20 ms longer.
            with os.fdopen(fd, "wb") as out:
                for attempt in (1, 2):
                    if attempt == 2:
                        out.seek(0)
                        out.truncate()
                    digest, size = self._fetch(job, out)
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
        self.largest_file = max(self.largest_file, size)
        LOGGER.info(
            "Export %s %s: downloaded %d bytes, %s records, checksum %s",
            job.request.describe(),
            job.export_id,
            size,
            records if records >= 0 else "?",
            "verified" if expected_sum else "not given by Marketo",
        )
        return ExportFile(job.request, job.export_id, path, records, size, file_format)

    def _fetch(self, job: ExportJob, out: t.BinaryIO) -> tuple[str, int]:
        """Write the file over ``out``, resuming with ``Range`` after a dropped connection."""
        digest = hashlib.sha256()
        written = 0
        expected_size = job.details.get("fileSize")
        resumes = 0
        while True:
            response = self.client.open_download(job.path("file.json"), written)
            if written and response.status_code == 200:
                out.seek(0)
                out.truncate()
                digest = hashlib.sha256()
                written = 0
            try:
                # read1: whatever has arrived, so a drop loses nothing already received
                # (iter_content's full-size reads discard a partial chunk).
                raw = response.raw
                raw.decode_content = True
                while chunk := raw.read1(DOWNLOAD_CHUNK_BYTES):
                    try:
                        out.write(chunk)
                    except OSError as exc:  # the disk, not the connection: no retry helps
                        raise self._unwritable(job, exc) from None
                    digest.update(chunk)
                    written += len(chunk)
            except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
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

    def _unwritable(self, job: ExportJob, exc: OSError) -> errors.TempFileUnwritable:
        """The error for a file that cannot be created or written locally: a full disk or a
        missing folder is the user's to fix, and no retry of the download would help."""
        folder = self.temp_dir or tempfile.gettempdir()
        return errors.TempFileUnwritable(
            f"Export {job.export_id}: cannot write its file to {folder} ({exc.strerror or exc}). Free space "
            "there, or set temp_dir to a folder with room for the largest export file."
        )


def first_result(envelope: t.Mapping[str, t.Any], path: str) -> dict[str, t.Any]:
    """The job object of a bulk answer; an answer without one is Marketo's fault, said so."""
    result = envelope.get("result")
    if not result or not isinstance(result[0], dict):
        msg = f"{path}: Marketo answered success without a job in 'result'; retry the run later"
        raise errors.TransientServerError(msg)
    return result[0]


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
