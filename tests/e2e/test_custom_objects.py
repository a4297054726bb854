"""Custom objects end to end (issue #14): discovery of one stream per lead-linked, approved,
readable custom object; exact records over updatedAt windows; field selection; incremental
runs from the emitted STATE; the 1035 sweep over ``custom_object_sweep_list``; both readings
of the ``endAt`` boundary."""

from __future__ import annotations

import datetime as dt
import decimal
import json
from typing import Any

import pytest

from ..support import END, START, to_json
from .helpers import (
    WINDOWS,
    base_config,
    by_key,
    create_bodies,
    discover,
    jobs_of,
    log_messages,
    run_tap,
    select,
    stream_names,
    ts,
)

UTC = dt.timezone.utc
PURCHASE = "custom_object_purchase_c"
SUBSCRIPTION = "custom_object_subscription_c"
STREAM_OF = {"purchase_c": PURCHASE, "subscription_c": SUBSCRIPTION}
SKIP_PREFIX = "Custom objects not exported: "

#: JSON Schema per custom object dataType, written out here (not read from the tap's table).
SCHEMA_OF = {
    "string": {"type": ["string", "null"]},
    "text": {"type": ["string", "null"]},
    "integer": {"type": ["integer", "null"]},
    "currency": {"type": ["number", "null"]},
    "float": {"type": ["number", "null"]},
    "boolean": {"type": ["boolean", "null"]},
    "date": {"type": ["string", "null"], "format": "date"},
    "datetime": {"type": ["string", "null"], "format": "date-time"},
}
SINGER_DECIMAL = {"type": ["string", "null"], "format": "x-singer.decimal", "precision": 38, "scale": 10}


# --- helpers ----------------------------------------------------------------------------------


def co_fields(sb: Any, api_name: str) -> list[str]:
    """Field names of a custom object in describe order (what a full selection exports)."""
    return sb.data.custom_object_field_names(api_name)


