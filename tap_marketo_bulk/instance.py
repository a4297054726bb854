"""MarketoInstance: what every stream of one run shares about the Marketo instance it reads.

Marketo counts its limits per subscription, not per stream, so there is one HTTP client and
one export runner per run; the describe endpoints are read once and their answers kept. The
tap builds one instance and hands it to each stream it discovers: streams depend on this
object (and on the SDK's ``Tap``), never on the tap class, so no stream module imports
:mod:`tap_marketo_bulk.tap`.
"""

from __future__ import annotations

import datetime as dt
import functools
import typing as t

from tap_marketo_bulk import errors
from tap_marketo_bulk.exports.runner import ExportRunner
from tap_marketo_bulk.marketo.client import MarketoClient
from tap_marketo_bulk.records import batches
from tap_marketo_bulk.records.types import is_exportable
from tap_marketo_bulk.windows import format_timestamp, parse_timestamp, to_utc

if t.TYPE_CHECKING:
    from singer_sdk.helpers._batch import BatchConfig

T = t.TypeVar("T")
#: Marketo's asset API listing of programs.
PROGRAMS_PATH = "/rest/asset/v1/programs.json"


class MarketoInstance:
    """The client, the export runner, the run's range end, the instance's describes and the
    listings several streams read."""

    def __init__(self, config: t.Mapping[str, t.Any]) -> None:
        self.config = config
        #: When this run started: no bookmark may pass it (changes made after it are the next
        #: run's, whatever ``end_date`` says).
        self.started = to_utc(dt.datetime.now(dt.timezone.utc))
        #: Optional entities Marketo refused this run, by entity (see streams/optional.py).
        self.refused: dict[str, errors.Refusal] = {}
        self._said: set[str] = set()
        self._probed: dict[str, errors.Refusal | None] = {}
        self._read: dict[str, t.Any] = {}

    def once(self, key: str) -> bool:
        """True the first time ``key`` is asked this run: a warning is said once per run."""
        if key in self._said:
            return False
        self._said.add(key)
        return True

    def read_once(self, key: str, read: t.Callable[[], T]) -> T:
        """What ``read`` answers, read the first time ``key`` is asked for only: listings
        several streams use (the programs, the static lists) cost their calls once a run."""
        if key not in self._read:
            self._read[key] = read()
        return self._read[key]

    def probe(self, path: str, params: t.Mapping[str, t.Any] | None = None) -> None:
        """One call proving Marketo serves ``path`` (a refusal is raised), made once per run
        however many streams depend on it."""
        if path not in self._probed:
            try:
                self.client.get(path, params)
            except errors.Refusal as exc:
                self._probed[path] = exc
            else:
                self._probed[path] = None
        refusal = self._probed[path]
        if refusal is not None:
            raise refusal

    @functools.cached_property
    def client(self) -> MarketoClient:
        """The one HTTP client: Marketo's limits count per subscription, not per stream."""
        config = self.config
        return MarketoClient(
            config["base_url"],
            config["client_id"],
            config["client_secret"],
            timeout=float(config.get("request_timeout_seconds", 300)),
        )

    @functools.cached_property
    def exports(self) -> ExportRunner:
        """The export runner shared by every bulk stream, so jobs in flight are counted once."""
        config = self.config
        return ExportRunner(
            self.client,
            poll_interval=float(config.get("poll_interval_seconds", 60)),
            job_timeout=float(config.get("job_timeout_seconds", 10800)),
            max_jobs_in_flight=int(config.get("max_jobs_in_flight", 2)),
            temp_dir=config.get("temp_dir"),
            export_budget_bytes=(
                int(float(config["export_quota_budget_mb"]) * 1_000_000)
                if config.get("export_quota_budget_mb")
                else None
            ),
        )

    @functools.cached_property
    def batch_config(self) -> BatchConfig | None:
        """``batch_config``, checked: BATCH files instead of RECORD lines for bulk streams."""
        return batches.batch_config(self.config)

    @functools.cached_property
    def range_end(self) -> dt.datetime:
        """End of this run's range, for all streams: the earlier of ``end_date`` and the time
        the run started. A later ``end_date`` would move bookmarks past changes not made yet,
        and later runs would never extract them."""
        end = self.config.get("end_date")
        return min(parse_timestamp(end), self.started) if end else self.started

    def end_date_note(self) -> str | None:
        """The one line saying that ``end_date`` lies after the run's start, if it does."""
        end = self.config.get("end_date")
        if not end or parse_timestamp(end) <= self.started:
            return None
        return (
            f"end_date {end} is later than this run's start; the range ends at the start, "
            f"{format_timestamp(self.started)}, so that later runs extract what changes after it"
        )

    def bookmarks_after_start(self, state: t.Mapping[str, t.Any]) -> list[str]:
        """Bring bookmarks later than this run's start back to it; a warning for each.

        Earlier versions moved bookmarks to an ``end_date`` in the future, and resuming there
        would skip every change made until then. What changed between the run that wrote such
        a bookmark and that run's own start was never extracted: the warning says how to fetch
        it (set the bookmark back to that run's time).
        """
        warnings = []
        started = format_timestamp(self.started)
        for name, stream_state in (state.get("bookmarks") or {}).items():
            value = stream_state.get("replication_key_value") if isinstance(stream_state, dict) else None
            try:
                later = isinstance(value, str) and parse_timestamp(value) > self.started
            except ValueError:
                continue
            if later:
                stream_state["replication_key_value"] = started
                warnings.append(
                    f"{name}: STATE's bookmark {value} is later than this run's start (an end_date in the future?); "
                    f"resuming from {started}. Changes the run that wrote it did not see were never extracted: to "
                    "fetch them, set the bookmark back to that run's time."
                )
        return warnings

    @functools.cached_property
    def lead_describe(self) -> list[dict]:
        """The lead describe as Marketo answered it (the leads schema, the lead_fields stream)."""
        return self.client.get("/rest/v1/leads/describe.json").get("result") or []

    @functools.cached_property
    def lead_fields(self) -> list[dict]:
        """Exportable lead fields: ``{name, dataType}`` by REST name, from the lead describe."""
        fields: dict[str, dict] = {}
        for field in self.lead_describe:
            name = (field.get("rest") or {}).get("name")
            data_type = str(field.get("dataType", "string"))
            if name and is_exportable(data_type) and name not in fields:
                fields[name] = {"name": name, "dataType": data_type}
        return list(fields.values())

    @functools.cached_property
    def activity_types(self) -> list[dict]:
        """Every activity type of the instance."""
        return self.client.get("/rest/v1/activities/types.json").get("result") or []

    def probe_programs(self) -> None:
        """Whether Marketo serves programs (raises its refusal): a first page of one, asked
        once per run for every stream that needs the program list."""
        self.probe(PROGRAMS_PATH, {"offset": 0, "maxReturn": 1})
