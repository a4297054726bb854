"""Create-body validation: 1003 naming the problem, 1035 for disabled filters, 609 for bad JSON."""

from __future__ import annotations

import pytest

from .helpers import JAN, Client

R31 = {"startAt": "2024-01-01T00:00:00Z", "endAt": "2024-02-01T00:00:01Z"}


@pytest.mark.parametrize(
    "body,needle",
    [
        ({"filter": {"createdAt": JAN}}, "fields"),
        ({"fields": ["id", "bogusField"], "filter": {"createdAt": JAN}}, "bogusField"),
        ({"fields": ["soapOnlyField"], "filter": {"createdAt": JAN}}, "soapOnlyField"),
        ({"fields": ["customFormula"], "filter": {"createdAt": JAN}}, "customFormula"),
        ({"fields": ["id"]}, "filter"),
        ({"fields": ["id"], "filter": {"createdAt": JAN, "updatedAt": JAN}}, "one filter"),
        ({"fields": ["id"], "filter": {"createdAt": R31}}, "31 days"),
        (
            {
                "fields": ["id"],
                "filter": {
                    "createdAt": {
                        "startAt": "2024-02-01T00:00:00Z",
                        "endAt": "2024-01-01T00:00:00Z",
                    }
                },
            },
            "startAt",
        ),
        (
            {
                "fields": ["id"],
                "filter": {
                    "createdAt": {
                        "startAt": "2024-01-01T00:00:00.000Z",
                        "endAt": "2024-01-02T00:00:00Z",
                    }
                },
            },
            "milliseconds",
        ),
        ({"fields": ["id"], "filter": {"staticListId": 999}}, "staticListId"),
        ({"fields": ["id"], "filter": {"staticListName": "nope"}}, "staticListName"),
        ({"fields": ["id"], "filter": {"bogus": 1}}, "bogus"),
        ({"fields": ["id"], "format": "XLS", "filter": {"createdAt": JAN}}, "XLS"),
        (
            {"fields": ["id"], "columnHeaderNames": {"email": "E"}, "filter": {"createdAt": JAN}},
            "email",
        ),
    ],
)
def test_leads_1003(client, body, needle):
    res = client.create("leads", body)
    assert res["success"] is False
    assert res["errors"][0]["code"] == "1003" and needle in res["errors"][0]["message"]


def test_lead_filters_accepted(client):
    for flt in (
        {"staticListId": 2001},
        {"staticListName": "Webinar Invitees"},
        {"smartListId": 3001},
        {"smartListName": "All Engaged"},
        {"updatedAt": JAN},
        {
            "createdAt": {
                "startAt": "2024-01-01T00:00:00-05:00",
                "endAt": "2024-01-31T23:59:59+00:00",
            }
        },
    ):
        assert client.create("leads", {"fields": ["id"], "filter": flt})["success"], flt


@pytest.mark.parametrize(
    "disabled,entity,body",
    [
        ("leads.updatedAt", "leads", {"fields": ["id"], "filter": {"updatedAt": JAN}}),
        ("leads.smartListId", "leads", {"fields": ["id"], "filter": {"smartListId": 3001}}),
        (
            "leads.smartListName",
            "leads",
            {"fields": ["id"], "filter": {"smartListName": "All Engaged"}},
        ),
        (
            "program_members.updatedAt",
            "program/members",
            {"fields": ["leadId"], "filter": {"programId": 1001, "updatedAt": JAN}},
        ),
    ],
)
def test_disabled_filters_1035(make_sandbox, disabled, entity, body):
    sb = make_sandbox(disabled_filters=frozenset({disabled}))
    res = Client(sb).create(entity, body)
    assert res["errors"][0] == {
        "code": "1035",
        "message": "Unsupported filter type for target subscription",
    }


@pytest.mark.parametrize(
    "flt,fields,needle",
    [
        ({}, None, "createdAt"),
        ({"createdAt": R31}, None, "31 days"),
        ({"createdAt": JAN, "activityTypeIds": [37]}, None, "37"),
        ({"createdAt": JAN, "activityTypeIds": [999]}, None, "999"),
        (
            {
                "createdAt": JAN,
                "activityTypeIds": [1],
                "primaryAttributeValueIds": [1000],
                "primaryAttributeValues": ["/page-0.html"],
            },
            None,
            "together",
        ),
        (
            {"createdAt": JAN, "activityTypeIds": [1], "primaryAttributeValueIds": list(range(51))},
            None,
            "50",
        ),
        ({"createdAt": JAN, "primaryAttributeValueIds": [1000]}, None, "activityTypeIds"),
        (
            {"createdAt": JAN, "activityTypeIds": [1, 2], "primaryAttributeValueIds": [1000]},
            None,
            "asset group",
        ),
        ({"createdAt": JAN}, ["marketoGUID", "leadName"], "leadName"),
    ],
)
def test_activities_1003(client, flt, fields, needle):
    body = {"filter": flt}
    if fields:
        body["fields"] = fields
    err = client.create("activities", body)["errors"][0]
    assert err["code"] == "1003" and needle in err["message"]


@pytest.mark.parametrize(
    "body,needle",
    [
        ({"filter": {"programId": 1001}}, "fields"),
        ({"fields": ["leadId", "nope"], "filter": {"programId": 1001}}, "nope"),
        ({"fields": ["leadId"], "filter": {}}, "programId"),
        ({"fields": ["leadId"], "filter": {"programId": 1001, "programIds": [1002]}}, "programId"),
        ({"fields": ["leadId"], "filter": {"programIds": list(range(1001, 1012))}}, "10"),
        ({"fields": ["leadId"], "filter": {"programId": 5}}, "5"),
        (
            {"fields": ["leadId"], "filter": {"programId": 1001, "statusNames": ["Bogus Status"]}},
            "Bogus Status",
        ),
        ({"fields": ["leadId"], "filter": {"programId": 1001, "nurtureCadence": "fast"}}, "fast"),
        (
            {"fields": ["leadId"], "filter": {"programId": 1001, "isExhausted": "yes"}},
            "isExhausted",
        ),
        ({"fields": ["leadId"], "filter": {"programId": 1001, "updatedAt": R31}}, "31 days"),
    ],
)
def test_program_members_1003(client, body, needle):
    err = client.create("program/members", body)["errors"][0]
    assert err["code"] == "1003" and needle in err["message"]


def test_invalid_json_609(client):
    r = client.post(
        "/bulk/v1/leads/export/create.json",
        data=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert r.json()["errors"][0]["code"] == "609"
