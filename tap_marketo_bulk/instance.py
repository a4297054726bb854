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

#: Marketo's asset API page size limit.
ASSET_PAGE_SIZE = 200
#: The warning Marketo's asset API ends a listing with.
NO_ASSETS_WARNING = "No assets found"


class MarketoInstance:
    """The client, the export runner, the run's range end and the instance's describes."""

    def __init__(self, config: t.Mapping[str, t.Any]) -> None:
        self.config = config

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
    def lead_fields(self) -> list[dict]:
        """Exportable lead fields: ``{name, dataType}`` by REST name, from the lead describe."""
        describe = self.client.get("/rest/v1/leads/describe.json").get("result") or []
        fields: dict[str, dict] = {}
        for field in describe:
            name = (field.get("rest") or {}).get("name")
            data_type = str(field.get("dataType", "string"))
            if name and is_exportable(data_type) and name not in fields:
                fields[name] = {"name": name, "dataType": data_type}
        return list(fields.values())

    @functools.cached_property
    def activity_types(self) -> list[dict]:
        """Every activity type of the instance."""
        return self.client.get("/rest/v1/activities/types.json").get("result") or []

    @functools.cached_property
    def programs(self) -> list[dict]:
        """Every program, paging ``offset`` by 200 until the "No assets found" warning."""
        programs: list[dict] = []
        offset = 0
        while True:
            envelope = self.client.get("/rest/asset/v1/programs.json", {"offset": offset, "maxReturn": ASSET_PAGE_SIZE})
            page = envelope.get("result") or []
            programs.extend(page)
            warnings = " ".join(str(w) for w in envelope.get("warnings") or [])
            if not page or NO_ASSETS_WARNING in warnings or len(page) < ASSET_PAGE_SIZE:
                return programs
            offset += len(page)
