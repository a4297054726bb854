"""Streaming parser of Marketo bulk export files into typed records.

This is the tap's hot path: every exported record passes through here, so the per-row work is
kept to one tuple unpack and one dict display. Everything that depends only on the header
(column order, which converter each column uses, which columns are plain text) is decided once
per file; the per-row code is then generated for exactly that header (see :func:`_items`), so a
row costs no Python-level loop, no per-column function call for text columns and no attribute
or global lookups.

Two ways to read a file:

- :func:`read_export` yields one dict per record (the SDK's record path, and the tests);
- :meth:`ExportReader.emit` hands each record to a sink from a generated loop and can read one
  byte range of the file, so that several processes can share a large file
  (:mod:`tap_marketo_bulk.segments`).

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
import io
import os
import sys
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import msgspec

from tap_marketo_bulk.errors import MalformedExportFile
from tap_marketo_bulk.types import INLINE, INLINE_NAMES, INLINE_RAW

__all__ = ["ExportReader", "NotARecordBoundary", "Progress", "read_export"]

_DELIMITERS = {"CSV": ",", "TSV": "\t", "SSV": " "}

_NULL = "null"

#: What an inline expression raises for a value off its fast form (the row is then rebuilt
#: with the converters, which give the value or the reportable error).
_INLINE_ERRORS = (ValueError, LookupError, ArithmeticError)

#: The emit loop hands pending records on (``spill``) after this many rows (a power of two):
#: few enough that a batch of records stays in the CPU cache until it is encoded.
SPILL_EVERY = 128

#: Bytes read per block when looking for record boundaries.
_SCAN_BLOCK = 1 << 20


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


def _items(
    columns: list[str],
    converters: list[Callable[[str], Any]],
    namespace: dict[str, Any],
    *,
    raw: bool,
    omit: frozenset[str] = frozenset(),
) -> tuple[str, list[tuple[str, str, str]]]:
    """Source pieces of the generated row code: the unpack target, and for each kept column
    its key name, fast expression and slow expression (converters only).

    For a text column ``k0`` and an integer column ``k1`` they are ``v0, v1,`` and::

        ("k0", 'None if v0 == "null" else v0', 'None if v0 == "null" else v0')
        ("k1", 'None if v1 == "null" else _int(v1)', 'None if v1 == "null" else c1(v1)')

    The fast expressions use the converters' inline forms (:data:`tap_marketo_bulk.types.INLINE`,
    or :data:`~tap_marketo_bulk.types.INLINE_RAW` when ``raw``): for well-formed values they
    give the converter's result without a Python call; any other value makes them defer to the
    converter or raise, and the row is then built again with the slow expressions.

    Column names and converters are bound in ``namespace`` (``k0``, ``c1``), never pasted into
    the source, so a header cannot inject code. ``str`` converters are skipped: ``str(s)`` is
    ``s`` itself. Columns in ``omit`` are unpacked (the field count is still checked) but not
    converted or kept.
    """
    inline = INLINE_RAW if raw else INLINE
    namespace.update(INLINE_NAMES)
    unpack = []
    items = []
    for index, (name, conv) in enumerate(zip(columns, converters, strict=True)):
        var = f"v{index}"
        unpack.append(var)
        if name in omit:
            continue
        namespace[f"k{index}"] = name
        if conv is str:
            slow = fast = var
        else:
            namespace[f"c{index}"] = conv
            slow = f"c{index}({var})"
            template = inline.get(conv)
            fast = template.format(v=var, c=f"c{index}") if template else slow
        items.append(
            (f"k{index}", f"None if {var} == {_NULL!r} else {fast}", f"None if {var} == {_NULL!r} else {slow}")
        )
    # A trailing comma makes a one-column unpack a tuple unpack too.
    return f"{', '.join(unpack)},", items


def _dict_display(items: list[tuple[str, str, str]], which: int) -> str:
    return "{" + ", ".join(f"{item[0]}: {item[which]}" for item in items) + "}"


def _struct_call(items: list[tuple[str, str, str]], which: int) -> str:
    return "_Record(" + ", ".join(item[which] for item in items) + ")"


def _compile(source: str, namespace: dict[str, Any], name: str, columns: int) -> Callable[..., Any]:
    # Safe: the source holds only generated identifiers, fixed templates and the "null" literal.
    exec(compile(source, f"<{name} for {columns} columns>", "exec"), namespace)  # noqa: S102
    return namespace[name]


def _compile_row_builder(columns: list[str], converters: list[Callable[[str], Any]]) -> Callable[[list[str]], Any]:
    """A function turning one csv row into a record dict, for this header (the SDK path).

    It tries the fast display and falls back to the converters alone, which give the same
    values or raise the reportable ValueError; the tuple unpack raises ValueError for a wrong
    field count.
    """
    namespace: dict[str, Any] = {"_errors": _INLINE_ERRORS}
    unpack, items = _items(columns, converters, namespace, raw=False)
    source = (
        "def build(row):\n"
        f"    {unpack} = row\n"
        "    try:\n"
        f"        return {_dict_display(items, 1)}\n"
        "    except _errors:\n"
        f"        return {_dict_display(items, 2)}\n"
    )
    return _compile(source, namespace, "build", len(columns))


def _compile_emit_loop(
    columns: list[str],
    converters: list[Callable[[str], Any]],
    *,
    drop_index: int | None,
    omit: frozenset[str],
    struct: bool,
) -> tuple[Callable[..., None], Callable[[list[str]], Any]]:
    """The fast path's whole per-row loop, generated for this header.

    ``run(rows, append, spill, rebuild, drop_raw, progress)`` builds each row with the raw
    inline forms, hands the dict to ``append`` and calls ``spill`` every :data:`SPILL_EVERY`
    rows. A row whose ``drop_index`` value is ``drop_raw`` is skipped before it is built. A row
    off the fast forms goes to ``rebuild(row, record)``, which returns its dict, None to drop
    it, or raises the reportable error. ``progress`` (a two-item list) receives the records
    read and dropped, also when the loop ends by an exception. Also returns the matching slow
    builder, for ``rebuild``.

    With ``struct`` records are :mod:`msgspec` structs of the kept columns instead of dicts:
    built by one positional call, encoded with their keys pre-encoded, freed without a hash
    table, and not tracked by the garbage collector (they hold only strings, numbers and
    ``None``). msgspec writes them exactly as the same dicts. For records nothing reads again.
    """
    namespace: dict[str, Any] = {"_errors": _INLINE_ERRORS}
    unpack, items = _items(columns, converters, namespace, raw=True, omit=omit)
    display = _dict_display
    if struct:
        fields = [(f"f{n}", object) for n in range(len(items))]
        names = {f"f{n}": namespace[item[0]] for n, item in enumerate(items)}
        namespace["_Record"] = msgspec.defstruct("Record", fields, rename=names, gc=False)
        display = _struct_call
    fast = display(items, 1)
    lines = [
        "def run(rows, append, spill, rebuild, drop_raw, progress):",
        "    record, dropped = progress",
        "    try:",
        "        for row in rows:",
        "            record += 1",
        "            try:",
        f"                {unpack} = row",
    ]
    if drop_index is not None:
        lines += [
            f"                if v{drop_index} == drop_raw:",
            "                    dropped += 1",
            "                    continue",
        ]
    lines += [
        f"                built = {fast}",
        "            except _errors:",
        "                built = rebuild(row, record)",
        "                if built is None:",
        "                    dropped += 1",
        "                    continue",
        "            append(built)",
        f"            if not record & {SPILL_EVERY - 1}:",
        "                spill()",
        "    finally:",
        "        progress[0], progress[1] = record, dropped",
    ]
    lines += ["def slow(row):", f"    {unpack} = row", f"    return {display(items, 2)}"]
    source = "\n".join(lines) + "\n"
    return _compile(source, namespace, "run", len(columns)), namespace["slow"]


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
        if value == _NULL:
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


class _ByteRange(io.RawIOBase):
    """Bytes ``start``..``end`` of a file, read with ``pread`` (no shared file position)."""

    def __init__(self, fd: int, start: int, end: int) -> None:
        super().__init__()
        self._fd, self._pos, self._end = fd, start, end

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        size = min(len(buffer), self._end - self._pos)
        if size <= 0:
            return 0
        data = os.pread(self._fd, size, self._pos)
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)


@dataclasses.dataclass
class Progress:
    """Where reading a file got to: records read (rows of the next window included), rows
    dropped as the next window's, and lines consumed (for error messages)."""

    records: int = 0
    dropped: int = 0
    lines: int = 0
    #: Processes that read the file (see :mod:`tap_marketo_bulk.segments`).
    processes: int = 1

    @property
    def emitted(self) -> int:
        """Records handed on."""
        return self.records - self.dropped


