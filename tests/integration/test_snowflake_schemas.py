"""Every schema the tap discovers maps cleanly to Snowflake columns with target-snowflake's code.

target-snowflake is not connected to anything: ``snowflake_types.py`` runs in a separate venv
(target-snowflake pins a singer-sdk other than ours) and maps each property with the target's
``SnowflakeConnector.to_sql_type`` and ``format_identifier`` (the name normalization its sink
applies to columns), with the default settings and with ``normalise_casing: true``.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tap_marketo_bulk.sandbox.app import SandboxServer

from .conftest import discover

pytestmark = pytest.mark.integration

HELPER = Path(__file__).with_name("snowflake_types.py")
UNQUOTED_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,254}$")

# Snowflake type by JSON Schema shape (as compiled by snowflake-sqlalchemy; DECIMAL is NUMBER(38,0),
# FLOAT is Snowflake's 64-bit DOUBLE; TIMESTAMP_NTZ is target-snowflake's default timestamp_type).
EXPECTED = {
    "integer": "DECIMAL",
    "number": "FLOAT",
    "boolean": "BOOLEAN",
    "date-time": "TIMESTAMP_NTZ",
    "date": "DATE",
    "object": "VARIANT",
    "array": "VARIANT",
    "string": "VARCHAR",
}


def shape(schema: dict) -> str:
    types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    (kind,) = [t for t in types if t != "null"]
    if kind == "string" and schema.get("format") in ("date-time", "date"):
        return schema["format"]
    return kind


def snowflake_columns(python: str, catalog: dict, *extra: str) -> dict:
    out = subprocess.run(
        [python, str(HELPER), *extra], input=json.dumps(catalog), capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-4000:]
    return json.loads(out.stdout)


@pytest.mark.parametrize("activity_type_streams", [False, True], ids=["default", "activity_type_streams"])
@pytest.mark.parametrize("normalise_casing", [False, True], ids=["as-is", "normalise_casing"])
def test_every_discovered_property_maps_to_the_expected_snowflake_type(
    sandbox: SandboxServer, tmp_path: Path, snowflake_python: str, activity_type_streams: bool, normalise_casing: bool
) -> None:
    catalog = discover(sandbox, tmp_path, activity_type_streams=activity_type_streams)
    streams = {s["tap_stream_id"]: s for s in catalog["streams"]}
    assert {"leads", "activities", "program_members", "programs", "activity_types", "deleted_leads"} <= set(streams)
    if activity_type_streams:
        assert any(name.startswith("activities_") for name in streams)

    mapped = snowflake_columns(snowflake_python, catalog, *(["--normalise-casing"] if normalise_casing else []))
    versions = mapped.pop("_versions")
    problems = []
    table = []
    for name, stream in streams.items():
        # Table names: the SDK's conform_name, upper-cased by target-snowflake; ours are snake_case.
        if not UNQUOTED_IDENTIFIER.match(name):
            problems.append(f"stream name {name!r} is not a plain Snowflake identifier")
        seen: dict[str, str] = {}
        for prop, schema in stream["schema"]["properties"].items():
            entry = mapped[name][prop]
            if "error" in entry:
                problems.append(f"{name}.{prop}: {entry['error']}")
                continue
            want = EXPECTED[shape(schema)]
            if entry["type"] != want:
                problems.append(f"{name}.{prop}: {entry['type']} (expected {want} for {shape(schema)})")
            column = entry["column"]
            if not UNQUOTED_IDENTIFIER.match(column) or entry["quoted"] != column:
                problems.append(f"{name}.{prop}: column {column!r} needs quoting in Snowflake ({entry['quoted']})")
            if column.upper() in seen:
                problems.append(f"{name}.{prop}: column {column!r} collides with {seen[column.upper()]!r}")
            seen[column.upper()] = prop
            table.append((name, prop, shape(schema), column.upper(), entry["type"]))
    print(f"target-snowflake {versions}; normalise_casing={normalise_casing}")
    for row in table:
        print(" | ".join(row))
    assert not problems, "\n".join(problems)
