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

from .conftest import BIN, discover

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


#: With ``column_naming: marketo`` and the target's ``normalise_casing``, the target snake-cases
#: Merge Leads' activity column ``leadId`` into the column of its primary attribute "Lead ID"
#: (``lead_id``); ``column_naming: snake_case`` names that attribute ``lead_id_2``.
KNOWN_COLLISIONS = {
    ("marketo", True, True): ["activities_merge_leads.lead_id: column 'lead_id' collides with 'leadId'"],
}


@pytest.mark.parametrize("column_naming", ["marketo", "snake_case"])
@pytest.mark.parametrize("activity_type_streams", [False, True], ids=["default", "activity_type_streams"])
@pytest.mark.parametrize("normalise_casing", [False, True], ids=["as-is", "normalise_casing"])
def test_every_discovered_property_maps_to_the_expected_snowflake_type(
    sandbox: SandboxServer,
    tmp_path: Path,
    snowflake_python: str,
    activity_type_streams: bool,
    normalise_casing: bool,
    column_naming: str,
) -> None:
    catalog = discover(sandbox, tmp_path, activity_type_streams=activity_type_streams, column_naming=column_naming)
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
    print(f"target-snowflake {versions}; normalise_casing={normalise_casing}; column_naming={column_naming}")
    for row in table:
        print(" | ".join(row))
    assert problems == KNOWN_COLLISIONS.get((column_naming, normalise_casing, activity_type_streams), [])


def test_snake_case_columns_are_created_as_upper_case_words_in_snowflake(
    sandbox: SandboxServer, tmp_path: Path, snowflake_python: str
) -> None:
    """The CREATE TABLE target-snowflake would run (offline): with ``column_naming: snake_case``
    every stream's columns (bulk and REST) are unquoted snake_case, which Snowflake stores as CREATED_AT,
    FIRST_NAME, PRIMARY_ATTRIBUTE_VALUE_ID; with Marketo's names the same columns lose their word
    breaks (CREATEDAT). Default target settings (no normalise_casing)."""
    ddl = {}
    for naming in ("marketo", "snake_case"):
        catalog = discover(sandbox, tmp_path, activity_type_streams=True, column_naming=naming)
        ddl[naming] = snowflake_columns(snowflake_python, catalog, "--ddl")["_ddl"]
    snake, marketo = ddl["snake_case"], ddl["marketo"]
    print(snake["leads"], snake["activities_send_email"], sep="\n")
    assert "\n\tcreated_at TIMESTAMP_NTZ, \n\tupdated_at TIMESTAMP_NTZ, " in snake["leads"]
    assert "\n\tfirst_name VARCHAR, " in snake["leads"]
    assert "\n\tcreatedat TIMESTAMP_NTZ, \n\tupdatedat TIMESTAMP_NTZ, " in marketo["leads"]
    assert snake["leads"].rstrip().endswith("PRIMARY KEY (id)\n)")
    assert "\n\tprimary_attribute_value_id DECIMAL, " in snake["activities"]
    assert "\n\tprimaryattributevalueid DECIMAL, " in marketo["activities"]
    assert snake["activities"].rstrip().endswith("PRIMARY KEY (marketo_guid)\n)")
    for column in ("campaign_run_id", "choice_number", "step_id", "test_variant", "mailing_id"):
        assert f"\n\t{column} DECIMAL" in snake["activities_send_email"], column
    assert snake["program_members"].rstrip().endswith("PRIMARY KEY (program_id, lead_id)\n)")
    assert "\n\tcreated_at TIMESTAMP_NTZ, " in snake["custom_object_purchase_c"]
    assert "\n\tparent_program_id DECIMAL, " in snake["campaigns"]  # the REST streams too
    assert "\n\tstart_date TIMESTAMP_NTZ, " in snake["programs"]
    assert snake["static_list_members"].rstrip().endswith("PRIMARY KEY (list_id, lead_id)\n)")
    assert len(snake) > 30
    for name in snake:
        columns = [line.strip().split(" ")[0] for line in snake[name].splitlines()[1:] if line.startswith("\t")]
        columns = [c for c in columns if c != "PRIMARY"]
        assert all(UNQUOTED_IDENTIFIER.match(c) and c == c.lower() for c in columns), (name, columns)
        assert '"' not in snake[name], name


def test_use_singer_decimal_gives_exact_snowflake_decimals(
    sandbox: SandboxServer, tmp_path: Path, snowflake_python: str
) -> None:
    """Currency, percent and float become DECIMAL(38, 10) from the SCHEMA messages the tap sends.

    The catalog from --discover cannot show it (singer-sdk 0.54's catalog model drops
    ``precision``/``scale``); the SCHEMA messages, which targets create tables from, carry them.
    """
    config = {
        "client_id": sandbox.options.client_id,
        "client_secret": sandbox.options.client_secret,
        "base_url": sandbox.url,
        "start_date": "2024-01-01T00:00:00Z",
        "end_date": "2024-02-01T00:00:00Z",
        "poll_interval_seconds": 0.05,
        "use_singer_decimal": True,
        "activity_type_streams": True,
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    tap = BIN / "tap-marketo-bulk"
    out = subprocess.run(
        [str(tap) if tap.exists() else "tap-marketo-bulk", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-4000:]
    schemas = [json.loads(line) for line in out.stdout.splitlines() if line.startswith('{"type":"SCHEMA"')]
    catalog = {"streams": [{"tap_stream_id": m["stream"], "schema": m["schema"]} for m in schemas]}
    assert {"leads", "program_members", "activities"} <= {s["tap_stream_id"] for s in catalog["streams"]}

    mapped = snowflake_columns(snowflake_python, catalog)
    mapped.pop("_versions")
    decimals = {
        (stream["tap_stream_id"], name): mapped[stream["tap_stream_id"]][name]["type"]
        for stream in catalog["streams"]
        for name, schema in stream["schema"]["properties"].items()
        if schema.get("format") == "x-singer.decimal"
    }
    assert {("leads", "annualRevenue"), ("leads", "customCurrency"), ("leads", "customPercent")} <= set(decimals)
    assert set(decimals.values()) == {"DECIMAL(38, 10)"}
    floats = [key for stream in mapped.values() for key, entry in stream.items() if entry.get("type") == "FLOAT"]
    assert floats == []
