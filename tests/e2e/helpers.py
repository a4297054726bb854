"""Helpers for the end-to-end tests: run the installed tap as a process against a sandbox,
build catalogs, and turn the sandbox's typed truth into the JSON values the tap must emit."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from ..support import to_json

TAP = Path(sys.executable).parent / "tap-marketo-bulk"

#: The three 31-day windows of START..END.
WINDOWS: list[tuple[str, str]] = [
    ("2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z"),
    ("2024-02-01T00:00:00Z", "2024-03-03T00:00:00Z"),
    ("2024-03-03T00:00:00Z", "2024-04-01T00:00:00Z"),
]


def ts(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def base_config(sb: Any, **overrides: Any) -> dict[str, Any]:
    config = {
        "client_id": sb.options.client_id,
        "client_secret": sb.options.client_secret,
        "base_url": f"{sb.url}/rest",
        "start_date": "2024-01-01T00:00:00Z",
        "end_date": "2024-04-01T00:00:00Z",
        "poll_interval_seconds": 0.05,
    }
    config.update(overrides)
    return {k: v for k, v in config.items() if v is not None}


@dataclasses.dataclass
class TapRun:
    returncode: int
    stdout: str
    stderr: str
    messages: list[dict[str, Any]]

    def records(self, stream: str) -> list[dict[str, Any]]:
        return [m["record"] for m in self.messages if m["type"] == "RECORD" and m["stream"] == stream]

    @property
    def states(self) -> list[dict[str, Any]]:
        return [m["value"] for m in self.messages if m["type"] == "STATE"]

    def streams_with_records(self) -> set[str]:
        return {m["stream"] for m in self.messages if m["type"] == "RECORD"}

    def describe(self) -> str:
        return f"exit {self.returncode}\n--- stderr (tail) ---\n{self.stderr[-4000:]}"


def run_tap(
    config: dict[str, Any],
    *args: str,
    catalog: dict | None = None,
    state: dict | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
) -> TapRun:
    """Run the installed console script; parse stdout (floats as Decimal)."""
    with tempfile.TemporaryDirectory(prefix="tap-e2e-") as tmp:
        tmp_path = Path(tmp)
        cmd = [str(TAP), "--config", str(tmp_path / "config.json")]
        (tmp_path / "config.json").write_text(json.dumps(config))
        if catalog is not None:
            (tmp_path / "catalog.json").write_text(json.dumps(catalog))
            cmd += ["--catalog", str(tmp_path / "catalog.json")]
        if state is not None:
            (tmp_path / "state.json").write_text(json.dumps(state))
            cmd += ["--state", str(tmp_path / "state.json")]
        cmd += list(args)
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("TAP_MARKETO_BULK_") and k != "LOGLEVEL"}
        full_env.update(env or {})
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=full_env, check=False)
    messages: list[dict[str, Any]] = []
    if "--discover" not in args:
        for line in proc.stdout.splitlines():
            if line.strip():
                messages.append(json.loads(line, parse_float=decimal.Decimal))
    return TapRun(proc.returncode, proc.stdout, proc.stderr, messages)


def discover(config: dict[str, Any]) -> dict[str, Any]:
    run = run_tap(config, "--discover")
    assert run.returncode == 0, run.describe()
    return json.loads(run.stdout)


def select(
    catalog: dict[str, Any],
    streams: list[str] | set[str],
    deselect: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """Mark exactly ``streams`` selected; ``deselect`` lists properties to switch off."""
    catalog = json.loads(json.dumps(catalog))
    deselect = deselect or {}
    known = {s["tap_stream_id"] for s in catalog["streams"]}
    missing = set(streams) - known
    assert not missing, f"streams not in catalog: {missing}"
    for stream in catalog["streams"]:
        sid = stream["tap_stream_id"]
        for entry in stream["metadata"]:
            bc = entry["breadcrumb"]
            if bc == []:
                entry["metadata"]["selected"] = sid in streams
            elif len(bc) == 2 and bc[0] == "properties" and bc[1] in deselect.get(sid, []):
                entry["metadata"]["selected"] = False
    return catalog


def log_messages(stderr: str, level: str = "WARNING") -> list[str]:
    """The messages of the tap's log lines of ``level`` (``time | LEVEL | logger | message``)."""
    out = []
    for line in stderr.splitlines():
        parts = [part.strip() for part in line.split(" | ", 3)]
        if len(parts) == 4 and parts[1] == level:
            out.append(parts[3])
    return out


def stream_names(catalog: dict[str, Any]) -> list[str]:
    return [s["tap_stream_id"] for s in catalog["streams"]]


# --- truth -> JSON values ------------------------------------------------------------------


def expected_lead(lead: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    return {name: to_json(lead.get(name)) for name in fields}


def pm_fields(data: Any) -> list[str]:
    return [f["name"] for f in data.program_member_fields if f["dataType"] != "formula"]


def expected_member(member: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    return {name: to_json(member.get(name)) for name in fields}


ACTIVITY_COLUMNS = [
    "marketoGUID",
    "leadId",
    "activityDate",
    "activityTypeId",
    "campaignId",
    "primaryAttributeValueId",
    "primaryAttributeValue",
    "actionResult",
    "attributes",
]


def expected_activity(act: dict[str, Any]) -> dict[str, Any]:
    return {name: to_json(act.get(name)) for name in ACTIVITY_COLUMNS}


def expected_attribute(value: Any) -> Any:
    """An activity attribute's value in its typed column: an empty string is NULL (as in
    Marketo's export files), a list or object is compact JSON text (``Merge Ids``)."""
    if value == "":
        return None
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return to_json(value)


def by_key(records: list[dict[str, Any]], *keys: str) -> dict[Any, dict[str, Any]]:
    """Records by primary key; asserts the key is unique."""
    out: dict[Any, dict[str, Any]] = {}
    for record in records:
        key = record[keys[0]] if len(keys) == 1 else tuple(record[k] for k in keys)
        assert key not in out, f"duplicate key {key}"
        out[key] = record
    return out


def create_bodies(sb: Any, entity_path: str) -> list[dict[str, Any]]:
    """JSON bodies of the create.json calls the sandbox received for a bulk entity path."""
    return [
        body
        for method, path, body in sb.requests
        if method == "POST" and path == f"/bulk/v1/{entity_path}/export/create.json"
    ]


def jobs_of(sb: Any, entity: str) -> list[dict[str, Any]]:
    return [job for job in sb.jobs() if job["entity"] == entity]
