"""Connection tests cost no export: the SDK's ``--test`` and ``meltano config test``.

``meltano config test`` (Meltano 4) runs the tap with the project's catalog, reads its stdout and
stderr as one pipe, and stops the tap (SIGTERM) at the first RECORD or BATCH. The streams that
need no export job sync first (programs first); ``--test`` creates no export job once it has a
record, and a run read through one pipe waits for its reader's stop before its first export
job. ``tests/integration/test_readme_meltano.py`` runs ``meltano config test`` itself.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from tap_marketo_bulk.streams.base import BulkExportStream
from tap_marketo_bulk.tap import TapMarketoBulk

from .helpers import TAP, base_config, discover, run_tap, select, stream_names, to_json
from .test_reference import PROGRAM_FIELDS


def free_streams(config: dict[str, Any]) -> list[str]:
    """The streams that need no export job, in the order they must sync: programs, then by name."""
    streams = TapMarketoBulk(config=config).streams.values()
    names = sorted(stream.name for stream in streams if not isinstance(stream, BulkExportStream))
    assert {"programs", "activity_types", "deleted_leads"} <= set(names)
    return ["programs", *(name for name in names if name != "programs")]


def run_with_merged_output(
    config: dict[str, Any], catalog: dict[str, Any], *, stop_at_record: bool
) -> tuple[int, list[dict], str]:
    """The tap with stdout and stderr as one pipe; ``stop_at_record``: stopped with SIGTERM at
    the first RECORD, as ``meltano config test`` does (its ``ExtractorTestService.validate``)."""
    with tempfile.TemporaryDirectory(prefix="tap-e2e-") as tmp:
        paths = {name: Path(tmp) / f"{name}.json" for name in ("config", "catalog")}
        paths["config"].write_text(json.dumps(config))
        paths["catalog"].write_text(json.dumps(catalog))
        proc = subprocess.Popen(
            [str(TAP), "--config", str(paths["config"]), "--catalog", str(paths["catalog"])],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            lines = []
            for line in proc.stdout:
                lines.append(line)
                if stop_at_record and line.startswith('{"type":"RECORD"'):
                    proc.terminate()
                    lines.extend(proc.stdout)
                    break
            returncode = proc.wait(timeout=120)
        finally:
            proc.kill()
            proc.wait()
    return returncode, [message for line in lines if (message := singer_message(line))], "".join(lines)


def singer_message(line: str) -> dict | None:
    """The Singer message of one line of the merged output, None for a log line or a line a log
    line cut in two (stdout's buffer and stderr share the pipe); Meltano skips those too."""
    try:
        message = json.loads(line)
    except json.JSONDecodeError:
        return None
    return message if isinstance(message, dict) and "type" in message else None


def record_streams(messages: list[dict]) -> list[str]:
    """Streams in the order their records came, each once."""
    seen: list[str] = []
    for message in messages:
        if message["type"] == "RECORD" and message["stream"] not in seen:
            seen.append(message["stream"])
    return seen


def test_sdk_test_flag_emits_one_record_per_free_stream_and_creates_no_export_job(sb):
    config = base_config(sb)
    free = free_streams(config)
    run = run_tap(config, "--test")

    assert run.returncode == 0, run.describe()
    assert sb.created_jobs() == {}
    records = [(m["stream"], m["record"]) for m in run.messages if m["type"] == "RECORD"]
    first_program = sb.data.programs[0]
    assert records[0] == ("programs", {k: to_json(first_program.get(k)) for k in PROGRAM_FIELDS})
    assert [stream for stream, _record in records] == [name for name in free if run.records(name)]
    assert run.records("activity_types") == [records[1][1]]
    assert run.records("activity_types")[0]["id"] == sb.data.activity_types[0]["id"]
    assert [record["id"] for record in run.records("deleted_leads")] == [sb.data.deleted_leads[0]["id"]]
    bulk = [name for name in stream_names(discover(config)) if name not in free]
    assert {"activities", "leads", "program_members"} <= set(bulk)
    skipped = [line for line in run.stderr.splitlines() if "creates no export job" in line]
    assert len(skipped) == len(bulk)
    for name in bulk:
        assert f"{name}: creates no export job: this run is a connection test" in run.stderr


def test_meltano_config_test_creates_no_export_job(sb):
    config = base_config(sb)
    catalog = discover(config)
    free = free_streams(config)
    returncode, messages, output = run_with_merged_output(
        config, select(catalog, stream_names(catalog)), stop_at_record=True
    )

    assert returncode == 1, output[-4000:]  # stopped by its reader, as Meltano stops it
    assert "tap-marketo-bulk stopped: interrupted by SIGTERM" in output
    assert sb.created_jobs() == {}
    assert record_streams(messages)[0] == "programs"
    assert set(record_streams(messages)) <= set(free)


def test_a_run_read_through_one_pipe_and_not_stopped_exports_everything(sb):
    """Not a connection test after all (someone reading a real run so): it waits for a stop
    that does not come, then loses nothing."""
    config = base_config(sb)
    catalog = discover(config)
    returncode, messages, output = run_with_merged_output(
        config, select(catalog, ["programs", "leads", "activities"]), stop_at_record=False
    )

    assert returncode == 0, output[-4000:]
    assert output.count("waiting up to 5 s for it to stop this run") == 1
    assert sb.created_jobs() == {"activities": 3, "leads": 3}
    records = [m for m in messages if m["type"] == "RECORD"]
    assert {r["record"]["id"] for r in records if r["stream"] == "leads"} == {lead["id"] for lead in sb.data.leads}
    assert {r["record"]["marketoGUID"] for r in records if r["stream"] == "activities"} == {
        activity["marketoGUID"] for activity in sb.data.activities
    }


def test_meltano_config_test_with_only_bulk_streams_exports_the_first_one(sb):
    """Nothing free selected: the first bulk stream gives the record (meltano config test then
    passes) and the stop cancels the jobs still in flight; the streams after it create nothing."""
    config = base_config(sb)
    returncode, messages, output = run_with_merged_output(
        config, select(discover(config), ["activities", "leads"]), stop_at_record=True
    )

    assert returncode == 1, output[-4000:]
    assert set(sb.created_jobs()) == {"activities"}
    assert record_streams(messages) == ["activities"]


def test_a_run_syncs_the_free_streams_first_and_exports_everything(sb):
    config = base_config(sb)
    catalog = discover(config)
    free = free_streams(config)
    run = run_tap(config, catalog=select(catalog, stream_names(catalog)))

    assert run.returncode == 0, run.describe()
    schemas = [m["stream"] for m in run.messages if m["type"] == "SCHEMA"]
    assert schemas == [*free, *sorted(name for name in stream_names(catalog) if name not in free)]
    assert "creates no export job" not in run.stderr
    assert sb.created_jobs()["leads"] == 3
    assert {lead["id"] for lead in run.records("leads")} == {lead["id"] for lead in sb.data.leads}
