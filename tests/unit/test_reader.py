"""read_export on export files written byte for byte."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from tap_marketo_bulk.errors import MalformedExportFile
from tap_marketo_bulk.records import output, types
from tap_marketo_bulk.records.reader import ExportReader, read_export

S = {"id": types.converter("integer"), "name": str}


def write(tmp_path, data: bytes, name="export.csv"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_typed_values_and_column_order(tmp_path):
    path = write(
        tmp_path,
        b"updatedAt,id,score,ok,amount,day\n"
        b"2022-02-13T14:06:20Z,5,17,true,123456789012.34,2023-05-17\n"
        b"null,6,null,FALSE,12.3456,null\n",
    )
    convs = {
        "id": types.converter("integer"),
        "updatedAt": types.converter("datetime"),
        "score": types.converter("score"),
        "ok": types.converter("boolean"),
        "amount": types.converter("currency"),
        "day": types.converter("date"),
    }
    rows = list(read_export(path, convs))
    assert rows == [
        {
            "updatedAt": "2022-02-13T14:06:20Z",
            "id": 5,
            "score": 17,
            "ok": True,
            "amount": Decimal("123456789012.34"),
            "day": "2023-05-17",
        },
        {
            "updatedAt": None,
            "id": 6,
            "score": None,
            "ok": False,
            "amount": Decimal("12.3456"),
            "day": None,
        },
    ]
    assert list(rows[0]) == ["updatedAt", "id", "score", "ok", "amount", "day"]
    assert str(rows[0]["amount"]) == "123456789012.34"


def test_quoting_commas_quotes_newlines(tmp_path):
    path = write(
        tmp_path,
        b"id,name\n"
        b'1,"a, b"\n'
        b'2,"say ""hi"""\n'
        b'3,"line1\nline2"\n'
        b'4,"cr\rinside"\n'
        b'5,"crlf\r\ninside"\n'
        b'6,"  padded  "\n'
        b"7,  unquoted spaces \n"
        b'8,""\n',
    )
    rows = list(read_export(path, S))
    assert rows == [
        {"id": 1, "name": "a, b"},
        {"id": 2, "name": 'say "hi"'},
        {"id": 3, "name": "line1\nline2"},
        {"id": 4, "name": "cr\rinside"},
        {"id": 5, "name": "crlf\r\ninside"},
        {"id": 6, "name": "  padded  "},
        {"id": 7, "name": "  unquoted spaces "},
        {"id": 8, "name": ""},
    ]


def test_unicode_emoji_and_rtl(tmp_path):
    text = "héllo 😀👍🏽 שלום עולם مرحبا"
    path = write(tmp_path, ("id,name\n1," + text + "\n").encode("utf-8"))
    assert list(read_export(path, S)) == [{"id": 1, "name": text}]


def test_one_megabyte_value(tmp_path):
    big = "x" * 1_000_000 + ',"\n' + "y" * 50_000
    quoted = '"' + big.replace('"', '""') + '"'
    path = write(tmp_path, ("id,name\n1," + quoted + "\n2,small\n").encode("utf-8"))
    rows = list(read_export(path, S))
    assert len(rows) == 2
    assert rows[0]["name"] == big
    assert len(rows[0]["name"]) == 1_050_003
    assert rows[1] == {"id": 2, "name": "small"}


def test_null_becomes_none_without_calling_converter(tmp_path):
    calls = []

    def conv(value):
        calls.append(value)
        return value.upper()

    # Quoted "null" is indistinguishable after csv parsing, and so is None too (documented).
    path = write(tmp_path, b'a,b\nnull,x\n"null",null\nNULL,Null\n')
    rows = list(read_export(path, {"a": conv, "b": conv}))
    assert rows == [
        {"a": None, "b": "X"},
        {"a": None, "b": None},
        {"a": "NULL", "b": "NULL"},
    ]
    assert calls == ["x", "NULL", "Null"]


def test_nul_bytes_are_stripped(tmp_path):
    path = write(tmp_path, b'id,name\n1,ab\x00c\n2,"q\x00\nr"\n3,\x00null\n')
    assert list(read_export(path, S)) == [
        {"id": 1, "name": "abc"},
        {"id": 2, "name": "q\nr"},
        {"id": 3, "name": None},
    ]


def test_tsv(tmp_path):
    path = write(tmp_path, b'id\tname\n1\ta, b\n2\t"tab\there"\n3\tnull\n')
    assert list(read_export(path, S, file_format="TSV")) == [
        {"id": 1, "name": "a, b"},
        {"id": 2, "name": "tab\there"},
        {"id": 3, "name": None},
    ]


def test_ssv(tmp_path):
    path = write(tmp_path, b'id name\n1 "two words"\n2 a,b\n3 null\n4 ""\n')
    assert list(read_export(path, S, file_format="SSV")) == [
        {"id": 1, "name": "two words"},
        {"id": 2, "name": "a,b"},
        {"id": 3, "name": None},
        {"id": 4, "name": ""},
    ]


