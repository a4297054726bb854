"""``batch_config``: BATCH files hold exactly the RECORD values, announced before each STATE."""

from __future__ import annotations

import decimal
import gzip
import json
from pathlib import Path

from .helpers import base_config, discover, run_tap, select

STREAMS = ["leads", "activities", "program_members", "programs"]


def _file_records(url: str) -> list[dict]:
    path = Path(url.removeprefix("file://"))
    data = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
    return [json.loads(line, parse_float=decimal.Decimal) for line in data.splitlines()]


def _timeline(messages: list[dict]) -> tuple[list[dict[str, int]], dict[str, list[dict]]]:
    """Records per stream seen before each STATE, and all records per stream in order."""
    records: dict[str, list[dict]] = {}
    before_states = []
    for m in messages:
        if m["type"] == "RECORD":
            records.setdefault(m["stream"], []).append(m["record"])
        elif m["type"] == "BATCH":
            for url in m["manifest"]:
                records.setdefault(m["stream"], []).extend(_file_records(url))
        elif m["type"] == "STATE":
            before_states.append({stream: len(rows) for stream, rows in records.items()})
    return before_states, records


def _bookmarks(messages: list[dict]) -> list[dict]:
    return [
        {
            s: {k: v for k, v in b.items() if k not in ("jobs_in_flight", "jobs_being_created")}
            for s, b in m["value"]["bookmarks"].items()
        }
        for m in messages
        if m["type"] == "STATE"
    ]


def test_batch_files_hold_the_record_values_and_precede_each_state(make_sandbox, tmp_path):
    sb = make_sandbox(end_at_inclusive=False)
    config = base_config(sb, activity_type_streams=True)
    catalog = discover(config)
    types = sorted(s["tap_stream_id"] for s in catalog["streams"] if s["tap_stream_id"].startswith("activities_"))
    catalog = select(catalog, [*STREAMS, *types[:2]], deselect={"leads": ["email"]})
    records_run = run_tap(config, catalog=catalog)
    assert records_run.returncode == 0, records_run.describe()

    twin = make_sandbox(end_at_inclusive=False)
    root = tmp_path / "batches"
    batch_config = {
        "encoding": {"format": "jsonl", "compression": "gzip"},
        "storage": {"root": root.as_uri(), "prefix": "e2e-"},
        "batch_size": 70,
    }
    batch_run = run_tap(
        {**base_config(twin, activity_type_streams=True), "batch_config": batch_config}, catalog=catalog
    )
    assert batch_run.returncode == 0, batch_run.describe()

    kinds = {m["type"] for m in batch_run.messages}
    assert "RECORD" not in kinds
    batch_messages = [m for m in batch_run.messages if m["type"] == "BATCH"]
    assert {m["stream"] for m in batch_messages} == {*STREAMS, *types[:2]}
    assert all(m["encoding"] == {"format": "jsonl", "compression": "gzip"} for m in batch_messages)
    bulk_files = [_file_records(m["manifest"][0]) for m in batch_messages if m["stream"] != "programs"]
    assert max(len(rows) for rows in bulk_files) == 70
    assert all(1 <= len(rows) <= 70 for rows in bulk_files)

    states_r, records_r = _timeline(records_run.messages)
    states_b, records_b = _timeline(batch_run.messages)
    assert records_b == records_r  # same values, same order, per stream
    assert sum(len(rows) for rows in records_b.values()) > 2000
    assert "email" not in records_b["leads"][0]
    assert _bookmarks(batch_run.messages) == _bookmarks(records_run.messages)
    # Before every STATE the same records were out: no bookmark ever covers an unannounced file.
    assert states_b == states_r
