"""RECORD lines written straight to stdout for bulk streams: the hot end of the record path.

The SDK builds a ``RecordMessage`` per record, walks every key for deselected properties,
calls stream maps and flushes stdout after each message. For bulk streams whose stream map is
the identity none of that changes a byte of output, so each record becomes one
``msgspec``-encoded line between a prefix and a suffix computed once per file. Streams with
stream maps or flattening keep the SDK's path (see ``BulkExportStream._sync_records``).
"""

from __future__ import annotations

import datetime as dt
import sys
import typing as t

import msgspec

#: Decimals as JSON numbers (exact currency and percent values), like the SDK's msgspec writer.
ENCODER = msgspec.json.Encoder(decimal_format="number")


class RecordLines:
    """Encodes records of one stream as Singer RECORD lines and writes them to stdout."""

    def __init__(self, stream: str, deselected: t.Iterable[str] = ()) -> None:
        self._prefix = b'{"type":"RECORD","stream":' + ENCODER.encode(stream) + b',"record":'
        self._deselected = tuple(deselected)
        self._out = sys.stdout.buffer
        self._buffer = bytearray()
        self.stamp(dt.datetime.now(dt.timezone.utc))

    def stamp(self, extracted_at: dt.datetime) -> None:
        """Set ``time_extracted`` for the following records (once per downloaded file)."""
        stamp = extracted_at.astimezone(dt.timezone.utc).isoformat()
        self._suffix = b',"time_extracted":' + ENCODER.encode(stamp) + b"}\n"

    def write(self, record: dict[str, t.Any]) -> None:
        """Write one RECORD line; removes the deselected properties the export had to carry."""
        for name in self._deselected:
            record.pop(name, None)
        buffer = self._buffer
        del buffer[:]
        buffer += self._prefix
        ENCODER.encode_into(record, buffer, len(buffer))
        buffer += self._suffix
        self._out.write(buffer)
