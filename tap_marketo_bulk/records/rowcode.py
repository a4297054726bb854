"""Per-row code generated for one export file's header: the tap's hot path.

Every exported record passes through the code made here, so the per-row work is one tuple
unpack and one dict display (or one struct call). Everything that depends only on the header
(column order, which converter each column uses, which columns are plain text) is decided once
per file and pasted into the generated source as identifiers bound in its namespace; a row
then costs no Python-level loop, no per-column function call for text columns and no attribute
or global lookups. :mod:`tap_marketo_bulk.records.reader` feeds the generated code with csv rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from tap_marketo_bulk.records.types import INLINE, INLINE_NAMES, INLINE_RAW

__all__ = ["NULL", "compile_emit_loop", "compile_row_builder"]

#: Marketo's marker of an empty value.
NULL = "null"

#: What an inline expression raises for a value off its fast form (the row is then rebuilt
#: with the converters, which give the value or the reportable error).
_INLINE_ERRORS = (ValueError, LookupError, ArithmeticError)

#: The emit loop hands pending records on (``spill``) after this many rows (a power of two):
#: few enough that a batch of records stays in the CPU cache until it is encoded.
SPILL_EVERY = 128


def _items(
    columns: list[str],
    converters: list[Callable[[str], Any]],
    namespace: dict[str, Any],
    *,
    raw: bool,
    keys: list[str] | None = None,
    omit: frozenset[str] = frozenset(),
) -> tuple[str, list[tuple[str, str, str]]]:
    """Source pieces of the generated row code: the unpack target, and for each kept column
    its key name, fast expression and slow expression (converters only).

    For a text column ``k0`` and an integer column ``k1`` they are ``v0, v1,`` and::

        ("k0", 'None if v0 == "null" else v0', 'None if v0 == "null" else v0')
        ("k1", 'None if v1 == "null" else _int(v1)', 'None if v1 == "null" else c1(v1)')

    The fast expressions use the converters' inline forms (:data:`tap_marketo_bulk.records.types.INLINE`,
    or :data:`~tap_marketo_bulk.records.types.INLINE_RAW` when ``raw``): for well-formed values they
    give the converter's result without a Python call; any other value makes them defer to the
    converter or raise, and the row is then built again with the slow expressions.

    Record keys (``keys[i]`` for column ``i``, by default the column names: a stream's column
    names, see :mod:`tap_marketo_bulk.records.names`) and converters are bound in ``namespace``
    (``k0``, ``c1``), never pasted into the source, so a header cannot inject code, and a
    renamed column costs nothing per row. ``str`` converters are skipped: ``str(s)`` is ``s``
    itself. Columns whose key is in ``omit`` are unpacked (the field count is still checked)
    but not converted or kept.
    """
    inline = INLINE_RAW if raw else INLINE
    namespace.update(INLINE_NAMES)
    unpack = []
    items = []
    for index, (key, conv) in enumerate(zip(keys or columns, converters, strict=True)):
        var = f"v{index}"
        unpack.append(var)
        if key in omit:
            continue
        namespace[f"k{index}"] = key
        if conv is str:
            slow = fast = var
        else:
            namespace[f"c{index}"] = conv
            slow = f"c{index}({var})"
            template = inline.get(conv)
            fast = template.format(v=var, c=f"c{index}") if template else slow
        items.append((f"k{index}", f"None if {var} == {NULL!r} else {fast}", f"None if {var} == {NULL!r} else {slow}"))
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


def compile_row_builder(
    columns: list[str], converters: list[Callable[[str], Any]], keys: list[str] | None = None
) -> Callable[[list[str]], Any]:
    """A function turning one csv row into a record dict, for this header (the SDK path);
    ``keys`` are the record keys of the columns (default: the column names).

    It tries the fast display and falls back to the converters alone, which give the same
    values or raise the reportable ValueError; the tuple unpack raises ValueError for a wrong
    field count.
    """
    namespace: dict[str, Any] = {"_errors": _INLINE_ERRORS}
    unpack, items = _items(columns, converters, namespace, raw=False, keys=keys)
    source = (
        "def build(row):\n"
        f"    {unpack} = row\n"
        "    try:\n"
        f"        return {_dict_display(items, 1)}\n"
        "    except _errors:\n"
        f"        return {_dict_display(items, 2)}\n"
    )
    return _compile(source, namespace, "build", len(columns))


def compile_emit_loop(
    columns: list[str],
    converters: list[Callable[[str], Any]],
    *,
    drop_index: int | None,
    omit: frozenset[str],
    struct: bool,
    keys: list[str] | None = None,
) -> tuple[Callable[..., None], Callable[[list[str]], Any]]:
    """The fast path's whole per-row loop, generated for this header.

    ``run(rows, append, spill, rebuild, drop_raw, progress)`` builds each row with the raw
    inline forms, hands the dict to ``append`` and calls ``spill`` every :data:`SPILL_EVERY`
    rows. A row whose ``drop_index`` value is ``drop_raw`` is skipped before it is built. A row
    off the fast forms goes to ``rebuild(row, record)``, which returns its dict, None to drop
    it, or raises the reportable error. ``progress`` (a two-item list) receives the records
    read and dropped, also when the loop ends by an exception. ``keys`` and ``omit`` are as in
    :func:`_items`. Also returns the matching slow builder, for ``rebuild``.

    With ``struct`` records are :mod:`msgspec` structs of the kept columns instead of dicts:
    built by one positional call, encoded with their keys pre-encoded, freed without a hash
    table, and not tracked by the garbage collector (they hold only strings, numbers and
    ``None``). msgspec writes them exactly as the same dicts. For records nothing reads again.
    """
    namespace: dict[str, Any] = {"_errors": _INLINE_ERRORS}
    unpack, items = _items(columns, converters, namespace, raw=True, keys=keys, omit=omit)
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
