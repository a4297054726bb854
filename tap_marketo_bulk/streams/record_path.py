"""The fast record path of bulk streams: RECORD lines (or BATCH files) written straight out.

The SDK builds a message per record, walks every key for deselected properties and calls the
stream maps; for a bulk stream whose stream map is the identity none of that changes a byte
of output, so the records of each verified file go to one :class:`~tap_marketo_bulk.records.output.Writer`
instead, and STATE still goes through the SDK at each window's end, in order. The SDK's record
loop is kept whenever stream maps, flattening or ``--test`` need it.

These are the methods that override the SDK's private sync hooks (listed with why in
:mod:`tap_marketo_bulk.sdk_private`).
"""

from __future__ import annotations

import typing as t

from singer_sdk import Stream
from singer_sdk import singerlib as singer
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.mapper import SameRecordTransform

from tap_marketo_bulk.records import output
from tap_marketo_bulk.records.batches import BatchFiles
from tap_marketo_bulk.records.output import RecordLines

if t.TYPE_CHECKING:
    from tap_marketo_bulk.instance import MarketoInstance


class FastRecordPath(Stream):
    """A stream whose records skip the SDK's per-record machinery when that changes nothing."""

    #: Our converters already give every value its JSON type; the SDK's conformance would
    #: only cost time (and it turns the string "false" into true).
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE
    marketo: MarketoInstance
    #: The fast RECORD writer while this stream syncs on :meth:`fast_path`.
    _lines: output.Writer | None = None
    #: The SDK's record counter during a fast sync, and how much of ``_lines.count`` it has.
    _counter: t.Any = None
    _counted: int = 0

    def count_records(self) -> None:
        """Bring the SDK's record counter up to the RECORD lines written on the fast path."""
        if self._counter is not None and self._lines is not None:
            self._counter.increment(self._lines.count - self._counted)
            self._counted = self._lines.count

    def write_state(self) -> None:
        """Emit the tap's STATE now (the SDK has no public per-window checkpoint call)."""
        self._write_state_message()

    def fast_path(self) -> bool:
        """Whether records can skip the SDK's per-record machinery without changing output:
        our converters typed every value (no SDK conformance), the stream map is the identity
        (no stream maps, no flattening) and no record limit (the SDK's ``--test``) applies."""
        maps = self.stream_maps
        return (
            self.TYPE_CONFORMANCE_LEVEL == TypeConformanceLevel.NONE
            and len(maps) == 1
            and type(maps[0]) is SameRecordTransform
            and not maps[0].flattening_enabled
            and maps[0].stream_alias == self.name
            and self.ABORT_AT_RECORD_COUNT is None
        )

    def _generate_schema_messages(self) -> t.Iterator[singer.SchemaMessage]:
        """SCHEMA from the discovered schema, so keywords the SDK's catalog model drops
        (``precision``/``scale`` of ``x-singer.decimal``) reach the target; only the selected
        properties, as the SDK sends. With stream maps the SDK builds it."""
        if not self.fast_path():
            yield from super()._generate_schema_messages()
            return
        properties = {name: schema for name, schema in self.schema["properties"].items() if self.is_selected(name)}
        yield singer.SchemaMessage(
            self.name,
            {**self.schema, "properties": properties},
            self.primary_keys,
            [self.replication_key] if self.replication_key else None,
        )

    def record_lines(self) -> output.Writer:
        """The fast path's writer for this stream: RECORD lines, or BATCH files when
        ``batch_config`` is set."""
        config = self.marketo.batch_config
        return BatchFiles(self.name, config) if config else RecordLines(self.name)

    def deselected(self) -> frozenset[str]:
        """Properties the catalog deselects; the export may still carry some (the filter
        column, for instance), and the fast path leaves them out of records."""
        return frozenset(name for name in self.schema["properties"] if not self.is_selected(name))

    def emit(self, record: dict) -> None:
        """Write one RECORD of this stream outside its own sync (activity family members)."""
        if self._lines is None and self.fast_path():
            self._lines = self.record_lines()
        if self._lines is not None:
            self._lines.write(record)
        else:
            self._write_record_message(record)

    def _sync_records(
        self, context: t.Mapping | None = None, *, write_messages: bool = True
    ) -> t.Generator[dict, t.Any, t.Any]:
        """The SDK's record loop, or when :meth:`fast_path` allows, :meth:`sync_fast`; the
        calls either makes count as this stream's in the end-of-run line."""
        with self.marketo.client.attributed_to(self.name):
            if not (write_messages and self.fast_path()):
                yield from super()._sync_records(context, write_messages=write_messages)
                return
            self.sync_fast(context)
        return
        yield  # a generator, like the SDK's

    def _sync_batches(self, batch_config: t.Any, context: t.Mapping | None = None) -> None:
        """BATCH output (``batch_config``): :meth:`sync_fast` with batch files.

        Not the SDK's batch path, which gathers records apart from our per-window checkpoints
        (see :mod:`tap_marketo_bulk.records.batches`). Without the fast path (stream maps,
        flattening) the stream writes RECORD messages instead, and says so.
        """
        del batch_config  # read by record_lines()
        with self.marketo.client.attributed_to(self.name):
            if self.fast_path():
                self.sync_fast(context)
                return
            self.logger.warning(
                "%s: BATCH output is written only without stream maps and flattening; this stream "
                "writes RECORD messages instead.",
                self.name,
            )
            for _ in super()._sync_records(context):
                pass

    def sync_fast(self, context: t.Mapping | None) -> None:
        """Sync on the fast path: each verified file's records go to this stream's writer
        (:meth:`record_lines`), STATE goes through the SDK at each window's end, in order."""
        self._write_starting_replication_value(context)  # what get_starting_timestamp reads
        self._lines = self.record_lines()
        write = self._lines.write
        self._counter, self._counted = self.get_record_counter(), 0
        with self._counter, self.get_sync_timer():
            try:
                # Files are written by emit_file; only rows routed off the fast path come here.
                for record in self.get_records(context):
                    write(record)
            finally:
                output.flush()  # what was emitted stays emitted, even when the run fails
            self.count_records()
        self._counter = None
        self._finalize_state(self.stream_state)
        self._write_state_message()

    def get_replication_key_signpost(self, context: t.Any = None) -> None:
        """No signpost: bookmarks are window ends, never later than the run's range end."""
        return

    def _increment_stream_state(self, latest_record: dict, *, context: t.Any = None) -> None:
        """Records never move a bulk stream's bookmark; :meth:`checkpoint` does."""
