"""``column_naming``: the streams' schemas, keys, export requests, STATE and catalogs
(describes mocked with requests-mock)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from singer_sdk import Stream

from tap_marketo_bulk import errors
from tap_marketo_bulk.tap import TapMarketoBulk
from tap_marketo_bulk.windows import Window

from .rest_mocks import mock_rest_probes

ROOT = "https://mkto.example.com"
UTC = dt.timezone.utc


def _field(fid: int, name: str, data_type: str) -> dict:
    return {"id": fid, "displayName": name, "dataType": data_type, "rest": {"name": name, "readOnly": False}}


LEAD_FIELDS = [
    _field(1, "id", "integer"),
    _field(2, "createdAt", "datetime"),
    _field(3, "updatedAt", "datetime"),
    _field(4, "firstName", "string"),
    _field(5, "customUrl", "url"),
    _field(6, "anonymousIP", "string"),
    _field(900, "Company_Country__c", "string"),
    _field(901, "customURL", "url"),
]
ACTIVITY_TYPES = [
    {
        "id": 6,
        "name": "Send Email",
        "primaryAttribute": {"name": "Mailing ID", "dataType": "integer"},
        "attributes": [
            {"name": "Campaign Run ID", "dataType": "integer"},
            {"name": "Choice Number", "dataType": "integer"},
            {"name": "Step ID", "dataType": "integer"},
            {"name": "Test Variant", "dataType": "integer"},
        ],
    },
    {
        "id": 32,
        "name": "Merge Leads",
        "primaryAttribute": {"name": "Lead ID", "dataType": "integer"},
        "attributes": [{"name": "Merge Ids", "dataType": "array"}, {"name": "Attributes", "dataType": "string"}],
    },
]
MEMBER_FIELDS = [
    {"name": "leadId", "dataType": "integer"},
    {"name": "updatedAt", "dataType": "datetime"},
    {"name": "statusName", "dataType": "string"},
]


def ok(*result: dict) -> dict:
    return {"requestId": "r", "success": True, "result": list(result)}


@pytest.fixture
def marketo(requests_mock):
    requests_mock.post(f"{ROOT}/identity/oauth/token", json={"access_token": "t", "expires_in": 3600})
    requests_mock.get(f"{ROOT}/rest/v1/leads/describe.json", json=ok(*LEAD_FIELDS))
    requests_mock.get(f"{ROOT}/rest/v1/activities/types.json", json=ok(*ACTIVITY_TYPES))
    requests_mock.get(f"{ROOT}/rest/v1/programs/members/describe.json", json=ok({"fields": MEMBER_FIELDS}))
    requests_mock.get(f"{ROOT}/rest/v1/customobjects.json", json=ok())
    # Discovery's probes of the REST streams (deleted leads, programs).
    requests_mock.get(f"{ROOT}/rest/v1/activities/pagingtoken.json", json={"success": True, "nextPageToken": "p"})
    requests_mock.get(f"{ROOT}/rest/v1/activities/deletedleads.json", json={"success": True, "moreResult": False})
    requests_mock.get(f"{ROOT}/rest/asset/v1/programs.json", json=ok({"id": 1}))
    mock_rest_probes(requests_mock, ROOT)  # campaigns, assets, lists, partitions
    return requests_mock


def tap(column_naming: str | None = None, catalog: dict | None = None) -> TapMarketoBulk:
    config = {
        "client_id": "id",
        "client_secret": "secret",
        "base_url": ROOT,
        "start_date": "2024-01-01T00:00:00Z",
        "activity_type_streams": True,
        **({"column_naming": column_naming} if column_naming else {}),
    }
    return TapMarketoBulk(config=config, catalog=catalog, validate_config=True)


def test_snake_case_names_every_bulk_streams_columns_and_keys(marketo):
    streams = tap("snake_case").streams
    leads = streams["leads"]
    assert list(leads.schema["properties"]) == [
        "id",
        "created_at",
        "updated_at",
        "first_name",
        "custom_url",
        "anonymous_ip",
        "company_country_c",
        "custom_url_2",  # customURL comes after customUrl in the describe
    ]
    assert (leads.primary_keys, leads.replication_key) == (["id"], "updated_at")

    send = streams["activities_send_email"]
    assert list(send.schema["properties"]) == [
        "marketo_guid",
        "lead_id",
        "activity_date",
        "activity_type_id",
        "campaign_id",
        "primary_attribute_value_id",
        "primary_attribute_value",
        "action_result",
        "attributes",
        "mailing_id",
        "campaign_run_id",
        "choice_number",
        "step_id",
        "test_variant",
    ]
    assert (send.primary_keys, send.replication_key) == (["marketo_guid"], "activity_date")
    merge = streams["activities_merge_leads"]
    assert list(merge.schema["properties"])[9:] == ["lead_id_2", "merge_ids", "attributes_2"]
    assert list(streams["activities"].schema["properties"]) == list(send.schema["properties"])[:9]

    members = streams["program_members"]
    assert list(members.schema["properties"]) == ["lead_id", "updated_at", "status_name", "program_id"]
    assert (members.primary_keys, members.replication_key) == (["program_id", "lead_id"], "updated_at")

    # REST streams follow the setting too
    assert "created_at" in streams["programs"].schema["properties"]
    deleted = streams["deleted_leads"]
    assert (deleted.primary_keys, deleted.replication_key) == (["id"], "activity_date")
    assert list(deleted.schema["properties"])[:4] == ["id", "marketo_guid", "lead_id", "activity_date"]
    assert streams["static_list_members"].primary_keys == ["list_id", "lead_id"]


def test_marketo_naming_is_the_default_and_keeps_todays_names(marketo):
    streams = tap().streams
    assert list(streams["leads"].schema["properties"]) == [f["rest"]["name"] for f in LEAD_FIELDS]
    assert (streams["leads"].primary_keys, streams["leads"].replication_key) == (["id"], "updatedAt")
    # activity attribute columns were snake_case already, by the stream-name rule
    assert list(streams["activities_merge_leads"].schema["properties"])[9:] == ["lead_id", "merge_ids", "attributes_2"]
    assert streams["program_members"].primary_keys == ["programId", "leadId"]
    assert streams["static_list_members"].primary_keys == ["listId", "leadId"]
    assert streams["deleted_leads"].replication_key == "activityDate"


def _select(catalog: dict, stream: str, properties: list[str]) -> dict:
    catalog = json.loads(json.dumps(catalog))
    for entry in catalog["streams"]:
        for meta in entry["metadata"]:
            if meta["breadcrumb"] == []:
                meta["metadata"]["selected"] = entry["tap_stream_id"] == stream
            elif entry["tap_stream_id"] == stream:
                meta["metadata"]["selected"] = meta["breadcrumb"][1] in properties
    return catalog


@pytest.mark.parametrize(
    ("stream", "marketo_names", "snake_names"),
    [
        ("leads", ["firstName", "Company_Country__c"], ["first_name", "company_country_c"]),
        ("program_members", ["statusName"], ["status_name"]),
        ("activities", ["leadId", "attributes"], ["lead_id", "attributes"]),
    ],
)
def test_the_same_selection_makes_the_same_export_request_under_both_namings(
    marketo, stream, marketo_names, snake_names
):
    """Export requests ask Marketo for its own names, in the same order, so a request's key
    (jobs in flight and create intents in STATE) survives a switch of column_naming."""
    # One page of programs, then the asset API's end of the listing.
    end = {"success": True, "warnings": ["No assets found for the given search criteria."]}
    marketo.get(
        f"{ROOT}/rest/asset/v1/programs.json",
        json=lambda request, context: ok({"id": 1001, "name": "P"}) if "offset=0" in request.url else end,
    )
    window = Window(dt.datetime(2024, 1, 1, tzinfo=UTC), dt.datetime(2024, 2, 1, tzinfo=UTC))
    requests = {}
    for naming, names in (("marketo", marketo_names), ("snake_case", snake_names)):
        catalog = _select(tap(naming).catalog_dict, stream, names)
        chosen = tap(naming, catalog).streams[stream]
        requests[naming] = list(chosen.export_requests([window]))
    assert [r.body for r in requests["marketo"]] == [r.body for r in requests["snake_case"]]
    assert [r.key() for r in requests["marketo"]] == [r.key() for r in requests["snake_case"]]
    fields = requests["snake_case"][0].body["fields"]
    assert set(marketo_names) <= set(fields)
    assert not set(snake_names) - set(marketo_names) & set(fields)


def _state(stream: Stream, bookmark: dict) -> dt.datetime | None:
    stream.tap_state.clear()
    stream.tap_state.update({"bookmarks": {stream.name: dict(bookmark)}})
    stream._write_starting_replication_value(None)
    return stream.get_starting_timestamp(None)


@pytest.mark.parametrize(
    ("stream", "marketo_key", "snake_key"),
    [
        ("leads", "updatedAt", "updated_at"),
        ("campaigns", "updatedAt", "updated_at"),
        ("deleted_leads", "activityDate", "activity_date"),
        ("programs", "updatedAt", "updated_at"),
        ("program_tags", "programUpdatedAt", "program_updated_at"),
    ],
)
@pytest.mark.parametrize("naming", ["snake_case", "marketo"])
def test_a_bookmark_written_under_the_other_naming_is_still_the_bookmark(
    marketo, naming, stream, marketo_key, snake_key
):
    """Bulk and REST streams alike: the bookmark is the stream's, whatever its column is called."""
    chosen = tap(naming).streams[stream]
    assert chosen.replication_key == (snake_key if naming == "snake_case" else marketo_key)
    other = marketo_key if naming == "snake_case" else snake_key
    mark = {"replication_key": other, "replication_key_value": "2024-03-03T00:00:00Z"}
    assert _state(chosen, mark) == dt.datetime(2024, 3, 3, tzinfo=UTC)
    assert chosen.stream_state["replication_key"] == chosen.replication_key


