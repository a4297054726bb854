"""The shared bulk-export stream: windows, export jobs, typed rows, per-window checkpoints.

Every bulk entity (leads, activities, program members, custom objects) reads the same way: plan
windows from the bookmark, ask the run's :class:`~tap_marketo_bulk.exports.runner.ExportRunner` for one or more
export files per window, parse them with converters built once per column, and write STATE as
soon as a window's last record is out. Entity files only say how to build the export requests.
"""

from __future__ import annotations

import abc
import collections
import dataclasses
import datetime as dt
import time
import typing as t

from tap_marketo_bulk.records import output
from tap_marketo_bulk.records.names import snake_case
from tap_marketo_bulk.records.reader import ExportReader, Progress, read_export
from tap_marketo_bulk.streams.columns import NamedColumns
from tap_marketo_bulk.streams.record_path import FastRecordPath
from tap_marketo_bulk.windows import Window, format_timestamp, parse_timestamp, plan_windows, to_utc

if t.TYPE_CHECKING:
    from singer_sdk import Stream, Tap

    from tap_marketo_bulk.exports.model import ExportFile, ExportRequest
    from tap_marketo_bulk.exports.spend import SpendMark
    from tap_marketo_bulk.instance import MarketoInstance

Converter = t.Callable[[str], t.Any]
#: A function taking a file row and returning the record this stream emits for it (None: none).
Route = t.Callable[[dict], "dict | None"]
#: Key of a stream's STATE listing its export jobs in flight (export id and request key).
JOBS_KEY = "jobs_in_flight"
#: Key of a stream's STATE listing the job it is creating (see :mod:`tap_marketo_bulk.exports.recovery`).
INTENTS_KEY = "jobs_being_created"
#: How long a run read as ``meltano config test`` reads a tap waits, after its first record and
#: before its first export job, for the reader to stop it (Meltano does within milliseconds).
READER_STOP_SECONDS = 5.0
#: Stream names keep this rule wherever they are made (moved to the records wing, see
#: :mod:`tap_marketo_bulk.records.names`; importable from here as before).
__all__ = ["INTENTS_KEY", "JOBS_KEY", "BulkExportStream", "snake_case"]


@dataclasses.dataclass
class SyncProgress:
    """Where one stream's sync stands, for its log lines: window i of N, rows downloaded and
    emitted, and what it alone spent (streams sync one after another)."""

    windows: list[Window | None]
    spend: SpendMark
    rows: int = 0
    dropped: int = 0
    started: float = dataclasses.field(default_factory=time.monotonic)

    def position(self, window: Window | None) -> str:
        """``window 2 of 14 (start..end)``, or ``sweep`` for a run without windows."""
        if window is None:
            return "sweep"
        numbered = [w for w in self.windows if w is not None]
        number = numbered.index(window) + 1 if window in numbered else 0
        return f"window {number} of {len(numbered)} ({window})" if number else f"window {window}"


def dropped_words(dropped: int, window: Window | None = None) -> str:
    """Why fewer records are emitted than rows downloaded: rows stamped exactly at a window's
    end belong to the next window (see :mod:`tap_marketo_bulk.windows`)."""
    if not dropped:
        return ""
    rows = "1 row" if dropped == 1 else f"{dropped} rows"
    if window is None:
        return f" ({rows} stamped exactly at a window's end left to the next window)"
    return f" ({rows} stamped {window.end_at}, the window's end, left to the next window)"


def jobs_in_flight(ahead: int) -> str:
    """``2 more export jobs in flight``: what Marketo holds for this run beyond the file read."""
    return f"{ahead} more export {'job' if ahead == 1 else 'jobs'} in flight"