def expected_co(record: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    return {name: to_json(record.get(name)) for name in fields}


def truth(sb: Any, api_name: str, fields: list[str] | None = None, keep=None) -> dict[str, dict[str, Any]]:
    """The sandbox's records of ``api_name`` (those ``keep`` accepts) as the tap must emit them, by GUID."""
    fields = fields or co_fields(sb, api_name)
    with sb.data.lock:
        return {
            rec["marketoGUID"]: expected_co(rec, fields)
            for rec in sb.data.custom_object_records[api_name]
            if keep is None or keep(rec)
        }


def window_body(fields: list[str], start: str, end: str) -> dict[str, Any]:
    return {"fields": fields, "format": "CSV", "filter": {"updatedAt": {"startAt": start, "endAt": end}}}


def entity(api_name: str) -> str:
    return f"customobjects/{api_name}"


def skip_line(stderr: str) -> dict[str, str]:
    """The one 'Custom objects not exported' warning, as apiName -> reason."""
    lines = [line for line in stderr.splitlines() if SKIP_PREFIX in line]
    assert len(lines) == 1, stderr
    assert "WARN" in lines[0], lines[0]
    text = lines[0].split(SKIP_PREFIX, 1)[1].rstrip(".")
    out = {}
    for part in text.split("; "):
        name, reason = part.split(" (", 1)
        out[name] = reason.rstrip(")")
    return out


def custom_streams(catalog: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["tap_stream_id"]: s for s in catalog["streams"] if s["tap_stream_id"].startswith("custom_object")}


def bookmark_of(state: dict[str, Any], stream: str) -> str | None:
    return ((state.get("bookmarks") or {}).get(stream) or {}).get("replication_key_value")


def bookmark_at_emission(messages: list[dict[str, Any]], stream: str) -> list[tuple[str | None, dict[str, Any]]]:
    """(the stream's bookmark in the last STATE before the record, record) for each record."""
    current: str | None = None
    out = []
    for message in messages:
        if message["type"] == "STATE":
            current = bookmark_of(message["value"], stream) or current
        elif message["type"] == "RECORD" and message["stream"] == stream:
            out.append((current, message["record"]))
    return out


def window_start_of(updated_at: str) -> str:
    """Start of the half-open window [start, end) of WINDOWS holding ``updated_at``."""
    value = ts(updated_at)
    (start,) = [s for s, e in WINDOWS if ts(s) <= value < ts(e)]
    return start


def distinct_bookmarks(states: list[dict[str, Any]], stream: str) -> list[str]:
    values: list[str] = []
    for state in states:
        value = bookmark_of(state, stream)
        if value and (not values or values[-1] != value):
            values.append(value)
    return values


def final_bookmark(end: str) -> dict[str, str]:
    return {"replication_key": "updatedAt", "replication_key_value": end}


# --- discovery --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "streams", "skipped", "refused"),
    [
        ({}, [PURCHASE, SUBSCRIPTION], {"usage_c": "first-level"}, ["invoice_c"]),
        (
            {"custom_object_list_state": True},
            [PURCHASE, SUBSCRIPTION],
            {"shipment_c": "draft", "usage_c": "first-level"},
            ["invoice_c"],
        ),
        (
            {"denied_custom_objects": frozenset()},
            ["custom_object_invoice_c", PURCHASE, SUBSCRIPTION],
            {"usage_c": "first-level"},
            [],
        ),
    ],
    ids=["default", "list_state_shows_draft", "invoice_allowed"],
)
def test_discovery_streams_keys_schemas_and_one_skip_warning(make_sandbox, options, streams, skipped, refused):
    sb = make_sandbox(**options)
    run = run_tap(base_config(sb), "--discover")
    assert run.returncode == 0, run.describe()
    catalog = json.loads(run.stdout)
    assert sorted(custom_streams(catalog)) == streams
    assert [n for n in stream_names(catalog) if not n.startswith("custom_object")] == [
        "activities",
        "activity_types",
        "campaigns",
        "channels",
        "deleted_leads",
        "email_templates",
        "emails",
        "forms",
        "landing_pages",
        "lead_fields",
        "lead_partitions",
        "leads",
        "program_costs",
        "program_members",
        "program_tags",
        "programs",
        "segmentations",
        "segments",
        "static_list_members",
        "static_lists",
        "tag_types",
    ]
    for stream_id, stream in custom_streams(catalog).items():
        api_name = stream_id.removeprefix("custom_object_")
        assert stream["key_properties"] == ["marketoGUID"], stream_id
        assert stream["replication_key"] == "updatedAt", stream_id
        assert stream["replication_method"] == "INCREMENTAL", stream_id
        described = sb.data.custom_object(api_name)["fields"]
        assert stream["schema"]["properties"] == {f["name"]: SCHEMA_OF[f["dataType"]] for f in described}, stream_id
        top = next(m["metadata"] for m in stream["metadata"] if m["breadcrumb"] == [])
        assert top["table-key-properties"] == ["marketoGUID"]
        assert top["valid-replication-keys"] == ["updatedAt"]
        inclusion = {m["breadcrumb"][1]: m["metadata"]["inclusion"] for m in stream["metadata"] if m["breadcrumb"]}
        assert {n for n, v in inclusion.items() if v == "automatic"} == {"marketoGUID", "updatedAt"}

    # Every custom object dataType of the sandbox was checked against SCHEMA_OF above.
    seen = {f["dataType"] for api in ("purchase_c", "subscription_c") for f in sb.data.custom_object(api)["fields"]}
    assert seen == set(SCHEMA_OF)

    reasons = skip_line(run.stderr)
    assert sorted(reasons) == sorted(skipped), reasons
    for name, words in skipped.items():
        assert words in reasons[name], (name, reasons[name])
    if "usage_c" in reasons:
        assert "not linked to leads" in reasons["usage_c"]
    if "shipment_c" in reasons:
        assert "not approved" in reasons["shipment_c"]
    # An object the API user may not read is refused by Marketo: one warning of its own, with
    # Marketo's code and message and the permission to ask for.
    refusals = [line for line in log_messages(run.stderr) if " not exported: Marketo " in line]
    assert refusals == [
        f"custom_object_{name} not exported: Marketo answered 603 Access denied to /rest/v1/customobjects/{name}"
        "/describe.json. Ask a Marketo admin for the Read-Only Custom Object permission for the API user's role, "
        "and custom objects (and their bulk extract) in the subscription; every other stream is exported."
        for name in refused
    ]


