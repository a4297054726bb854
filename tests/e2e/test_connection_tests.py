"""Connection tests cost no export: the SDK's ``--test`` and ``meltano config test``.

``meltano config test`` (Meltano 4) runs the tap with the project's catalog, reads its stdout and
stderr as one pipe, and stops the tap at the first RECORD or BATCH. The streams that need no
export job sync first (programs first), and a connection test that has its record creates no
export job. ``tests/integration/test_readme_meltano.py`` runs ``meltano config test`` itself.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from .helpers import TAP, base_config, discover, run_tap, select, stream_names, to_json
from .test_reference import PROGRAM_FIELDS

FREE_STREAMS = ["programs", "activity_types", "deleted_leads"]


def run_with_merged_output(config: dict[str, Any], catalog: dict[str, Any]) -> tuple[int, list[dict], str]:
    """The tap with stdout and stderr as one pipe, as ``meltano config test`` runs it."""
    with tempfile.TemporaryDirectory(prefix="tap-e2e-") as tmp:
        paths = {name: Path(tmp) / f"{name}.json" for name in ("config", "catalog")}
        paths["config"].write_text(json.dumps(config))
        paths["catalog"].write_text(json.dumps(catalog))
        proc = subprocess.run(
            [str(TAP), "--config", str(paths["config"]), "--catalog", str(paths["catalog"])],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=120,
            check=False,
        )
    lines = proc.stdout.splitlines()
    messages = [json.loads(line) for line in lines if line.startswith('{"type":')]
    return proc.returncode, messages, proc.stdout


def record_streams(messages: list[dict]) -> list[str]:
    """Streams in the order their records came, each once."""
    seen: list[str] = []
    for message in messages:
        if message["type"] == "RECORD" and message["stream"] not in seen:
            seen.append(message["stream"])
    return seen


def test_sdk_test_flag_emits_one_record_per_free_stream_and_creates_no_export_job(sb):
    run = run_tap(base_config(sb), "--test")

    assert run.returncode == 0, run.describe()
    assert sb.created_jobs() == {}
    first_program = sb.data.programs[0]
    assert [(m["stream"], m["record"]) for m in run.messages if m["type"] == "RECORD"] == [
        ("programs", {k: to_json(first_program.get(k)) for k in PROGRAM_FIELDS}),
        ("activity_types", run.records("activity_types")[0]),
        ("deleted_leads", run.records("deleted_leads")[0]),
    ]
    assert run.records("activity_types")[0]["id"] == sb.data.activity_types[0]["id"]
    assert run.records("deleted_leads")[0]["id"] == sb.data.deleted_leads[0]["id"]
    skipped = [line for line in run.stderr.splitlines() if "creates no export job" in line]
    assert len(skipped) == 5  # activities, 2 custom objects, leads, program_members
    assert "leads: creates no export job: this run is a connection test" in run.stderr


def test_merged_output_creates_no_export_job_once_a_free_stream_had_a_record(sb):
    config = base_config(sb)
    catalog = discover(config)
    returncode, messages, output = run_with_merged_output(config, select(catalog, stream_names(catalog)))

    assert returncode == 0, output[-4000:]
    assert sb.created_jobs() == {}
    assert record_streams(messages) == FREE_STREAMS
    assert len([m for m in messages if m["type"] == "RECORD" and m["stream"] == "programs"]) == len(sb.data.programs)
    bulk = [name for name in stream_names(catalog) if name not in FREE_STREAMS]
    for name in bulk:
        assert f"{name}: creates no export job: this run is a connection test" in output


def test_merged_output_with_only_bulk_streams_exports_the_first_one(sb):
    """Nothing free selected: the first bulk stream gives the record (meltano config test then
    passes); the streams after it create nothing."""
    config = base_config(sb)
    returncode, messages, output = run_with_merged_output(config, select(discover(config), ["activities", "leads"]))

    assert returncode == 0, output[-4000:]
    assert sb.created_jobs() == {"activities": 3}
    assert record_streams(messages) == ["activities"]
    assert "leads: creates no export job" in output


def test_a_run_syncs_the_free_streams_first_and_exports_everything(sb):
    config = base_config(sb)
    catalog = discover(config)
    run = run_tap(config, catalog=select(catalog, stream_names(catalog)))

    assert run.returncode == 0, run.describe()
    schemas = [m["stream"] for m in run.messages if m["type"] == "SCHEMA"]
    bulk = sorted(name for name in stream_names(catalog) if name not in FREE_STREAMS)
    assert schemas == [*FREE_STREAMS, *bulk]
    assert "creates no export job" not in run.stderr
    assert sb.created_jobs()["leads"] == 3
    assert {lead["id"] for lead in run.records("leads")} == {lead["id"] for lead in sb.data.leads}
