"""Marketo's export job calls: create, enqueue, status, cancel, and the job list.

One method per call of the bulk API (``/bulk/v1/{entity}/export/...``), each turning
Marketo's answer into the :class:`~tap_marketo_bulk.exports.model.ExportJob` this run keeps, and
counting what it creates for the end-of-run spend line.
"""

from __future__ import annotations

import logging
import time
import typing as t

from tap_marketo_bulk import errors
from tap_marketo_bulk.exports.model import FINAL_STATES, ExportJob, ExportRequest, first_result

if t.TYPE_CHECKING:
    from tap_marketo_bulk.exports.spend import ExportSpend
    from tap_marketo_bulk.marketo.client import MarketoClient

LOGGER = logging.getLogger("tap_marketo_bulk.exports")
#: The job list's largest page.
LIST_PAGE_SIZE = 300


class ExportJobs:
    """The lifecycle calls of export jobs, through the run's one client."""

    def __init__(
        self, client: MarketoClient, spend: ExportSpend, clock: t.Callable[[], float] = time.monotonic
    ) -> None:
        self.client = client
        self.spend = spend
        self.clock = clock

    def create(self, request: ExportRequest, attempt: int = 1) -> ExportJob:
        """Create the job (status ``Created``); Marketo validates the body here.

        Never retried blindly: an answer lost on the way back (a timeout, a 5xx) may hide a
        job Marketo did create, so the caller looks for it in the job list before trying
        again (:mod:`tap_marketo_bulk.exports.recovery`).
        """
        path = f"/bulk/v1/{request.entity}/export/create.json"
        result = first_result(self.client.post(path, request.body, retry=False), path)
        job = self.job(request, result, attempt=attempt)
        self.spend.jobs_created[request.entity] += 1
        LOGGER.info("Export %s %s: Created", request.describe(), job.export_id)
        return job

    def job(self, request: ExportRequest, result: t.Mapping[str, t.Any], attempt: int = 1) -> ExportJob:
        """This run's record of a job Marketo describes with ``result``."""
        status = str(result.get("status", "Created"))
        job = ExportJob(request, str(result["exportId"]), status=status, attempt=attempt, created_at=self.clock())
        job.enqueued = status not in {"Created", "Unknown"}
        job.details = dict(result)
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
        self.update(job, first_result(envelope, job.path("enqueue.json")))
        return True

    def refresh(self, job: ExportJob) -> str:
        """Ask Marketo for the job's status and remember the details."""
        envelope = self.client.get(job.path("status.json"))
        self.update(job, first_result(envelope, job.path("status.json")))
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

    def cancel_by_id(self, entity: str, export_id: str) -> bool:
        """Cancel a job known only by entity and id; False when Marketo refuses or lacks it."""
        try:
            self.client.post(f"/bulk/v1/{entity}/export/{export_id}/cancel.json", retry=False)
        except errors.MarketoError:
            return False
        return True

    def listed(
        self, entity: str, statuses: t.Iterable[str], *, retry: bool | t.Literal["rate_limits"] = True
    ) -> t.Iterator[dict[str, t.Any]]:
        """This API user's jobs of ``entity`` in these statuses (Marketo lists the past 7 days).

        ``retry="rate_limits"`` for a list only reported on: rate limits are waited out like
        every call's, but no backoff on failures delays the end of a run that failed.
        """
        token: str | None = None
        statuses = ",".join(statuses)
        while True:
            params: dict[str, t.Any] = {"status": statuses, "batchSize": LIST_PAGE_SIZE}
            if token:
                params["nextPageToken"] = token
            envelope = self.client.request("GET", f"/bulk/v1/{entity}/export.json", retry=retry, params=params)
            yield from (job for job in envelope.get("result") or [] if isinstance(job, dict))
            token = envelope.get("nextPageToken")
            if not envelope.get("moreResult") or not token:
                return

    def file_exists(self, job: ExportJob) -> bool:
        """Whether a Completed job's file can still be downloaded (files expire after days)."""
        if int(job.details.get("numberOfRecords", -1)) == 0:
            return True
        try:
            response = self.client.open_download(job.path("file.json"), 0, probe=True)
        except errors.NotFound:
            return False
        response.close()
        return True

    def update(self, job: ExportJob, details: t.Mapping[str, t.Any]) -> None:
        """Take Marketo's latest view of a job; a status change is logged."""
        status = details.get("status", job.status)
        if status != job.status:
            LOGGER.info(
                "Export %s %s: %s after %.0f s",
                job.request.describe(),
                job.export_id,
                status,
                self.clock() - job.created_at,
            )
        job.status = status
        job.details = dict(details)