def test_unknown_format_rejected(tmp_path):
    path = write(tmp_path, b"id,name\n")
    with pytest.raises(ValueError, match="XLS"):
        list(read_export(path, S, file_format="XLS"))


def test_bom_is_tolerated(tmp_path):
    path = write(tmp_path, b"\xef\xbb\xbfid,name\n1,a\n")
    assert list(read_export(path, S)) == [{"id": 1, "name": "a"}]


def test_crlf_line_endings(tmp_path):
    path = write(tmp_path, b"id,name\r\n1,a\r\n2,b\r\n")
    assert list(read_export(path, S)) == [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]


def test_no_trailing_newline(tmp_path):
    path = write(tmp_path, b"id,name\n1,a")
    assert list(read_export(path, S)) == [{"id": 1, "name": "a"}]


def test_header_only_and_empty_file(tmp_path):
    assert list(read_export(write(tmp_path, b"id,name\n", "h.csv"), S)) == []
    assert list(read_export(write(tmp_path, b"", "e.csv"), S)) == []


def test_single_column(tmp_path):
    path = write(tmp_path, b"id\n1\nnull\n")
    assert list(read_export(path, {"id": types.converter("integer")})) == [
        {"id": 1},
        {"id": None},
    ]


def test_header_mismatch_names_file_missing_and_unexpected(tmp_path):
    path = write(tmp_path, b"id,email,extra\n1,a,b\n", "leads_42.csv")
    with pytest.raises(MalformedExportFile) as info:
        list(read_export(path, {"id": str, "email": str, "name": str}))
    message = str(info.value)
    assert "leads_42.csv" in message
    assert "missing columns ['name']" in message
    assert "unexpected columns ['extra']" in message


def test_duplicate_header_column(tmp_path):
    path = write(tmp_path, b"id,name,name\n1,a,b\n", "dup.csv")
    with pytest.raises(MalformedExportFile, match=r"dup\.csv.*duplicated columns \['name'\]"):
        list(read_export(path, S))


def test_short_row_error(tmp_path):
    path = write(tmp_path, b'id,name\n1,a\n2,"multi\nline"\n3\n4,d\n', "short.csv")
    rows = read_export(path, S)
    assert next(rows) == {"id": 1, "name": "a"}
    assert next(rows) == {"id": 2, "name": "multi\nline"}
    with pytest.raises(MalformedExportFile) as info:
        next(rows)
    assert str(info.value) == (
        "Export file short.csv: record 3 (ending on line 5) has 1 columns, expected 2 as in the header."
    )


def test_long_row_error(tmp_path):
    path = write(tmp_path, b"id,name\n1,a\n2,b,c\n", "long.csv")
    with pytest.raises(MalformedExportFile) as info:
        list(read_export(path, S))
    assert str(info.value) == (
        "Export file long.csv: record 2 (ending on line 3) has 3 columns, expected 2 as in the header."
    )


def test_converter_error_names_column_and_value(tmp_path):
    long_value = "z" * 200
    path = write(tmp_path, f"id,name\n1,a\n2,b\nx{long_value},c\n".encode(), "conv.csv")
    with pytest.raises(MalformedExportFile) as info:
        list(read_export(path, S))
    message = str(info.value)
    assert message.startswith(
        "Export file conv.csv: record 3 (ending on line 4), column 'id': cannot convert value 'xzzz"
    )
    shown = message.split("cannot convert value ", 1)[1].split("...:", 1)[0] + "..."
    assert len(shown) == 80
    assert isinstance(info.value.__cause__, ValueError)


def test_converter_error_short_value(tmp_path):
    path = write(tmp_path, b"id,ok\n1,maybe\n", "bool.csv")
    convs = {"id": types.converter("integer"), "ok": types.converter("boolean")}
    with pytest.raises(MalformedExportFile) as info:
        list(read_export(path, convs))
    assert str(info.value) == (
        "Export file bool.csv: record 1 (ending on line 2), column 'ok': "
        "cannot convert value 'maybe': not a boolean: 'maybe'"
    )


def test_invalid_utf8(tmp_path):
    path = write(tmp_path, b"id,name\n1,a\n2,\xff\xfe\n", "bad.csv")
    with pytest.raises(MalformedExportFile, match=r"bad\.csv.*UTF-8"):
        list(read_export(path, S))


def test_streams_100k_rows(tmp_path):
    path = tmp_path / "big.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write("id,name,updatedAt\n")
        for i in range(100_000):
            handle.write(f'{i},"n, {i}",2022-02-13T14:06:20Z\n')
    convs = {
        "id": types.converter("integer"),
        "name": str,
        "updatedAt": types.converter("datetime"),
    }
    count = 0
    last = None
    for record in read_export(path, convs):
        count += 1
        last = record
    assert count == 100_000
    assert last == {"id": 99_999, "name": "n, 99999", "updatedAt": "2022-02-13T14:06:20Z"}


