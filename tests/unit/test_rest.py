"""The REST stream base on requests-mock: both pagings and their ends, typing of Marketo's JSON,
incremental windows, versions, deduplication, column names, probes and the calls' label."""

from __future__ import annotations

import datetime as dt
import logging
from urllib.parse import parse_qs, urlsplit

import pytest

from tap_marketo_bulk import errors
from tap_marketo_bulk.instance import MarketoInstance
from tap_marketo_bulk.records.fields import ANY, BOOLEAN, DATETIME, INTEGER, STRING, Field, array, obj
from tap_marketo_bulk.streams.assets import ASSET_STREAMS
from tap_marketo_bulk.streams.lists import StaticListMembersStream, StaticListsStream
from tap_marketo_bulk.streams.programs import ProgramCostsStream, ProgramsStream, ProgramTagsStream
from tap_marketo_bulk.streams.reference import (
    ActivityTypesStream,
    DeletedLeadsStream,
    LeadFieldsStream,
    LeadPartitionsStream,
)
from tap_marketo_bulk.streams.rest import Paging, RestStream, RestWindow, asset_pages, token_pages

from .rest_mocks import NO_ASSETS, ROOT, instance, ok, queries, stream_of


@pytest.fixture
def marketo(requests_mock) -> MarketoInstance:
    return instance(requests_mock)


# --- paging ---------------------------------------------------------------------------------


def test_asset_paging_goes_on_after_a_short_page_and_ends_on_the_warning(marketo, requests_mock):
    path = "/rest/asset/v1/things.json"
    requests_mock.get(
        ROOT + path, [{"json": ok(*[{"id": i} for i in range(200)])}, {"json": ok({"id": 200})}, {"json": NO_ASSETS}]
    )
    pages = list(asset_pages(marketo.client, path, {"status": "draft"}))
    assert [len(page) for page in pages] == [200, 1]
    assert queries(requests_mock, path) == [
        {"status": "draft", "offset": "0", "maxReturn": "200"},
        {"status": "draft", "offset": "200", "maxReturn": "200"},
        {"status": "draft", "offset": "201", "maxReturn": "200"},
    ]


@pytest.mark.parametrize(
    "end",
    [
        {"success": True, "requestId": "r"},  # no result, no warning
        ok(),  # an empty result
        {**ok({"id": 3}), "warnings": ["No assets found for the given search criteria."]},  # rows and the warning
    ],
)
def test_asset_paging_ends_on_each_reading_of_the_end(marketo, requests_mock, end):
    path = "/rest/asset/v1/things.json"
    requests_mock.get(ROOT + path, [{"json": ok({"id": 1}, {"id": 2})}, {"json": end}])
    rows = [row for page in asset_pages(marketo.client, path) for row in page]
    assert rows == [{"id": 1}, {"id": 2}, *end.get("result", [])]
    assert len(requests_mock.request_history) == 3  # token + 2 pages


def test_token_paging_passes_each_token_and_ends_without_one(marketo, requests_mock):
    path = "/rest/v1/lists.json"
    requests_mock.get(
        ROOT + path,
        [
            {"json": ok({"id": 1}, nextPageToken="A")},
            {"json": ok({"id": 2}, nextPageToken="B")},
            {"json": ok({"id": 3})},
        ],
    )
    assert [row["id"] for page in token_pages(marketo.client, path) for row in page] == [1, 2, 3]
    assert queries(requests_mock, path) == [
        {"batchSize": "300"},
        {"batchSize": "300", "nextPageToken": "A"},
        {"batchSize": "300", "nextPageToken": "B"},
    ]


def test_token_paging_follows_more_result_through_empty_pages_and_stops_when_false(marketo, requests_mock):
    path = "/rest/v1/activities/deletedleads.json"
    requests_mock.get(
        ROOT + path,
        [
            {"json": ok(nextPageToken="B", moreResult=True)},  # activities scan: empty but more
            {"json": ok({"id": 1}, nextPageToken="C", moreResult=True)},
            {"json": ok({"id": 2}, nextPageToken="D", moreResult=False)},
        ],
    )
    assert [row["id"] for page in token_pages(marketo.client, path, token="A") for row in page] == [1, 2]
    assert [q["nextPageToken"] for q in queries(requests_mock, path)] == ["A", "B", "C"]


