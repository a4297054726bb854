"""Streaming parser of Marketo bulk export files into typed records.

This is the tap's hot path: every exported record passes through :func:`read_export`, so the
per-row work is kept to one tuple unpack and one dict display. Everything that depends only on
the header (column order, which converter each column uses, which columns are plain text) is
decided once per file; the per-row code is then generated for exactly that header (see
:func:`_compile_row_builder`), so a row costs no Python-level loop, no per-column function call
for text columns and no attribute or global lookups.

File format (``MARKETO_API.md``): a header row, then one row per record, UTF-8, RFC 4180
quoting (a value with the separator, a quote, CR or LF is quoted, inner quotes doubled), the
literal ``null`` for an empty value. The same quoting is assumed for CSV, TSV and SSV.

About ``null``: Python's :mod:`csv` drops the quotes before we see a value, so a quoted
``"null"`` cannot be told from the unquoted marker. Both become ``None``. Nothing is lost by
that: Marketo writes a real string ``null`` unquoted too (it has no reason to quote it), so the
export itself cannot distinguish the two.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable, Generator, Iterable, Mapping
from pathlib import Path
from typing import Any

from tap_marketo_bulk.errors import MalformedExportFile
from tap_marketo_bulk.types import INLINE, INLINE_NAMES

__all__ = ["read_export"]

_DELIMITERS = {"CSV": ",", "TSV": "\t", "SSV": " "}

_NULL = "null"


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


def _compile_row_builder(
    columns: list[str], converters: list[Callable[[str], Any]]
) -> Callable[[list[str]], dict[str, Any]]:
    """Build a function turning one csv row into a record dict, specialised to this header.

    The generated function looks like (for a text column ``k0`` and an integer column ``k1``)::

        def build(row):
            v0, v1, = row
            try:
                return {k0: None if v0 == "null" else v0,
                        k1: None if v1 == "null" else _int(v1)}
            except (ValueError, KeyError, ArithmeticError):
                return {k0: None if v0 == "null" else v0,
                        k1: None if v1 == "null" else c1(v1)}

    The first dict uses the converters' inline forms (:data:`tap_marketo_bulk.types.INLINE`):
    for well-formed values they give exactly the converter's result without a Python call; any
    other value makes them defer to the converter or raise, and the row is then built again
    with the converters alone, which return the same values or raise the reportable ValueError.

    Tuple unpacking also checks the field count (ValueError on mismatch). Column names and
    converters are passed in as bound names (``k0``, ``c1``), never pasted into the source, so
    a header cannot inject code. ``str`` converters are skipped: ``str(s)`` is ``s`` itself.
    """
    namespace: dict[str, Any] = dict(INLINE_NAMES)
    unpack = []
    fast_items = []
    slow_items = []
    for index, (name, conv) in enumerate(zip(columns, converters, strict=True)):
        var = f"v{index}"
        unpack.append(var)
        namespace[f"k{index}"] = name
        if conv is str:
            slow = fast = var
        else:
            namespace[f"c{index}"] = conv
            slow = f"c{index}({var})"
            template = INLINE.get(conv)
            fast = template.format(v=var, c=f"c{index}") if template else slow
        slow_items.append(f"k{index}: None if {var} == {_NULL!r} else {slow}")
        fast_items.append(f"k{index}: None if {var} == {_NULL!r} else {fast}")
    # A trailing comma makes a one-column unpack a tuple unpack too.
    source = (
        "def build(row):\n"
        f"    {', '.join(unpack)}, = row\n"
        "    try:\n"
        f"        return {{{', '.join(fast_items)}}}\n"
        "    except (ValueError, KeyError, ArithmeticError):\n"
        f"        return {{{', '.join(slow_items)}}}\n"
    )
    # Safe: the source holds only generated identifiers, fixed templates and the "null" literal.
    exec(compile(source, f"<row builder for {len(columns)} columns>", "exec"), namespace)  # noqa: S102
    return namespace["build"]


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


def read_export(
    path: Path,
    converters: Mapping[str, Callable[[str], Any]],
    *,
    file_format: str = "CSV",
    drop: tuple[str, str] | None = None,
) -> Generator[dict[str, Any], None, int]:
    """Yield one dict per record of an export file, values converted per column; return
    how many were yielded.

    ``converters`` maps every expected column name to the function converting its raw
    non-null string (see :mod:`tap_marketo_bulk.types`); the header must contain exactly
    these columns, in any order. The literal ``null`` becomes ``None`` without calling the
    converter. NUL bytes are removed from values. An empty or header-only file yields nothing.

    Raises :class:`MalformedExportFile` for a header that does not match ``converters``, a row
    with the wrong number of fields, or a value its converter rejects (ValueError); the
    message names the file, the record (1-based, header excluded), its line and the column.
    The file is streamed row by row; memory does not grow with its size.

    ``drop=(column, raw)`` skips rows whose raw value in ``column`` is ``raw`` before they are
    built (the rows of the next window, see :mod:`tap_marketo_bulk.windows`).
    """
    path = Path(path)
    try:
        delimiter = _DELIMITERS[file_format.upper()]
    except KeyError:
        raise ValueError(f"Unknown export file format {file_format!r}; expected one of {sorted(_DELIMITERS)}") from None
    has_nul = _file_has_nul(path)
    # utf-8-sig: Marketo writes no BOM, but a file that passed through other tools may have one.
    with path.open("r", encoding="utf-8-sig", newline="") as handle:
        lines: Iterable[str] = handle
        if has_nul:
            lines = (line.replace("\x00", "") for line in handle)
        reader = csv.reader(lines, delimiter=delimiter, quotechar='"', doublequote=True)
        record = 0
        try:
            header = next(reader, None)
            if header is None:
                return 0
            if not header:
                raise MalformedExportFile(f"Export file {path.name}: the header line is blank.")
            _check_header(path, header, converters)
            columns = list(header)
            convs = [converters[name] for name in columns]
            build = _compile_row_builder(columns, convs)
            drop_index, drop_raw = (columns.index(drop[0]), drop[1]) if drop else (0, None)
            dropped = 0
            for record, row in enumerate(reader, 1):
                if drop_raw is not None and len(row) > drop_index and row[drop_index] == drop_raw:
                    dropped += 1
                    continue
                try:
                    built = build(row)
                except ValueError as exc:
                    # Raised by the generated unpack (field count) or a converter; diagnosing
                    # which one is left to this slow path so good rows pay nothing for it.
                    raise _row_error(path, record, reader.line_num, row, columns, convs, exc) from exc
                yield built
            return record - dropped
        except UnicodeDecodeError as exc:
            raise MalformedExportFile(
                f"Export file {path.name}: not valid UTF-8 (text is decoded in blocks, so the "
                f"bad byte is at or after record {record + 1}, line {reader.line_num + 1}): {exc}"
            ) from exc
        except csv.Error as exc:
            raise MalformedExportFile(
                f"Export file {path.name}: unreadable record {record + 1} (line {reader.line_num}): {exc}"
            ) from exc