def test_use_singer_decimal_schema_and_exact_decimal_strings(sb):
    config = base_config(sb, use_singer_decimal=True)
    catalog = discover(config)
    streams = custom_streams(catalog)
    # The catalog (the SDK's Schema) keeps type and format; precision/scale are in SCHEMA below.
    catalog_decimal = {k: SINGER_DECIMAL[k] for k in ("type", "format")}
    assert streams[PURCHASE]["schema"]["properties"]["amount"] == catalog_decimal
    assert streams[SUBSCRIPTION]["schema"]["properties"]["discountPct"] == catalog_decimal
    assert streams[PURCHASE]["schema"]["properties"]["quantity"] == {"type": ["integer", "null"]}
    run = run_tap(config, catalog=select(catalog, [PURCHASE, SUBSCRIPTION]))
    assert run.returncode == 0, run.describe()
    schemas = {m["stream"]: m["schema"]["properties"] for m in run.messages if m["type"] == "SCHEMA"}
    assert schemas[PURCHASE]["amount"] == SINGER_DECIMAL
    assert schemas[SUBSCRIPTION]["discountPct"] == SINGER_DECIMAL

    def as_text(value: Any) -> str | None:
        if value is None:
            return None
        return format(value, "f") if isinstance(value, decimal.Decimal) else repr(value)

    for api_name, column in (("purchase_c", "amount"), ("subscription_c", "discountPct")):
        want = truth(sb, api_name)
        with sb.data.lock:
            for rec in sb.data.custom_object_records[api_name]:
                want[rec["marketoGUID"]][column] = as_text(rec[column])
        got = by_key(run.records(STREAM_OF[api_name]), "marketoGUID")
        assert got == want, api_name
        assert all(isinstance(r[column], str) for r in got.values() if r[column] is not None)
        assert sum(r[column] is not None for r in got.values()) > 100


def test_custom_objects_setting_limits_discovery(sb):
    config = base_config(sb, custom_objects=["subscription_c"])
    run = run_tap(config, "--discover")
    assert run.returncode == 0, run.describe()
    assert sorted(custom_streams(json.loads(run.stdout))) == [SUBSCRIPTION]
    assert SKIP_PREFIX not in run.stderr  # nothing wanted was skipped
    describes = [p for m, p, _ in sb.requests if p.startswith("/rest/v1/customobjects/")]
    assert describes == ["/rest/v1/customobjects/subscription_c/describe.json"]

    run = run_tap(base_config(sb, custom_objects=["usage_c", "purchase_c"]), "--discover")
    assert run.returncode == 0, run.describe()
    assert sorted(custom_streams(json.loads(run.stdout))) == [PURCHASE]
    assert list(skip_line(run.stderr)) == ["usage_c"]


def test_empty_custom_objects_setting_discovers_none_and_asks_nothing(sb):
    catalog = discover(base_config(sb, custom_objects=[]))
    assert custom_streams(catalog) == {}
    assert "leads" in stream_names(catalog)
    assert [p for _, p, _ in sb.requests if "customobjects" in p] == []


def test_unknown_custom_object_is_one_config_error_line_and_creates_no_job(sb):
    catalog = select(discover(base_config(sb)), [PURCHASE])
    config = base_config(sb, custom_objects=["purchase_c", "nope_c"])
    for args, kwargs in ((("--discover",), {}), ((), {"catalog": catalog})):
        run = run_tap(config, *args, **kwargs)
        assert run.returncode != 0, run.describe()
        assert "Traceback" not in run.stderr, run.stderr
        lines = [line for line in run.stderr.splitlines() if "nope_c" in line]
        assert len(lines) == 1, run.stderr
        line = lines[0]
        assert "custom_objects" in line
        assert "['invoice_c', 'purchase_c', 'subscription_c', 'usage_c']" in line, line
        assert "ERROR" in line
        assert [m for m in run.messages if m["type"] == "RECORD"] == []
    assert sb.jobs() == []
    assert sb.created_jobs() == {}


