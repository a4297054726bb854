"""What the end-to-end, fault and sandbox suites share: fast sandbox options and the truth.

The sandbox holds typed Python values; :func:`to_json` turns one into the JSON value the tap
must emit, as the tests parse the tap's output (floats as exact Decimals).
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from pathlib import Path
from typing import Any

import yaml

#: Sandbox options for tests: jobs complete at once and status is never stale. The sandbox
#: counts calls per 20 s across processes, as Marketo does, and a test's discovery and sync are
#: two processes each pacing itself to 100: the tests of that window set their own limit
#: (tests/sandbox/test_limits.py; 606 answers are injected in tests/faults), the others would
#: only wait out retries.
FAST: dict[str, Any] = dict(
    status_refresh_seconds=0,
    processing_seconds_per_1000_records=0.0,
    min_processing_seconds=0.0,
    rate_limit_calls=100_000,
)
#: The streams read over Marketo's REST APIs (asset, list and lead database endpoints) beside
#: the bulk ones: programs, assets, lists, lead fields and partitions.
REST_STREAMS = [
    "campaigns",
    "emails",
    "email_templates",
    "forms",
    "landing_pages",
    "segmentations",
    "segments",
    "channels",
    "tag_types",
    "programs",
    "program_tags",
    "program_costs",
    "static_lists",
    "static_list_members",
    "lead_fields",
    "lead_partitions",
]
UTC = dt.timezone.utc
START = dt.datetime(2024, 1, 1, tzinfo=UTC)
END = dt.datetime(2024, 4, 1, tzinfo=UTC)


def to_json(value: Any) -> Any:
    """Sandbox typed value -> the JSON value the tap must emit (parsed with Decimal floats)."""
    if value is None or isinstance(value, (bool, int, str, decimal.Decimal)):
        return value
    if isinstance(value, float):
        return decimal.Decimal(repr(value))
    if isinstance(value, dt.datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (dict, list)):
        return json.loads(json.dumps(value), parse_float=decimal.Decimal)
    raise TypeError(f"unexpected truth value {value!r}")


def lead_export_fields(data: Any) -> list[str]:
    """Exportable REST lead fields in describe order (no SOAP-only, no formula)."""
    return [f["rest"]["name"] for f in data.lead_fields if "rest" in f and f["dataType"] != "formula"]


REPO = Path(__file__).resolve().parents[1]


def dbt_marketo_recipe() -> dict[str, Any]:
    """The dbt_marketo recipe as a user finds it: the tap's settings and selection and the
    loader's stream maps from meltano.yml's ``dbt_marketo`` environment, the package and its
    vars from docs/dbt_marketo_recipe.yml."""
    project = yaml.safe_load((REPO / "meltano.yml").read_text())
    (env,) = [e for e in project["environments"] if e["name"] == "dbt_marketo"]
    (tap,) = env["config"]["plugins"]["extractors"]
    (loader,) = env["config"]["plugins"]["loaders"]
    dbt = yaml.safe_load((REPO / "docs" / "dbt_marketo_recipe.yml").read_text())
    return {
        "config": tap["config"],
        "select": tap["select"],
        "stream_maps": loader["config"]["stream_maps"],
        "vars": dbt["vars"],
        "package": dbt["package"],
    }
