"""RECORD lines written straight to stdout for bulk streams: the hot end of the record path.

The SDK builds a ``RecordMessage`` per record, walks every key for deselected properties,
calls stream maps and flushes stdout after each message. For bulk streams whose stream map is
the identity none of that changes a byte of output, so records are collected per stream and
encoded a batch at a time: msgspec writes a batch as newline-separated JSON in one call, and
each newline becomes the end of one RECORD line and the start of the next (JSON text never
holds a raw newline, so every newline in that output separates two records). Streams with
stream maps or flattening keep the SDK's path (see ``BulkExportStream._sync_records``).

Order: every message the SDK writes goes through :class:`OrderedMsgSpecWriter`, which first
writes all collected records, so a STATE never overtakes the records it covers.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import os
import stat
import sys
import time
import typing as t

import msgspec
from singer_sdk.contrib.msgspec import MsgSpecWriter

from tap_marketo_bulk import interrupts

#: Decimals as JSON numbers (exact currency and percent values), like the SDK's msgspec writer.
ENCODER = msgspec.json.Encoder(decimal_format="number")


#: Encoded lines are collected up to this size, then written in one call: a write per record
#: costs more than encoding it when stdout is unbuffered, as it is under Meltano.
FLUSH_BYTES = 1 << 18
#: Records a writer collects before it encodes them: few enough to stay in the CPU cache.
BATCH_RECORDS = 128

_pending = bytearray()
#: Every writer of this process, in creation order.
_writers: list[Writer] = []
#: Whether a RECORD or BATCH message went out through the SDK's writer (streams off the fast path).
_sdk_record_sent = False
#: Whether :func:`await_reader_stop` has waited already.
_reader_stop_awaited = False


def record_sent() -> bool:
    """Whether this process has emitted a record yet, from any stream, on either path."""
    return _sdk_record_sent or any(writer.count for writer in _writers)


@functools.cache
def read_with_logs() -> bool:
    """Whether stdout is the very pipe stderr goes to.

    The log lines then sit between the messages, so most likely no target is loading this
    output: someone is only looking at it. ``meltano config test`` reads a tap so (until the
    first RECORD or BATCH, then it stops the tap); ``meltano run`` and ``meltano invoke`` never do.
    """
    try:
        out, err = os.fstat(sys.stdout.fileno()), os.fstat(sys.stderr.fileno())
    except (OSError, ValueError):  # closed, or not a real file (a test's capture)
        return False
    return stat.S_ISFIFO(out.st_mode) and os.path.samestat(out, err)


def await_reader_stop(seconds: float, logger: logging.Logger) -> None:
    """Once per run: put every record written so far in the pipe, then give its reader
    ``seconds`` to stop the tap (SIGTERM, raised here as an interrupt) before going on."""
    global _reader_stop_awaited
    if _reader_stop_awaited:
        return
    _reader_stop_awaited = True
    flush()
    sys.stdout.flush()
    logger.info(
        "stdout and stderr are one pipe, as meltano config test reads a tap: waiting up to %.0f s for it "
        "to stop this run before the first export job (send stderr elsewhere to skip the wait)",
        seconds,
    )
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.05)


def spill() -> None:
    """Encode the records every writer collected."""
    for writer in _writers:
        if writer.batch:
            writer.spill()


def write(line: bytes) -> None:
    """Write one whole encoded message line now, after the lines already pending."""
    with interrupts.held():
        _pending.extend(line)
        _write_pending()


def flush() -> None:
    """Write all collected records; called before any other message, so order holds.

    Interrupts are held during the write: a signal never leaves half a line on stdout.
    """
    with interrupts.held():
        for writer in _writers:
            writer.finish()
        _write_pending()


def _write_pending() -> None:
    with interrupts.held():
        if not _pending:
            return
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
        global _sdk_record_sent
        with interrupts.held():
            flush()
            super().write_message(message)
        _sdk_record_sent = _sdk_record_sent or message.type in ("RECORD", "BATCH")


class Writer:
    """Collects one stream's records for the fast path and turns them into messages.

    ``append`` (the list's own method: no Python call per record) collects a record;
    :meth:`spill` encodes what was collected; :meth:`finish` (run by :func:`flush`, before
    any other message) makes everything collected part of the output.
    """

    def __init__(self) -> None:
        self.batch: list[t.Any] = []
        self.append = self.batch.append
        #: Records encoded so far (the SDK's record_count metric).
        self.count = 0
        _writers.append(self)

    def stamp(self, extracted_at: dt.datetime) -> None:
        """Set ``time_extracted`` for the following records (once per downloaded file); a
        no-op for messages without it (BATCH files)."""

    def write(self, record: t.Any) -> None:
        """Add one record."""
        self.batch.append(record)
        if len(self.batch) >= BATCH_RECORDS:
            self.spill()

    def spill(self) -> None:
        """Encode the collected records."""
        raise NotImplementedError

    def finish(self) -> None:
        """Encode the collected records into the output."""
        self.spill()


class RecordLines(Writer):
    """Encodes records of one stream as Singer RECORD lines for stdout."""

    def __init__(self, stream: str) -> None:
        self._prefix = b'{"type":"RECORD","stream":' + ENCODER.encode(stream) + b',"record":'
        super().__init__()
        self.stamp(dt.datetime.now(dt.timezone.utc))

    def stamp(self, extracted_at: dt.datetime) -> None:
        """Set ``time_extracted`` for the following records (once per downloaded file)."""
        self.spill()  # the records collected so far keep their own time
        stamp = extracted_at.astimezone(dt.timezone.utc).isoformat()
        self._separator = b',"time_extracted":' + ENCODER.encode(stamp) + b"}\n" + self._prefix

    def spill(self) -> None:
        """Encode the collected records into RECORD lines."""
        batch = self.batch
        if not batch:
            return
        lines = ENCODER.encode_lines(batch).replace(b"\n", self._separator)
        # All lines in at once: a signal handler never sees half a line pending.
        with interrupts.held():
            _pending.extend(self._prefix)
            _pending.extend(lines)
            del _pending[-len(self._prefix) :]
            self.count += len(batch)
            batch.clear()
        if len(_pending) >= FLUSH_BYTES:
            _write_pending()