def test_accepts_str_path(tmp_path):
    path = write(tmp_path, b"id,name\n1,a\n")
    assert list(read_export(str(path), S)) == [{"id": 1, "name": "a"}]


def test_blank_header_line(tmp_path):
    path = write(tmp_path, b"\n1,a\n", "blank.csv")
    with pytest.raises(MalformedExportFile, match=r"blank\.csv: the header line is blank"):
        list(read_export(path, {}))


def test_inline_fast_path_matches_converters(tmp_path):
    """Values off the inline fast path (12.0, NaN, TRUE, other datetime forms) give the converters' results."""
    path = tmp_path / "e.csv"
    path.write_text(
        "i,d,b,dt,day\n12.0,1.50,TRUE,2024-01-02T03:04:05+01:00,2024-02-29\n7,2,true,2024-01-02T03:04:05Z,2024-03-01\n",
        encoding="utf-8",
    )
    convs = {
        "i": types.converter("integer"),
        "d": types.converter("currency"),
        "b": types.converter("boolean"),
        "dt": types.converter("datetime"),
        "day": types.converter("date"),
    }
    rows = list(read_export(path, convs))
    assert rows == [
        {"i": 12, "d": Decimal("1.50"), "b": True, "dt": "2024-01-02T02:04:05Z", "day": "2024-02-29"},
        {"i": 7, "d": Decimal("2"), "b": True, "dt": "2024-01-02T03:04:05Z", "day": "2024-03-01"},
    ]
    path.write_text("d\nNaN\n", encoding="utf-8")
    with pytest.raises(MalformedExportFile, match="finite"):
        list(read_export(path, {"d": types.converter("float")}))


def test_fast_path_raw_values_never_carry_a_line_break(tmp_path):
    """On the fast path (ExportReader.emit) decimals and attributes that already are valid JSON
    pass through as raw text; with whitespace or line breaks they are converted instead, so a
    record always encodes to one line, with the values read_export gives."""
    path = write(
        tmp_path,
        b'd,a\n1.50,"{""x"": 1}"\n" 2.5","{""x"":\n 2}"\n"3.5\n","{""y"": [1,\r\n2]}"\n-0.1e2,{}\n',
        "raw.csv",
    )
    convs = {"d": types.converter("currency"), "a": types.converter("json")}
    records: list[dict] = []
    ExportReader(path, convs).emit(records.append, lambda: None)
    lines = [output.ENCODER.encode(record) for record in records]
    assert all(b"\n" not in line and b"\r" not in line for line in lines)
    assert [json.loads(line, parse_float=Decimal) for line in lines] == list(read_export(path, convs))
    assert [type(record["d"]).__name__ for record in records] == ["Raw", "Decimal", "Decimal", "Raw"]
    assert [type(record["a"]).__name__ for record in records] == ["Raw", "dict", "dict", "Raw"]
    assert lines[0] == b'{"d":1.50,"a":{"x": 1}}'


def test_keys_name_the_records_on_every_path(tmp_path):
    """``keys`` gives each file column its record key (column_naming): the SDK path, the fast
    path's dicts and structs, the slow rebuild of a row off the inline forms, and ``omit`` by
    record key; the file's header and the drop column keep Marketo's names."""
    path = write(
        tmp_path,
        b"leadId,createdAt,firstName\n1,2024-01-01T00:00:00Z,Ana\n2,2024-01-02T00:00:00+00:00,null\n"
        b"3,2024-02-01T00:00:00Z,Bo\n",
    )
    convs = {"leadId": types.converter("integer"), "createdAt": types.converter("datetime"), "firstName": str}
    keys = {"leadId": "lead_id", "createdAt": "created_at", "firstName": "first_name"}
    drop = ("createdAt", "2024-02-01T00:00:00Z")
    want = [
        {"lead_id": 1, "created_at": "2024-01-01T00:00:00Z", "first_name": "Ana"},
        {"lead_id": 2, "created_at": "2024-01-02T00:00:00Z", "first_name": None},  # rebuilt by the converters
    ]
    assert list(read_export(path, convs, keys=keys, drop=drop)) == want
    for struct in (False, True):
        records: list = []
        ExportReader(path, convs, keys=keys, drop=drop, struct=struct).emit(records.append, lambda: None)
        assert [json.loads(output.ENCODER.encode(r)) for r in records] == want
        records.clear()
        reader = ExportReader(path, convs, keys=keys, drop=drop, omit={"first_name"}, struct=struct)
        reader.emit(records.append, lambda: None)
        assert [json.loads(output.ENCODER.encode(r)) for r in records] == [
            {k: v for k, v in row.items() if k != "first_name"} for row in want
        ]