def test_token_paging_without_more_result_stops_on_an_empty_page_even_with_a_token(marketo, requests_mock):
    path = "/rest/v1/lists/7/leads.json"
    requests_mock.get(ROOT + path, [{"json": ok({"id": 1}, nextPageToken="A")}, {"json": ok(nextPageToken="B")}])
    assert [row for page in token_pages(marketo.client, path) for row in page] == [{"id": 1}]
    assert len(queries(requests_mock, path)) == 2


# --- typing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "typed"), [(12, 12), ("12", 12), (" 7 ", 7), (12.0, 12), ("3.00", 3), (None, None)])
def test_integers_from_what_marketo_sends(value, typed):
    assert INTEGER.convert(value) == typed


@pytest.mark.parametrize("value", ["1.5", "abc", True, 1.5, "", {"a": 1}, "NaN"])
def test_values_that_are_no_integer_are_errors_not_guesses(value):
    with pytest.raises(ValueError, match="not an integer"):
        INTEGER.convert(value)


@pytest.mark.parametrize(
    ("value", "typed"), [(True, True), (False, False), ("true", True), ("FALSE", False), (1, True), (0, False)]
)
def test_booleans_from_what_marketo_sends(value, typed):
    assert BOOLEAN.convert(value) is typed


@pytest.mark.parametrize("value", ["yes", 2, "", 0.5])
def test_values_that_are_no_boolean_are_errors(value):
    with pytest.raises(ValueError, match="not a boolean"):
        BOOLEAN.convert(value)


@pytest.mark.parametrize(
    ("value", "text"),
    [("a\r\nb ✓", "a\r\nb ✓"), (False, "false"), (5, "5"), (1.5, "1.5"), ({"a": [1]}, '{"a":[1]}'), (None, None)],
)
def test_text_fields_keep_text_and_write_other_json_as_json(value, text):
    assert STRING.convert(value) == text


@pytest.mark.parametrize(
    ("value", "typed"),
    [
        ("2015-11-18T15:25:35Z+0000", "2015-11-18T15:25:35Z"),  # the asset API's form
        ("2023-01-17T12:43:09Z", "2023-01-17T12:43:09Z"),  # the lead database's
        ("2017-01-01T00:00:00-05:00", "2017-01-01T05:00:00Z"),
        ("2022-10-19T15:00:00.000Z", "2022-10-19T15:00:00Z"),
        ("2016-01-01", "2016-01-01T00:00:00Z"),  # program costs' startDate
    ],
)
def test_date_times_become_rfc3339_utc(value, typed):
    assert DATETIME.convert(value) == typed


@pytest.mark.parametrize("value", ["yesterday", 1447860335, "2015-13-01T00:00:00Z"])
def test_values_that_are_no_date_time_are_errors(value):
    with pytest.raises(ValueError):
        DATETIME.convert(value)


def test_open_objects_type_known_members_and_keep_the_others_closed_ones_have_a_fixed_shape():
    folder = obj(Field("id", INTEGER), Field("value", INTEGER), Field("type", STRING))
    assert folder.convert({"type": "Folder", "value": "15", "folderName": None}) == {
        "type": "Folder",
        "value": 15,
        "folderName": None,
    }
    pair = obj(Field("name", STRING), Field("value", STRING), closed=True)
    assert pair.convert({"value": True, "extra": 1}) == {"name": None, "value": "true"}
    assert array(pair).convert([{"name": "a", "value": 1}]) == [{"name": "a", "value": "1"}]
    assert ANY.convert({"followupValue": 12}) == {"followupValue": 12}
    with pytest.raises(ValueError, match="not an object"):
        folder.convert("Folder 15")
    with pytest.raises(ValueError, match="not an array"):
        array(pair).convert({"name": "a"})


