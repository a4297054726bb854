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
from singer_sdk.contrib.msgspec import MsgSpecWriter

from tap_marketo_bulk import interrupts

#: Decimals as JSON numbers (exact currency and percent values), like the SDK's msgspec writer.
ENCODER = msgspec.json.Encoder(decimal_format="number")


#: Lines are collected up to this size, then written in one call: a write per record costs more
#: than encoding it when stdout is unbuffered, as it is under Meltano.
FLUSH_BYTES = 1 << 16
_pending = bytearray()


def flush() -> None:
    """Write the collected RECORD lines; called before any other message, so order holds.

    Interrupts are held during the write: a signal never leaves half a line on stdout.
    """
    if not _pending:
        return
    with interrupts.held():
        data = bytes(_pending)
        del _pending[:]
        sys.stdout.buffer.write(data)
        sys.stdout.flush()


class OrderedMsgSpecWriter(MsgSpecWriter):
    """The SDK's msgspec writer for SCHEMA/STATE/... messages, after the pending RECORD lines.

    A STATE message must never overtake the records it covers; every SDK message goes through
    here and flushes them first.
    """

    def write_message(self, message: t.Any) -> None:
        """Flush pending RECORD lines, then write the message, with no interrupt in between."""
        with interrupts.held():
            flush()
            super().write_message(message)


class RecordLines:
    """Encodes records of one stream as Singer RECORD lines for stdout."""

    def __init__(self, stream: str, deselected: t.Iterable[str] = ()) -> None:
        self._prefix = b'{"type":"RECORD","stream":' + ENCODER.encode(stream) + b',"record":'
        self._deselected = tuple(deselected)
        self.stamp(dt.datetime.now(dt.timezone.utc))

    def stamp(self, extracted_at: dt.datetime) -> None:
        """Set ``time_extracted`` for the following records (once per downloaded file)."""
        stamp = extracted_at.astimezone(dt.timezone.utc).isoformat()
        self._suffix = b',"time_extracted":' + ENCODER.encode(stamp) + b"}\n"

    def write(self, record: dict[str, t.Any]) -> None:
        """Add one RECORD line; removes the deselected properties the export had to carry."""
        for name in self._deselected:
            record.pop(name, None)
        # One append of a whole line: a signal handler never sees half a line pending.
        _pending.extend(self._prefix + ENCODER.encode(record) + self._suffix)
        if len(_pending) >= FLUSH_BYTES:
            flush()
