"""Activity attribute values (native JSON in ``attributes``) typed into activity type columns."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tap_marketo_bulk.streams.activities import json_value_converter


@pytest.mark.parametrize(
    ("data_type", "value", "column"),
    [
        ("string", "Working", "Working"),
        ("text", "", None),  # Old Value of a field that was empty: no value, as in the export files
        ("string", None, None),
        ("integer", "", None),
        ("integer", 12, 12),
        ("integer", "12", 12),
        ("integer", "twelve", None),  # does not fit a typed column: dropped, the run goes on
        ("string", 12, "12"),
        ("boolean", True, True),
        ("string", True, "true"),
        ("float", 0.1, Decimal("0.1")),
        ("currency", "123456789012.34", Decimal("123456789012.34")),
        ("array", [1286861], "[1286861]"),  # Merge Ids: compact JSON, as Fivetran writes it
        ("array", [1, 2, 3], "[1,2,3]"),
        ("text", {"a": "ü"}, '{"a":"ü"}'),
        ("integer", [1, 2], None),  # a list in an integer column: no integer to give
        ("datetime", "2024-01-02T03:04:05Z", "2024-01-02T03:04:05Z"),
    ],
)
def test_attribute_values_take_their_columns_type(data_type, value, column):
    assert json_value_converter(data_type)(value) == column


def test_singer_decimal_columns_get_decimal_strings():
    assert json_value_converter("currency", singer_decimal=True)(12.5) == "12.5"