# --- streams --------------------------------------------------------------------------------


class Things(RestStream):
    name = "things"
    path = "/rest/asset/v1/things.json"
    permission = "Read-Only Assets"
    replication = "updatedAt"
    updated_at_filter = True
    fields = (
        Field("id", INTEGER),
        Field("isActive", BOOLEAN),
        Field("folder", obj(Field("id", INTEGER))),
        Field("updatedAt", DATETIME),
    )


def thing(i: int, updated: str) -> dict:
    return {"id": str(i), "isActive": "true", "folder": {"id": 3, "type": "Folder"}, "updatedAt": updated}


def test_a_first_incremental_read_asks_everything_up_to_the_range_end_and_keeps_it_out_of_the_window(
    marketo, requests_mock
):
    requests_mock.get(
        f"{ROOT}/rest/asset/v1/things.json",
        [
            {
                "json": ok(
                    thing(1, "2019-05-01T10:00:00Z+0000"),  # long before start_date: still read
                    thing(2, "2024-03-31T23:59:59Z+0000"),
                    thing(3, "2024-04-01T00:00:00Z+0000"),  # at the range end: the next run's
                    thing(1, "2019-05-01T10:00:00Z+0000"),  # seen twice while paging
                )
            },
            {"json": NO_ASSETS},
        ],
    )
    stream = stream_of(Things, marketo)
    records = list(stream.get_records(None))
    assert records == [
        {"id": 1, "isActive": True, "folder": {"id": 3, "type": "Folder"}, "updatedAt": "2019-05-01T10:00:00Z"},
        {"id": 2, "isActive": True, "folder": {"id": 3, "type": "Folder"}, "updatedAt": "2024-03-31T23:59:59Z"},
    ]
    assert queries(requests_mock, "/rest/asset/v1/things.json")[0] == {
        "latestUpdatedAt": "2024-04-01T00:00:01Z",
        "offset": "0",
        "maxReturn": "200",
    }
    assert stream.stream_state["replication_key_value"] == "2024-04-01T00:00:00Z"
    assert stream.stream_state["replication_key"] == "updatedAt"


def test_a_later_read_asks_a_second_wider_on_both_ends_and_emits_exactly_the_window(marketo, requests_mock):
    requests_mock.get(
        f"{ROOT}/rest/asset/v1/things.json",
        [
            {
                "json": ok(
                    thing(1, "2024-02-29T23:59:59Z+0000"),  # before the bookmark: sent last run
                    thing(2, "2024-03-01T00:00:00Z+0000"),  # on the bookmark: this run's
                    thing(3, "2024-04-01T00:00:00Z+0000"),  # on the range end: next run's
                )
            },
            {"json": NO_ASSETS},
        ],
    )
    stream = stream_of(
        Things, marketo, {"replication_key": "updatedAt", "replication_key_value": "2024-03-01T00:00:00Z"}
    )
    assert [r["id"] for r in stream.get_records(None)] == [2]
    query = queries(requests_mock, "/rest/asset/v1/things.json")[0]
    assert (query["earliestUpdatedAt"], query["latestUpdatedAt"]) == ("2024-02-29T23:59:59Z", "2024-04-01T00:00:01Z")


def test_a_read_that_fails_leaves_the_bookmark(marketo, requests_mock):
    requests_mock.get(
        f"{ROOT}/rest/asset/v1/things.json",
        [{"json": ok(thing(1, "2024-03-05T00:00:00Z+0000"))}, {"status_code": 400, "text": "bad"}],
    )
    state = {"replication_key": "updatedAt", "replication_key_value": "2024-03-01T00:00:00Z"}
    stream = stream_of(Things, marketo, dict(state))
    with pytest.raises(errors.InvalidRequest):
        list(stream.get_records(None))
    assert stream.stream_state["replication_key_value"] == "2024-03-01T00:00:00Z"


