"""BATCH output: files of exactly the RECORD values, announced before any STATE."""

from __future__ import annotations

import gzip
import json
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest

from tap_marketo_bulk import errors
from tap_marketo_bulk.records import batches, output


def config(tmp_path: Path, **overrides: object) -> dict:
    return {
        "encoding": {"format": "jsonl", "compression": "gzip"},
        "storage": {"root": (tmp_path / "batches").as_uri(), "prefix": "run-"},
        "batch_size": 3,
        **overrides,
    }


@pytest.fixture
def fresh_output(monkeypatch):
    """A writer registry of the test's own (other tests' writers must not be flushed)."""
    monkeypatch.setattr(output, "_writers", [])
    monkeypatch.setattr(output, "_pending", bytearray())


def read(url: str) -> list[dict]:
    path = Path(url.removeprefix("file://"))
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    return [json.loads(line, parse_float=Decimal) for line in data.splitlines()]


def test_files_of_batch_size_announced_before_the_state(tmp_path, capsysbinary, fresh_output):
    writer = batches.BatchFiles("leads", batches.batch_config({"batch_config": config(tmp_path)}))
    records = [
        {"id": i, "amount": msgspec.Raw(f"{i}.50".encode()), "note": 'say "hi"\nbye', "seen": None} for i in range(7)
    ]
    for record in records:
        writer.write(record)
    output.flush()  # as OrderedMsgSpecWriter does before a STATE
    output.write(b'{"type":"STATE","value":{}}\n')
    lines = capsysbinary.readouterr().out.splitlines()
    messages = [json.loads(line) for line in lines]
    assert [m["type"] for m in messages] == ["BATCH", "BATCH", "BATCH", "STATE"]
    assert messages[0] == {
        "type": "BATCH",
        "stream": "leads",
        "encoding": {"format": "jsonl", "compression": "gzip"},
        "manifest": [messages[0]["manifest"][0]],
    }
    urls = [m["manifest"][0] for m in messages if m["type"] == "BATCH"]
    assert all(url.startswith((tmp_path / "batches").as_uri() + "/run-tap-marketo-bulk--leads-") for url in urls)
    assert [len(read(url)) for url in urls] == [3, 3, 1]
    assert [r for url in urls for r in read(url)] == [
        {"id": i, "amount": Decimal(f"{i}.50"), "note": 'say "hi"\nbye', "seen": None} for i in range(7)
    ]
    assert writer.count == 7


def test_uncompressed_files(tmp_path, capsysbinary, fresh_output):
    settings = config(tmp_path, encoding={"format": "jsonl", "compression": "none"}, batch_size=100)
    writer = batches.BatchFiles("activities", batches.batch_config({"batch_config": settings}))
    writer.write({"a": 2})
    writer.spill()  # open, not yet committed by the storage nor announced
    assert capsysbinary.readouterr().out == b""
    output.flush()
    [message] = [json.loads(line) for line in capsysbinary.readouterr().out.splitlines()]
    assert message["manifest"][0].endswith(".json")
    assert read(message["manifest"][0]) == [{"a": 2}]


def test_files_are_written_with_the_storage_params(tmp_path, monkeypatch, fresh_output):
    """Remote storage needs its params (credentials) to write a file."""
    settings = config(tmp_path, batch_size=100)
    settings["storage"]["params"] = {"auto_mkdir": True}
    calls = []
    url_to_fs = batches.fsspec.core.url_to_fs

    def spy(url, **params):
        calls.append(params)
        return url_to_fs(url, **params)

    monkeypatch.setattr(batches.fsspec.core, "url_to_fs", spy)
    writer = batches.BatchFiles("leads", batches.batch_config({"batch_config": settings}))
    writer.write({"a": 1})
    output.flush()
    assert calls == [{"auto_mkdir": True}]
    assert [read(p.as_uri()) for p in (tmp_path / "batches").iterdir()] == [[{"a": 1}]]


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"encoding": {"format": "parquet"}, "storage": {"root": "file:///tmp"}}, "format 'parquet' is not supported"),
        ({"encoding": {"format": "jsonl", "compression": "zstd"}, "storage": {"root": "x"}}, "use gzip or none"),
        ({"encoding": {"format": "jsonl"}, "storage": {"root": ""}}, "storage.root is required"),
        ({"encoding": {"format": "jsonl"}}, "batch_config is not valid"),
    ],
)
def test_unsupported_batch_config_names_the_fix(settings, problem):
    with pytest.raises(errors.ConfigError, match=problem):
        batches.batch_config({"batch_config": settings})
    assert batches.batch_config({}) is None
