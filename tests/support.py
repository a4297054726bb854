"""What the end-to-end, fault and sandbox suites share: fast sandbox options and the truth.

The sandbox holds typed Python values; :func:`to_json` turns one into the JSON value the tap
must emit, as the tests parse the tap's output (floats as exact Decimals).
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from typing import Any

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