def test_a_value_that_fits_no_reading_names_stream_field_and_value(marketo, requests_mock):
    requests_mock.get(f"{ROOT}/rest/asset/v1/things.json", json=ok({**thing(1, "2024-03-05T00:00:00Z"), "id": "x1"}))
    with pytest.raises(errors.UnexpectedValue, match=r"things: Marketo answered id='x1', which is not an integer"):
        list(stream_of(Things, marketo).get_records(None))


class Versions(RestStream):
    name = "versions"
    path = "/rest/asset/v1/versions.json"
    permission = "Read-Only Assets"
    key = ("id", "status")
    statuses = ("approved", "draft")
    fields = (Field("id", INTEGER), Field("status", STRING), Field("name", STRING))


@pytest.mark.parametrize("draft_browse_repeats_approved", [False, True])
def test_versions_are_browsed_one_status_at_a_time_one_row_per_version(
    marketo, requests_mock, draft_browse_repeats_approved
):
    approved = [{"id": 1, "status": "Approved", "name": "a"}, {"id": 2, "status": "approved", "name": "b"}]
    drafts = [{"id": 2, "status": "Draft", "name": "b2"}, {"id": 3, "name": "c"}]  # no status member on 3
    if draft_browse_repeats_approved:  # a reading where status=draft also shows assets without a draft
        drafts.append({"id": 1, "status": "approved", "name": "a"})
    by_status = {"approved": approved, "draft": drafts}
    requests_mock.get(
        f"{ROOT}/rest/asset/v1/versions.json",
        json=lambda request, context: (
            ok(*by_status[parse_qs(urlsplit(request.url).query)["status"][0]])
            if parse_qs(urlsplit(request.url).query)["offset"] == ["0"]
            else NO_ASSETS
        ),
    )
    records = list(stream_of(Versions, marketo).get_records(None))
    assert records == [
        {"id": 1, "status": "approved", "name": "a"},
        {"id": 2, "status": "approved", "name": "b"},
        {"id": 2, "status": "draft", "name": "b2"},
        {"id": 3, "status": "draft", "name": "c"},
    ]
    assert [q["status"] for q in queries(requests_mock, "/rest/asset/v1/versions.json")] == [
        "approved",
        "approved",
        "draft",
        "draft",
    ]


def test_one_mapping_names_the_schema_keys_replication_key_and_records(marketo, requests_mock):
    requests_mock.get(
        f"{ROOT}/rest/asset/v1/things.json", [{"json": ok(thing(1, "2024-03-05T00:00:00Z"))}, {"json": NO_ASSETS}]
    )
    assert list(stream_of(Things, marketo).schema["properties"]) == ["id", "isActive", "folder", "updatedAt"]
    stream = stream_of(Things, marketo, column_naming="snake_case")
    assert list(stream.schema["properties"]) == ["id", "is_active", "folder", "updated_at"]
    assert (stream.primary_keys, stream.replication_key) == (["id"], "updated_at")
    assert list(stream.get_records(None)) == [
        {"id": 1, "is_active": True, "folder": {"id": 3, "type": "Folder"}, "updated_at": "2024-03-05T00:00:00Z"}
    ]
    assert stream.stream_state["replication_key"] == "updated_at"


def test_schema_types_and_required_key(marketo):
    properties = stream_of(Versions, marketo).schema
    assert properties["properties"]["id"] == {"type": ["integer"]}
    assert properties["properties"]["name"] == {"type": ["string", "null"]}
    assert properties["required"] == ["id", "status"]
    assert stream_of(Things, marketo).schema["properties"]["updatedAt"] == {
        "type": ["string", "null"],
        "format": "date-time",
    }


@pytest.mark.parametrize(
    ("paging", "query"),
    [(Paging.ASSET, {"offset": "0", "maxReturn": "1"}), (Paging.LEAD_DATABASE, {"batchSize": "1"}), (Paging.NONE, {})],
)
def test_probe_is_one_call_of_one_row(marketo, requests_mock, paging, query):
    class Probed(Things):
        name = "probed"

    Probed.paging = paging
    requests_mock.get(f"{ROOT}/rest/asset/v1/things.json", json=ok({"id": 1}))
    stream_of(Probed, marketo).probe()
    assert queries(requests_mock, "/rest/asset/v1/things.json") == [query]


