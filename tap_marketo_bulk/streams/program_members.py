"""Program members: every program's membership through bulk program member exports.

Programs go ten to a job (the ``programIds`` filter's maximum), so an instance with 95 programs
costs 10 jobs per window, not 95. Where the subscription supports the program member
``updatedAt`` filter, windows on it make runs incremental; where Marketo answers 1035, every
run exports all memberships (logged once), which is complete though not incremental.
"""

from __future__ import annotations

import typing as t

from tap_marketo_bulk import errors
from tap_marketo_bulk.exports import ExportRequest
from tap_marketo_bulk.streams.base import JOBS_KEY, BulkExportStream
from tap_marketo_bulk.windows import Window

if t.TYPE_CHECKING:
    from tap_marketo_bulk.exports import ExportFile

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


class ProgramMembersStream(BulkExportStream):
    """Program memberships with their standard, custom and chosen lead fields."""

    entity = "program/members"

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        #: False once Marketo answered 1035 for the updatedAt filter.
        self.incremental = True

    @property
    def program_ids(self) -> list[int]:
        """``program_ids`` setting, or every program of the instance (listed once per run)."""
        return sorted(self.marketo.program_ids_to_export)

    def boundary_column(self) -> str | None:
        """Rows stamped at a window's end belong to the next window."""
        return self.replication_key if self.incremental else None

    def plan(self, context: t.Mapping | None) -> list[Window | None]:
        """Windows on updatedAt, or one sweep over everything when the filter is missing."""
        if not self.incremental:
            return [None]
        return super().plan(context)

    def export_fields(self) -> list[str]:
        """Selected fields; ``programId`` comes as the file's leading column anyway."""
        return [name for name in self.selected_fields() if name != "programId"]

    def export_requests(self, windows: t.Sequence[Window | None]) -> t.Iterator[ExportRequest]:
        """Per window, one job per ten programs, with the optional filters ANDed.

        A sweep (no window) skips the programs an interrupted sweep already finished.
        """
        fields = self.export_fields()
        extra = self.marketo.program_member_filters
        done_through = self.stream_state.get(SWEEP_KEY) if windows == [None] else None
        program_ids = [i for i in self.program_ids if done_through is None or i > done_through]
        for window in windows:
            for group in batches(program_ids):
                body_filter: dict[str, t.Any] = {"programIds": group, **extra}
                if window is not None:
                    body_filter[self.replication_key or "updatedAt"] = window.as_filter()
                body = {"fields": fields, "format": "CSV", "filter": body_filter}
                label = f"programs {group[0]}..{group[-1]}"
                yield ExportRequest(self.entity, body, window, label)

    def file_converters(self, export_file: ExportFile) -> dict[str, t.Callable[[str], t.Any]]:
        """The ``programIds`` filter adds a leading ``programId`` column to the file."""
        return self.converters_for(["programId", *export_file.request.body["fields"]])

    def get_records(self, context: t.Mapping | None) -> t.Iterable[dict]:
        """Incremental when possible; on 1035 a sweep over all memberships, resumable."""
        if not self.program_ids:
            self.logger.info("No programs to export members of.")
            return
        state = self.stream_state
        if state.get(INCREMENTAL_KEY) is False and (SWEEP_KEY in state or JOBS_KEY in state):
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
        for export_file in self.exported_files(requests):
            yield from self.emitted_records(export_file)
            if export_file.request is not requests[-1]:
                state[SWEEP_KEY] = export_file.request.body["filter"]["programIds"][-1]
                self.state_manager.is_flushed = False
                self.write_state()
        state.pop(SWEEP_KEY, None)  # the sweep is complete
        self.checkpoint(Window(self.start_date(), self.marketo.range_end))

    def _explain(self, exc: errors.InvalidRequest) -> errors.ConfigError:
        """Marketo refused a filter value (1003): name the settings that feed it."""
        msg = (
            f"Marketo refused the program member export: {exc}. Check the settings "
            "program_member_status_names, program_member_lead_fields and program_ids."
        )
        return errors.ConfigError(msg, code=exc.code)
