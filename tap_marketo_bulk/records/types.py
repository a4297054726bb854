"""Marketo ``dataType`` -> JSON Schema, and the matching converters for export-file values.

Why one table: the schema a stream advertises and the Python value it emits for a column must
never disagree (the SDK's own type conformance is switched off for speed, so nothing downstream
would catch a mismatch). Each entry of ``_TYPES`` therefore pairs a schema with the function
that produces values of exactly that schema; :func:`json_schema` and :func:`converter` both read
the same entry.

Converters receive the raw, non-null string of one export-file cell (the reader has already
turned Marketo's literal ``null`` into ``None``) and return a JSON-ready value. They raise
:class:`ValueError` for a value that does not fit its type, so the reader can report the file,
record and column.

Numbers that are not integers become :class:`decimal.Decimal`: Marketo currency and float
values are decimal strings, a binary float would change them (``0.1``, 15+ significant digits),
and the SDK's msgspec writer encodes a ``Decimal`` as a JSON number with its exact digits.
"""

from __future__ import annotations

import datetime as _dt
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec

from tap_marketo_bulk.windows import parse_marketo_datetime

__all__ = [
    "INLINE",
    "INLINE_NAMES",
    "INLINE_RAW",
    "converter",
    "is_exportable",
    "json_schema",
]

Converter = Callable[[str], Any]

# --- converters -------------------------------------------------------------------------------


def _to_int(value: str) -> int:
    """Whole numbers of any size (Python ints are unbounded, so big ids stay exact).

    A value written with a zero fraction (``"12.0"``) is accepted as ``12``; anything with a
    real fraction is rejected rather than silently truncated.
    """
    try:
        return int(value)
    except ValueError:
        pass
    number = _to_decimal(value)
    if number != number.to_integral_value():
        raise ValueError(f"not an integer: {value!r}")
    return int(number)


def _to_decimal(value: str) -> Decimal:
    """Exact decimal; ``NaN``/``Infinity`` are rejected because JSON has no such numbers."""
    try:
        number = Decimal(value)
    except InvalidOperation:
        # Decimal raises an ArithmeticError subclass; the reader only catches ValueError.
        raise ValueError(f"not a number: {value!r}") from None
    if not number.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return number


# The spellings Marketo writes hit the dict directly; other casings go through lower().
_BOOLEANS = {"true": True, "false": False, "1": True, "0": False}
_BOOLEANS_FAST = {**_BOOLEANS, "TRUE": True, "FALSE": False, "True": True, "False": False}


def _to_bool(value: str) -> bool:
    """``true``/``false`` in any case, and ``1``/``0``; anything else is an error, not False."""
    try:
        return _BOOLEANS_FAST[value]
    except KeyError:
        pass
    try:
        return _BOOLEANS[value.strip().lower()]
    except KeyError:
        raise ValueError(f"not a boolean: {value!r}") from None


_date_fromisoformat = _dt.date.fromisoformat
_datetime_fromisoformat = _dt.datetime.fromisoformat


def _to_date(value: str) -> str:
    """``YYYY-MM-DD``, checked to be a real calendar date, returned as the same string.

    The position checks keep out the other ISO forms ``fromisoformat`` accepts on newer
    Pythons (``20230517``, ``2023-W20-3``); the C parser then checks the calendar.
    """
    if len(value) != 10 or value[4] != "-" or value[7] != "-":
        raise ValueError(f"not a YYYY-MM-DD date: {value!r}")
    _date_fromisoformat(value)  # ValueError for e.g. 2023-02-30
    return value


def _to_datetime(value: str) -> str:
    """RFC 3339 UTC string. Marketo's own ``YYYY-MM-DDTHH:MM:SSZ`` passes through untouched.

    That form is nearly every value, so it is recognised by fixed positions and validated by
    the C ``fromisoformat`` on the part before ``Z`` (which every supported Python accepts);
    no datetime is formatted. Other forms are converted to UTC and written
    ``YYYY-MM-DDTHH:MM:SSZ``; a non-zero fraction of a second is kept (``...SS.ffffffZ``)
    rather than silently dropped.
    """
    if (
        len(value) == 20
        and value[19] == "Z"
        and value[10] == "T"
        and value[4] == "-"
        and value[7] == "-"
        and value[13] == ":"
        and value[16] == ":"
    ):
        try:
            _datetime_fromisoformat(value[:19])
        except ValueError:
            pass  # let the full parser produce the error message
        else:
            return value
    parsed = parse_marketo_datetime(value)
    if parsed.microsecond:
        return parsed.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return parsed.strftime("%Y-%m-%dT%H:%M:%SZ")