# --- full sync -------------------------------------------------------------------------------


@pytest.mark.parametrize("end_at_inclusive", [True, False], ids=["endAt_inclusive", "endAt_exclusive"])
def test_full_sync_three_windows_equals_truth(make_sandbox, end_at_inclusive):
    sb = make_sandbox(end_at_inclusive=end_at_inclusive)
    config = base_config(sb)
    catalog = select(discover(config), [PURCHASE, SUBSCRIPTION])
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.describe()

    for api_name, stream in STREAM_OF.items():
        fields = co_fields(sb, api_name)
        records = run.records(stream)
        want = truth(sb, api_name)
        assert len(want) > 100
        assert all(START <= ts(r["updatedAt"]) < END for r in want.values())
        assert len(records) == len(want), (api_name, len(records), len(want))  # each record exactly once
        got = by_key(records, "marketoGUID")
        assert all(list(r) == fields for r in records), api_name
        assert got == want, api_name

        # Records on the window boundaries (start, start+31 d, start+62 d) come once, in the
        # window starting there; every record is emitted while the bookmark is its window's start.
        boundaries = {b.strftime("%Y-%m-%dT%H:%M:%SZ") for b in sb.data.boundaries}
        on_boundary = [r for r in records if r["updatedAt"] in boundaries]
        assert {r["updatedAt"] for r in on_boundary} == boundaries, api_name
        for mark, record in bookmark_at_emission(run.messages, stream):
            start = window_start_of(record["updatedAt"])
            allowed = {start, None} if start == WINDOWS[0][0] else {start}
            assert mark in allowed, (mark, record)

        # One job per window, asking for every field, with the windows' updatedAt filters.
        expected_bodies = [window_body(fields, s, e) for s, e in WINDOWS]
        assert create_bodies(sb, entity(api_name)) == expected_bodies
        assert [j["request"] for j in jobs_of(sb, entity(api_name))] == expected_bodies
        assert distinct_bookmarks(run.states, stream) == [e for _, e in WINDOWS]

    assert sb.created_jobs() == {entity("purchase_c"): 3, entity("subscription_c"): 3}
    assert run.states[-1] == {"bookmarks": {s: final_bookmark(WINDOWS[-1][1]) for s in (PURCHASE, SUBSCRIPTION)}}
    schemas = {m["stream"]: m for m in run.messages if m["type"] == "SCHEMA"}
    assert schemas[PURCHASE]["key_properties"] == ["marketoGUID"]
    assert schemas[PURCHASE]["bookmark_properties"] == ["updatedAt"]


def test_window_days_sets_the_window_length(sb):
    config = base_config(sb, window_days=20)
    catalog = select(discover(config), [PURCHASE])
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.describe()
    ends = ["2024-01-21", "2024-02-10", "2024-03-01", "2024-03-21", "2024-04-01"]
    starts = ["2024-01-01", *ends[:-1]]
    fields = co_fields(sb, "purchase_c")
    assert create_bodies(sb, entity("purchase_c")) == [
        window_body(fields, f"{s}T00:00:00Z", f"{e}T00:00:00Z") for s, e in zip(starts, ends, strict=True)
    ]
    assert by_key(run.records(PURCHASE), "marketoGUID") == truth(sb, "purchase_c")
    assert len(run.records(PURCHASE)) == len(sb.data.custom_object_records["purchase_c"])
    assert distinct_bookmarks(run.states, PURCHASE) == [f"{e}T00:00:00Z" for e in ends]