def test_a_refusal_at_probe_is_raised_as_marketo_said_it(marketo, requests_mock):
    requests_mock.get(
        f"{ROOT}/rest/asset/v1/things.json",
        json={"success": False, "errors": [{"code": "603", "message": "Access denied"}], "warnings": []},
    )
    with pytest.raises(errors.AccessDenied, match="603"):
        stream_of(Things, marketo).probe()


def test_calls_of_a_read_count_under_the_stream_and_unknown_selections_are_warned(marketo, requests_mock, caplog):
    requests_mock.get(
        f"{ROOT}/rest/asset/v1/things.json", [{"json": ok(thing(1, "2024-03-05T00:00:00Z"))}, {"json": NO_ASSETS}]
    )
    stream = stream_of(Things, marketo)
    stream.mask[("properties", "gone")] = True
    with caplog.at_level(logging.WARNING):
        list(stream.get_records(None))
    assert dict(marketo.client.calls_by_label) == {"things": 3}  # the token, two pages
    assert "things: the catalog selects gone, which the things stream does not offer" in caplog.text


def test_window_holds_half_open_interval():
    window = RestWindow(
        dt.datetime(2024, 3, 1, tzinfo=dt.timezone.utc), dt.datetime(2024, 4, 1, tzinfo=dt.timezone.utc)
    )
    assert [
        window.holds(v) for v in ("2024-02-29T23:59:59Z", "2024-03-01T00:00:00Z", "2024-04-01T00:00:00Z", None)
    ] == [
        False,
        True,
        False,
        True,
    ]


REST_STREAM_CLASSES = [
    cls
    for cls in (
        *ASSET_STREAMS,
        ProgramsStream,
        ProgramTagsStream,
        ProgramCostsStream,
        StaticListsStream,
        StaticListMembersStream,
        ActivityTypesStream,
        LeadPartitionsStream,
    )
]


@pytest.mark.parametrize("cls", REST_STREAM_CLASSES, ids=lambda cls: cls.name)
def test_each_stream_says_its_permission_and_probes_with_one_row_of_its_endpoint(marketo, requests_mock, cls):
    requests_mock.get(ROOT + cls.path, json=ok())
    stream_of(cls, marketo).probe()
    assert cls.permission in {
        "the Read-Only Assets permission for the API user's role",
        "the Read-Only Lead permission for the API user's role",
        "the Read-Only Activity permission for the API user's role",
    }
    one_row = {Paging.ASSET: {"offset": "0", "maxReturn": "1"}, Paging.LEAD_DATABASE: {"batchSize": "1"}}
    assert queries(requests_mock, cls.path) == [one_row.get(cls.paging, {})]


def test_lead_fields_probe_reuses_the_describe_and_deleted_leads_needs_a_token_first(marketo, requests_mock):
    describe = requests_mock.get(f"{ROOT}/rest/v1/leads/describe.json", json=ok({"id": 1}))
    _ = marketo.lead_describe  # read at discovery
    stream_of(LeadFieldsStream, marketo).probe()
    assert describe.call_count == 1
    requests_mock.get(f"{ROOT}/rest/v1/activities/pagingtoken.json", json={"success": True, "nextPageToken": "T"})
    requests_mock.get(f"{ROOT}/rest/v1/activities/deletedleads.json", json=ok(moreResult=False))
    stream_of(DeletedLeadsStream, marketo).probe()
    assert queries(requests_mock, "/rest/v1/activities/pagingtoken.json") == [{"sinceDatetime": "2024-03-31T23:59:59Z"}]
    assert queries(requests_mock, "/rest/v1/activities/deletedleads.json") == [{"nextPageToken": "T", "batchSize": "1"}]


