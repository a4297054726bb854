"""Subscriptions and roles without an entity: every call of it refused, in each reading;
identity by GET or POST; web pages outside Marketo's APIs."""

from __future__ import annotations

import pytest
import requests

from tap_marketo_bulk.sandbox.cli import build_parser, options_from_args
from tap_marketo_bulk.sandbox.entities import ENTITY_PATHS, PERMISSION_ENTITIES, refusal_for

from .helpers import Client

JAN = {"startAt": "2024-01-01T00:00:00Z", "endAt": "2024-02-01T00:00:00Z"}


def test_identity_takes_a_post_form_body_and_a_get_query(sb):
    form = {"grant_type": "client_credentials", "client_id": sb.options.client_id, "client_secret": "sandbox-secret"}
    by_post = requests.post(f"{sb.url}/identity/oauth/token", data=form, timeout=5)
    by_get = requests.get(f"{sb.url}/identity/oauth/token", params=form, timeout=5)
    assert by_post.status_code == by_get.status_code == 200
    assert by_post.json()["access_token"] == by_get.json()["access_token"]
    wrong = requests.post(f"{sb.url}/identity/oauth/token", data={**form, "client_secret": "nope"}, timeout=5)
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    assert sb.request_log[0]["method"] == "POST" and sb.request_log[0]["query"] == {}
    assert sb.request_log[0]["body"] == form


def test_a_path_outside_the_apis_is_the_web_servers_html_page(sb):
    r = requests.get(f"{sb.url}/marketo/identity/oauth/token", timeout=5)
    assert r.status_code == 404
    assert r.headers["Content-Type"].startswith("text/html")
    assert "<title>404 Not Found</title>" in r.text


@pytest.mark.parametrize(
    ("answer", "code", "message"),
    [
        ("610", "610", "Requested resource not found"),
        ("1026", "1026", "Not available for this subscription"),
        ("1027:Custom objects are not enabled", "1027", "Custom objects are not enabled"),
    ],
)
def test_a_missing_entity_refuses_every_call_of_it_with_an_envelope_code(make_sandbox, answer, code, message):
    sb = make_sandbox(missing_entities=frozenset({"custom_objects"}), missing_entity_answer=answer)
    client = Client(sb)
    for path in ("/rest/v1/customobjects.json", "/rest/v1/customobjects/purchase_c/describe.json"):
        r = client.get(path)
        assert r.status_code == 200
        assert r.json()["success"] is False and r.json()["errors"] == [{"code": code, "message": message}]
    create = client.post(
        "/bulk/v1/customobjects/purchase_c/export/create.json",
        json={"fields": ["marketoGUID"], "filter": {"updatedAt": JAN}},
    )
    assert create.json()["errors"] == [{"code": code, "message": message}]
    assert sb.created_jobs() == {}
    assert client.get("/rest/v1/leads/describe.json").json()["success"] is True  # the rest is served


def test_a_role_without_a_permission_is_refused_its_entities_only(make_sandbox):
    sb = make_sandbox(missing_permissions=frozenset({"Read-Only Assets"}))
    client = Client(sb)
    r = client.get("/rest/asset/v1/programs.json", params={"maxReturn": 1})
    assert r.json()["errors"] == [{"code": "603", "message": "Access denied"}]
    assert client.get("/rest/v1/programs/members/describe.json").json()["success"] is True
    assert client.get("/rest/v1/activities/types.json").json()["success"] is True


def test_a_refusal_can_be_an_http_404_page(make_sandbox):
    sb = make_sandbox(missing_entities=frozenset({"program_member_export"}), missing_entity_answer="404")
    client = Client(sb)
    create = client.post(
        "/bulk/v1/program/members/export/create.json",
        json={"fields": ["leadId"], "filter": {"programId": sb.data.programs[0]["id"]}},
    )
    assert create.status_code == 404 and create.headers["Content-Type"].startswith("text/html")
    assert client.get("/rest/v1/programs/members/describe.json").json()["success"] is True  # only the export


def test_every_permission_names_known_entities_and_unknown_names_are_refused(make_sandbox):
    assert {e for entities in PERMISSION_ENTITIES.values() for e in entities} <= set(ENTITY_PATHS)
    assert refusal_for("/rest/v1/leads/describe.json", frozenset(), "610", frozenset({"Read-Only Lead"}), "603")
    assert refusal_for("/rest/v1/leads/describe.json", frozenset({"programs"}), "610", frozenset(), "603") is None
    with pytest.raises(ValueError, match="unknown entity or permission"):
        make_sandbox(missing_entities=frozenset({"campaignz"}))


def test_cli_flags_set_the_switches():
    ns = build_parser().parse_args(
        [
            "--missing-entity",
            "custom_objects",
            "--missing-entity",
            "program_member_export",
            "--missing-entity-answer",
            "404",
            "--missing-permission",
            "Read-Only Assets",
        ]
    )
    options = options_from_args(ns)
    assert options.missing_entities == frozenset({"custom_objects", "program_member_export"})
    assert options.missing_entity_answer == "404"
    assert options.missing_permissions == frozenset({"Read-Only Assets"})
    assert options.missing_permission_answer == "603"
