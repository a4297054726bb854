"""Marketo dataType -> schema and converter, asserted value by value."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tap_marketo_bulk.records import types

STRING_TYPES = [
    "string",
    "text",
    "textarea",
    "email",
    "phone",
    "url",
    "reference",
    "lead_function",
    "array",
]


@pytest.mark.parametrize("data_type", STRING_TYPES)
def test_string_types(data_type):
    assert types.json_schema(data_type) == {"type": ["string", "null"]}
    conv = types.converter(data_type)
    assert conv('  a,b "c" ') == '  a,b "c" '
    assert conv("") == ""


@pytest.mark.parametrize("data_type", ["integer", "score"])
def test_integer_types(data_type):
    assert types.json_schema(data_type) == {"type": ["integer", "null"]}
    conv = types.converter(data_type)
    assert conv("42") == 42
    assert conv("-7") == -7
    assert conv("0") == 0
    big = conv("123456789012345678901234567890")
    assert big == 123456789012345678901234567890 and type(big) is int
    assert conv("12.0") == 12 and type(conv("12.0")) is int
    with pytest.raises(ValueError):
        conv("12.5")
    with pytest.raises(ValueError):
        conv("abc")


@pytest.mark.parametrize("data_type", ["float", "currency", "percent"])
def test_number_types_are_exact_decimals(data_type):
    assert types.json_schema(data_type) == {"type": ["number", "null"]}
    conv = types.converter(data_type)
    value = conv("123456789012.34")
    assert type(value) is Decimal
    assert str(value) == "123456789012.34"
    assert str(conv("12.3456")) == "12.3456"
    assert conv("0.1") == Decimal("0.1")
    assert conv("-5") == Decimal("-5")
    assert str(conv("1.5E+3")) == "1.5E+3"
    for bad in ["abc", "", "NaN", "Infinity", "-inf"]:
        with pytest.raises(ValueError):
            conv(bad)


def test_percent_keeps_decimals():
    assert types.converter("percent")("33.33") == Decimal("33.33")


def test_boolean():
    assert types.json_schema("boolean") == {"type": ["boolean", "null"]}
    conv = types.converter("boolean")
    assert conv("true") is True
    assert conv("false") is False
    assert conv("TRUE") is True
    assert conv("False") is False
    assert conv("tRuE") is True
    assert conv("1") is True
    assert conv("0") is False
    for bad in ["yes", "", "2", "truthy"]:
        with pytest.raises(ValueError, match="not a boolean"):
            conv(bad)


def test_date():
    assert types.json_schema("date") == {"type": ["string", "null"], "format": "date"}
    conv = types.converter("date")
    assert conv("2023-05-17") == "2023-05-17"
    assert conv("2024-02-29") == "2024-02-29"
    for bad in ["2023-02-30", "2023-13-01", "20230517", "2023-W20-3", "17/05/2023", "2023-5-7"]:
        with pytest.raises(ValueError):
            conv(bad)


def test_datetime_schema():
    assert types.json_schema("datetime") == {"type": ["string", "null"], "format": "date-time"}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2022-02-13T14:06:20Z", "2022-02-13T14:06:20Z"),
        ("2024-02-29T23:59:59Z", "2024-02-29T23:59:59Z"),
        ("2017-01-21T11:47:30-08:00", "2017-01-21T19:47:30Z"),
        ("2017-01-21T11:47:30+05:30", "2017-01-21T06:17:30Z"),
        ("2017-01-21T11:47:30+0000", "2017-01-21T11:47:30Z"),
        ("2017-01-21T23:47:30-0200", "2017-01-22T01:47:30Z"),
        ("2015-11-18T15:25:35Z+0000", "2015-11-18T15:25:35Z"),
        ("2017-01-21T11:47:30", "2017-01-21T11:47:30Z"),
        ("2017-01-21T11:47:30.250Z", "2017-01-21T11:47:30.250000Z"),
        ("2017-01-21T11:47:30.000Z", "2017-01-21T11:47:30Z"),
    ],
)
def test_datetime_values(raw, expected):
    assert types.converter("datetime")(raw) == expected


@pytest.mark.parametrize(
    "bad",
    [
        "2023-02-30T00:00:00Z",
        "2023-01-01T25:00:00Z",
        "2023-01-01T12:60:00Z",
        "2023-01-01",
        "yesterday",
        "2023-01-01T00:00:00+2400",
        "",
    ],
)
def test_datetime_invalid(bad):
    with pytest.raises(ValueError):
        types.converter("datetime")(bad)


def test_json_type():
    assert types.json_schema("json") == {"type": ["object", "null"]}
    conv = types.converter("json")
    assert conv('{"Old Value": "a", "New Value": 3, "Flag": true, "X": null, "L": [1.5]}') == {
        "Old Value": "a",
        "New Value": 3,
        "Flag": True,
        "X": None,
        "L": [1.5],
    }
    with pytest.raises(ValueError):
        conv("{not json")
    with pytest.raises(ValueError):
        conv("[1, 2]")


@pytest.mark.parametrize("data_type", ["someNewType", "", "formula"])
def test_unknown_type_is_string(data_type):
    assert types.json_schema(data_type) == {"type": ["string", "null"]}
    assert types.converter(data_type)("x 1") == "x 1"


def test_data_type_case_insensitive():
    assert types.json_schema("Integer") == {"type": ["integer", "null"]}
    assert types.converter("DATETIME")("2022-02-13T14:06:20Z") == "2022-02-13T14:06:20Z"


def test_json_schema_returns_fresh_dict():
    first = types.json_schema("datetime")
    first["type"].append("boolean")
    first["extra"] = 1
    assert types.json_schema("datetime") == {"type": ["string", "null"], "format": "date-time"}
    assert types.json_schema("string") is not types.json_schema("string")


def test_is_exportable():
    assert types.is_exportable("formula") is False
    assert types.is_exportable("Formula") is False
    for data_type in [*STRING_TYPES, "integer", "float", "boolean", "date", "datetime", "x"]:
        assert types.is_exportable(data_type) is True


@pytest.mark.parametrize("data_type", ["currency", "percent", "float"])
def test_singer_decimal_mode_gives_exact_strings_with_precision(data_type: str) -> None:
    assert types.json_schema(data_type, singer_decimal=True) == {
        "type": ["string", "null"],
        "format": "x-singer.decimal",
        "precision": 38,
        "scale": 10,
    }
    convert = types.converter(data_type, singer_decimal=True)
    assert convert("123456789012.34") == "123456789012.34"
    assert convert("-0.5") == "-0.5"
    assert convert("1E+3") == "1000"
    with pytest.raises(ValueError):
        convert("abc")


def test_singer_decimal_mode_leaves_other_types_alone() -> None:
    assert types.json_schema("integer", singer_decimal=True) == {"type": ["integer", "null"]}
    assert types.converter("integer", singer_decimal=True)("42") == 42
    assert types.json_schema("string", singer_decimal=True) == {"type": ["string", "null"]}
