"""TapMarketoBulk: settings, and discovery of the streams from Marketo's describe endpoints."""

from __future__ import annotations

import datetime as dt
import functools
import logging
import os
import signal
import sys
import typing as t

from singer_sdk import Stream, Tap
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers.capabilities import CapabilitiesEnum, PluginCapabilities, TapCapabilities

from tap_marketo_bulk import batches, errors, interrupts
from tap_marketo_bulk.client import MarketoClient
from tap_marketo_bulk.exports import ExportRunner
from tap_marketo_bulk.output import OrderedMsgSpecWriter
from tap_marketo_bulk.settings import SETTINGS_SCHEMA, retired_settings, settings_problems
from tap_marketo_bulk.streams.activities import (
    DELETE_LEAD_TYPE_ID,
    ActivitiesStream,
    ActivityFeed,
    ActivityTypeStream,
    activity_converters,
    activity_schema,
    snake_case,
)
from tap_marketo_bulk.streams.leads import LeadsStream
from tap_marketo_bulk.streams.program_members import ProgramMembersStream
from tap_marketo_bulk.streams.reference import (
    ActivityTypesStream,
    DeletedLeadsStream,
    ProgramsStream,
    list_programs,
)
from tap_marketo_bulk.types import converter, is_exportable, json_schema
from tap_marketo_bulk.windows import parse_timestamp, to_utc

if t.TYPE_CHECKING:
    import click
    from singer_sdk.helpers._batch import BatchConfig


