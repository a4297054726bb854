"""The SDK's BATCH messages for bulk streams: records in jsonl files, one message per file.

SDK targets load a BATCH file without validating every record on its own, which made
``meltano run`` into target-postgres about twice as fast as with RECORD messages
(``benchmarks/batch_vs_record.py``). The SDK's own batch path cannot be used here: it gathers
records into files apart from our per-window checkpoints, so a STATE could cover records whose
file was never announced. :class:`BatchFiles` is instead a writer of the fast record path, like
:class:`~tap_marketo_bulk.records.output.RecordLines`: every ``output.flush()`` (which runs before any
STATE) closes its open file and queues its BATCH message first. A file is also closed once it
holds ``batch_size`` records. Files are written through the SDK's storage target (any fsspec
URL it supports), with a unique name per file, so processes parsing parts of one export write
their own files and the parent announces them in order.

Values are encoded exactly as in RECORD messages (the same msgspec encoder), so a target loads
the same typed values either way.
"""

from __future__ import annotations

import contextlib
import gzip
import typing as t
import uuid

import fsspec
from singer_sdk.helpers._batch import BatchConfig, SDKBatchMessage

from tap_marketo_bulk import errors, interrupts
from tap_marketo_bulk.records import output

#: gzip level: 1 compresses about four times faster than the default 9, for files a target
#: reads once and then deletes.
COMPRESS_LEVEL = 1


def batch_config(config: t.Mapping[str, t.Any]) -> BatchConfig | None:
    """The ``batch_config`` setting, checked; None when BATCH output is off."""
    raw = config.get("batch_config")
    if not raw:
        return None
    try:
        parsed = BatchConfig.from_dict(dict(raw))
    except (TypeError, ValueError, KeyError) as exc:
        raise errors.ConfigError(f"batch_config is not valid ({exc}); see the SDK's batch_config setting") from None
    if parsed.encoding.format != "jsonl":
        msg = f"batch_config.encoding.format {parsed.encoding.format!r} is not supported; use jsonl"
        raise errors.ConfigError(msg)
    if parsed.encoding.compression not in (None, "gzip", "none"):
        msg = f"batch_config.encoding.compression {parsed.encoding.compression!r} is not supported; use gzip or none"
        raise errors.ConfigError(msg)
    if not parsed.storage.root:
        raise errors.ConfigError("batch_config.storage.root is required, e.g. file:///tmp/marketo-batches")
    return parsed


class BatchFiles(output.Writer):
    """Records of one stream in batch files, each announced by a BATCH message once closed."""

    def __init__(self, stream: str, config: BatchConfig) -> None:
        super().__init__()
        self.stream = stream
        self.config = config
        self._gzip = config.encoding.compression == "gzip"
        self._open: contextlib.ExitStack | None = None
        self._file: t.IO[bytes] | None = None
        self._url = ""
        self._in_file = 0

    def spill(self) -> None:
        """Encode the collected records into batch files of at most ``batch_size`` records."""
        batch = self.batch
        if not batch:
            return
        size = self.config.batch_size
        with interrupts.held():
            start = 0
            while start < len(batch):
                if self._file is None:
                    self._start_file()
                assert self._file is not None
                part = batch[start : start + size - self._in_file]
                self._file.write(output.ENCODER.encode_lines(part))
                self._in_file += len(part)
                start += len(part)
                if self._in_file >= size:
                    self._finish_file()
            self.count += len(batch)
            batch.clear()

    def finish(self) -> None:
        """Write what was collected and announce the open file: called before any STATE."""
        self.spill()
        self._finish_file()

    def _start_file(self) -> None:
        storage = self.config.storage
        extension = ".json.gz" if self._gzip else ".json"
        name = f"{storage.prefix or ''}tap-marketo-bulk--{self.stream}-{uuid.uuid4()}{extension}"
        url = storage.get_url(name)
        # Not storage.open(): its transaction belongs to the shared filesystem object, so
        # finishing one stream's file would close every other stream's open file. A file is
        # announced only once closed, so no target sees it half written anyway.
        fs, path = _filesystem(url, self.config)
        fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        stack = contextlib.ExitStack()
        try:
            raw = stack.enter_context(fs.open(path, "wb"))
            self._file = (
                stack.enter_context(gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=COMPRESS_LEVEL))
                if self._gzip
                else raw
            )
        except BaseException:
            stack.close()
            raise
        self._open, self._url, self._in_file = stack, url, 0

    def _finish_file(self) -> None:
        if self._open is None:
            return
        with interrupts.held():
            self._open.close()  # the storage commits the file only now
            message = SDKBatchMessage(stream=self.stream, encoding=self.config.encoding, manifest=[self._url])
            self._open, self._file, self._in_file = None, None, 0
            output.write(output.ENCODER.encode(message.to_dict()) + b"\n")  # the target can load it now


def _filesystem(url: str, config: BatchConfig) -> tuple[t.Any, str]:
    """The fsspec filesystem and path of a batch file, opened with the storage's ``params``
    (credentials, for instance)."""
    return fsspec.core.url_to_fs(url, **(config.storage.params or {}))