def test_deselected_fields_leave_the_body_and_the_records(sb):
    config = base_config(sb)
    # marketoGUID (key) and updatedAt (replication key) are automatic: deselecting them does nothing.
    deselect = {
        PURCHASE: ["notes", "amount", "createdAt", "marketoGUID", "updatedAt"],
        SUBSCRIPTION: ["plan", "renewalDate"],
    }
    catalog = select(discover(config), [PURCHASE, SUBSCRIPTION], deselect=deselect)
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.describe()
    selected = {
        "purchase_c": [
            "marketoGUID",
            "updatedAt",
            "leadId",
            "purchaseId",
            "productName",
            "quantity",
            "purchasedAt",
            "isRefunded",
        ],
        "subscription_c": [
            "createdAt",
            "marketoGUID",
            "updatedAt",
            "leadId",
            "productCode",
            "seats",
            "discountPct",
            "active",
        ],
    }
    for api_name, fields in selected.items():
        stream = STREAM_OF[api_name]
        assert create_bodies(sb, entity(api_name)) == [window_body(fields, s, e) for s, e in WINDOWS]
        assert all(list(r) == fields for r in run.records(stream)), api_name
        assert by_key(run.records(stream), "marketoGUID") == truth(sb, api_name, fields)
        schema = next(m for m in run.messages if m["type"] == "SCHEMA" and m["stream"] == stream)
        assert list(schema["schema"]["properties"]) == fields


def test_without_id_field_the_dedupe_fields_are_the_keys(sb):
    """An object whose describe names no idField: its dedupeFields (leadId+productCode) are the
    primary key, and stay in the export even when deselected."""
    with sb.data.lock:
        sb.data.custom_object("subscription_c")["idField"] = None
    config = base_config(sb, custom_objects=["subscription_c"])
    catalog = discover(config)
    stream = custom_streams(catalog)[SUBSCRIPTION]
    assert stream["key_properties"] == ["leadId", "productCode"]
    catalog = select(catalog, [SUBSCRIPTION], deselect={SUBSCRIPTION: ["leadId", "productCode", "plan"]})
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.describe()
    fields = [
        "createdAt",
        "marketoGUID",
        "updatedAt",
        "leadId",
        "productCode",
        "seats",
        "renewalDate",
        "discountPct",
        "active",
    ]
    assert create_bodies(sb, entity("subscription_c")) == [window_body(fields, s, e) for s, e in WINDOWS]
    schema = next(m for m in run.messages if m["type"] == "SCHEMA" and m["stream"] == SUBSCRIPTION)
    assert schema["key_properties"] == ["leadId", "productCode"]
    got = by_key(run.records(SUBSCRIPTION), "leadId", "productCode")
    with sb.data.lock:
        want = {
            (rec["leadId"], rec["productCode"]): expected_co(rec, fields)
            for rec in sb.data.custom_object_records["subscription_c"]
        }
    assert got == want


# --- incremental ------------------------------------------------------------------------------


