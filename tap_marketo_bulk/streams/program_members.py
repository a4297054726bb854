"""Program members: every program's membership through bulk program member exports.

Programs go ten to a job (the ``programIds`` filter's maximum), so an instance with 95 programs
costs 10 jobs per window, not 95. Where the subscription supports the program member
``updatedAt`` filter, windows on it make runs incremental; where Marketo answers 1035, every
run exports all memberships (logged once), which is complete though not incremental.
"""

from __future__ import annotations

import functools
import typing as t

from tap_marketo_bulk import errors
from tap_marketo_bulk.exports.model import ExportRequest
from tap_marketo_bulk.records.types import converter, exportable_fields, json_schema, typed_fields
from tap_marketo_bulk.streams.base import INTENTS_KEY, JOBS_KEY, BulkExportStream
from tap_marketo_bulk.streams.optional import PROGRAM_MEMBERS, OptionalStream
from tap_marketo_bulk.streams.programs import program_listing
from tap_marketo_bulk.windows import Window

if t.TYPE_CHECKING:
    from singer_sdk import Tap

    from tap_marketo_bulk.instance import MarketoInstance

#: Marketo's limit of program ids per ``programIds`` filter.
PROGRAMS_PER_JOB = 10


def batches(ids: t.Sequence[int], size: int = PROGRAMS_PER_JOB) -> list[list[int]]:
    """Consecutive groups of at most ``size`` ids."""
    return [list(ids[i : i + size]) for i in range(0, len(ids), size)]


#: STATE of a sweep over all memberships (no updatedAt filter) still under way: the last
#: program id whose batch is done. Programs go in ascending id order, so an interrupted sweep
#: resumes after it instead of paying for the same batches again.
SWEEP_KEY = "sweep_done_through_program"
#: STATE: False once this subscription answered 1035 for the updatedAt filter.
INCREMENTAL_KEY = "incremental"
#: The member field (and export filter) incremental runs are windowed on.
UPDATED_AT = "updatedAt"


