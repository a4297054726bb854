"""ExportRunner: export jobs kept in flight within Marketo's limits, files handed back in order.

It takes export requests in the order their records must be emitted and yields each one's
verified file in that order, while the next requests' jobs are already created and queued at
Marketo (up to ``max_jobs_in_flight``). Marketo processes them while the caller reads the
current file, so a backfill costs about the processing time, not the sum of processing,
polling and reading.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import itertools
import logging
import time
import typing as t

from tap_marketo_bulk import errors, interrupts
from tap_marketo_bulk.exports.downloads import Downloads
from tap_marketo_bulk.exports.jobs import ExportJobs
from tap_marketo_bulk.exports.model import CreateIntent, ExportFile, ExportJob, ExportRequest
from tap_marketo_bulk.exports.recovery import JobRecovery
from tap_marketo_bulk.exports.spend import ExportSpend
from tap_marketo_bulk.records.reader import read_header

if t.TYPE_CHECKING:
    from tap_marketo_bulk.marketo.client import MarketoClient

LOGGER = logging.getLogger("tap_marketo_bulk.exports")
#: Daily quotas: the run stops cleanly, after delivering what was already under way.
QUOTA_ERRORS = (errors.ExportQuotaExhausted, errors.DailyCallQuotaExhausted)
#: A job that takes long is reported at least this often, so a user sees the run is alive.
PROGRESS_LOG_SECONDS = 60.0
#: STATE of the jobs in flight and the create intents, handed to ``on_change``.
OnChange = t.Callable[[list[dict], list[dict]], None]


@dataclasses.dataclass
class ExportRunner:
    """Schedules export jobs for a run and yields their verified files in request order.

    Why this class is long: its loop, its wait for the first job and its clean-up share the
    deque of jobs in flight and the held-back quota stop; the calls, downloads, recovery and
    spend it schedules each live in their own module already.
    """

    client: MarketoClient
    poll_interval: float = 60.0
    job_timeout: float = 3 * 3600.0
    max_jobs_in_flight: int = 2
    temp_dir: dataclasses.InitVar[str | None] = None
    max_job_attempts: int = 3
    sleep: t.Callable[[float], None] = time.sleep
    clock: t.Callable[[], float] = time.monotonic
    export_budget_bytes: dataclasses.InitVar[int | None] = None
    _quota_stop: errors.MarketoError | None = None
    #: When this run's first export began, in Marketo's time: no earlier run's job is newer.
    _run_started: dt.datetime | None = None
    #: The jobs in flight of the run under way (see :meth:`jobs_ahead`).
    _in_flight: collections.deque[ExportJob] = dataclasses.field(default_factory=collections.deque)

    def __post_init__(self, temp_dir: str | None, export_budget_bytes: int | None) -> None:
        self.spend = ExportSpend(budget_bytes=export_budget_bytes)
        self.jobs = ExportJobs(self.client, self.spend, self.clock)
        self.downloads = Downloads(self.client, self.spend, temp_dir)

    def run(
        self,
        requests_in_order: t.Iterable[ExportRequest],
        *,
        known_jobs: t.Iterable[t.Mapping[str, str]] = (),
        intents: t.Iterable[t.Mapping[str, str]] = (),
        on_change: OnChange | None = None,
    ) -> t.Iterator[ExportFile]:
        """Yield each request's verified file, in order, keeping later jobs in flight.

        ``known_jobs`` and ``intents`` are the STATE entries of an interrupted earlier run
        (see :mod:`tap_marketo_bulk.exports.recovery`): their jobs are used again instead of spending
        quota twice. ``on_change`` gets the STATE entries of jobs in flight and of create
        intents whenever they change; a job leaves them only after the caller consumed its
        file. Jobs not yet consumed are cancelled when the caller stops early (an error, a
        signal, or closing the generator), so they stop taking queue room. The earlier run's
        jobs that no request used are cancelled only when every request was served: a run that
        stops early (a quota, a refused filter the caller retries with another) leaves them in
        STATE for the attempt or run that follows.
        """
        if self._run_started is None:  # one cut-off for the whole run, in Marketo's time
            self._run_started = self.client.marketo_now()
        recovery = JobRecovery(self.jobs, known_jobs, intents, run_started=self._run_started, sleep=self.sleep)
        in_flight: collections.deque[ExportJob] = collections.deque()
        self._in_flight = in_flight
        creating: list[CreateIntent] = []

        def changed() -> None:
            if on_change is None:
                return
            # An earlier run's traces not used yet stay in STATE until this run ends: a later
            # request, or the caller's retry with another filter, may still need them.
            jobs = [job.state_entry() for job in in_flight] + list(recovery.known.values())
            on_change(jobs, [intent.state_entry() for intent in creating] + list(recovery.intents.values()))

        keep_created = served = False
        self._quota_stop = None
        try:
            yield from self._pipeline(iter(requests_in_order), in_flight, recovery, creating, changed)
            served = True
        except QUOTA_ERRORS as exc:
            exc.args = (f"{exc.args[0]} {self.spend.usage()}",)
            # Jobs never queued cost nothing and STATE lists them: the next run, after the
            # quota resets, re-attaches to them.
            keep_created = True
            raise
        finally:
            with interrupts.held():
                for job in in_flight:
                    if not (keep_created and job.status == "Created"):
                        self.jobs.cancel(job)
                if served and (recovery.known or recovery.intents):
                    recovery.cancel_leftovers()
                    changed()  # STATE without them

    def jobs_ahead(self) -> int:
        """Jobs created at Marketo ahead of the file being read (queued or processing while it
        is read), for the progress lines of a backfill."""
        return max(len(self._in_flight) - 1, 0)

    def _pipeline(
        self,
        upcoming: t.Iterator[ExportRequest],
        in_flight: collections.deque[ExportJob],
        recovery: JobRecovery,
        creating: list[CreateIntent],
        changed: t.Callable[[], None],
    ) -> t.Iterator[ExportFile]:
        """Keep up to ``max_jobs_in_flight`` jobs ahead; yield files in request order.

        A consumed job leaves STATE in the same message that lists its successor, so no STATE
        shows a gap in which a job exists at Marketo but not yet in STATE.
        """
        exhausted = consumed = False
        while True:
            while not exhausted and self._quota_stop is None and len(in_flight) < self.max_jobs_in_flight:
                request = next(upcoming, None)
                if request is None:
                    exhausted = True
                    break
                with interrupts.held():
                    job = recovery.attach(request)  # re-using a job spends nothing new
                    if job is None and not self.spend.within_budget(len(in_flight)):
                        if not in_flight:
                            if consumed:
                                changed()  # the consumed job leaves STATE before the stop
                            raise self.spend.budget_reached(request)
                        upcoming = itertools.chain([request], upcoming)
                        break
                    in_flight.append(job or recovery.create(request, creating, changed))
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
            export_file = self._completed_file(in_flight, recovery, creating, changed)
            try:
                yield export_file
            finally:
                export_file.remove()
            in_flight.popleft()
            consumed = True

    def _completed_file(
        self,
        in_flight: collections.deque[ExportJob],
        recovery: JobRecovery,
        creating: list[CreateIntent],
        changed: t.Callable[[], None],
    ) -> ExportFile:
        """Wait for the first job and download its file; recreate it if the file is gone or
        an adopted job's file is not the one requested."""
        while True:
            head = self._wait_until_completed(in_flight, recovery, creating, changed)
            try:
                export_file = self.downloads.download(head)
            except errors.NotFound:
                LOGGER.warning(
                    "Export %s %s: Completed but its file is gone (expired); creating it again",
                    head.request.describe(),
                    head.export_id,
                )
            else:
                if not head.adopted or _header_matches(export_file):
                    return export_file
                export_file.remove()
                LOGGER.warning(
                    "Export %s %s: the job adopted from Marketo's list has other columns than requested; "
                    "creating the job again",
                    head.request.describe(),
                    head.export_id,
                )
            with interrupts.held():
                in_flight[0] = recovery.create(head.request, creating, changed, attempt=head.attempt + 1)
                changed()

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
                if not self.jobs.enqueue(job):
                    return
            except QUOTA_ERRORS as exc:
                if job is in_flight[0]:
                    raise
                self._quota_stop = exc
                return

    def _wait_until_completed(
        self,
        in_flight: collections.deque[ExportJob],
        recovery: JobRecovery,
        creating: list[CreateIntent],
        changed: t.Callable[[], None],
    ) -> ExportJob:
        """Poll the first job until it completes; recreate it if it fails, a few times."""
        while True:
            head = in_flight[0]
            self._enqueue_waiting(in_flight)
            if head.enqueued:
                status = self.jobs.refresh(head)
                if status == "Completed":
                    return head
                if status in {"Failed", "Cancelled"}:
                    self._check_attempts(head)
                    with interrupts.held():
                        in_flight[0] = recovery.create(head.request, creating, changed, head.attempt + 1)
                        changed()
                    continue
            waited = self.clock() - head.created_at
            if waited > self.job_timeout:
                msg = _timeout_message(head, self.job_timeout)
                self.jobs.cancel(head)
                raise errors.ExportFailed(msg)
            if self.clock() - head.last_progress_log >= PROGRESS_LOG_SECONDS:
                head.last_progress_log = self.clock()
                LOGGER.info(
                    "Export %s %s: still %s after %.0f s; %d export jobs in flight",
                    head.request.describe(),
                    head.export_id,
                    head.status if head.enqueued else "waiting for queue room",
                    waited,
                    len(in_flight),
                )
            self.sleep(self.poll_interval)

    def _check_attempts(self, job: ExportJob) -> None:
        """Give up on a request whose job failed too often; else say it is created again."""
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


def _timeout_message(job: ExportJob, timeout: float) -> str:
    where = {"Created": ", waiting for room in the bulk queue", "Queued": ", queued behind other jobs"}.get(
        job.status, ""
    )
    return (
        f"Export {job.request.describe()} ({job.export_id}) did not complete "
        f"within job_timeout_seconds={timeout:.0f} (last status "
        f"{job.status}{where}); it was cancelled. Raise job_timeout_seconds or "
        "check the bulk queue in Marketo for jobs of other integrations."
    )


def _header_matches(export_file: ExportFile) -> bool:
    """Whether a file's header holds exactly the request's columns (checked for adopted jobs,
    whose filter and fields Marketo's list does not show)."""
    if export_file.path is None:
        return True
    try:
        header = read_header(export_file.path, export_file.file_format)
    except errors.MalformedExportFile:
        return False
    return sorted(header or []) == sorted(export_file.request.file_columns())