class BulkExportStream(FastRecordPath, NamedColumns, metaclass=abc.ABCMeta):
    """A Singer stream fed by Marketo bulk export files, one window at a time.

    Why this class is long: it is the one SDK stream every bulk entity shares, and windows,
    field selection, export files and checkpoints are hooks on the same SDK stream state;
    the record path lives apart in :class:`~tap_marketo_bulk.streams.record_path.FastRecordPath`.

    Entity streams speak Marketo's names (export ``fields``, filters, file columns, keys as
    given to ``__init__``); the Singer side (schema, records, catalog selection, key properties,
    replication key) has the column names of ``column_naming``
    (:class:`~tap_marketo_bulk.streams.columns.NamedColumns`), given to each file's records by
    the reader.
    """

    #: Bulk path segment: ``leads``, ``activities``, ``program/members`` or, per object,
    #: ``customobjects/<apiName>``.
    entity: str
    #: False once Marketo refused the stream's incremental filter (1035): then a run exports
    #: everything in one sweep (streams that can fall back that way set it).
    incremental: bool = True
    #: This stream's sync so far, for its log lines (set when its exports begin).
    sync_progress: SyncProgress | None = None

    def __init__(
        self,
        tap: Tap,
        marketo: MarketoInstance,
        *,
        name: str,
        schema: dict,
        converters: t.Mapping[str, Converter],
        primary_keys: t.Sequence[str],
        replication_key: str | None,
        columns: t.Mapping[str, str] | None = None,
    ) -> None:
        self._converters = dict(converters)
        super().__init__(tap, schema=schema, name=name, columns=columns)
        self.primary_keys = self.named_keys(primary_keys)
        self.replication_key = self.named_key(replication_key)
        self.marketo = marketo

    # --- what entity streams provide ----------------------------------------------------

    @abc.abstractmethod
    def export_requests(self, windows: t.Sequence[Window | None]) -> t.Iterator[ExportRequest]:
        """The export requests for these windows, in the order their records are emitted."""

    def boundary_column(self) -> str | None:
        """The file column the window filters on, if visible; rows stamped at a window's end
        belong to the next window and are dropped (see :mod:`tap_marketo_bulk.windows`)."""
        return None

    def plan(self, context: t.Mapping | None) -> list[Window | None]:
        """Windows from the bookmark (or ``start_date``) to ``end_date`` (or now); one sweep
        without a window once Marketo refused the incremental filter."""
        if not self.incremental:
            return [None]
        start = self.get_starting_timestamp(context)
        return list(self.windows_between(start))

    def sweep_done(self) -> None:
        """A sweep exported everything up to the run's range end: move the bookmark there."""
        self.checkpoint(Window(self.start_date(), self.marketo.range_end))

    # --- shared machinery ---------------------------------------------------------------

    def _sync_records(
        self, context: t.Mapping | None = None, *, write_messages: bool = True
    ) -> t.Generator[dict, t.Any, t.Any]:
        """The record loop, unless ``--test`` already has its record (:meth:`connection_tested`)."""
        if self.connection_tested():
            return
        yield from super()._sync_records(context, write_messages=write_messages)

    def _sync_batches(self, batch_config: t.Any, context: t.Mapping | None = None) -> None:
        """BATCH output, unless ``--test`` already has its record (:meth:`connection_tested`)."""
        if not self.connection_tested():
            super()._sync_batches(batch_config, context)

    def connection_tested(self) -> bool:
        """Whether this run is the SDK's ``--test`` and has emitted a record already: then this
        stream creates no export job and spends no export quota (see :func:`connection_tested`)."""
        return connection_tested(self)

    def bookmark(self) -> dt.datetime | None:
        """This stream's bookmark from STATE (the end of its last fully emitted window)."""
        value = self.stream_state.get("replication_key_value")
        return parse_timestamp(value) if value else None

    def start_date(self) -> dt.datetime:
        """The ``start_date`` setting, in UTC."""
        return parse_timestamp(self.config["start_date"])

    def windows_between(self, start: dt.datetime | None, siblings: t.Iterable[BulkExportStream] = ()) -> list[Window]:
        """Windows of at most ``window_days`` from ``start`` to the end of the range.

        Windows of jobs (and create intents) an interrupted run left in STATE are planned again
        as they were (the last one ended at that run's "now"), so the same requests find those
        jobs again.
        """
        begin = to_utc(start) if start else self.start_date()
        days = int(self.config.get("window_days", 31))
        ends = [
            Window.parse(entry["window"]).end
            for stream in (self, *siblings)
            for key in (JOBS_KEY, INTENTS_KEY)
            for entry in stream.stream_state.get(key, [])
            if "window" in entry
        ]
        return plan_windows(begin, self.marketo.range_end, days, cuts=ends)

    def selected_fields(self, always: t.Iterable[str] = ()) -> list[str]:
        """Marketo's names of the selected properties in schema order, plus keys, replication
        key and ``always`` (Marketo's names).

        Marketo exports only what the job's ``fields`` lists, so deselected columns cost
        neither export quota nor parsing. The list is the same whatever ``column_naming`` is, so
        a request's key (STATE's jobs in flight) does not change when the setting does.
        """
        required = {*always, *(self.marketo_name(key) for key in self.primary_keys)}
        if self.replication_key:
            required.add(self.marketo_name(self.replication_key))
        warn_unknown_selection(self, "Marketo's describe")
        return [
            name
            for name, column in self.columns.items()
            if name in self._converters and (name in required or self.is_selected(column))
        ]

    def converters_for(self, columns: t.Iterable[str]) -> dict[str, Converter]:
        """The converters of the given file columns (built once at discovery)."""
        return {column: self._converters[column] for column in columns}

    def get_records(self, context: t.Mapping | None) -> t.Iterable[dict]:
        """Emit each window's rows in order and checkpoint after the window's last file."""
        windows = self.plan(context)
        requests = list(self.export_requests(windows))
        self.begin_progress(windows, requests)
        remaining = collections.Counter(request.window for request in requests)
        for export_file in self.exported_files(requests):
            yield from self.emitted_records(export_file)
            window = export_file.request.window
            remaining[window] -= 1
            if window is not None and remaining[window] == 0:
                self.checkpoint(window)
        self.log_summary()

    def begin_progress(self, windows: t.Sequence[Window | None], requests: t.Sequence[ExportRequest]) -> None:
        """Start this stream's progress lines, with one line saying what lies ahead."""
        self.sync_progress = SyncProgress(list(windows), self.marketo.exports.spend.mark())
        numbered = [w for w in windows if w is not None]
        if numbered:
            self.logger.info(
                "%s: %d windows of at most %s days from %s to %s, %d export jobs",
                self.name,
                len(numbered),
                self.config.get("window_days", 31),
                numbered[0].start_at,
                numbered[-1].end_at,
                len(requests),
            )

    def log_summary(self) -> None:
        """One line per stream at its end, counting this stream only: windows, its export jobs
        and MB, rows downloaded and records emitted, and why those two differ (the quota left
        is said once, at the run's end)."""
        progress = self.sync_progress or SyncProgress([], self.marketo.exports.spend.mark())
        self.logger.info(
            "%s: %d windows, %s; %d rows downloaded, %d records emitted%s in %.1f s.",
            self.name,
            len([w for w in progress.windows if w is not None]),
            self.marketo.exports.spend.since(progress.spend),
            progress.rows,
            progress.rows - progress.dropped,
            dropped_words(progress.dropped),
            time.monotonic() - progress.started,
        )

    def exported_files(
        self, requests: t.Sequence[ExportRequest], siblings: t.Iterable[BulkExportStream] = ()
    ) -> t.Iterator[ExportFile]:
        """Verified files of these requests, with the jobs in flight kept in this stream's STATE
        (see :func:`exported_files`)."""
        return exported_files(self, self.marketo, requests, siblings)

    def emitted_records(
        self, export_file: ExportFile, route: Route | None = None, *, fast: bool | None = None
    ) -> t.Generator[dict, None, Progress]:
        """The file's records, then one progress line: where the stream is (window i of N),
        rows downloaded and records emitted, and the export jobs in flight.

        ``route`` turns each file row into this stream's record (None: not for this stream)
        and may emit records of other streams. On the fast path (``fast``, by default whether
        this stream syncs on it) the records are written here and nothing is yielded. Returns
        the rows the file gave and those dropped as the next window's.
        """
        started = time.monotonic()
        if fast is None:
            fast = self._lines is not None
        if fast:
            progress = self.emit_file(export_file, route)
        else:
            rows = _Returning(self.records_in(export_file))
            if route is None:
                yield from rows
            else:
                for row in rows:
                    own = route(row)
                    if own is not None:
                        yield own
            progress = rows.value or Progress()
        seconds = time.monotonic() - started
        request = export_file.request
        where = self.sync_progress.position(request.window) if self.sync_progress else str(request.window)
        self.logger.info(
            "%s %s%s, export %s: %d rows downloaded, %d records emitted%s in %.1f s (%.0f records/s); %s",
            self.name,
            where,
            f", {request.label}" if request.label else "",
            export_file.export_id,
            progress.records,
            progress.emitted,
            dropped_words(progress.dropped, request.window),
            seconds,
            progress.emitted / seconds if seconds > 0 else 0.0,
            jobs_in_flight(self.marketo.exports.jobs_ahead()),
        )
        if self.sync_progress:
            self.sync_progress.rows += progress.records
            self.sync_progress.dropped += progress.dropped
        return progress

    def records_in(self, export_file: ExportFile) -> t.Generator[dict, None, Progress]:
        """Typed rows of one verified export file, minus rows of the next window; returns the
        rows read and dropped."""
        if export_file.path is None:
            return _nothing()
        return read_export(
            export_file.path,
            self.file_converters(export_file),
            file_format=export_file.file_format,
            keys=self.columns,
            drop=self.dropped_rows(export_file),
        )

    def emit_file(self, export_file: ExportFile, route: Route | None) -> Progress:
        """Write the RECORD lines of one verified file on the fast path; return its rows read
        and dropped."""
        if export_file.path is None:
            return Progress()
        lines = self._lines
        assert lines is not None
        lines.stamp(dt.datetime.now(dt.timezone.utc))  # extracted with this file
        if route is None:
            append, spill, omit = lines.append, lines.spill, self.deselected()
        else:
            write = lines.write

            def append(row: dict) -> None:
                own = route(row)
                if own is not None:
                    write(own)

            spill, omit = output.spill, frozenset()
        reader = ExportReader(
            export_file.path,
            self.file_converters(export_file),
            file_format=export_file.file_format,
            keys=self.columns,
            drop=self.dropped_rows(export_file),
            omit=omit,
            struct=route is None,  # records that nothing reads again
        )
        progress = reader.emit(append, spill)
        output.flush()
        self.count_records()
        return progress

    def dropped_rows(self, export_file: ExportFile) -> tuple[str, str] | None:
        """``(column, raw value)`` of rows that belong to the next window, if visible."""
        column = self.boundary_column()
        window = export_file.request.window
        return (column, window.end_at) if column and window else None

    def file_converters(self, export_file: ExportFile) -> dict[str, Converter]:
        """Converters for the columns the export file carries."""
        return self.converters_for(export_file.request.file_columns())

    def checkpoint(self, window: Window) -> None:
        """Write STATE with the bookmark at the end of a fully emitted window."""
        self.set_bookmark(window)
        self.write_state()

    def set_bookmark(self, window: Window) -> None:
        """Move the bookmark to the end of a fully emitted window.

        The bookmark is never the largest value seen in records: the leads ``updatedAt``
        filter matches the last update of any field, not the visible ``updatedAt`` column.
        """
        bookmark_at(self, window.end)