class TapMarketoBulk(Tap):
    """Singer tap for Marketo's Bulk Extract API."""

    name = "tap-marketo-bulk"
    package_name = "tap-marketo-bulk"
    config_jsonschema = SETTINGS_SCHEMA
    #: Streams and schemas come from the instance's describe endpoints, so --discover needs
    #: valid settings: the SDK then validates them before discovery too.
    dynamic_catalog = True
    #: msgspec encoding, and RECORD lines of the fast path always written before STATE.
    message_writer_class = OrderedMsgSpecWriter
    #: The SDK's defaults. BATCH output of bulk streams is ours (tap_marketo_bulk.batches): the
    #: SDK's batch path gathers records apart from our per-window checkpoints.
    capabilities: t.ClassVar[list[CapabilitiesEnum]] = [
        TapCapabilities.CATALOG,
        TapCapabilities.STATE,
        TapCapabilities.DISCOVER,
        TapCapabilities.ACTIVATE_VERSION,
        PluginCapabilities.ABOUT,
        PluginCapabilities.BATCH,
        PluginCapabilities.STREAM_MAPS,
        PluginCapabilities.FLATTENING,
        PluginCapabilities.STRUCTURED_LOGGING,
    ]

    # --- settings ---------------------------------------------------------------------

    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """JSON-schema checks, then the checks a schema cannot say (ranges, URL, dates)."""
        problems = super()._validate_config(raise_errors=raise_errors)
        if problems:
            return problems
        for warning in retired_settings(self.config):
            self.logger.warning(warning)
        problems = settings_problems(self.config)
        if problems and raise_errors:
            raise ConfigValidationError("Config validation failed", errors=problems, schema=self.config_jsonschema)
        return problems

    # --- shared services: one client and one export runner for the whole tap ----------

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
    def batch_config(self) -> BatchConfig | None:
        """``batch_config``, checked: BATCH files instead of RECORD lines for bulk streams."""
        return batches.batch_config(self.config)

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
    def range_end(self) -> dt.datetime:
        """End of this run's range: ``end_date`` or the time the run started, for all streams."""
        end = self.config.get("end_date")
        if end:
            return parse_timestamp(end)
        return to_utc(dt.datetime.now(dt.timezone.utc))

    # --- what Marketo describes, fetched once per run -----------------------------------

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
        """Every program of the instance (asset API, paged)."""
        return list_programs(self)

    @functools.cached_property
    def program_ids_to_export(self) -> list[int]:
        """``program_ids``, checked against the instance, or every program."""
        known = [int(program["id"]) for program in self.programs]
        wanted = self.config.get("program_ids")
        if not wanted:
            return known
        unknown = sorted(set(wanted) - set(known))
        if unknown:
            msg = (
                f"program_ids lists {unknown}, which this Marketo instance does not have "
                "(deleted, or in a workspace the API user cannot see); remove them"
            )
            raise errors.ConfigError(msg)
        return list(dict.fromkeys(int(i) for i in wanted))

    @functools.cached_property
    def activity_feed(self) -> ActivityFeed:
        """The one activity export per window shared by the activity streams."""
        exportable = [int(a["id"]) for a in self.activity_types if int(a["id"]) != DELETE_LEAD_TYPE_ID]
        wanted = self.config.get("activity_type_ids")
        if wanted:
            unknown = sorted(set(wanted) - set(exportable))
            if unknown:
                msg = (
                    f"activity_type_ids lists {unknown}, which are not exportable activity "
                    "types of this instance; see the activity_types stream for valid ids"
                )
                raise errors.ConfigError(msg)
            type_ids = list(dict.fromkeys(int(i) for i in wanted))
        else:
            type_ids = exportable
        filters: dict[str, t.Any] = {}
        if self.config.get("activity_primary_attribute_value_ids"):
            filters["primaryAttributeValueIds"] = self.config["activity_primary_attribute_value_ids"]
        if self.config.get("activity_primary_attribute_values"):
            filters["primaryAttributeValues"] = self.config["activity_primary_attribute_values"]
        return ActivityFeed(self, type_ids, filters)

    @property
    def program_member_filters(self) -> dict[str, t.Any]:
        """Optional program member filters from the settings, ANDed with the program batch."""
        config = self.config
        filters: dict[str, t.Any] = {}
        if config.get("program_member_status_names"):
            filters["statusNames"] = list(config["program_member_status_names"])
        if config.get("program_member_is_exhausted") is not None:
            filters["isExhausted"] = bool(config["program_member_is_exhausted"])
        if config.get("program_member_nurture_cadence"):
            filters["nurtureCadence"] = config["program_member_nurture_cadence"]
        return filters

    # --- discovery --------------------------------------------------------------------

    def discover_streams(self) -> list[Stream]:
        """Build the streams from the describe endpoints of this Marketo instance.

        Settings that name things in the instance (activity types, programs, lead fields)
        are checked here, so a mistake stops the run before any export job exists.
        """
        streams: list[Stream] = [self._leads_stream(), ActivityTypesStream(self)]
        feed = self.activity_feed
        activities = ActivitiesStream(
            self,
            name="activities",
            schema=activity_schema(),
            converters=activity_converters(),
            primary_keys=["marketoGUID"],
            replication_key="activityDate",
        )
        feed.streams.append(activities)
        if self.config.get("activity_type_streams"):
            feed.streams.extend(self._activity_type_streams(feed.type_ids))
        streams.extend(feed.streams)
        streams.append(DeletedLeadsStream(self))
        streams.append(ProgramsStream(self))
        streams.append(self._program_members_stream())
        if self.config.get("program_ids"):
            _ = self.program_ids_to_export  # checks the ids now, before any job
        return streams

    def _typed(self, fields: t.Iterable[dict]) -> tuple[dict, dict]:
        """Schema properties and converters of describe fields, by name."""
        properties: dict[str, dict] = {}
        converters: dict[str, t.Callable[[str], t.Any]] = {}
        singer_decimal = bool(self.config.get("use_singer_decimal"))
        for field in fields:
            properties[field["name"]] = json_schema(field["dataType"], singer_decimal=singer_decimal)
            converters[field["name"]] = converter(field["dataType"], singer_decimal=singer_decimal)
        return properties, converters

    def _leads_stream(self) -> LeadsStream:
        properties, converters = self._typed(self.lead_fields)
        for required in ("id", "updatedAt", "createdAt"):
            if required not in properties:
                msg = (
                    f"The lead describe of this instance has no '{required}' field; "
                    "check that the API user may read leads (Read-Only Lead permission)."
                )
                raise errors.AccessDenied(msg)
        return LeadsStream(
            self,
            name="leads",
            schema={"type": "object", "properties": properties},
            converters=converters,
            primary_keys=["id"],
            replication_key="updatedAt",
        )

    def _activity_type_streams(self, type_ids: list[int]) -> list[ActivityTypeStream]:
        """One stream per exported activity type, names unique and stable."""
        by_id = {int(a["id"]): a for a in self.activity_types}
        streams: list[ActivityTypeStream] = []
        used: set[str] = {"activities", "activity_types"}
        for type_id in sorted(type_ids):
            activity_type = by_id[type_id]
            name = f"activities_{snake_case(str(activity_type.get('name') or type_id))}"
            if name in used:
                name = f"{name}_{type_id}"
            used.add(name)
            streams.append(ActivityTypeStream(self, activity_type, name))
        return streams

    def _program_members_stream(self) -> ProgramMembersStream:
        envelope = self.client.get("/rest/v1/programs/members/describe.json")
        describe = (envelope.get("result") or [{}])[0]
        member_fields = [
            {"name": f["name"], "dataType": str(f.get("dataType", "string"))}
            for f in describe.get("fields") or []
            if f.get("name") and is_exportable(str(f.get("dataType", "string")))
        ]
        properties, converters = self._typed(member_fields)
        lead_by_name = {field["name"]: field for field in self.lead_fields}
        extra = list(self.config.get("program_member_lead_fields") or [])
        unknown = [name for name in extra if name not in lead_by_name]
        if unknown:
            msg = (
                f"program_member_lead_fields lists {unknown}, which are not exportable lead "
                "fields of this instance (use REST names from the leads stream's schema)"
            )
            raise errors.ConfigError(msg)
        clashes = [name for name in extra if name in properties]
        if clashes:
            msg = (
                f"program_member_lead_fields lists {clashes}, which are program member fields "
                "already; remove them from the setting"
            )
            raise errors.ConfigError(msg)
        lead_properties, lead_converters = self._typed(lead_by_name[n] for n in extra)
        properties.update(lead_properties)
        converters.update(lead_converters)
        for key in ("programId", "leadId"):
            properties.setdefault(key, json_schema("integer"))
            converters.setdefault(key, converter("integer"))
        return ProgramMembersStream(
            self,
            name="program_members",
            schema={"type": "object", "properties": properties},
            converters=converters,
            primary_keys=["programId", "leadId"],
            replication_key="updatedAt" if "updatedAt" in properties else None,
        )

    # --- command line -----------------------------------------------------------------

    def _handle_termination(self, signum: int, frame: t.Any) -> None:
        """SIGINT/SIGTERM: stop at the next safe point; jobs in flight are cancelled on the way out.

        Unlike the SDK's default (write STATE from the handler, exit 0), nothing is written
        here: every bookmark was emitted at its window's end, and a write from a handler
        could cut a line in half. The run ends non-zero: it did not finish.
        """
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_DFL)  # a second signal stops at once
        name = signal.Signals(signum).name
        msg = (
            f"interrupted by {name}: the last STATE emitted holds the last finished window and "
            "export jobs still in flight are cancelled; run again with that STATE to resume"
        )
        interrupts.interrupt(errors.Interrupted(msg))

    @classmethod
    def get_singer_command(cls) -> click.Command:
        """The SDK's command, with our errors reported as one clear line, no traceback."""
        command = super().get_singer_command()
        sdk_hook = command.excepthook  # type: ignore[attr-defined]

        def excepthook(exc_type: type[BaseException], exc: BaseException, tb: t.Any) -> None:
            if isinstance(exc, (errors.MarketoError, errors.Interrupted)):
                cls.logger.error("tap-marketo-bulk stopped: %s", exc)
                return
            sdk_hook(exc_type, exc, tb)

        command.excepthook = excepthook  # type: ignore[attr-defined]
        # --discover runs as an option callback, before the command installs its hook.
        sys.excepthook = excepthook
        return command


def main() -> None:
    """The ``tap-marketo-bulk`` command: the SDK's command, then an exit that skips the
    interpreter's teardown.

    Freeing every module and object one by one takes Python about 0.1 s after a run, while a
    finished tap has nothing left to release gracefully: its output and logs are flushed
    here, and the kernel closes files and sockets. Errors end as the command ends them (our
    excepthook's one line, exit code 1).
    """
    code: int = 0
    try:
        TapMarketoBulk.cli()
    except SystemExit as exc:
        if isinstance(exc.code, str):
            sys.stderr.write(f"{exc.code}\n")
        code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    except KeyboardInterrupt:
        code = 130
    except BaseException as exc:  # reported as the interpreter reports an uncaught exception
        sys.excepthook(type(exc), exc, exc.__traceback__)
        code = 1
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: as Python reports a failed final flush
            code = code or 120
    os._exit(code)


if __name__ == "__main__":
    main()