class NotARecordBoundary(Exception):
    """A range read with ``strict`` quoting hit quoting outside RFC 4180 or ended inside a
    quoted value, so its end may not be a record boundary; ``progress`` is how far it got."""

    def __init__(self, progress: Progress) -> None:
        super().__init__(f"not a record boundary after record {progress.records}")
        self.progress = progress


class ExportReader:
    """One export file: header checked and row code compiled once, rows read by byte range.

    ``converters`` maps every expected column name to the function converting its raw
    non-null string (see :mod:`tap_marketo_bulk.types`); the header must contain exactly
    these columns, in any order. ``drop=(column, raw)`` skips rows whose raw value in
    ``column`` is ``raw`` before they are built (the rows of the next window, see
    :mod:`tap_marketo_bulk.windows`). ``omit`` names columns :meth:`emit` does not keep, and
    ``struct`` makes it hand on msgspec structs instead of dicts (see :func:`_compile_emit_loop`).
    """

    def __init__(
        self,
        path: Path | str,
        converters: Mapping[str, Callable[[str], Any]],
        *,
        file_format: str = "CSV",
        drop: tuple[str, str] | None = None,
        omit: Iterable[str] = (),
        struct: bool = False,
    ) -> None:
        self.path = Path(path)
        try:
            self.delimiter = _DELIMITERS[file_format.upper()]
        except KeyError:
            raise ValueError(
                f"Unknown export file format {file_format!r}; expected one of {sorted(_DELIMITERS)}"
            ) from None
        self.has_nul = _file_has_nul(self.path)
        self.size = self.path.stat().st_size
        self.header = self._read_header()
        #: Byte offset of the first data row: the end of the header record, or None when that
        #: cannot be told from the bytes (then the file is only read as a whole).
        self.data_start: int | None = None
        #: Lines the header record takes (record line numbers in errors count them).
        self.header_lines = 1
        self.columns: list[str] = []
        if self.header is None:
            return
        _check_header(self.path, self.header, converters)
        self.columns = list(self.header)
        self.converters = [converters[name] for name in self.columns]
        self.drop_index, self.drop_raw = (self.columns.index(drop[0]), drop[1]) if drop else (None, None)
        self._omit, self._struct = frozenset(omit), struct
        header_end = self._header_end()
        if header_end is not None:
            self.data_start, self.header_lines = header_end

    # --- text -------------------------------------------------------------------------

    def _lines(self, handle: Iterable[str]) -> Iterable[str]:
        return (line.replace("\x00", "") for line in handle) if self.has_nul else handle

    def _csv(self, lines: Iterable[str], *, strict: bool = False) -> Any:
        return csv.reader(lines, delimiter=self.delimiter, quotechar='"', doublequote=True, strict=strict)

    def _read_header(self) -> list[str] | None:
        # utf-8-sig: Marketo writes no BOM, but a file that passed through other tools may have one.
        with self.path.open("r", encoding="utf-8-sig", newline="") as handle:
            try:
                header = next(self._csv(self._lines(handle)), None)
            except UnicodeDecodeError as exc:
                raise MalformedExportFile(
                    f"Export file {self.path.name}: not valid UTF-8 in the header: {exc}"
                ) from exc
        if header is not None and not header:
            raise MalformedExportFile(f"Export file {self.path.name}: the header line is blank.")
        return header

    def _header_end(self) -> tuple[int, int] | None:
        """Byte offset just after the header record and its number of lines, checked by
        parsing those bytes alone; None when they do not give exactly the header."""
        end = self.boundary_after(0, 0)
        if end is None:
            return None
        with self.path.open("rb") as raw:
            text = raw.read(end).decode("utf-8-sig", errors="replace")
        reader = self._csv(self._lines(io.StringIO(text, newline="")), strict=True)
        try:
            rows = list(reader)
        except csv.Error:
            return None
        return (end, reader.line_num) if rows == [self.header] else None

    def boundary_after(self, offset: int, start: int | None = None) -> int | None:
        """The end of the first record ending at or after byte ``offset``: just past a LF with
        an even number of quote characters between ``start`` (a record boundary) and it.

        In RFC 4180 quoting every quote opens, closes or doubles inside a quoted value, so a
        LF after an even number of them is outside any quoted value. Files that break that
        rule are caught where the ranges are read (strict parsing, see
        :mod:`tap_marketo_bulk.segments`). None when the file ends first.
        """
        start = self.data_start if start is None else start
        assert start is not None
        return self._first_even_newline(offset, self._quotes(start, offset))

    def boundary_before(self, offset: int, end: int) -> int | None:
        """The same cut as :meth:`boundary_after`, found by counting the quotes from the cut
        on to ``end`` (a record boundary) instead of from an earlier boundary: every record
        holds an even number of quotes, so both counts are even at the same LFs. This lets the
        processes that read a file from its back find their cuts without reading the front.
        None when no record ends between ``offset`` and ``end``.
        """
        cut = self._first_even_newline(offset, self._quotes(offset, end))
        return cut if cut is not None and cut < end else None

    def _quotes(self, start: int, end: int) -> int:
        """How many quote characters bytes ``start`` to ``end`` hold."""
        quotes = 0
        with self.path.open("rb") as raw:
            raw.seek(start)
            while start < end and (block := raw.read(min(_SCAN_BLOCK, end - start))):
                quotes += block.count(b'"')
                start += len(block)
        return quotes

    def _first_even_newline(self, offset: int, quotes: int) -> int | None:
        """Just past the first LF at or after ``offset`` where ``quotes`` plus the quotes from
        ``offset`` to that LF is even; None when the file ends first."""
        position = offset
        with self.path.open("rb") as raw:
            raw.seek(offset)
            while block := raw.read(_SCAN_BLOCK):
                at = 0
                while (newline := block.find(b"\n", at)) >= 0:
                    quotes += block.count(b'"', at, newline)
                    if quotes % 2 == 0:
                        return position + newline + 1
                    at = newline + 1
                quotes += block.count(b'"', at)
                position += len(block)
        return None

    # --- reading ---------------------------------------------------------------------

    def rows(self) -> Generator[dict[str, Any], None, int]:
        """Yield one dict per record of the whole file; return how many were yielded."""
        if self.header is None:
            return 0
        with self.path.open("r", encoding="utf-8-sig", newline="") as handle:
            reader = self._csv(self._lines(handle))
            next(reader)
            record = dropped = 0
            build = _compile_row_builder(self.columns, self.converters)
            with self._errors_explained(reader, lambda: record, 0):
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
            return record - dropped

    def emit(
        self,
        append: Callable[[dict[str, Any]], Any],
        spill: Callable[[], Any],
        span: tuple[int, int] | None = None,
        *,
        base: Progress | None = None,
        strict: bool = False,
        skip: int = 0,
    ) -> Progress:
        """Hand each record of the file, or of the byte range ``span``, to ``append``.

        ``base`` is the progress before ``span`` (record and line numbers in errors count from
        it); ``strict`` makes the csv reader refuse quoting that RFC 4180 does not allow
        (:mod:`tap_marketo_bulk.segments` uses it to prove that a range ended on a record
        boundary). ``skip`` passes over that many records first (already handed on).
        Returns the progress at the end, ``base`` included.
        """
        base = base or Progress()
        progress = [base.records, base.dropped]
        if self.header is None:
            return Progress(*progress)
        run, slow = self._emit_loop
        with self._open(span) as handle:
            reader = self._csv(self._lines(handle), strict=strict)
            if span is None:
                next(reader)
            for _ in range(skip):
                if next(reader, None) is None:
                    break
                progress[0] += 1

            def rebuild(row: list[str], record: int) -> dict[str, Any] | None:
                if self.drops(row):
                    return None
                try:
                    return slow(row)
                except ValueError as exc:
                    line = base.lines + reader.line_num
                    raise _row_error(self.path, record, line, row, self.columns, self.converters, exc) from exc

            try:
                with self._errors_explained(reader, lambda: progress[0], base.lines):
                    run(reader, append, spill, rebuild, self.drop_raw, progress)
            except MalformedExportFile as exc:
                if strict and isinstance(exc.__cause__, csv.Error):
                    raise NotARecordBoundary(Progress(progress[0], progress[1])) from exc
                raise
            return Progress(progress[0], progress[1], base.lines + reader.line_num)

    @functools.cached_property
    def _emit_loop(self) -> tuple[Callable[..., None], Callable[[list[str]], Any]]:
        """:meth:`emit`'s generated loop and slow builder, compiled on first use (the SDK path
        never needs them)."""
        return _compile_emit_loop(
            self.columns, self.converters, drop_index=self.drop_index, omit=self._omit, struct=self._struct
        )

    def drops(self, row: list[str]) -> bool:
        """Whether a row belongs to the next window (``drop``); the generated loop inlines it."""
        return self.drop_index is not None and len(row) > self.drop_index and row[self.drop_index] == self.drop_raw

    def _open(self, span: tuple[int, int] | None) -> Any:
        if span is None:
            return self.path.open("r", encoding="utf-8-sig", newline="")
        return _RangeText(self.path, *span)

    @contextlib.contextmanager
    def _errors_explained(self, reader: Any, record: Callable[[], int], lines: int) -> Iterator[None]:
        """Turn decoding and csv errors into :class:`MalformedExportFile` naming the record."""
        try:
            yield
        except UnicodeDecodeError as exc:
            raise MalformedExportFile(
                f"Export file {self.path.name}: not valid UTF-8 (text is decoded in blocks, so the "
                f"bad byte is at or after record {record() + 1}, line {lines + reader.line_num + 1}): {exc}"
            ) from exc
        except csv.Error as exc:
            raise MalformedExportFile(
                f"Export file {self.path.name}: unreadable record {record() + 1} "
                f"(line {lines + reader.line_num}): {exc}"
            ) from exc


