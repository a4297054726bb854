"""Finding the jobs an interrupted run left at Marketo, so none is created (and paid) twice.

Two kinds of trace reach the next run through STATE:

- a job in flight (export id and request key): asked for its status and used again while
  Marketo still has it and its file;
- a create intent (request key, format, Marketo's time just before the create call),
  written before every create: if the run died after Marketo created the job but before the
  STATE line naming it, the job's id was never seen. Marketo's job list
  (``GET /bulk/v1/{entity}/export.json``) says of each job only its id, format, status,
  dates, counts and checksum: nothing of its filter or fields. So an intent is matched to a
  listed job only when exactly one job can be it: status ``Created`` (the lost answer means
  nobody ever enqueued it), the intent's format, created between the intent and this run's
  start, and no export id this run or its STATE knows. Several such jobs (another tool of the
  same API user creating jobs at that moment) match none, and a new job is created:
  correctness first, then quota. A job adopted this way has its file's header checked against
  the requested fields before any record is read.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import typing as t

from tap_marketo_bulk import errors, interrupts
from tap_marketo_bulk.exports.model import STANDARD_ENTITIES, CreateIntent, ExportJob, ExportRequest
from tap_marketo_bulk.windows import format_timestamp, parse_marketo_datetime, parse_timestamp

if t.TYPE_CHECKING:
    from tap_marketo_bulk.exports.jobs import ExportJobs

LOGGER = logging.getLogger("tap_marketo_bulk.exports")
#: Statuses of a job worth using again; a Completed one only while its file exists.
REUSABLE_STATES = frozenset({"Created", "Queued", "Processing", "Completed"})
#: Create calls tried for one job when Marketo's answer is lost or refused for now.
CREATE_TRIES = 8
#: Slack for Marketo's clock against its ``Date`` header (whole seconds, truncated).
CLOCK_SLACK = dt.timedelta(seconds=2)


class JobRecovery:
    """Earlier runs' jobs (by id) and create intents (by request key), resolved once each."""

    def __init__(
        self,
        jobs: ExportJobs,
        known_jobs: t.Iterable[t.Mapping[str, str]] = (),
        intents: t.Iterable[t.Mapping[str, str]] = (),
        *,
        run_started: dt.datetime | None = None,
        sleep: t.Callable[[float], None] = time.sleep,
    ) -> None:
        self.jobs = jobs
        self.sleep = sleep
        #: Request key -> STATE entry of a job an earlier run had in flight.
        self.known = {entry["key"]: dict(entry) for entry in known_jobs if entry.get("exportId")}
        #: Request key -> STATE entry of a create an earlier run may have completed unseen.
        self.intents = {entry["key"]: dict(entry) for entry in intents if entry.get("notBefore")}
        #: Export ids nobody may adopt from the list: every id STATE or this run knows.
        self.claimed = {entry["exportId"] for entry in self.known.values()}
        #: When this run started, in Marketo's time: no job of an earlier run is newer.
        self.run_started = run_started or jobs.client.marketo_now()

    def attach(self, request: ExportRequest) -> ExportJob | None:
        """The earlier run's job for this request, if Marketo still has it; else None."""
        key = request.key()
        entry = self.known.pop(key, None)
        intent = self.intents.pop(key, None)
        if entry is not None:
            job = self._known_job(request, entry)
            if job is not None:
                return job
        if intent is not None:
            return self.adopt(request, intent)
        return None

    def _known_job(self, request: ExportRequest, entry: t.Mapping[str, t.Any]) -> ExportJob | None:
        export_id = str(entry["exportId"])
        job = ExportJob(request, export_id, status="Unknown", created_at=self.jobs.clock())
        job.adopted = bool(entry.get("adopted"))
        try:
            self.jobs.refresh(job)
        except (errors.NotFound, errors.InvalidRequest) as exc:
            job.status = f"gone ({exc})"
        if job.status in REUSABLE_STATES and (job.status != "Completed" or self.jobs.file_exists(job)):
            job.enqueued = job.status != "Created"
            self.jobs.spend.reattached(request.entity)
            LOGGER.info(
                "Export %s %s: re-attached (%s) from the last run's STATE", request.describe(), export_id, job.status
            )
            return job
        LOGGER.info(
            "Export %s %s from the last run's STATE is %s; creating a new one",
            request.describe(),
            export_id,
            job.status,
        )
        return None

    def adopt(
        self,
        request: ExportRequest,
        intent: t.Mapping[str, str],
        until: dt.datetime | None = None,
        *,
        own: bool = False,
    ) -> ExportJob | None:
        """The one listed job that can be the intent's, or None (see the module docstring)."""
        not_before = parse_timestamp(intent["notBefore"]) - CLOCK_SLACK
        until = until or self.run_started
        candidates = []
        for listed in self.jobs.listed(request.entity, ["Created"]):
            export_id = str(listed.get("exportId") or "")
            created = listed.get("createdAt")
            if not export_id or export_id in self.claimed or not created or listed.get("status") != "Created":
                continue  # the status filter is checked here too: how Marketo matches it is not documented
            if str(listed.get("format") or "CSV").upper() != intent.get("format", "CSV").upper():
                continue
            try:
                created_at = parse_marketo_datetime(created)
            except ValueError:
                continue  # a date we cannot read cannot tell us it is ours
            if not_before <= created_at <= until + CLOCK_SLACK:
                candidates.append(listed)
        if len(candidates) != 1:
            if candidates:
                LOGGER.warning(
                    "Export %s: %d unknown jobs were created since the create call whose answer was lost "
                    "(%s), so none can be told to be its job; creating a new one",
                    request.describe(),
                    len(candidates),
                    ", ".join(str(c["exportId"]) for c in candidates),
                )
            return None
        job = self.jobs.job(request, candidates[0])
        job.adopted = True
        self.claimed.add(job.export_id)
        if own:  # this run's create, whose answer was lost
            self.jobs.spend.jobs_created[request.entity] += 1
            how = "created by this run (its answer was lost), found in Marketo's job list"
        else:
            self.jobs.spend.reattached(request.entity)
            how = (
                "re-attached from Marketo's job list (created after the last run's create call, whose "
                "answer it never received)"
            )
        LOGGER.info("Export %s %s: %s", request.describe(), job.export_id, how)
        return job

    def create(
        self,
        request: ExportRequest,
        creating: list[CreateIntent],
        changed: t.Callable[[], None],
        attempt: int = 1,
    ) -> ExportJob:
        """Create the request's job, its intent in ``creating`` and in STATE (``changed``) first.

        A refusal for now (rate limit) is tried again; a lost answer (timeout, 5xx) first
        looks in Marketo's job list for the job it may have created. A refusal that leaves no
        job (a bad body, a quota) takes the intent out of STATE again; a lost answer after
        the last try leaves it there, for the next run to look for the job.
        """
        intent = intent_for(request, self.jobs.client.marketo_now())
        creating[:] = [intent]
        changed()
        tries = 0
        while True:
            tries += 1
            try:
                job = self.jobs.create(request, attempt)
            except errors.RateLimited as exc:
                problem: errors.MarketoError = exc
            except errors.TransientServerError as exc:
                found = self.adopt(request, intent.state_entry(), until=self.jobs.client.marketo_now(), own=True)
                if found is not None:
                    creating.clear()
                    return found
                problem = exc
            except errors.MarketoError:
                creating.clear()
                changed()
                raise
            else:
                self.claimed.add(job.export_id)
                creating.clear()
                return job
            if tries < CREATE_TRIES:
                LOGGER.warning("Export %s: create failed (%s); trying again", request.describe(), problem)
                self._back_off(min(2.0**tries, 60.0))
            if tries == CREATE_TRIES or interrupts.requested():
                raise problem  # the intent stays: the next run looks for the job it may have made

    def _back_off(self, seconds: float) -> None:
        """Wait before the next create, in steps of at most a second so that a stop request
        (SIGTERM) ends the wait at once: the intent is in STATE already."""
        while seconds > 0 and not interrupts.requested():
            step = min(seconds, 1.0)
            self.sleep(step)
            seconds -= step

    def cancel_leftovers(self) -> None:
        """Cancel the earlier runs' jobs no request of this run used, so none keeps room in
        the 10-job queue. Unresolved intents are dropped: a job they may have created was
        never enqueued, takes no queue room, and cannot be told from another tool's."""
        for entry in self.known.values():
            entities = [entry["entity"]] if entry.get("entity") else list(STANDARD_ENTITIES)
            if any(self.jobs.cancel_by_id(entity, entry["exportId"]) for entity in entities):
                LOGGER.info("Cancelled export %s left over from an earlier run", entry["exportId"])
        self.known.clear()
        self.intents.clear()


def intent_for(request: ExportRequest, marketo_now: dt.datetime) -> CreateIntent:
    """The intent written before creating ``request``'s job (``notBefore`` to the second)."""
    return CreateIntent(request, format_timestamp(marketo_now))