def test_an_asset_endpoint_that_ignores_offset_stops_the_read_instead_of_paging_forever(marketo, requests_mock):
    path = "/rest/asset/v1/things.json"
    requests_mock.get(ROOT + path, json=ok({"id": 1}))  # the same page whatever the offset
    with pytest.raises(errors.TransientServerError, match="answered offset 1 with the rows of the page before"):
        list(asset_pages(marketo.client, path))
    assert len(queries(requests_mock, path)) == 2


def test_a_page_token_that_does_not_move_stops_the_read_instead_of_paging_forever(marketo, requests_mock):
    path = "/rest/v1/lists.json"
    requests_mock.get(
        ROOT + path, [{"json": ok({"id": 1}, nextPageToken="A")}, {"json": ok({"id": 2}, nextPageToken="A")}]
    )
    with pytest.raises(errors.TransientServerError, match="answered the nextPageToken it was sent"):
        list(token_pages(marketo.client, path))


# --- programs: start and end dates from Get Program by Id -----------------------------------

PROGRAMS = [
    {"id": 1001, "name": "Webinar", "type": "Event", "updatedAt": "2024-02-10T00:00:00Z+0000"},
    {"id": 1002, "name": "Old", "type": "Default", "updatedAt": "2024-01-05T00:00:00Z+0000"},
    {"id": 1003, "name": "Next run's", "type": "Default", "updatedAt": "2024-04-01T00:00:00Z+0000"},
]


@pytest.fixture
def programs_api(requests_mock):
    """The browse (no dates, as documented) and Get Program by Id (dates of the event)."""
    requests_mock.get(f"{ROOT}/rest/asset/v1/programs.json", [{"json": ok(*PROGRAMS)}, {"json": NO_ASSETS}])
    by_id = {
        program["id"]: requests_mock.get(
            f"{ROOT}/rest/asset/v1/program/{program['id']}.json",
            json=ok(
                {
                    **program,
                    "tags": [],
                    **(
                        {"startDate": "2024-03-01T15:00:00Z+0000", "endDate": "2024-03-01T17:00:00Z+0000"}
                        if program["type"] == "Event"
                        else {}
                    ),
                }
            ),
        )
        for program in PROGRAMS
    }
    return by_id


def test_programs_read_the_dates_of_the_programs_updated_in_their_window_one_call_each(marketo, programs_api):
    bookmark = {"replication_key": "updatedAt", "replication_key_value": "2024-02-01T00:00:00Z"}  # marketo naming
    stream = stream_of(ProgramsStream, marketo, state=bookmark, column_naming="snake_case")
    assert (stream.primary_keys, stream.replication_key) == (["id"], "updated_at")
    [record] = list(stream.get_records(None))
    assert {k: record[k] for k in ("id", "updated_at", "start_date", "end_date")} == {
        "id": 1001,
        "updated_at": "2024-02-10T00:00:00Z",
        "start_date": "2024-03-01T15:00:00Z",
        "end_date": "2024-03-01T17:00:00Z",
    }
    assert {program_id: mock.call_count for program_id, mock in programs_api.items()} == {1001: 1, 1002: 0, 1003: 0}
    assert stream.stream_state == {"replication_key": "updated_at", "replication_key_value": "2024-04-01T00:00:00Z"}


def test_programs_make_no_call_by_id_when_the_dates_are_deselected_and_share_the_calls_with_tags(marketo, programs_api):
    stream = stream_of(ProgramsStream, marketo)
    stream.mask[("properties", "startDate")] = False
    stream.mask[("properties", "endDate")] = False
    records = list(stream.get_records(None))
    assert [(r["id"], r["startDate"]) for r in records] == [(1001, None), (1002, None)]  # a first run: all
    assert sum(mock.call_count for mock in programs_api.values()) == 0

    dated = stream_of(ProgramsStream, marketo)
    assert [(r["id"], r["endDate"]) for r in dated.get_records(None)] == [(1001, "2024-03-01T17:00:00Z"), (1002, None)]
    list(stream_of(ProgramTagsStream, marketo).get_records(None))
    assert {program_id: mock.call_count for program_id, mock in programs_api.items()} == {1001: 1, 1002: 1, 1003: 0}
