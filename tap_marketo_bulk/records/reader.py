"""Streaming reader of Marketo bulk export files into typed records.

It checks the header against the requested fields once, then feeds csv rows to the row code
generated for that header (:mod:`tap_marketo_bulk.records.rowcode`) and turns any failure into a
:class:`MalformedExportFile` that names the file, record, line and column. Two ways to read:

- :func:`read_export` yields one dict per record (the SDK's record path, and the tests);
- :meth:`ExportReader.emit` hands each record to a sink from a generated loop (the fast path).

File format (``MARKETO_API.md``): a header row, then one row per record, UTF-8, RFC 4180
quoting (a value with the separator, a quote, CR or LF is quoted, inner quotes doubled), the
literal ``null`` for an empty value. The same quoting is assumed for CSV, TSV and SSV.

About ``null``: Python's :mod:`csv` drops the quotes before we see a value, so a quoted
``"null"`` cannot be told from the unquoted marker. Both become ``None``. Nothing is lost by
that: Marketo writes a real string ``null`` unquoted too (it has no reason to quote it), so the
export itself cannot distinguish the two.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import functools
import sys
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from tap_marketo_bulk.errors import MalformedExportFile
from tap_marketo_bulk.records.rowcode import NULL, compile_emit_loop, compile_row_builder

__all__ = ["ExportReader", "Progress", "read_export", "read_header"]

_DELIMITERS = {"CSV": ",", "TSV": "\t", "SSV": " "}


def _raise_field_size_limit() -> None:
    """Let single values of many MB through (csv's default limit is 128 KiB).

    Text areas and activity ``attributes`` can be large. The limit is a C ``long``, which is
    32 bits on Windows, so fall back from ``sys.maxsize`` until the platform accepts it.
    """
    limit = sys.maxsize
    while True:
        try:
            csv.field_size_limit(limit)
            return
        except OverflowError:
            limit //= 2


_raise_field_size_limit()


def _delimiter(file_format: str) -> str:
    try:
        return _DELIMITERS[file_format.upper()]
    except KeyError:
        raise ValueError(f"Unknown export file format {file_format!r}; expected one of {sorted(_DELIMITERS)}") from None


def read_header(path: Path | str, file_format: str = "CSV") -> list[str] | None:
    """The header record of an export file; None when the file is empty.

    Raises :class:`MalformedExportFile` for a header that is not valid UTF-8, not readable
    CSV, or blank. ``utf-8-sig``: Marketo writes no BOM, but a file that passed through other
    tools may have one.
    """
    path = Path(path)
    with path.open("r", encoding="utf-8-sig", newline="") as handle:
        lines = (line.replace("\x00", "") for line in handle)
        try:
            header = next(csv.reader(lines, delimiter=_delimiter(file_format), quotechar='"', doublequote=True), None)
        except UnicodeDecodeError as exc:
            raise MalformedExportFile(f"Export file {path.name}: not valid UTF-8 in the header: {exc}") from exc
        except csv.Error as exc:
            raise MalformedExportFile(f"Export file {path.name}: unreadable header: {exc}") from exc
    if header is not None and not header:
        raise MalformedExportFile(f"Export file {path.name}: the header line is blank.")
    return header


def _file_has_nul(path: Path) -> bool:
    """True if the file contains a NUL byte; scanned in 1 MiB blocks, memory stays flat.

    NULs are rare, so they are detected up front with a byte search (memchr speed) instead
    of checking every line while parsing: files without NUL feed the csv reader straight from
    the file object, with no per-line Python layer.
    """
    with path.open("rb") as raw:
        while block := raw.read(1 << 20):
            if b"\x00" in block:
                return True
    return False


def _check_header(path: Path, header: list[str], expected: Iterable[str]) -> None:
    expected = list(expected)
    expected_set = set(expected)
    header_set = set(header)
    missing = [name for name in expected if name not in header_set]
    unexpected = [name for name in header if name not in expected_set]
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if missing or unexpected or duplicated:
        parts = []
        if missing:
            parts.append(f"missing columns {missing}")
        if unexpected:
            parts.append(f"unexpected columns {unexpected}")
        if duplicated:
            parts.append(f"duplicated columns {duplicated}")
        raise MalformedExportFile(
            f"Export file {path.name}: header does not match the requested fields: "
            f"{'; '.join(parts)}. Header was {header}."
        )


def _short_repr(value: str, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _row_error(
    path: Path,
    record: int,
    line: int,
    row: list[str],
    columns: list[str],
    converters: list[Callable[[str], Any]],
    error: ValueError,
) -> MalformedExportFile:
    """Explain why a row failed to build; only called on the (rare) failure path."""
    if len(row) != len(columns):
        return MalformedExportFile(
            f"Export file {path.name}: record {record} (ending on line {line}) has "
            f"{len(row)} columns, expected {len(columns)} as in the header."
        )
    for name, conv, value in zip(columns, converters, row, strict=True):
        if value == NULL:
            continue
        try:
            conv(value)
        except ValueError as exc:
            return MalformedExportFile(
                f"Export file {path.name}: record {record} (ending on line {line}), column "
                f"{name!r}: cannot convert value {_short_repr(value)}: {exc}"
            )
    return MalformedExportFile(  # a converter failed once but not on retry: report as is
        f"Export file {path.name}: record {record} (ending on line {line}): {error}"
    )


@dataclasses.dataclass
class Progress:
    """How far reading a file got: records read (rows of the next window included) and rows
    dropped as the next window's."""

    records: int = 0
    dropped: int = 0

    @property
    def emitted(self) -> int:
        """Records handed on."""
        return self.records - self.dropped


class ExportReader:
    """One export file: header checked and row code compiled once, then read row by row.

    ``converters`` maps every expected column name to the function converting its raw
    non-null string (see :mod:`tap_marketo_bulk.records.types`); the header must contain exactly
    these columns, in any order. ``keys`` maps a column to its record key (a stream's column
    name, see :mod:`tap_marketo_bulk.records.names`; default: the column's own name).
    ``drop=(column, raw)`` skips rows whose raw value in ``column`` is ``raw`` before they are
    built (the rows of the next window, see :mod:`tap_marketo_bulk.windows`). ``omit`` names
    record keys :meth:`emit` does not keep, and ``struct`` makes it hand on msgspec structs
    instead of dicts (see :func:`~tap_marketo_bulk.records.rowcode.compile_emit_loop`).
    """

    def __init__(
        self,
        path: Path | str,
        converters: Mapping[str, Callable[[str], Any]],
        *,
        file_format: str = "CSV",
        keys: Mapping[str, str] | None = None,
        drop: tuple[str, str] | None = None,
        omit: Iterable[str] = (),
        struct: bool = False,
    ) -> None:
        self.path = Path(path)
        self.delimiter = _delimiter(file_format)
        self.has_nul = _file_has_nul(self.path)
        self.header = read_header(self.path, file_format)
        self.columns: list[str] = []
        if self.header is None:
            return
        _check_header(self.path, self.header, converters)
        self.columns = list(self.header)
        self.converters = [converters[name] for name in self.columns]
        self.keys = [keys.get(name, name) for name in self.columns] if keys else None
        self.drop_index, self.drop_raw = (self.columns.index(drop[0]), drop[1]) if drop else (None, None)
        self._omit, self._struct = frozenset(omit), struct

    # --- text -------------------------------------------------------------------------

    def _lines(self, handle: Iterable[str]) -> Iterable[str]:
        return (line.replace("\x00", "") for line in handle) if self.has_nul else handle

    def _csv(self, lines: Iterable[str]) -> Any:
        return csv.reader(lines, delimiter=self.delimiter, quotechar='"', doublequote=True)

    # --- reading ---------------------------------------------------------------------

    def rows(self) -> Generator[dict[str, Any], None, Progress]:
        """Yield one dict per record of the whole file; return the rows read and dropped."""
        if self.header is None:
            return Progress()
        with self._open() as handle:
            reader = self._csv(self._lines(handle))
            next(reader)
            record = dropped = 0
            build = compile_row_builder(self.columns, self.converters, self.keys)
            with self._errors_explained(reader, lambda: record):
                for record, row in enumerate(reader, 1):
                    if self.drops(row):
                        dropped += 1
                        continue
                    try:
                        built = build(row)
                    except ValueError as exc:
                        # Raised by the generated unpack (field count) or a converter; diagnosing
                        # which one is left to this slow path so good rows pay nothing for it.
                        raise _row_error(
                            self.path, record, reader.line_num, row, self.columns, self.converters, exc
                        ) from exc
                    yield built
            return Progress(record, dropped)

    def emit(self, append: Callable[[dict[str, Any]], Any], spill: Callable[[], Any]) -> Progress:
        """Hand each record of the file to ``append`` from the generated loop, calling
        ``spill`` every :data:`~tap_marketo_bulk.records.rowcode.SPILL_EVERY` rows; return the
        progress at the end."""
        progress = [0, 0]
        if self.header is None:
            return Progress()
        run, slow = self._emit_loop
        with self._open() as handle:
            reader = self._csv(self._lines(handle))
            next(reader)

            def rebuild(row: list[str], record: int) -> dict[str, Any] | None:
                if self.drops(row):
                    return None
                try:
                    return slow(row)
                except ValueError as exc:
                    raise _row_error(
                        self.path, record, reader.line_num, row, self.columns, self.converters, exc
                    ) from exc

            with self._errors_explained(reader, lambda: progress[0]):
                run(reader, append, spill, rebuild, self.drop_raw, progress)
            return Progress(progress[0], progress[1])

    @functools.cached_property
    def _emit_loop(self) -> tuple[Callable[..., None], Callable[[list[str]], Any]]:
        """:meth:`emit`'s generated loop and slow builder, compiled on first use (the SDK path
        never needs them)."""
        return compile_emit_loop(
            self.columns,
            self.converters,
            drop_index=self.drop_index,
            omit=self._omit,
            struct=self._struct,
            keys=self.keys,
        )

    def drops(self, row: list[str]) -> bool:
        """Whether a row belongs to the next window (``drop``); the generated loop inlines it."""
        return self.drop_index is not None and len(row) > self.drop_index and row[self.drop_index] == self.drop_raw

    def _open(self) -> Any:
        return self.path.open("r", encoding="utf-8-sig", newline="")

    @contextlib.contextmanager
    def _errors_explained(self, reader: Any, record: Callable[[], int]) -> Iterator[None]:
        """Turn decoding and csv errors into :class:`MalformedExportFile` naming the record."""
        try:
            yield
        except UnicodeDecodeError as exc:
            raise MalformedExportFile(
                f"Export file {self.path.name}: not valid UTF-8 (text is decoded in blocks, so the "
                f"bad byte is at or after record {record() + 1}, line {reader.line_num + 1}): {exc}"
            ) from exc
        except csv.Error as exc:
            raise MalformedExportFile(
                f"Export file {self.path.name}: unreadable record {record() + 1} (line {reader.line_num}): {exc}"
            ) from exc


def read_export(
    path: Path | str,
    converters: Mapping[str, Callable[[str], Any]],
    *,
    file_format: str = "CSV",
    keys: Mapping[str, str] | None = None,
    drop: tuple[str, str] | None = None,
) -> Generator[dict[str, Any], None, Progress]:
    """Yield one dict per record of an export file, values converted per column and keyed by
    ``keys`` (default: the column names); return the rows read and those dropped as the next
    window's (:class:`Progress`).

    The literal ``null`` becomes ``None`` without calling the converter. NUL bytes are removed
    from values. An empty or header-only file yields nothing. Raises
    :class:`MalformedExportFile` for a header that does not match ``converters``, a row with
    the wrong number of fields, or a value its converter rejects (ValueError); the message
    names the file, the record (1-based, header excluded), its line and the column. The file
    is streamed row by row; memory does not grow with its size. See :class:`ExportReader`.
    """
    return (yield from ExportReader(path, converters, file_format=file_format, keys=keys, drop=drop).rows())
