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

from tap_marketo_bulk.exports.runner import ExportRunner
from tap_marketo_bulk.marketo.client import MarketoClient
from tap_marketo_bulk.records import batches
from tap_marketo_bulk.records.types import is_exportable
from tap_marketo_bulk.windows import parse_timestamp, to_utc

if t.TYPE_CHECKING:
    from singer_sdk.helpers._batch import BatchConfig

T = t.TypeVar("T")


class MarketoInstance:
    """The client, the export runner, the run's range end, the instance's describes and the
    listings several streams read."""

    def __init__(self, config: t.Mapping[str, t.Any]) -> None:
        self.config = config
        self._read_once: dict[str, t.Any] = {}

    def once(self, key: str, read: t.Callable[[], T]) -> T:
        """What ``read`` answers, read the first time ``key`` is asked for only: listings
        several streams use (the programs, the static lists) cost their calls once a run."""
        if key not in self._read_once:
            self._read_once[key] = read()
        return self._read_once[key]

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
        """End of this run's range: ``end_date`` or the time the run started, for all streams."""
        end = self.config.get("end_date")
        if end:
            return parse_timestamp(end)
        return to_utc(dt.datetime.now(dt.timezone.utc))

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
