"""``column_naming: snake_case`` end to end: every stream's exact records under column names,
its keys and STATE, and BATCH files with the same records."""

from __future__ import annotations

from typing import Any

from ..support import END, REST_STREAMS, START, lead_export_fields, to_json
from .helpers import (
    base_config,
    by_key,
    discover,
    expected_activity,
    expected_attribute,
    expected_lead,
    expected_member,
    jobs_of,
    pm_fields,
    run_tap,
    select,
    stream_names,
)
from .test_batch import _timeline
from .test_rest_streams import KEYS as REST_KEYS

PURCHASE = "custom_object_purchase_c"
SUBSCRIPTION = "custom_object_subscription_c"
TYPE_STREAMS = {
    "activities_send_email": 6,
    "activities_email_delivered": 7,
    "activities_change_data_value": 13,
    "activities_merge_leads": 32,
}
BULK = ["leads", "activities", *TYPE_STREAMS, "program_members", PURCHASE, SUBSCRIPTION]
SNAKE = dict(column_naming="snake_case", activity_type_streams=True)
REST = ["campaigns", "programs", "static_list_members", "deleted_leads"]
EVERY_REST = [*REST_STREAMS, "deleted_leads", "activity_types"]
ACTIVITY = [
    "marketo_guid",
    "lead_id",
    "activity_date",
    "activity_type_id",
    "campaign_id",
    "primary_attribute_value_id",
    "primary_attribute_value",
    "action_result",
    "attributes",
]
#: Columns of the typed activity streams dbt_marketo reads, after the activity columns: the
#: primary attribute, then the attributes in the order Marketo lists them.
TYPE_COLUMNS = {
    "activities_send_email": [
        "mailing_id",
        "campaign_run_id",
        "choice_number",
        "has_predictive",
        "step_id",
        "test_variant",
    ],
    "activities_email_delivered": [
        "mailing_id",
        "campaign_run_id",
        "choice_number",
        "has_predictive",
        "step_id",
        "test_variant",
    ],
    "activities_change_data_value": [
        "attribute_name",
        "api_method_name",
        "modifying_user",
        "new_value",
        "old_value",
        "reason",
        "request_id",
        "source",
    ],
    "activities_merge_leads": ["lead_id_2", "master_updated", "merge_ids", "merge_source", "merged_in_sales"],
}
#: (key properties, replication key) of each bulk stream under snake_case.
KEYS = {
    "leads": (["id"], "updated_at"),
    "activities": (["marketo_guid"], "activity_date"),
    **{name: (["marketo_guid"], "activity_date") for name in TYPE_STREAMS},
    "program_members": (["program_id", "lead_id"], "updated_at"),
    PURCHASE: (["marketo_guid"], "updated_at"),
    SUBSCRIPTION: (["marketo_guid"], "updated_at"),
}


def _columns(catalog: dict) -> dict[str, list[str]]:
    return {s["tap_stream_id"]: list(s["schema"]["properties"]) for s in catalog["streams"]}


def _bulk_timeline(states: list[dict[str, int]]) -> list[dict[str, int]]:
    """The bulk streams' record counts at each STATE, repeats of the same counts merged."""
    out: list[dict[str, int]] = []
    for counts in ({s: n for s, n in state.items() if s in BULK} for state in states):
        if not out or out[-1] != counts:
            out.append(counts)
    return out


