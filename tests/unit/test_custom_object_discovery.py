"""Custom object discovery against mocked describe endpoints (requests-mock)."""

from __future__ import annotations

import logging

import pytest

from tap_marketo_bulk import errors
from tap_marketo_bulk.tap import TapMarketoBulk

from ..support import REST_STREAMS
from .rest_mocks import mock_rest_probes

ROOT = "https://mkto.example.com"
LEAD_FIELDS = [
    {"id": 1, "dataType": "integer", "rest": {"name": "id"}},
    {"id": 2, "dataType": "datetime", "rest": {"name": "createdAt"}},
    {"id": 3, "dataType": "datetime", "rest": {"name": "updatedAt"}},
]
LEAD_LINK = [{"field": "leadId", "type": "child", "relatedTo": {"name": "Lead", "field": "id"}}]
FIELDS = [
    {"name": "marketoGUID", "dataType": "string"},
    {"name": "leadId", "dataType": "integer"},
    {"name": "updatedAt", "dataType": "datetime"},
]


def ok(*result: dict) -> dict:
    return {"requestId": "r", "success": True, "result": list(result)}


def denied() -> dict:
    return {"requestId": "r", "success": False, "errors": [{"code": "603", "message": "Access denied"}]}


@pytest.fixture
def marketo(requests_mock):
    requests_mock.post(f"{ROOT}/identity/oauth/token", json={"access_token": "t", "expires_in": 3600})
    requests_mock.get(f"{ROOT}/rest/v1/leads/describe.json", json=ok(*LEAD_FIELDS))
    requests_mock.get(f"{ROOT}/rest/v1/activities/types.json", json=ok())
    requests_mock.get(f"{ROOT}/rest/v1/programs/members/describe.json", json=ok({"fields": []}))
    # Discovery's probes of the REST streams (deleted leads, programs).
    requests_mock.get(f"{ROOT}/rest/v1/activities/pagingtoken.json", json={"success": True, "nextPageToken": "p"})
    requests_mock.get(f"{ROOT}/rest/v1/activities/deletedleads.json", json={"success": True, "moreResult": False})
    requests_mock.get(f"{ROOT}/rest/asset/v1/programs.json", json=ok({"id": 1}))
    mock_rest_probes(requests_mock, ROOT)  # campaigns, assets, lists, partitions
    return requests_mock


def tap(**config) -> TapMarketoBulk:
    base = {"client_id": "id", "client_secret": "secret", "base_url": ROOT, "start_date": "2024-01-01T00:00:00Z"}
    return TapMarketoBulk(config={**base, **config}, validate_config=True)


def custom_streams(streams) -> dict[str, list[str]]:
    return {s.name: s.primary_keys for s in streams if s.name.startswith("custom_object_")}


def test_an_api_user_who_may_not_list_custom_objects_still_gets_every_other_stream(marketo, caplog):
    marketo.get(f"{ROOT}/rest/v1/customobjects.json", json=denied())
    with caplog.at_level(logging.WARNING):
        streams = list(tap().streams.values())
    assert custom_streams(streams) == {}
    assert {s.name for s in streams} == {
        "leads",
        "activity_types",
        "activities",
        "deleted_leads",
        "program_members",
        *REST_STREAMS,
    }
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warning == (
        "custom objects not exported: Marketo answered 603 Access denied to /rest/v1/customobjects.json. Ask a "
        "Marketo admin for the Read-Only Custom Object permission for the API user's role, and custom objects "
        "(and their bulk extract) in the subscription; every other stream is exported."
    )


def test_named_custom_objects_the_user_may_not_list_stop_discovery(marketo):
    marketo.get(f"{ROOT}/rest/v1/customobjects.json", json=denied())
    with pytest.raises(errors.ConfigError) as caught:
        tap(custom_objects=["car_c"])
    assert str(caught.value) == (
        "custom objects: Marketo answered 603 Access denied to /rest/v1/customobjects.json, and the "
        "setting custom_objects asks for it. Ask a Marketo admin for the Read-Only Custom Object permission for the "
        "API user's role, and custom objects (and their bulk extract) in the subscription, or remove custom_objects."
    )


def test_names_of_the_same_snake_case_get_distinct_streams_and_repeats_count_once(marketo):
    objects = [{"name": name, "idField": "marketoGUID", "relationships": LEAD_LINK} for name in ("myCar_c", "my_car_c")]
    marketo.get(f"{ROOT}/rest/v1/customobjects.json", json=ok(*objects))
    for name in ("myCar_c", "my_car_c"):
        marketo.get(
            f"{ROOT}/rest/v1/customobjects/{name}/describe.json", json=ok({"idField": "marketoGUID", "fields": FIELDS})
        )

    streams = list(tap(custom_objects=["myCar_c", "my_car_c", "myCar_c"]).streams.values())

    assert custom_streams(streams) == {
        "custom_object_my_car_c": ["marketoGUID"],
        "custom_object_my_car_c_2": ["marketoGUID"],
    }
    entities = sorted(s.entity for s in streams if s.name.startswith("custom_object_"))
    assert entities == ["customobjects/myCar_c", "customobjects/my_car_c"]