def test_second_run_from_state_exports_only_the_new_window(sb):
    config = base_config(sb)
    catalog = select(discover(config), [PURCHASE, SUBSCRIPTION])
    first = run_tap(config, catalog=catalog)
    assert first.returncode == 0, first.describe()
    state = first.states[-1]
    assert state == {"bookmarks": {s: final_bookmark("2024-04-01T00:00:00Z") for s in (PURCHASE, SUBSCRIPTION)}}

    data = sb.data
    april = dt.datetime(2024, 4, 10, 12, 0, 0, tzinfo=UTC)
    may = dt.datetime(2024, 5, 1, tzinfo=UTC)
    old_purchases = [r["marketoGUID"] for r in data.custom_object_records["purchase_c"]]
    new_purchases = data.add_custom_object_records("purchase_c", 3, april)
    changed_purchases = old_purchases[10:12]
    data.update_custom_object_records(
        "purchase_c",
        changed_purchases,
        april + dt.timedelta(days=2),
        amount=decimal.Decimal("12345.67"),
        notes='changed, "quoted"\r\nnote',
        isRefunded=True,
    )
    at_start = old_purchases[20]  # updated exactly at the new window's start: in it
    data.update_custom_object_records("purchase_c", [at_start], END)
    at_end = old_purchases[30]  # updated exactly at the new end: the next run's
    data.update_custom_object_records("purchase_c", [at_end], may)
    old_subs = [r["marketoGUID"] for r in data.custom_object_records["subscription_c"]]
    new_subs = data.add_custom_object_records("subscription_c", 2, april + dt.timedelta(days=1), lead_id=7)
    changed_subs = old_subs[5:6]
    data.update_custom_object_records(
        "subscription_c", changed_subs, april + dt.timedelta(days=9), plan="enterprise", active=False, seats=None
    )
    before = {api: len(create_bodies(sb, entity(api))) for api in STREAM_OF}

    second = run_tap(base_config(sb, end_date="2024-05-01T00:00:00Z"), catalog=catalog, state=state)
    assert second.returncode == 0, second.describe()
    for api_name in STREAM_OF:
        assert create_bodies(sb, entity(api_name))[before[api_name] :] == [
            window_body(co_fields(sb, api_name), "2024-04-01T00:00:00Z", "2024-05-01T00:00:00Z")
        ]
    assert sb.created_jobs() == {entity("purchase_c"): 4, entity("subscription_c"): 4}

    purchases = by_key(second.records(PURCHASE), "marketoGUID")
    assert purchases == truth(
        sb, "purchase_c", keep=lambda r: r["marketoGUID"] in {*new_purchases, *changed_purchases, at_start}
    )
    for guid in changed_purchases:
        assert purchases[guid]["amount"] == decimal.Decimal("12345.67")
        assert purchases[guid]["notes"] == 'changed, "quoted"\r\nnote'
        assert purchases[guid]["isRefunded"] is True
        assert purchases[guid]["updatedAt"] == "2024-04-12T12:00:00Z"
    assert purchases[at_start]["updatedAt"] == "2024-04-01T00:00:00Z"
    subs = by_key(second.records(SUBSCRIPTION), "marketoGUID")
    assert subs == truth(sb, "subscription_c", keep=lambda r: r["marketoGUID"] in {*new_subs, *changed_subs})
    assert [subs[g]["leadId"] for g in new_subs] == [7, 7]
    assert subs[changed_subs[0]]["plan"] == "enterprise" and subs[changed_subs[0]]["active"] is False
    assert subs[changed_subs[0]]["seats"] is None
    assert second.states[-1] == {
        "bookmarks": {s: final_bookmark("2024-05-01T00:00:00Z") for s in (PURCHASE, SUBSCRIPTION)}
    }

    # The record stamped at the second run's end arrives with the third run, and only it.
    third = run_tap(base_config(sb, end_date="2024-06-01T00:00:00Z"), catalog=catalog, state=second.states[-1])
    assert third.returncode == 0, third.describe()
    assert by_key(third.records(PURCHASE), "marketoGUID") == truth(
        sb, "purchase_c", keep=lambda r: r["marketoGUID"] == at_end
    )
    assert third.records(SUBSCRIPTION) == []
    assert third.states[-1]["bookmarks"][PURCHASE] == final_bookmark("2024-06-01T00:00:00Z")


# --- the 1035 sweep --------------------------------------------------------------------------

SWEEP_WARNING = "refuses the custom object updatedAt filter (1035): exporting all records"


def _list_leads(sb: Any, sweep: dict[str, Any]) -> set[int]:
    ((kind, value),) = sweep.items()
    lists = sb.data.static_lists if kind.startswith("static") else sb.data.smart_lists
    key = "id" if kind.endswith("Id") else "name"
    (found,) = [lst for lst in lists if lst[key] == value]
    return set(found["leadIds"])