def connection_tested(stream: Stream) -> bool:
    """Whether this run is the SDK's ``--test`` and has emitted a record already: then
    ``stream`` creates no export job and spends no export quota (a REST stream that exports
    large lists asks too).

    A connection test wants one record, and the streams that need no export job sync first
    (the tap's ``load_streams``), so with any of them selected the record comes from them.
    ``--test`` says what it is (a record limit). ``meltano config test`` does not: it reads
    stdout and stderr as one pipe and stops the tap at the first RECORD. A run read that way
    waits once, after its first record and before its first export job, for that stop
    (:func:`~tap_marketo_bulk.records.output.await_reader_stop`); when none comes (a person
    reading a real run so) it goes on and exports everything: a guess may cost seconds,
    never data.
    """
    if not output.record_sent():
        return False
    if stream.ABORT_AT_RECORD_COUNT is None:
        if output.read_with_logs():
            output.await_reader_stop(READER_STOP_SECONDS, stream.logger)
        return False
    stream.logger.info(
        "%s: creates no export job: this run is a connection test (--test) and has emitted a record already.",
        stream.name,
    )
    return True


def exported_files(
    stream: Stream, marketo: MarketoInstance, requests: t.Sequence[ExportRequest], siblings: t.Iterable[Stream] = ()
) -> t.Iterator[ExportFile]:
    """Verified files of these requests, with the jobs in flight kept in ``stream``'s STATE.

    A run killed mid-way (even SIGKILL) leaves its jobs' export ids in the last STATE; the
    next run re-attaches to them instead of creating (and paying for) the same jobs again.
    ``siblings`` are streams fed by the same jobs, whose STATE may hold such ids too. Any
    stream that exports (a REST stream choosing bulk for a large list too) goes through here.
    """
    state = stream.stream_state
    siblings = list(siblings)
    # Read, not removed: a run that ends before its first job (a 1035 probe, a quota)
    # leaves them for the attempt or run that follows.
    streams = (stream, *siblings)
    known = [entry for s in streams for entry in s.stream_state.get(JOBS_KEY, [])]
    intents = [entry for s in streams for entry in s.stream_state.get(INTENTS_KEY, [])]

    def remember(jobs: list[dict], creating: list[dict]) -> None:
        for sibling in siblings:
            sibling.stream_state.pop(JOBS_KEY, None)
            sibling.stream_state.pop(INTENTS_KEY, None)
        for key, entries in ((JOBS_KEY, jobs), (INTENTS_KEY, creating)):
            if entries:
                state[key] = entries
            else:
                state.pop(key, None)
        stream.state_manager.is_flushed = False
        stream._write_state_message()

    return marketo.exports.run(requests, known_jobs=known, intents=intents, on_change=remember)


