"""RECORD lines: one line per record, whatever JSON text passed through as msgspec.Raw."""

from __future__ import annotations

import json
from decimal import Decimal

import msgspec

from tap_marketo_bulk import output


def test_encode_lines_keeps_one_record_per_line():
    records = [
        {"id": 1, "attributes": msgspec.Raw(b'{"a":\n 1,\r\n "b": 0.1000000000000000055511151231257827}')},
        {"id": 2, "amount": msgspec.Raw(b"12.50"), "note": "line\nbreak\r"},
        {"id": 3, "attributes": msgspec.Raw(b'{"big": 123456789012345678901234567890}')},
    ]
    lines = output.encode_lines(records).splitlines(keepends=True)
    assert len(lines) == 3
    assert all(line.endswith(b"\n") and b"\r" not in line for line in lines)
    assert [json.loads(line, parse_float=Decimal) for line in lines] == [
        {"id": 1, "attributes": {"a": 1, "b": Decimal("0.1000000000000000055511151231257827")}},
        {"id": 2, "amount": Decimal("12.50"), "note": "line\nbreak\r"},
        {"id": 3, "attributes": {"big": 123456789012345678901234567890}},
    ]
    assert lines[1] == b'{"id":2,"amount":12.50,"note":"line\\nbreak\\r"}\n'  # untouched: no raw break


def test_plain_batches_are_msgspec_lines():
    records = [{"id": i} for i in range(3)]
    assert output.encode_lines(records) == b'{"id":0}\n{"id":1}\n{"id":2}\n'
