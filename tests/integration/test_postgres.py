"""`meltano run tap-marketo-bulk target-postgres` into a real, throwaway PostgreSQL server.

What it proves: the tap's schemas create sensible column types in a warehouse, every record of
the sandbox lands exactly once, exact values survive (big currency, CR/LF/emoji text), and a
second incremental run upserts new and changed rows from the bookmark Meltano stored.

Meltano's project (and so its plugin venvs) lives in ``.meltano/integration-tests/meltano-project``
so ``meltano install`` of target-postgres is paid once; the system database (state) is per test.
The tap itself is not installed by Meltano: the project points at this environment's
``tap-marketo-bulk`` executable, i.e. the code under test.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from tap_marketo_bulk.sandbox.app import SandboxServer
from tests.support import REST_STREAMS, dbt_marketo_recipe

from . import readme
from .conftest import BIN, CACHE, REPO, PostgresServer, meltano_executable

pytestmark = pytest.mark.integration

UTC = timezone.utc
STATE_ID = "sandbox:tap-marketo-bulk-to-target-postgres"
SCHEMA = "marketo"
DATABASE = "marketo"
FIRST_END = "2024-04-01T00:00:00Z"
END_DT = datetime(2024, 4, 1, tzinfo=timezone.utc)
SECOND_END = "2024-04-10T00:00:00Z"
TABLES = ["leads", "activities", "program_members", "programs", "activity_types", "deleted_leads"]
#: The tables of the first tests: bulk streams and the first REST streams. The other REST
#: streams load in their own test (each table costs the target seconds, per run).
BULK_SELECTION = {"TAP_MARKETO_BULK__SELECT": json.dumps([f"{t}.*" for t in [*TABLES, "custom_object_*"]])}
REST_TABLES = [name for name in REST_STREAMS if name != "programs"]  # programs: with the bulk tables


def write_project(project: Path) -> None:
    """A copy of the repo's meltano.yml, made runnable offline against this checkout.

    - the extractor keeps its definition but has no ``pip_url`` and an absolute ``executable``:
      Meltano runs the tap installed in this environment instead of building its own venv;
    - every stream is selected (the repo's project selects only ``leads.*``);
    - the loader becomes a custom plugin (``namespace`` + the same ``pip_url``), so Meltano needs
      no lock file from Meltano Hub (not reachable in CI) and only PyPI for ``meltano install``.
    """
    config = yaml.safe_load((REPO / "meltano.yml").read_text())
    config.pop("version", None)  # deprecated in Meltano 4, only adds a warning
    extractor = next(p for p in config["plugins"]["extractors"] if p["name"] == "tap-marketo-bulk")
    extractor.pop("pip_url", None)
    extractor["executable"] = str(BIN / "tap-marketo-bulk")
    extractor["select"] = ["*.*"]
    loader = next(p for p in config["plugins"]["loaders"] if p["name"] == "target-postgres")
    config["plugins"]["loaders"] = [
        {
            "name": "target-postgres",
            "namespace": "target_postgres",
            "pip_url": loader["pip_url"],
            "executable": "target-postgres",
            "settings": [
                {"name": "host"},
                {"name": "port", "kind": "integer"},
                {"name": "user"},
                {"name": "password", "kind": "password", "sensitive": True},
                {"name": "database"},
                {"name": "default_target_schema"},
                {"name": "stream_maps", "kind": "object"},
            ],
            "config": {**loader.get("config", {}), "host": "127.0.0.1", "user": "postgres"},
        }
    ]
    project.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(config, sort_keys=False)
    path = project / "meltano.yml"
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


class Meltano:
    def __init__(self, project: Path, env: dict[str, str]) -> None:
        self.project, self.env, self.exe = project, env, meltano_executable()

    def __call__(self, *args: str, timeout: float = 900, **extra_env: str) -> subprocess.CompletedProcess[str]:
        out = subprocess.run(
            [self.exe, *args],
            cwd=self.project,
            env={**self.env, **extra_env},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if out.returncode:
            raise AssertionError(f"meltano {' '.join(args)} failed ({out.returncode}):\n{out.stderr[-8000:]}")
        return out


@pytest.fixture
def meltano(tmp_path: Path, postgres: PostgresServer, sandbox: SandboxServer) -> Meltano:
    project = CACHE / "meltano-project"
    write_project(project)
    env = {
        **os.environ,
        "MELTANO_ENVIRONMENT": "sandbox",
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}",  # fresh state each test
        "TAP_MARKETO_BULK_BASE_URL": sandbox.url,
        "TAP_MARKETO_BULK_CLIENT_SECRET": sandbox.options.client_secret,
        "TAP_MARKETO_BULK_TEMP_DIR": str(tmp_path),
        "TARGET_POSTGRES_PORT": str(postgres.port),
        "TARGET_POSTGRES_PASSWORD": "unused-trust-auth",
        "TARGET_POSTGRES_DATABASE": DATABASE,
        "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": SCHEMA,
    }
    m = Meltano(project, env)
    started = time.monotonic()
    m("install", "--plugin-type", "loader", "target-postgres")
    print(f"meltano install target-postgres: {time.monotonic() - started:.1f}s")
    postgres.psql(f"DROP DATABASE IF EXISTS {DATABASE}")
    postgres.psql(f"CREATE DATABASE {DATABASE}")
    return m


# ---------------------------------------------------------------------- helpers
def count(pg: PostgresServer, table: str) -> int:
    return int(pg.psql(f"SELECT count(*) FROM {SCHEMA}.{table}", DATABASE))


def column_types(pg: PostgresServer, table: str) -> dict[str, str]:
    rows = pg.rows(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
        "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        f"WHERE n.nspname = '{SCHEMA}' AND c.relname = '{table}' AND a.attnum > 0 AND NOT a.attisdropped "
        "ORDER BY a.attnum",
        DATABASE,
    )
    return dict(rows)


def in_range(value: datetime, start: str, end: str) -> bool:
    def parse(text: str) -> datetime:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))

    return parse(start) <= value < parse(end)


def truth(sb: SandboxServer, start: str, end: str) -> dict[str, int]:
    d = sb.data
    return {
        "leads": len(d.leads),
        "activities": sum(in_range(a["activityDate"], start, end) for a in d.activities),
        "program_members": len(d.program_members),
        "programs": len(d.programs),
        "activity_types": len(d.activity_types),
        "deleted_leads": sum(in_range(x["activityDate"], start, end) for x in d.deleted_leads),
    }


def assert_counts_and_keys(pg: PostgresServer, expected: dict[str, int], columns: dict[str, dict[str, str]]) -> None:
    got = {table: count(pg, table) for table in TABLES}
    assert got == expected
    keys = {
        "leads": ["id"],
        "activities": ["marketoguid"],
        "program_members": ["programid", "leadid"],
        "programs": ["id"],
        "activity_types": ["id"],
        "deleted_leads": ["id"],
    }
    for table, key in keys.items():
        cols = ", ".join(_col(columns[table], k) for k in key)
        sql = f"SELECT count(*) FROM (SELECT {cols} FROM {SCHEMA}.{table} GROUP BY {cols} HAVING count(*) > 1) d"
        dupes = pg.psql(sql, DATABASE)
        assert dupes == "0", f"duplicate primary keys in {table}"


def _col(columns: dict[str, str], name: str) -> str:
    """The loaded column for a property, whatever casing/normalization the target applied."""
    folded = {c.replace("_", "").lower(): c for c in columns}
    column = folded[name.replace("_", "").lower()]
    return f'"{column}"'


def lead_text(pg: PostgresServer, columns: dict[str, str], lead_id: int, prop: str) -> str:
    """Exact text of a lead column: base64 on the wire, because text-mode pipes turn CR LF into LF."""
    encoded = pg.psql(
        f"SELECT encode(convert_to({_col(columns, prop)}, 'UTF8'), 'base64') FROM {SCHEMA}.leads "
        f"WHERE {_col(columns, 'id')} = {lead_id}",
        DATABASE,
    )
    return base64.b64decode(encoded.replace("\n", "")).decode()


def lead_value(pg: PostgresServer, columns: dict[str, str], lead_id: int, prop: str) -> str:
    sql = f"SELECT {_col(columns, prop)} FROM {SCHEMA}.leads WHERE {_col(columns, 'id')} = {lead_id}"
    return pg.psql(sql, DATABASE)


# target-postgres 0.8.1 maps format date-time to TIMESTAMP (no time zone) and has no setting to change
# it; the tap emits UTC offsets, so the stored wall time is UTC (asserted below).
TS = "timestamp without time zone"

# Expected PostgreSQL types by tap property (JSON Schema type in the comment); also the README table.
EXPECTED_TYPES = {
    "leads": {
        "id": "bigint",  # integer
        "email": "text",  # string
        "leadScore": "bigint",  # integer (score)
        "annualRevenue": "numeric",  # number (currency)
        "customFloat": "numeric",  # number (float)
        "customCurrency": "numeric",  # number (currency)
        "customPercent": "numeric",  # number (percent)
        "customInteger": "bigint",  # integer
        "unsubscribed": "boolean",  # boolean
        "customBoolean": "boolean",  # boolean
        "createdAt": TS,  # string/date-time
        "updatedAt": TS,  # string/date-time
        "customDatetime": TS,  # string/date-time
        "dateOfBirth": "date",  # string/date
        "customDate": "date",  # string/date
        "customTextarea": "text",  # string (textarea)
        "customArray": "text",  # string (Marketo array: ;-joined)
    },
    "activities": {
        "marketoGUID": "text",
        "leadId": "bigint",
        "activityDate": TS,
        "activityTypeId": "bigint",
        "attributes": "jsonb",  # object
    },
    "program_members": {
        "programId": "bigint",
        "leadId": "bigint",
        "reachedSuccess": "boolean",
        "membershipDate": TS,
        "pmCustomCurrency": "numeric",
        "pmCustomDate": "date",
    },
    "programs": {"id": "bigint", "createdAt": TS, "folder": "jsonb"},
    "activity_types": {"id": "bigint", "attributes": "jsonb[]", "primaryAttribute": "jsonb"},  # array of objects
    "deleted_leads": {"id": "bigint", "activityDate": TS, "attributes": "jsonb[]"},
}


def test_meltano_run_into_postgres_then_incremental_upsert(
    meltano: Meltano, postgres: PostgresServer, sandbox: SandboxServer
) -> None:
    pg, sb = postgres, sandbox
    start = "2024-01-01T00:00:00Z"

    # ------------------------------------------------------------------ first run
    t0 = time.monotonic()
    meltano("run", "tap-marketo-bulk", "target-postgres", TAP_MARKETO_BULK_END_DATE=FIRST_END, **BULK_SELECTION)
    print(f"first meltano run: {time.monotonic() - t0:.1f}s")

    columns = {table: column_types(pg, table) for table in TABLES}
    print("column types:", json.dumps(columns, indent=1))
    for table, expected in EXPECTED_TYPES.items():
        got = {prop: columns[table].get(_col(columns[table], prop).strip('"')) for prop in expected}
        assert got == expected, table
    assert_counts_and_keys(pg, truth(sb, start, FIRST_END), columns)

    # exact values
    leads = columns["leads"]
    big = next(ld for ld in sb.data.leads if ld["customCurrency"] == Decimal("123456789012.34"))
    assert Decimal(lead_value(pg, leads, big["id"], "customCurrency")) == Decimal("123456789012.34")
    assert Decimal(lead_value(pg, leads, big["id"], "customPercent")) == Decimal("12.3456")
    assert lead_value(pg, leads, big["id"], "customInteger") == "2147483647"
    specials = [
        "windows\r\nline",
        "carriage\rreturn",
        "rocket \U0001f680 party \U0001f389",
        'mix, of "all"\r\n kinds \U0001f600',
    ]
    for special in specials:
        lead = next(ld for ld in sb.data.leads if ld["company"] == special)
        assert lead_text(pg, leads, lead["id"], "company") == special
    sample = sb.data.leads[10]
    assert lead_value(pg, leads, sample["id"], "updatedAt") == pg.psql(
        f"SELECT '{sample['updatedAt'].isoformat()}'::timestamptz AT TIME ZONE 'UTC'", DATABASE
    )
    sample_act = sb.data.activities[5]
    got_attrs = pg.psql(
        f"SELECT {_col(columns['activities'], 'attributes')} FROM {SCHEMA}.activities "
        f"WHERE {_col(columns['activities'], 'marketoGUID')} = '{sample_act['marketoGUID']}'",
        DATABASE,
    )
    assert json.loads(got_attrs) == json.loads(json.dumps(sample_act["attributes"]))

    state = json.loads(meltano("state", "get", STATE_ID).stdout.strip().splitlines()[-1])
    bookmarks = state["singer_state"]["bookmarks"]
    assert bookmarks["leads"]["replication_key_value"].startswith("2024-04-01T00:00:00")
    first_jobs = len(sb.jobs())

    # ------------------------------------------------------------------ change the source
    at = datetime(2024, 4, 3, 12, 0, tzinfo=UTC)
    new_ids = sb.data.add_leads(5, at)
    changed = [ld["id"] for ld in sb.data.leads[20:25]]
    new_values = {"customCurrency": Decimal("98765432109.87"), "customText": "changed \r\n ✓"}
    sb.data.update_leads(changed, at + timedelta(hours=1), new_values)
    sb.data.add_activities(30, at + timedelta(hours=2))
    sb.data.delete_leads([sb.data.leads[40]["id"]], at + timedelta(hours=3))

    # ------------------------------------------------------------------ second run
    t0 = time.monotonic()
    meltano("run", "tap-marketo-bulk", "target-postgres", TAP_MARKETO_BULK_END_DATE=SECOND_END, **BULK_SELECTION)
    print(f"second meltano run: {time.monotonic() - t0:.1f}s")

    expected = truth(sb, start, SECOND_END)
    expected["leads"] += 1  # the deleted lead stays in the warehouse (it was loaded by run 1)
    assert_counts_and_keys(pg, expected, columns)
    for lead_id in changed:
        assert Decimal(lead_value(pg, leads, lead_id, "customCurrency")) == Decimal("98765432109.87")
        assert lead_text(pg, leads, lead_id, "customText") == "changed \r\n ✓"
    for lead_id in new_ids:
        assert lead_value(pg, leads, lead_id, "id") == str(lead_id)

    # the second run started from the first run's bookmark
    lead_jobs = [j for j in sb.jobs()[first_jobs:] if j["entity"] == "leads"]
    assert lead_jobs, "second run created no lead export job"
    starts = sorted(next(iter(j["request"]["filter"].values()))["startAt"] for j in lead_jobs)
    assert starts[0].startswith("2024-04-01T00:00:00"), starts
    state = json.loads(meltano("state", "get", STATE_ID).stdout.strip().splitlines()[-1])
    assert state["singer_state"]["bookmarks"]["leads"]["replication_key_value"].startswith("2024-04-10T00:00:00")


def test_meltano_select_of_single_fields_and_exact_singer_decimals(
    meltano: Meltano, postgres: PostgresServer, sandbox: SandboxServer
) -> None:
    """Meltano's ``select`` of single lead fields reaches Marketo's ``fields``; with
    ``use_singer_decimal`` currency lands in NUMERIC(38,10), exactly."""
    pg, sb = postgres, sandbox
    selected = ["leads.id", "leads.email", "leads.customCurrency", "leads.customPercent"]
    meltano(
        "run",
        "tap-marketo-bulk",
        "target-postgres",
        TAP_MARKETO_BULK_END_DATE=FIRST_END,
        TAP_MARKETO_BULK_USE_SINGER_DECIMAL="true",
        TAP_MARKETO_BULK__SELECT=json.dumps(selected),
    )
    # Marketo was asked for exactly the selection plus the replication key (also the filter).
    bodies = [b for method, path, b in sb.requests if path == "/bulk/v1/leads/export/create.json"]
    assert bodies and all(
        b["fields"] == ["id", "email", "updatedAt", "customCurrency", "customPercent"] for b in bodies
    ), bodies
    assert {path for _, path, _ in sb.requests if "/export/create.json" in path} == {
        "/bulk/v1/leads/export/create.json"
    }
    columns = column_types(pg, "leads")
    assert {name: kind for name, kind in columns.items() if not name.startswith("_sdc")} == {
        "id": "bigint",
        "email": "text",
        "updatedAt": TS,
        "customCurrency": "numeric(38,10)",
        "customPercent": "numeric(38,10)",
    }
    assert count(pg, "leads") == len({ld["id"] for ld in sb.data.leads})
    big = next(ld for ld in sb.data.leads if ld["customCurrency"] == Decimal("123456789012.34"))
    assert Decimal(lead_value(pg, columns, big["id"], "customCurrency")) == Decimal("123456789012.34")
    assert Decimal(lead_value(pg, columns, big["id"], "customPercent")) == Decimal("12.3456")


def table_contents(pg: PostgresServer, schema: str, table: str) -> tuple[list[str], str]:
    """Data columns (the target's _sdc_ metadata left out) and every row as text, sorted."""
    rows = pg.rows(
        "SELECT column_name, data_type FROM information_schema.columns "
        f"WHERE table_schema = '{schema}' AND table_name = '{table}' AND column_name NOT LIKE '\\_sdc\\_%' "
        "ORDER BY ordinal_position",
        DATABASE,
    )
    columns = [f'"{name}"' for name, _ in rows]
    # md5 of each row's text: exact (CR, LF and all), and short on the psql pipe.
    sql = f"SELECT md5(ROW({', '.join(columns)})::text) FROM {schema}.{table} ORDER BY 1"
    return [f"{name} {kind}" for name, kind in rows], pg.psql(sql, DATABASE)


def test_meltano_run_with_batch_messages_loads_what_record_messages_load(
    meltano: Meltano, postgres: PostgresServer, tmp_path: Path
) -> None:
    """``batch_config`` through Meltano: the same tables, column types and values as RECORD
    (the bulk streams, and campaigns for the REST streams, which take the SDK's batch path;
    the other REST streams are left out: each table costs the target seconds)."""
    tables = [*TABLES, "campaigns"]
    select = {"TAP_MARKETO_BULK__SELECT": json.dumps([f"{table}.*" for table in tables])}
    meltano("run", "tap-marketo-bulk", "target-postgres", TAP_MARKETO_BULK_END_DATE=FIRST_END, **select)
    batch_config = {
        "encoding": {"format": "jsonl", "compression": "gzip"},
        "storage": {"root": (tmp_path / "batches").as_uri()},
        "batch_size": 200,
    }
    meltano(
        "run",
        "--full-refresh",
        "tap-marketo-bulk",
        "target-postgres",
        TAP_MARKETO_BULK_END_DATE=FIRST_END,
        TAP_MARKETO_BULK_BATCH_CONFIG=json.dumps(batch_config),
        TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA="marketo_batch",
        **select,
    )
    assert len(list((tmp_path / "batches").iterdir())) > 5
    for table in tables:
        columns, rows = table_contents(postgres, SCHEMA, table)
        assert rows, table
        assert table_contents(postgres, "marketo_batch", table) == (columns, rows), table


PURCHASE_TABLE = "custom_object_purchase_c"


def _purchase_rows(pg: PostgresServer) -> dict[str, list[str]]:
    """Every loaded purchase_c row as text by marketoGUID (notes as md5 of its UTF-8 bytes)."""
    stamp = '\'YYYY-MM-DD"T"HH24:MI:SS"Z"\''
    sql = (
        'SELECT "marketoGUID", "leadId"::text, coalesce("purchaseId", \'<null>\'), '
        'coalesce(md5(convert_to("productName", \'UTF8\')), \'<null>\'), "amount"::text, "quantity"::text, '
        f'to_char("createdAt", {stamp}), to_char("updatedAt", {stamp}), to_char("purchasedAt", {stamp}), '
        "\"isRefunded\"::text, coalesce(md5(convert_to(\"notes\", 'UTF8')), '<null>') "
        f"FROM {SCHEMA}.{PURCHASE_TABLE}"
    )
    return {row[0]: row[1:] for row in pg.rows(sql, DATABASE)}


def test_meltano_run_custom_object_into_postgres(
    meltano: Meltano, postgres: PostgresServer, sandbox: SandboxServer
) -> None:
    """A custom object stream lands as a typed table: one row per record, exact values."""
    import hashlib

    pg, sb = postgres, sandbox
    meltano(
        "run",
        "tap-marketo-bulk",
        "target-postgres",
        TAP_MARKETO_BULK_END_DATE=FIRST_END,
        TAP_MARKETO_BULK__SELECT=json.dumps([f"{PURCHASE_TABLE}.*"]),
    )
    # Only the custom object was exported, in the three updatedAt windows.
    assert {path for _, path, _ in sb.requests if "/export/create.json" in path} == {
        "/bulk/v1/customobjects/purchase_c/export/create.json"
    }
    assert sb.created_jobs() == {"customobjects/purchase_c": 3}
    columns = column_types(pg, PURCHASE_TABLE)
    assert {name: kind for name, kind in columns.items() if not name.startswith("_sdc")} == {
        "createdAt": TS,
        "marketoGUID": "text",
        "updatedAt": TS,
        "leadId": "bigint",
        "purchaseId": "text",
        "productName": "text",
        "amount": "numeric",
        "quantity": "bigint",
        "purchasedAt": TS,
        "isRefunded": "boolean",
        "notes": "text",
    }
    records = sb.data.custom_object_records["purchase_c"]
    assert count(pg, PURCHASE_TABLE) == len(records) == 300

    def md5(text: str | None) -> str:
        return "<null>" if text is None else hashlib.md5(text.encode()).hexdigest()

    def stamp(value: datetime) -> str:
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    rows = _purchase_rows(pg)
    assert set(rows) == {r["marketoGUID"] for r in records}  # every record once (count is 300)
    for rec in records:
        got = rows[rec["marketoGUID"]]
        assert Decimal(got[3]) == rec["amount"], rec["marketoGUID"]
        assert got[:3] + got[4:] == [
            str(rec["leadId"]),
            rec["purchaseId"],
            md5(rec["productName"]),
            str(rec["quantity"]),
            stamp(rec["createdAt"]),
            stamp(rec["updatedAt"]),
            stamp(rec["purchasedAt"]),
            "true" if rec["isRefunded"] else "false",
            md5(rec["notes"]),
        ], rec["marketoGUID"]
    assert {rec["isRefunded"] for rec in records} == {True, False}
    assert any(rec["notes"] is None for rec in records) and any(rec["productName"] is None for rec in records)

    # A few values in full: CR/LF text byte-exact, the currency amount, a boundary timestamp.
    crlf = next(rec for rec in records if rec["notes"] == "windows\r\nline")
    where = f"WHERE \"marketoGUID\" = '{crlf['marketoGUID']}'"
    encoded = pg.psql(
        f"SELECT encode(convert_to(\"notes\", 'UTF8'), 'base64') FROM {SCHEMA}.{PURCHASE_TABLE} {where}", DATABASE
    )
    assert base64.b64decode(encoded.replace("\n", "")).decode() == "windows\r\nline"
    assert Decimal(pg.psql(f'SELECT "amount" FROM {SCHEMA}.{PURCHASE_TABLE} {where}', DATABASE)) == crlf["amount"]
    first = records[1]  # updated exactly on the first inner window boundary
    assert first["updatedAt"] == datetime(2024, 2, 1, tzinfo=UTC)
    got_ts = pg.psql(
        f'SELECT "updatedAt" FROM {SCHEMA}.{PURCHASE_TABLE} WHERE "marketoGUID" = \'{first["marketoGUID"]}\'', DATABASE
    )
    assert got_ts == "2024-02-01 00:00:00"

    state = json.loads(meltano("state", "get", STATE_ID).stdout.strip().splitlines()[-1])
    bookmark = state["singer_state"]["bookmarks"][PURCHASE_TABLE]
    assert bookmark["replication_key_value"].startswith("2024-04-01T00:00:00"), bookmark


#: The columns of dbt_marketo's email_send_id, in its order (after source_relation).
EMAIL_SEND_KEY = ("primary_attribute_value_id", "campaign_id", "campaign_run_id", "lead_id")
FOLLOW_UPS = {
    "activities_email_delivered": 7,
    "activities_email_bounced": 8,
    "activities_unsubscribe_email": 9,
    "activities_open_email": 10,
    "activities_click_email": 11,
}


def test_meltano_run_with_snake_case_columns_and_the_dbt_marketo_recipe(
    meltano: Meltano, postgres: PostgresServer, sandbox: SandboxServer
) -> None:
    """README "Modelling"'s command as written (the ``dbt_marketo`` environment: snake_case,
    its selection, the loader's stream maps) into PostgreSQL: lower-case columns that SQL names
    unquoted, as the package does, with the types and values it needs. The sandbox stands in
    for the user's Marketo (its URL and credentials, as a user sets theirs, in the environment),
    and program members and a custom object are selected too, to check their names."""
    pg, sb = postgres, sandbox
    recipe = dbt_marketo_recipe()
    (command,) = readme.meltano_commands(readme.MODELLING)
    assert command[:2] == ["--environment", "dbt_marketo"]
    streams = [*recipe["select"], "program_members.*", "custom_object_purchase_c.*"]
    meltano(
        *command,
        TAP_MARKETO_BULK_CLIENT_ID=sb.options.client_id,
        TAP_MARKETO_BULK_START_DATE="2024-01-01T00:00:00Z",
        TAP_MARKETO_BULK_END_DATE=FIRST_END,
        TAP_MARKETO_BULK__SELECT=json.dumps(streams),
    )

    def data_columns(table: str) -> dict[str, str]:
        return {name: kind for name, kind in column_types(pg, table).items() if not name.startswith("_sdc")}

    leads = data_columns("leads")
    assert all(name == name.lower() for name in leads), leads
    assert {k: leads[k] for k in ("id", "created_at", "updated_at", "first_name", "lead_score", "custom_currency")} == {
        "id": "bigint",
        "created_at": TS,
        "updated_at": TS,
        "first_name": "text",
        "lead_score": "bigint",
        "custom_currency": "numeric",
    }
    big = next(ld for ld in sb.data.leads if ld["customCurrency"] == Decimal("123456789012.34"))
    sql = f"SELECT custom_currency, custom_integer, email FROM {SCHEMA}.leads WHERE id = {big['id']}"
    assert pg.rows(sql, DATABASE) == [["123456789012.34", "2147483647", big["email"]]]
    assert count(pg, "leads") == len(sb.data.leads)

    # The email activities as the package reads them: Fivetran's id and email_template_id from
    # the loader's maps, the parts of its email_send_id, all unquoted.
    acts = [a for a in sb.data.activities if in_range(a["activityDate"], "2024-01-01T00:00:00Z", FIRST_END)]
    sends = {a["marketoGUID"]: a for a in acts if a["activityTypeId"] == 6}
    send_columns = data_columns("activities_send_email")
    assert {k: send_columns[k] for k in ("id", "email_template_id", "campaign_run_id", "activity_date", "lead_id")} == {
        "id": "text",
        "email_template_id": "bigint",
        "campaign_run_id": "bigint",
        "activity_date": TS,
        "lead_id": "bigint",
    }
    rows = pg.rows(
        "SELECT id, marketo_guid, email_template_id, primary_attribute_value_id, campaign_run_id, step_id, "
        f"choice_number, test_variant, lead_id FROM {SCHEMA}.activities_send_email",
        DATABASE,
    )
    assert sorted(r[0] for r in rows) == sorted(sends)
    for guid, marketo_guid, template, value_id, run_id, step, choice, variant, lead_id in rows:
        act = sends[guid]
        attrs = act["attributes"]
        assert marketo_guid == guid
        assert template == value_id == str(act["primaryAttributeValueId"])
        assert [run_id, step, choice, variant] == [
            str(attrs[name]) for name in ("Campaign Run ID", "Step ID", "Choice Number", "Test Variant")
        ]
        assert lead_id == str(act["leadId"])

    # The package counts a send's deliveries, opens, clicks, bounces and unsubscribes by its
    # email_send_id: dbt_utils' surrogate key of the text of four columns. Each follow-up the
    # sandbox made for a send finds it by that key.
    def send_key(alias: str) -> str:
        parts = [f"coalesce(cast({alias}.{c} as text), '_dbt_utils_surrogate_key_null_')" for c in EMAIL_SEND_KEY]
        return "md5(" + " || '-' || ".join(parts) + ")"

    def key_of(act: dict) -> tuple:
        run_id = act["attributes"].get("Campaign Run ID")
        return (act["primaryAttributeValueId"], act["campaignId"], run_id, act["leadId"])

    send_keys = {key_of(a) for a in sends.values()}
    for table, type_id in FOLLOW_UPS.items():
        sql = (
            f"SELECT count(*) FROM {SCHEMA}.{table} f WHERE {send_key('f')} IN "
            f"(SELECT {send_key('s')} FROM {SCHEMA}.activities_send_email s)"
        )
        want = [a for a in acts if a["activityTypeId"] == type_id and key_of(a) in send_keys]
        assert int(pg.psql(sql, DATABASE)) == len(want) > 0, table

    # Merge Leads: merge_ids is text the package's staging expression turns into a list.
    assert data_columns("activities_merge_leads")["merge_ids"] == "text"
    merges = pg.rows(
        "SELECT id, cast(replace(trim(trim(merge_ids, ']'), '['), ',', ', ') as text), lead_id "
        f"FROM {SCHEMA}.activities_merge_leads",
        DATABASE,
    )
    want = {a["marketoGUID"]: a for a in acts if a["activityTypeId"] == 32}
    assert len(merges) == len(want) > 0
    for guid, merged, lead_id in merges:
        assert merged == ", ".join(str(i) for i in want[guid]["attributes"]["Merge Ids"])
        assert lead_id == str(want[guid]["leadId"])

    # Change Data Value: old_value is NULL, never '', where the field was empty.
    changes = {a["marketoGUID"]: a for a in acts if a["activityTypeId"] == 13}
    sql = f"SELECT id, old_value IS NULL, coalesce(old_value = '', false) FROM {SCHEMA}.activities_change_data_value"
    old = {guid: (null, blank) for guid, null, blank in pg.rows(sql, DATABASE)}
    assert set(old) == set(changes)
    assert {blank for _, blank in old.values()} == {"f"}
    empty = {g for g, a in changes.items() if a["attributes"].get("Old Value") in ("", None)}
    assert empty and {g for g, (null, _) in old.items() if null == "t"} == empty

    # Deleted leads: the REST stream's own snake_case columns.
    deleted = pg.rows(f"SELECT lead_id, activity_date FROM {SCHEMA}.deleted_leads", DATABASE)
    assert sorted(int(lead_id) for lead_id, _ in deleted) == sorted(
        d["leadId"] for d in sb.data.deleted_leads if in_range(d["activityDate"], "2024-01-01T00:00:00Z", FIRST_END)
    )

    # campaign: program_id from parent_program_id, as the package joins sends to programs.
    ref = sb.data.reference
    campaigns = {
        int(r[0]): r[1:]
        for r in pg.rows(f"SELECT id, coalesce(program_id::text, '<null>'), active FROM {SCHEMA}.campaigns", DATABASE)
    }
    want_campaigns = {c["id"]: c for c in ref.rows["campaigns"] if c["updatedAt"] < END_DT}
    assert set(campaigns) == set(want_campaigns)
    for cid, (program_id, active) in campaigns.items():
        parent = want_campaigns[cid].get("parentProgramId")
        assert [program_id, active] == [
            "<null>" if parent is None else str(parent),
            "t" if want_campaigns[cid]["isActive"] else "f",
        ]

    # program: the package's columns as they are, the dates typed.
    programs = data_columns("programs")
    assert {k: programs[k] for k in ("id", "start_date", "end_date", "sfdc_id", "updated_at")} == {
        "id": "bigint",
        "start_date": TS,
        "end_date": TS,
        "sfdc_id": "text",
        "updated_at": TS,
    }
    dated = {p: d["startDate"] for p, d in ref.program_details.items() if "startDate" in d}
    sql = f"SELECT id, start_date FROM {SCHEMA}.programs WHERE start_date IS NOT NULL"
    assert {int(p): when for p, when in pg.rows(sql, DATABASE)} == {
        p: when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") for p, when in dated.items()
    }

    # email_template_history: one row per approved version, timestamps typed (compared uncast).
    history = data_columns("email_template_history")
    assert {k: history[k] for k in ("id", "created_at", "updated_at", "operational", "subject", "folder_value")} == {
        "id": "bigint",
        "created_at": TS,
        "updated_at": TS,
        "operational": "boolean",
        "subject": "text",
        "folder_value": "bigint",
    }
    approved = [e for e in ref.rows["emails"] if e["status"] == "approved" and e["updatedAt"] < END_DT]
    sql = f"SELECT id, subject, status FROM {SCHEMA}.email_template_history"
    assert sorted(pg.rows(sql, DATABASE)) == sorted([str(e["id"]), e["subject"]["value"], "approved"] for e in approved)
    assert count(pg, "emails") > len(approved)  # the drafts stay in emails

    # lead_describe: restname is the leads column the package's lead history pivots.
    sql = f"SELECT restname FROM {SCHEMA}.lead_fields WHERE rest_name = 'leadStatus'"
    assert pg.rows(sql, DATABASE) == [["lead_status"]] and "lead_status" in leads

    members = data_columns("program_members")
    assert {k: members[k] for k in ("program_id", "lead_id", "updated_at")} == {
        "program_id": "bigint",
        "lead_id": "bigint",
        "updated_at": TS,
    }
    purchases = data_columns(PURCHASE_TABLE)
    assert {k: purchases[k] for k in ("marketo_guid", "updated_at", "amount")} == {
        "marketo_guid": "text",
        "updated_at": TS,
        "amount": "numeric",
    }
    assert count(pg, PURCHASE_TABLE) == len(sb.data.custom_object_records["purchase_c"])

    state_id = STATE_ID.replace("sandbox:", "dbt_marketo:")
    state = json.loads(meltano("state", "get", state_id).stdout.strip().splitlines()[-1])["singer_state"]["bookmarks"]
    assert state["leads"]["replication_key"] == "updated_at"
    assert state["activities_send_email"]["replication_key"] == "activity_date"


def test_meltano_run_campaigns_emails_and_static_list_members_into_postgres(
    meltano: Meltano, postgres: PostgresServer, sandbox: SandboxServer
) -> None:
    """Every REST stream lands as a table; campaigns, emails and static list members checked
    with SQL: typed columns, nested objects as jsonb, keys unique, exact text."""
    pg, sb = postgres, sandbox
    ref = sb.data.reference
    meltano(
        "run",
        "tap-marketo-bulk",
        "target-postgres",
        TAP_MARKETO_BULK_END_DATE=FIRST_END,
        TAP_MARKETO_BULK__SELECT=json.dumps([f"{table}.*" for table in REST_TABLES]),
    )
    assert not [path for _, path, _ in sb.requests if "/export/create.json" in path]  # small lists: REST pages
    for table in REST_TABLES:  # every REST stream lands as a table (exact values: the e2e tests)
        assert count(pg, table) > 0, table
    types = {table: column_types(pg, table) for table in ("campaigns", "emails", "static_list_members")}
    assert {k: v for k, v in types["static_list_members"].items() if not k.startswith("_sdc")} == {
        "listId": "bigint",
        "leadId": "bigint",
    }
    assert {
        k: types["campaigns"][k] for k in ("id", "isActive", "recurrence", "folder", "updatedAt", "smartListId")
    } == {
        "id": "bigint",
        "isActive": "boolean",
        "recurrence": "jsonb",
        "folder": "jsonb",
        "updatedAt": TS,
        "smartListId": "bigint",
    }
    assert {k: types["emails"][k] for k in ("id", "status", "subject", "operational", "template", "createdAt")} == {
        "id": "bigint",
        "status": "text",
        "subject": "jsonb",
        "operational": "boolean",
        "template": "bigint",
        "createdAt": TS,
    }

    # Every list's members, each once.
    leads = {lead["id"] for lead in sb.data.leads}
    want = {(lst["id"], lead) for lst in sb.data.static_lists for lead in lst["leadIds"] if lead in leads}
    rows = pg.rows(f'SELECT "listId", "leadId" FROM {SCHEMA}.static_list_members', DATABASE)
    assert len(rows) == len(want) and {(int(a), int(b)) for a, b in rows} == want
    assert {len(lst["leadIds"]) for lst in sb.data.static_lists} == {0, 1, 25, 120, 300}

    # Campaigns: every one, the recurrence as JSON, the description with CR/LF byte-exact.
    campaigns = ref.rows["campaigns"]
    assert count(pg, "campaigns") == len(campaigns)
    recurring = next(c for c in campaigns if c["recurrence"].get("intervalType") == "Weekly")
    got = json.loads(pg.psql(f'SELECT "recurrence" FROM {SCHEMA}.campaigns WHERE "id" = {recurring["id"]}', DATABASE))
    stamp = "%Y-%m-%dT%H:%M:%SZ"
    assert got == {
        **recurring["recurrence"],
        "startAt": recurring["recurrence"]["startAt"].strftime(stamp),
        "endAt": recurring["recurrence"]["endAt"].strftime(stamp),
    }
    special = next(c for c in campaigns if "\r\n" in c["description"])
    encoded = pg.psql(
        f"SELECT encode(convert_to(\"description\", 'UTF8'), 'base64') FROM {SCHEMA}.campaigns "
        f'WHERE "id" = {special["id"]}',
        DATABASE,
    )
    assert base64.b64decode(encoded.replace("\n", "")).decode() == special["description"]
    updated = pg.psql(f'SELECT "updatedAt" FROM {SCHEMA}.campaigns WHERE "id" = {special["id"]}', DATABASE)
    assert updated == special["updatedAt"].strftime("%Y-%m-%d %H:%M:%S")

    # Emails: one row per version, approved and draft of the same email side by side.
    versions = ref.rows["emails"]
    assert count(pg, "emails") == len(versions)
    dupes = pg.psql(
        f'SELECT count(*) FROM (SELECT "id", "status" FROM {SCHEMA}.emails GROUP BY 1, 2 HAVING count(*) > 1) d',
        DATABASE,
    )
    assert dupes == "0"
    both = next(
        e["id"]
        for e in versions
        if e["status"] == "draft" and any(a["id"] == e["id"] and a["status"] == "approved" for a in versions)
    )
    subjects = dict(
        pg.rows(f'SELECT "status", "subject"->>\'value\' FROM {SCHEMA}.emails WHERE "id" = {both}', DATABASE)
    )
    assert subjects == {e["status"]: e["subject"]["value"] for e in versions if e["id"] == both}
    assert subjects["draft"] == subjects["approved"] + " v2"
    state = json.loads(meltano("state", "get", STATE_ID).stdout.strip().splitlines()[-1])
    assert state["singer_state"]["bookmarks"]["campaigns"]["replication_key_value"].startswith("2024-04-01T00:00:00")