def bookmark_at(stream: Stream, end: dt.datetime) -> None:
    """Put ``stream``'s bookmark at ``end`` (the end of what it fully emitted) in its STATE,
    replacing the SDK's progress markers, and mark the STATE to be written."""
    state = stream.stream_state
    state["replication_key"] = stream.replication_key
    state["replication_key_value"] = format_timestamp(end)
    for marker in ("progress_markers", "starting_replication_value"):
        state.pop(marker, None)
    stream.state_manager.is_flushed = False


def warn_unknown_selection(stream: Stream, source: str) -> None:
    """One warning naming the properties the catalog selects that ``stream``'s schema lacks
    (a catalog older than the instance's fields, or than this tap): they stay empty."""
    properties = stream.schema["properties"]
    unknown = sorted(
        breadcrumb[1]
        for breadcrumb, selected in stream.mask.items()
        if len(breadcrumb) == 2 and selected and breadcrumb[1] not in properties
    )
    if unknown and stream.marketo.once(f"unknown fields of {stream.name}"):  # said once per run
        stream.logger.warning(
            "%s: the catalog selects %s, which %s does not offer (deleted or renamed in Marketo?); "
            "they are not exported. Run --discover again to refresh it.",
            stream.name,
            ", ".join(unknown),
            source,
        )


class _Returning:
    """Iterates a generator and keeps what it returns (``value``)."""

    def __init__(self, generator: t.Generator[dict, None, Progress]) -> None:
        self.generator = generator
        self.value: Progress | None = None

    def __iter__(self) -> t.Iterator[dict]:
        self.value = yield from self.generator


def _nothing() -> t.Generator[dict, None, Progress]:
    """The rows of a file without records."""
    return Progress()
    yield  # a generator