def test_a_bookmark_of_an_unrelated_replication_key_is_not_taken(marketo):
    """The SDK's own rule stays for keys that are not a naming of ours: start_date."""
    leads = tap("snake_case").streams["leads"]
    mark = {"replication_key": "createdAt", "replication_key_value": "2024-03-03T00:00:00Z"}
    assert _state(leads, mark) == dt.datetime(2024, 1, 1, tzinfo=UTC)


def test_a_catalog_of_the_other_naming_is_refused_with_what_to_do(marketo):
    old_catalog = tap("marketo").catalog_dict
    with pytest.raises(errors.ConfigError) as caught:
        _ = tap("snake_case", old_catalog).streams
    message = str(caught.value)
    assert "the catalog names columns as the other column_naming does" in message
    assert "but column_naming is snake_case. Run --discover again" in message


@pytest.mark.parametrize("naming", ["snake_case", "marketo"])
def test_lead_fields_say_each_fields_column_in_the_leads_stream(marketo, naming):
    """The column a Change Data Value's field id points to, as the leads stream names it in
    this run (collisions included); formula and SOAP-only fields have none."""
    describe = [
        *LEAD_FIELDS,
        {**_field(902, "customFormula", "formula"), "rest": {"name": "customFormula", "readOnly": True}},
        {"id": 903, "displayName": "SOAP only", "dataType": "string", "soap": {"name": "SoapOnly", "readOnly": False}},
    ]
    marketo.get(f"{ROOT}/rest/v1/leads/describe.json", json=ok(*describe))
    streams = tap(naming).streams
    fields = streams["lead_fields"]
    column = "column_name" if naming == "snake_case" else "columnName"
    got = {record["id"]: record[column] for record in fields.get_records(None)}
    assert got == {
        **{f["id"]: c for f, c in zip(LEAD_FIELDS, streams["leads"].schema["properties"], strict=True)},
        902: None,
        903: None,
    }
    if naming == "snake_case":
        assert list(got.values())[:8] == [
            "id",
            "created_at",
            "updated_at",
            "first_name",
            "custom_url",
            "anonymous_ip",
            "company_country_c",
            "custom_url_2",
        ]
        assert list(fields.schema["properties"]) == [
            "id",
            "display_name",
            "data_type",
            "length",
            "rest_name",
            "rest_read_only",
            "soap_name",
            "soap_read_only",
            "column_name",
        ]