@pytest.mark.parametrize(
    "sweep", [{"staticListName": 'VIP, "Gold" Customers'}, {"smartListId": 3001}], ids=["staticListName", "smartListId"]
)
def test_1035_sweeps_the_list_leads_records_in_one_job_per_object(make_sandbox, sweep):
    sb = make_sandbox(disabled_filters=frozenset({"customobjects.updatedAt"}))
    config = base_config(sb, custom_object_sweep_list=sweep)
    catalog = select(discover(config), [PURCHASE, SUBSCRIPTION])
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.describe()
    leads = _list_leads(sb, sweep)
    for api_name, stream in STREAM_OF.items():
        fields = co_fields(sb, api_name)
        sweep_body = {"fields": fields, "format": "CSV", "filter": sweep}
        # The refused window-1 create (no job), then the one sweep job.
        assert create_bodies(sb, entity(api_name)) == [window_body(fields, *WINDOWS[0]), sweep_body]
        assert [j["request"] for j in jobs_of(sb, entity(api_name))] == [sweep_body]
        warnings = [line for line in run.stderr.splitlines() if SWEEP_WARNING in line and f"{stream}:" in line]
        assert len(warnings) == 1, run.stderr
        assert "WARN" in warnings[0]
        want = truth(sb, api_name, keep=lambda r: r["leadId"] in leads)
        assert len(want) >= 5, api_name
        assert len(run.records(stream)) == len(want)
        assert by_key(run.records(stream), "marketoGUID") == want
    assert len([line for line in run.stderr.splitlines() if "(1035)" in line]) == 2, run.stderr
    assert run.states[-1] == {
        "bookmarks": {s: final_bookmark("2024-04-01T00:00:00Z") for s in (PURCHASE, SUBSCRIPTION)}
    }

    # A later run probes again, is refused again and sweeps again: every record of the list's
    # leads once more, including one added since.
    added = sb.data.add_custom_object_records("purchase_c", 1, dt.datetime(2024, 4, 10, tzinfo=UTC), min(leads))
    second = run_tap(
        base_config(sb, custom_object_sweep_list=sweep, end_date="2024-05-01T00:00:00Z"),
        catalog=catalog,
        state=run.states[-1],
    )
    assert second.returncode == 0, second.describe()
    fields = co_fields(sb, "purchase_c")
    assert create_bodies(sb, entity("purchase_c"))[2:] == [
        window_body(fields, "2024-04-01T00:00:00Z", "2024-05-01T00:00:00Z"),
        {"fields": fields, "format": "CSV", "filter": sweep},
    ]
    again = by_key(second.records(PURCHASE), "marketoGUID")
    assert again == truth(sb, "purchase_c", keep=lambda r: r["leadId"] in leads)
    assert added[0] in again
    assert sb.created_jobs() == {entity("purchase_c"): 2, entity("subscription_c"): 2}
    assert second.states[-1]["bookmarks"][PURCHASE] == final_bookmark("2024-05-01T00:00:00Z")


def test_1035_without_sweep_list_stops_with_one_line_naming_the_setting(make_sandbox):
    sb = make_sandbox(disabled_filters=frozenset({"customobjects.updatedAt"}))
    config = base_config(sb)
    catalog = select(discover(config), [PURCHASE])
    run = run_tap(config, catalog=catalog)
    assert run.returncode != 0, run.describe()
    assert "Traceback" not in run.stderr, run.stderr
    lines = [line for line in run.stderr.splitlines() if "custom_object_sweep_list" in line]
    assert len(lines) == 1, run.stderr
    assert "ERROR" in lines[0] and "1035" in lines[0] and PURCHASE in lines[0]
    assert sb.jobs() == []
    assert run.records(PURCHASE) == []
    assert all(bookmark_of(s, PURCHASE) is None for s in run.states)


def test_1035_on_the_sweep_list_filter_too_names_the_setting(make_sandbox):
    """Marketo may refuse the smart list filters as well (1035): the sweep then cannot run,
    and the one stop line must say that the list filter of custom_object_sweep_list is refused
    (not only Marketo's generic text, after a warning that promised the sweep)."""
    sb = make_sandbox(disabled_filters=frozenset({"customobjects.updatedAt", "customobjects.smartListId"}))
    config = base_config(sb, custom_object_sweep_list={"smartListId": 3001})
    run = run_tap(config, catalog=select(discover(config), [PURCHASE]))
    assert run.returncode != 0, run.describe()
    assert "Traceback" not in run.stderr, run.stderr
    assert sb.jobs() == []
    assert run.records(PURCHASE) == []
    (line,) = [line for line in run.stderr.splitlines() if "tap-marketo-bulk stopped" in line]
    assert "1035" in line, line
    assert "custom_object_sweep_list" in line and "smartListId" in line, line


def test_sweep_list_must_name_exactly_one_list(sb):
    config = base_config(sb, custom_object_sweep_list={"staticListId": 2001, "smartListId": 3001})
    run = run_tap(config, "--discover")
    assert run.returncode != 0, run.describe()
    assert "Traceback" not in run.stderr, run.stderr
    lines = [line for line in run.stderr.splitlines() if "custom_object_sweep_list" in line]
    assert len(lines) == 1 and "exactly one" in lines[0], run.stderr
    assert sb.jobs() == []
