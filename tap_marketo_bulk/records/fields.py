"""Fields of REST answers: one declaration gives a column's JSON Schema and the converter of its
JSON values, so the schema a REST stream advertises and the values it emits never disagree.

Marketo's REST and asset APIs answer JSON, but not always the JSON their documentation
promises: ids as text (``"leadPartitionId": "1"``), booleans as ``"true"``, dates as
``2015-11-18T15:25:35Z+0000`` (a ``Z`` and an offset) or as bare dates in a date-time field.
Each kind below accepts what Marketo has been seen to send and emits exactly the JSON type
of its schema: ids integers, booleans booleans, date-times RFC 3339 UTC, nested objects JSON
objects with their known members typed. A value that fits no reading raises ValueError, so
the stream can name the field and the value rather than emit a wrong one.

The JSON Schema comes from singer-sdk's typing helpers, as the hand-written schemas before
this module did, so catalogs stay the same.
"""

from __future__ import annotations

import dataclasses
import json
import typing as t
from decimal import Decimal, InvalidOperation

from singer_sdk import typing as th

from tap_marketo_bulk.windows import format_timestamp, parse_timestamp

Convert = t.Callable[[t.Any], t.Any]


@dataclasses.dataclass(frozen=True)
class Kind:
    """A JSON Schema type and the converter that produces values of exactly that type."""

    sdk_type: t.Any
    convert_value: Convert

    def convert(self, value: t.Any) -> t.Any:
        """``None`` stays ``None`` (every REST field may be absent or null); else converted."""
        return None if value is None else self.convert_value(value)


@dataclasses.dataclass(frozen=True)
class Field:
    """A member of a Marketo answer: its name there and its kind."""

    name: str
    kind: Kind


def _integer(value: t.Any) -> int:
    """Ids and counts; ``"12"`` and ``12.0`` are 12, anything with a fraction is an error."""
    if isinstance(value, bool):
        raise ValueError(f"not an integer: {value!r}")
    if isinstance(value, int):
        return value
    try:
        number = Decimal(str(value).strip()) if isinstance(value, (str, float)) else None
    except InvalidOperation:  # an ArithmeticError, not a ValueError
        number = None
    if number is None or not number.is_finite() or number != number.to_integral_value():
        raise ValueError(f"not an integer: {value!r}")
    return int(number)


_BOOLEANS = {"true": True, "false": False, "1": True, "0": False}


def _boolean(value: t.Any) -> bool:
    """``true``/``false``, also as text in any case, and 1/0."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _BOOLEANS:
        return _BOOLEANS[value.strip().lower()]
    raise ValueError(f"not a boolean: {value!r}")


def _string(value: t.Any) -> str:
    """Text as is; a number or boolean where text was documented as its JSON text (``false``,
    not Python's ``False``), an object or array as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _datetime(value: t.Any) -> str:
    """RFC 3339 UTC (``2015-11-18T15:25:35Z``) from any form Marketo writes, a bare date
    (``2016-01-01``, as program costs show it) being midnight UTC."""
    if not isinstance(value, str):
        raise ValueError(f"not a date-time: {value!r}")
    return format_timestamp(parse_timestamp(value))


def _anything(value: t.Any) -> t.Any:
    return value


INTEGER = Kind(th.IntegerType, _integer)
BOOLEAN = Kind(th.BooleanType, _boolean)
STRING = Kind(th.StringType, _string)
DATETIME = Kind(th.DateTimeType, _datetime)
#: A member whose JSON type Marketo does not fix (a form follow-up's value: a landing page id,
#: a URL or null): kept as sent.
ANY = Kind(th.CustomType({}), _anything)


def obj(*fields: Field, closed: bool = False) -> Kind:
    """A JSON object with these members typed.

    Open (the default): the object as Marketo sent it, its known members typed and any other
    member kept, so what Marketo adds later is not lost. ``closed``: exactly the declared
    members, absent ones as null (a fixed shape, e.g. ``{name, value}`` pairs).
    """
    by_name = {field.name: field.kind for field in fields}

    def convert(value: t.Any) -> dict:
        if not isinstance(value, dict):
            raise ValueError(f"not an object: {value!r}")
        if closed:
            return {name: kind.convert(value.get(name)) for name, kind in by_name.items()}
        return {key: by_name[key].convert(item) if key in by_name else item for key, item in value.items()}

    sdk_type = th.ObjectType(*(th.Property(field.name, field.kind.sdk_type) for field in fields))
    return Kind(sdk_type, convert)


def array(kind: Kind) -> Kind:
    """A JSON array of values of one kind."""

    def convert(value: t.Any) -> list:
        if not isinstance(value, list):
            raise ValueError(f"not an array: {value!r}")
        return [kind.convert(item) for item in value]

    return Kind(th.ArrayType(kind.sdk_type), convert)


def schema(columns: t.Iterable[tuple[str, Kind]], required: t.Iterable[str] = ()) -> dict:
    """The JSON Schema of a record with these ``(column, kind)`` pairs, ``required`` not null."""
    needed = set(required)
    return th.PropertiesList(
        *(th.Property(column, kind.sdk_type, required=column in needed) for column, kind in columns)
    ).to_dict()
