"""The changes proposed for files outside the performance work's ownership, applied at run time.

Each piece mirrors one diff of the performance report; :func:`apply` installs them and returns
the tap class. ``BENCH_STEPS`` (comma list, default all) picks steps to measure them one by one:

``writer``   tap.py: ``message_writer_class = BufferedMsgSpecWriter`` (the SDK's msgspec writer,
             flushing only on non-RECORD messages instead of after every message).
``records``  streams/base.py: ``_generate_record_messages`` without the per-record walk of every
             key (deselected file columns are known per stream), without the no-op conformance
             call when the level is NONE, and with ``time_extracted`` taken once per export file.
"""

from __future__ import annotations

import os
import sys
import typing as t

from singer_sdk import singerlib as singer
from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.helpers._catalog import pop_deselected_record_properties
from singer_sdk.helpers._typing import TypeConformanceLevel, conform_record_data_types
from singer_sdk.helpers._util import utc_now


class BufferedMsgSpecWriter(MsgSpecWriter):
    """msgspec encoding; stdout is flushed at STATE/SCHEMA messages, not after each RECORD."""

    def write_message(self, message: t.Any) -> None:
        sys.stdout.buffer.write(self.format_message(message))
        if not isinstance(message, singer.RecordMessage):
            sys.stdout.flush()


# --- streams/base.py ----------------------------------------------------------------------


def _deselected_properties(self) -> frozenset[str]:
    """Top-level properties the catalog deselected (the only ones a file row can carry)."""
    cached = self.__dict__.get("_deselected_cache")
    if cached is None:
        cached = frozenset(
            name for name in self.schema.get("properties", {}) if not self.mask.get(("properties", name), True)
        )
        self.__dict__["_deselected_cache"] = cached
    return cached


def _generate_record_messages(self, record: dict) -> t.Iterator[singer.RecordMessage]:
    for name in self.deselected_properties:
        record.pop(name, None)
    if self.TYPE_CONFORMANCE_LEVEL != TypeConformanceLevel.NONE:  # pragma: no cover - subclasses only
        pop_deselected_record_properties(record, self.schema, self.mask)
        record = conform_record_data_types(
            stream_name=self.name,
            record=record,
            schema=self.effective_schema,
            level=self.TYPE_CONFORMANCE_LEVEL,
            logger=self.logger,
        )
    time_extracted = getattr(self._tap, "extracted_at", None) or utc_now()
    for stream_map in self.stream_maps:
        mapped_record = stream_map.transform(record)
        if mapped_record is not None:
            yield singer.RecordMessage(
                stream=stream_map.stream_alias,
                record=mapped_record,
                version=self._stream_version,
                time_extracted=time_extracted,
            )


def _records_in(original: t.Callable) -> t.Callable:
    def records_in(self, export_file):
        self._tap.extracted_at = utc_now()  # the file's rows were extracted when it was downloaded
        return original(self, export_file)

    return records_in


def apply() -> type:
    from tap_marketo_bulk.streams.base import BulkExportStream
    from tap_marketo_bulk.tap import TapMarketoBulk

    steps = set(os.environ.get("BENCH_STEPS", "writer,records").split(","))
    if "records" in steps:
        BulkExportStream.deselected_properties = property(_deselected_properties)
        BulkExportStream._generate_record_messages = _generate_record_messages
        BulkExportStream.records_in = _records_in(BulkExportStream.records_in)
    if "writer" in steps:

        class ProposedTap(TapMarketoBulk):
            message_writer_class = BufferedMsgSpecWriter

        return ProposedTap
    return TapMarketoBulk