class _RangeText(io.TextIOWrapper):
    """UTF-8 text of a byte range of a file, for the csv reader (``newline=""`` as csv wants)."""

    def __init__(self, path: Path, start: int, end: int) -> None:
        self._fd = os.open(path, os.O_RDONLY)
        try:
            raw = io.BufferedReader(_ByteRange(self._fd, start, end), buffer_size=1 << 16)
            super().__init__(raw, encoding="utf-8", newline="")
        except BaseException:
            os.close(self._fd)
            raise

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1


def read_export(
    path: Path | str,
    converters: Mapping[str, Callable[[str], Any]],
    *,
    file_format: str = "CSV",
    drop: tuple[str, str] | None = None,
) -> Generator[dict[str, Any], None, int]:
    """Yield one dict per record of an export file, values converted per column; return
    how many were yielded.

    The literal ``null`` becomes ``None`` without calling the converter. NUL bytes are removed
    from values. An empty or header-only file yields nothing. Raises
    :class:`MalformedExportFile` for a header that does not match ``converters``, a row with
    the wrong number of fields, or a value its converter rejects (ValueError); the message
    names the file, the record (1-based, header excluded), its line and the column. The file
    is streamed row by row; memory does not grow with its size. See :class:`ExportReader`.
    """
    return (yield from ExportReader(path, converters, file_format=file_format, drop=drop).rows())