_PLAIN_DECIMAL = re.compile(r"-?\d+(?:\.\d+)?")


def _to_decimal_string(value: str) -> str:
    """Exact decimal as a plain string, for ``x-singer.decimal`` columns (``use_singer_decimal``)."""
    if _PLAIN_DECIMAL.fullmatch(value):
        return value
    return format(_to_decimal(value), "f")


#: Numbers with a fraction as Decimal: exact digits, and no "out of range" for ``1e400``.
_JSON_DECODER = msgspec.json.Decoder(float_hook=Decimal)


def _to_json_object(value: str) -> dict[str, Any]:
    """The activities ``attributes`` column: a JSON object with native JSON values.

    msgspec parses it about four times faster than ``json.loads``. Numbers with a fraction
    become Decimal, so they are written back with their exact digits, as the fast path's raw
    JSON is.
    """
    try:
        parsed = _JSON_DECODER.decode(value)
    except msgspec.DecodeError as exc:
        raise ValueError(f"not valid JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise ValueError(f"not a JSON object: {value[:40]!r}")
    return parsed


# --- inline forms for the reader's generated row code ------------------------------------------
#
# For the common, well-formed value each of these expressions gives exactly what its converter
# gives, without a Python-level call; for anything else it either defers to the converter
# (``c``) or raises (ValueError, KeyError, ArithmeticError), and the reader then rebuilds the row
# with the converters themselves, which return the value or raise the reportable error. ``{v}``
# is the raw non-null value, ``c`` the column's converter; the other names are bound below.

_JSON_RAW = msgspec.json.Decoder(msgspec.Raw)
_JSON_NUMBER = msgspec.json.Decoder(float)

#: Names the inline expressions use (bound into the generated code's namespace).
INLINE_NAMES: dict[str, Any] = {
    "_int": int,
    "_Dec": Decimal,
    "_bools": _BOOLEANS_FAST,
    "_fd": _date_fromisoformat,
    "_fdt": _datetime_fromisoformat,
    "_Raw": msgspec.Raw,
    "_num": _JSON_NUMBER.decode,
    "_json": _JSON_RAW.decode,
    "_LF": "\n",
    "_CR": "\r",
}

# Python 3.11's fromisoformat reads the ``Z`` itself; 3.10's does not, so it gets the part before.
_CANONICAL_DATETIME = "_fdt({v})" if sys.version_info >= (3, 11) else "_fdt({v}[:19])"

INLINE: dict[Converter, str] = {
    # int() accepts exactly what _to_int tries first; "12.0" raises and takes the slow path.
    _to_int: "_int({v})",
    # Every non-finite Decimal spelling (NaN, sNaN, Inf, Infinity) contains an n or N.
    _to_decimal: "(_Dec({v}) if 'n' not in {v} and 'N' not in {v} else {c}({v}))",
    _to_bool: "_bools[{v}]",
    # Same checks as _to_date: length 10, "-" at 4 and 7 ([4::3] picks exactly those), a real
    # calendar date; date objects are always true.
    _to_date: "({v} if len({v}) == 10 and {v}[4::3] == '--' and _fd({v}) else {c}({v}))",
    # Same fast form as _to_datetime, YYYY-MM-DDTHH:MM:SSZ: the separators at 4, 7, 10, 13, 16
    # and 19 in one slice, the digits and calendar checked by the C parser.
    _to_datetime: (
        f"({{v}} if len({{v}}) == 20 and {{v}}[4::3] == '--T::Z' and {_CANONICAL_DATETIME} else {{c}}({{v}}))"
    ),
}

#: Forms for the fast record path, where values go straight to msgspec: text that already is
#: valid JSON is written as it is (:class:`msgspec.Raw`) instead of being parsed into Python
#: objects and encoded again; exactly the same JSON values result. Each check makes sure the
#: text is one JSON value of the column's type with no line break in it (a record is one line;
#: JSON allows line breaks as whitespace around tokens): a number with nothing at or below
#: ``" "`` at either end has no whitespace at all; an object is checked for CR and LF, which
#: are memchr scans.
INLINE_RAW: dict[Converter, str] = {
    **INLINE,
    _to_decimal: "(_Raw({v}) if {v}[0] > ' ' and {v}[-1] > ' ' and _num({v}) is not None else {c}({v}))",
    _to_json_object: "(_json({v}) if {v}[0] == '{{' and _LF not in {v} and _CR not in {v} else {c}({v}))",
}


# --- the table --------------------------------------------------------------------------------

_STRING: tuple[dict[str, Any], Converter] = ({"type": ["string", "null"]}, str)
_INTEGER = ({"type": ["integer", "null"]}, _to_int)
_NUMBER = ({"type": ["number", "null"]}, _to_decimal)

# ``str`` is the converter for text-like types: it returns the very same string object, and the
# reader recognises it to skip the call entirely.
_TYPES: dict[str, tuple[dict[str, Any], Converter]] = {
    "string": _STRING,
    "text": _STRING,
    "textarea": _STRING,
    "email": _STRING,
    "phone": _STRING,
    "url": _STRING,
    "reference": _STRING,
    "lead_function": _STRING,
    "array": _STRING,  # Marketo exports these as one delimited string, not a JSON array
    "integer": _INTEGER,
    "score": _INTEGER,
    "float": _NUMBER,
    "currency": _NUMBER,
    "percent": _NUMBER,  # may carry decimals, so not an integer
    "boolean": ({"type": ["boolean", "null"]}, _to_bool),
    "date": ({"type": ["string", "null"], "format": "date"}, _to_date),
    "datetime": ({"type": ["string", "null"], "format": "date-time"}, _to_datetime),
    # Internal, not a Marketo dataType: the activities ``attributes`` column.
    "json": ({"type": ["object", "null"]}, _to_json_object),
}

# Marketo computes formula fields on display; the bulk API refuses them in ``fields``.
_NOT_EXPORTABLE = frozenset({"formula"})


def _entry(data_type: str) -> tuple[dict[str, Any], Converter]:
    # Unknown types (Marketo adds some now and then) are carried as strings: discovery must
    # not fail over a column we could still deliver losslessly as text.
    return _TYPES.get((data_type or "").strip().lower(), _STRING)


#: ``use_singer_decimal``: decimals as strings in the SDK's ``x-singer.decimal`` format, which
#: SDK-based SQL targets (target-snowflake, target-postgres) create as DECIMAL(38, 10), where a
#: JSON ``number`` becomes a binary FLOAT in Snowflake.
_SINGER_DECIMAL: tuple[dict[str, Any], Converter] = (
    {"type": ["string", "null"], "format": "x-singer.decimal", "precision": 38, "scale": 10},
    _to_decimal_string,
)


def _typed_entry(data_type: str, singer_decimal: bool) -> tuple[dict[str, Any], Converter]:
    entry = _entry(data_type)
    return _SINGER_DECIMAL if singer_decimal and entry is _NUMBER else entry


def json_schema(data_type: str, *, singer_decimal: bool = False) -> dict[str, Any]:
    """JSON Schema of a column of this dataType; a fresh dict, safe for the caller to modify."""
    schema = _typed_entry(data_type, singer_decimal)[0]
    return {key: list(val) if isinstance(val, list) else val for key, val in schema.items()}


def converter(data_type: str, *, singer_decimal: bool = False) -> Converter:
    """Function turning one raw non-null export value of this dataType into its JSON value."""
    return _typed_entry(data_type, singer_decimal)[1]


def is_exportable(data_type: str) -> bool:
    """False for dataTypes the bulk API refuses to export (``formula``)."""
    return (data_type or "").strip().lower() not in _NOT_EXPORTABLE


def typed_fields(
    fields: Iterable[Mapping[str, Any]], *, singer_decimal: bool = False
) -> tuple[dict[str, dict[str, Any]], dict[str, Converter]]:
    """Schema properties and converters of describe fields (``{name, dataType}``), by name."""
    properties: dict[str, dict[str, Any]] = {}
    converters: dict[str, Converter] = {}
    for field in fields:
        properties[field["name"]] = json_schema(field["dataType"], singer_decimal=singer_decimal)
        converters[field["name"]] = converter(field["dataType"], singer_decimal=singer_decimal)
    return properties, converters


def exportable_fields(describe_fields: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    """``{name, dataType}`` of the describe fields a bulk export may ask for (named, not formula)."""
    fields = []
    for field in describe_fields:
        data_type = str(field.get("dataType") or "string")
        if field.get("name") and is_exportable(data_type):
            fields.append({"name": str(field["name"]), "dataType": data_type})
    return fields