class ProgramMembersStream(OptionalStream, BulkExportStream):
    """Program memberships with their standard, custom and chosen lead fields."""

    entity = "program/members"
    permission = PROGRAM_MEMBERS
    naming_settings = (
        "program_ids",
        "program_member_lead_fields",
        "program_member_status_names",
        "program_member_is_exhausted",
        "program_member_nurture_cadence",
    )

    def probe(self) -> None:
        """Without ``program_ids`` the sync lists every program: a first page of one
        (with them, the build has read the list already)."""
        if not self.config.get("program_ids"):
            self.marketo.probe_programs()

    @functools.cached_property
    def program_ids(self) -> list[int]:
        """``program_ids``, checked against the instance, or every program (listed once per run)."""
        known = [int(program["id"]) for program in program_listing(self.marketo)]
        wanted = self.config.get("program_ids")
        if not wanted:
            return sorted(known)
        unknown = sorted(set(wanted) - set(known))
        if unknown:
            msg = (
                f"program_ids lists {unknown}, which this Marketo instance does not have "
                "(deleted, or in a workspace the API user cannot see); remove them"
            )
            raise errors.ConfigError(msg)
        return sorted(dict.fromkeys(int(i) for i in wanted))

    @property
    def member_filters(self) -> dict[str, t.Any]:
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

    def boundary_column(self) -> str | None:
        """Rows stamped at a window's end belong to the next window."""
        return UPDATED_AT if self.incremental and self.replication_key else None

    def export_fields(self) -> list[str]:
        """Selected fields; ``programId`` comes as the file's leading column anyway."""
        return [name for name in self.selected_fields() if name != "programId"]

    def export_requests(self, windows: t.Sequence[Window | None]) -> t.Iterator[ExportRequest]:
        """Per window, one job per ten programs, with the optional filters ANDed.

        A sweep (no window) skips the programs an interrupted sweep already finished.
        """
        fields = self.export_fields()
        extra = self.member_filters
        done_through = self.stream_state.get(SWEEP_KEY) if windows == [None] else None
        program_ids = [i for i in self.program_ids if done_through is None or i > done_through]
        for window in windows:
            for group in batches(program_ids):
                body_filter: dict[str, t.Any] = {"programIds": group, **extra}
                if window is not None:
                    body_filter[UPDATED_AT] = window.as_filter()
                body = {"fields": fields, "format": "CSV", "filter": body_filter}
                label = f"programs {group[0]}..{group[-1]}"
                # The programIds filter adds a leading programId column to the file.
                yield ExportRequest(self.entity, body, window, label, columns=("programId", *fields))

    def get_records(self, context: t.Mapping | None) -> t.Iterable[dict]:
        """Incremental when possible; on 1035 a sweep over all memberships, resumable."""
        if not self.program_ids:
            self.logger.info("No programs to export members of.")
            return
        state = self.stream_state
        if state.get(INCREMENTAL_KEY) is False and any(key in state for key in (SWEEP_KEY, JOBS_KEY, INTENTS_KEY)):
            self.logger.info("Continuing the sweep over program memberships an earlier run began.")
            self.incremental = False
        try:
            if self.incremental:
                try:
                    yield from super().get_records(context)
                    return
                except errors.UnsupportedFilter:
                    self.logger.warning(
                        "This subscription does not support the program member updatedAt filter "
                        "(1035): exporting all memberships of %d programs on every run.",
                        len(self.program_ids),
                    )
                    self.incremental = False
            yield from self._sweep()
        except errors.InvalidRequest as exc:
            raise self._explain(exc) from None

    def _sweep(self) -> t.Iterator[dict]:
        """All memberships, batch by batch, with STATE after each batch."""
        state = self.stream_state
        state[INCREMENTAL_KEY] = False
        requests = list(self.export_requests([None]))
        self.begin_progress([None], requests)
        for export_file in self.exported_files(requests):
            yield from self.emitted_records(export_file)
            if export_file.request is not requests[-1]:
                state[SWEEP_KEY] = export_file.request.body["filter"]["programIds"][-1]
                self.state_manager.is_flushed = False
                self.write_state()
        state.pop(SWEEP_KEY, None)
        self.sweep_done()
        self.log_summary()

    def _explain(self, exc: errors.InvalidRequest) -> errors.ConfigError:
        """Marketo refused a filter value (1003): name the settings that feed it."""
        msg = (
            f"Marketo refused the program member export: {exc}. Check the settings "
            "program_member_status_names, program_member_lead_fields and program_ids."
        )
        return errors.ConfigError(msg, code=exc.code)


def program_members_stream(tap: Tap, marketo: MarketoInstance) -> ProgramMembersStream:
    """The program members stream, typed from the program member describe plus the lead
    fields ``program_member_lead_fields`` names; settings naming unknown things fail here."""
    envelope = marketo.client.get("/rest/v1/programs/members/describe.json")
    describe = (envelope.get("result") or [{}])[0]
    member_fields = exportable_fields(describe.get("fields") or [])
    singer_decimal = bool(tap.config.get("use_singer_decimal"))
    properties, converters = typed_fields(member_fields, singer_decimal=singer_decimal)
    lead_by_name = {field["name"]: field for field in marketo.lead_fields}
    extra = list(tap.config.get("program_member_lead_fields") or [])
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
    lead_properties, lead_converters = typed_fields((lead_by_name[n] for n in extra), singer_decimal=singer_decimal)
    properties.update(lead_properties)
    converters.update(lead_converters)
    for key in ("programId", "leadId"):
        properties.setdefault(key, json_schema("integer"))
        converters.setdefault(key, converter("integer"))
    stream = ProgramMembersStream(
        tap,
        marketo,
        name="program_members",
        schema={"type": "object", "properties": properties},
        converters=converters,
        primary_keys=["programId", "leadId"],
        replication_key=UPDATED_AT if UPDATED_AT in properties else None,
    )
    if tap.config.get("program_ids"):
        _ = stream.program_ids  # checks the ids now, before any job
    return stream
