"""SCHEMA messages come from the discovered schema; use_singer_decimal writes exact decimal strings."""

from __future__ import annotations

import decimal

from ..support import to_json
from .helpers import base_config, discover, expected_lead, run_tap, select

DECIMAL_FIELDS = ["annualRevenue", "customFloat", "customCurrency", "customPercent"]


def _schema_message(run, stream: str) -> dict:
    (message,) = [m for m in run.messages if m["type"] == "SCHEMA" and m["stream"] == stream]
    return message


def test_schema_message_has_only_selected_properties_keys_and_bookmark(sb):
    config = base_config(sb)
    catalog = select(discover(config), ["leads"], deselect={"leads": ["email", "customFloat"]})
    # A property only the catalog knows (deleted in Marketo since discovery) is not announced.
    leads = next(s for s in catalog["streams"] if s["tap_stream_id"] == "leads")
    leads["schema"]["properties"]["goneField"] = {"type": ["string", "null"]}
    leads["metadata"].append({"breadcrumb": ["properties", "goneField"], "metadata": {"selected": True}})
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.describe()
    message = _schema_message(run, "leads")
    assert message["key_properties"] == ["id"]
    assert message["bookmark_properties"] == ["updatedAt"]
    properties = message["schema"]["properties"]
    assert "email" not in properties and "customFloat" not in properties and "goneField" not in properties
    assert properties["customCurrency"] == {"type": ["number", "null"]}
    assert properties["customDatetime"] == {"type": ["string", "null"], "format": "date-time"}
    assert "goneField" in run.stderr  # the warning names it


def test_use_singer_decimal_announces_precision_and_writes_exact_strings(sb):
    config = base_config(sb, use_singer_decimal=True)
    catalog = select(discover(config), ["leads"])
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.describe()
    properties = _schema_message(run, "leads")["schema"]["properties"]
    for name in DECIMAL_FIELDS:
        assert properties[name] == {
            "type": ["string", "null"],
            "format": "x-singer.decimal",
            "precision": 38,
            "scale": 10,
        }
    assert properties["customInteger"] == {"type": ["integer", "null"]}

    records = {r["id"]: r for r in run.records("leads")}
    fields = list(properties)
    checked = 0
    for lead in sb.data.leads:
        want = expected_lead(lead, fields)
        for name in DECIMAL_FIELDS:
            value = to_json(lead.get(name))
            # The exact digits Marketo wrote, as text: e.g. Decimal("123456789012.34") -> "123456789012.34".
            want[name] = None if value is None else str(value)
            if value is not None:
                assert decimal.Decimal(records[lead["id"]][name]) == value
                checked += 1
        assert records[lead["id"]] == want
    assert checked > 100