def _renamed(record: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    return {names[key]: value for key, value in record.items()}


def test_snake_case_bulk_streams_carry_exactly_the_truth_under_column_names(make_sandbox):
    sb = make_sandbox(end_at_inclusive=False)
    marketo_columns = _columns(discover(base_config(sb, activity_type_streams=True)))
    config = base_config(sb, **SNAKE)
    catalog = discover(config)
    columns = _columns(catalog)
    assert stream_names(catalog) == list(marketo_columns)  # stream names never change
    # Marketo name -> column, by schema position (the same fields in the same order).
    names = {stream: dict(zip(marketo_columns[stream], columns[stream], strict=True)) for stream in BULK}
    assert {k: names["leads"][k] for k in ("createdAt", "firstName", "leadScore", "customLeadFunction")} == {
        "createdAt": "created_at",
        "firstName": "first_name",
        "leadScore": "lead_score",
        "customLeadFunction": "custom_lead_function",
    }
    assert columns["activities"] == ACTIVITY
    for stream, extra in TYPE_COLUMNS.items():
        assert columns[stream] == ACTIVITY + extra, stream
    for stream in BULK:
        entry = next(s for s in catalog["streams"] if s["tap_stream_id"] == stream)
        assert (entry["key_properties"], entry["replication_key"]) == KEYS[stream], stream
        assert all(name == name.lower() and " " not in name for name in columns[stream]), stream

    run = run_tap(config, catalog=select(catalog, BULK))
    assert run.returncode == 0, run.describe()
    data = sb.data
    fields = lead_export_fields(data)
    assert by_key(run.records("leads"), "id") == {
        lead["id"]: _renamed(expected_lead(lead, fields), names["leads"]) for lead in data.leads
    }
    in_range = [a for a in data.activities if START <= a["activityDate"] < END]
    assert by_key(run.records("activities"), "marketo_guid") == {
        a["marketoGUID"]: _renamed(expected_activity(a), names["activities"]) for a in in_range
    }
    types = {t["id"]: t for t in data.activity_types}
    for stream, type_id in TYPE_STREAMS.items():
        attributes = types[type_id]["attributes"]
        want = {}
        for act in (a for a in in_range if a["activityTypeId"] == type_id):
            values = [act["primaryAttributeValueId"]]
            values += [expected_attribute(act["attributes"].get(a["name"])) for a in attributes]
            want[act["marketoGUID"]] = {
                **_renamed(expected_activity(act), names["activities"]),
                **dict(zip(TYPE_COLUMNS[stream], values, strict=True)),
            }
        assert want, stream
        assert by_key(run.records(stream), "marketo_guid") == want, stream
    merges = run.records("activities_merge_leads")
    assert any("," in r["merge_ids"] for r in merges) and all(r["merge_ids"].startswith("[") for r in merges)
    old_values = [r["old_value"] for r in run.records("activities_change_data_value")]
    assert None in old_values and "" not in old_values
    leads = {lead["id"] for lead in data.leads}
    pmf = pm_fields(data)
    assert by_key(run.records("program_members"), "program_id", "lead_id") == {
        (m["programId"], m["leadId"]): _renamed(expected_member(m, pmf), names["program_members"])
        for m in data.program_members
        if m["leadId"] in leads and START <= m["updatedAt"] < END
    }
    for stream, api_name in ((PURCHASE, "purchase_c"), (SUBSCRIPTION, "subscription_c")):
        co_fields = data.custom_object_field_names(api_name)
        assert by_key(run.records(stream), "marketo_guid") == {
            rec["marketoGUID"]: {names[stream][f]: to_json(rec.get(f)) for f in co_fields}
            for rec in data.custom_object_records[api_name]
        }, stream
    assert {e: len(jobs_of(sb, e)) for e in ("leads", "activities", "program_members")} == {
        "leads": 3,
        "activities": 3,
        "program_members": 6,
    }
    final = run.states[-1]["bookmarks"]
    for stream in BULK:
        assert final[stream] == {"replication_key": KEYS[stream][1], "replication_key_value": "2024-04-01T00:00:00Z"}


def test_snake_case_batch_files_hold_the_record_values(make_sandbox, tmp_path):
    """BATCH output is the fast path's too (and the SDK's, for the REST streams): same records,
    same column names, before each STATE."""
    config = base_config(make_sandbox(end_at_inclusive=False), **SNAKE)
    catalog = select(discover(config), [*BULK, *REST])
    records_run = run_tap(config, catalog=catalog)
    assert records_run.returncode == 0, records_run.describe()
    batch_config = {
        "encoding": {"format": "jsonl", "compression": "gzip"},
        "storage": {"root": (tmp_path / "batches").as_uri(), "prefix": "snake-"},
        "batch_size": 150,
    }
    twin = make_sandbox(end_at_inclusive=False)
    batch_run = run_tap({**base_config(twin, **SNAKE), "batch_config": batch_config}, catalog=catalog)
    assert batch_run.returncode == 0, batch_run.describe()
    assert "RECORD" not in {m["type"] for m in batch_run.messages}
    states_r, records_r = _timeline(records_run.messages)
    states_b, records_b = _timeline(batch_run.messages)
    assert set(records_b) == {*BULK, *REST}
    assert records_b == records_r
    # The bulk streams' STATE comes after the same records; the SDK's own batching of the REST
    # streams adds a STATE after each of their files.
    assert _bulk_timeline(states_b) == _bulk_timeline(states_r)
    assert batch_run.states[-1] == records_run.states[-1]
    assert set(records_b["leads"][0]) == set(_columns(catalog)["leads"])
    assert set(records_b["static_list_members"][0]) == {"list_id", "lead_id"}


def test_snake_case_rest_streams_carry_the_same_records_under_column_names(make_sandbox):
    """Every REST stream, run under each naming against twin sandboxes: the same records, each
    column renamed (JSON members keep Marketo's keys), keys and bookmarks under the new names."""
    runs, catalogs = {}, {}
    for naming in ("marketo", "snake_case"):
        config = base_config(make_sandbox(), column_naming=naming)
        catalogs[naming] = discover(config)
        runs[naming] = run_tap(config, catalog=select(catalogs[naming], EVERY_REST))
        assert runs[naming].returncode == 0, runs[naming].describe()
    marketo_columns, columns = _columns(catalogs["marketo"]), _columns(catalogs["snake_case"])
    entries = {s["tap_stream_id"]: s for s in catalogs["snake_case"]["streams"]}
    for stream in EVERY_REST:
        names = dict(zip(marketo_columns[stream], columns[stream], strict=True))
        assert all(name == name.lower() for name in columns[stream]), stream
        keys = REST_KEYS.get(stream, ("id",))
        assert entries[stream]["key_properties"] == [names[k] for k in keys], stream
        want = [_renamed(r, names) for r in runs["marketo"].records(stream)]
        got = runs["snake_case"].records(stream)
        if stream == "lead_fields":  # the one value that is a column name: the leads column
            leads = names_of(catalogs, "leads")
            want = [{**r, "column_name": leads.get(r["column_name"])} for r in want]
        assert len(got) > 0 and by_key(got, *(names[k] for k in keys)) == by_key(want, *(names[k] for k in keys)), (
            stream
        )
    assert {k: names_of(catalogs, "campaigns")[k] for k in ("parentProgramId", "isActive", "updatedAt")} == {
        "parentProgramId": "parent_program_id",
        "isActive": "is_active",
        "updatedAt": "updated_at",
    }
    final = runs["snake_case"].states[-1]["bookmarks"]
    assert final["campaigns"]["replication_key"] == "updated_at"
    assert final["deleted_leads"]["replication_key"] == "activity_date"
    assert final["program_tags"]["replication_key"] == "program_updated_at"
    marketo_final = runs["marketo"].states[-1]["bookmarks"]

    def but_key(bookmarks: dict) -> dict:
        return {s: {k: v for k, v in b.items() if k != "replication_key"} for s, b in bookmarks.items()}

    assert but_key(final) == but_key(marketo_final)  # the same bookmarks, under the new names


def names_of(catalogs: dict[str, dict], stream: str) -> dict[str, str]:
    """Marketo's name -> snake_case column of a stream, by schema position."""
    marketo, snake = _columns(catalogs["marketo"])[stream], _columns(catalogs["snake_case"])[stream]
    return dict(zip(marketo, snake, strict=True))


def test_a_catalog_discovered_under_the_other_naming_stops_with_one_line(sb):
    old = select(discover(base_config(sb)), ["leads"])
    run = run_tap(base_config(sb, column_naming="snake_case"), catalog=old)
    assert run.returncode != 0
    lines = [line for line in run.stderr.splitlines() if "tap-marketo-bulk stopped" in line]
    assert len(lines) == 1, run.describe()
    # A sync builds only the entities its catalog selects (streams/optional.py): the line is about leads.
    assert "leads: the catalog names columns as the other column_naming does (firstName, lastName" in lines[0]
    assert "Run --discover again" in lines[0]
    assert "Traceback" not in run.stderr
    assert sb.jobs() == []
