"""Subscriptions and roles differ: optional entities never stop a run (issue 21).

The sandbox refuses whole entities the way a subscription without a feature or a role without
a permission would, in each reading Marketo's docs leave open (603, 610, 1026, HTTP 404 with an
HTML page). Discovery must skip what is refused with one warning naming the entity, Marketo's
code and message and what to ask for; the sync of everything else must be exact, and say
nothing more; a refusal met during a sync ends that stream alone; an entity asked for by name
(a setting, or a catalog selecting it) stops the run with that one line, before any export job.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from ..support import END, START, lead_export_fields
from .helpers import (
    base_config,
    by_key,
    create_bodies,
    expected_activity,
    expected_lead,
    log_messages,
    run_tap,
    select,
    stream_names,
)

#: Small data: every entity has records, and a run takes about a second.
LEAN = dict(
    leads=60,
    activities=300,
    programs=3,
    members_per_program=4,
    custom_object_records=30,
    denied_custom_objects=frozenset(),
    end_at_inclusive=False,  # no boundary lead sent twice: records compare one to one
)
#: The REST streams of assets (Read-Only Assets), with the path each one's probe asks.
ASSET_STREAMS = {
    "campaigns": "/rest/asset/v1/smartCampaigns.json",
    "emails": "/rest/asset/v1/emails.json",
    "email_templates": "/rest/asset/v1/emailTemplates.json",
    "forms": "/rest/asset/v1/forms.json",
    "landing_pages": "/rest/asset/v1/landingPages.json",
    "segmentations": "/rest/asset/v1/segmentation.json",
    "segments": "/rest/asset/v1/segmentation.json",
    "channels": "/rest/asset/v1/channels.json",
    "tag_types": "/rest/asset/v1/tagTypes.json",
    "program_tags": "/rest/asset/v1/programs.json",
    "program_costs": "/rest/asset/v1/programs.json",
}
ALL_STREAMS = sorted(
    [
        "activities",
        "activity_types",
        "custom_object_invoice_c",
        "custom_object_purchase_c",
        "custom_object_subscription_c",
        "deleted_leads",
        "leads",
        "program_members",
        "programs",
        *ASSET_STREAMS,
        "static_lists",
        "static_list_members",
        "lead_fields",
        "lead_partitions",
    ]
)
CUSTOM_OBJECTS = ["custom_object_invoice_c", "custom_object_purchase_c", "custom_object_subscription_c"]
#: The line discovery always says of the sandbox's second-level custom object (not a refusal).
USAGE_C = (
    "Custom objects not exported: usage_c (not linked to leads: bulk extract serves first-level custom objects only)."
)
ACTIVITY = "the Read-Only Activity permission for the API user's role"
ASSETS = "the Read-Only Assets permission for the API user's role"
MEMBERS = (
    "the Read-Only Lead permission for the API user's role (and Read-Only Assets, to list the programs), "
    "and program members in the subscription"
)
CUSTOM = (
    "the Read-Only Custom Object permission for the API user's role, and custom objects (and their bulk "
    "extract) in the subscription"
)


#: The SDK's own warning when deleted_leads syncs (an unsorted REST stream), said once.
UNSORTED = "Stream is assumed to be unsorted, progress is not resumable if interrupted"


def tap_warnings(stderr: str) -> list[str]:
    """The warnings of a run, but the SDK's note on deleted_leads."""
    return [line for line in log_messages(stderr) if line != UNSORTED]


def refused_line(entity: str, answer: str, path: str, permission: str) -> str:
    return (
        f"{entity} not exported: Marketo answered {answer} to {path}. Ask a Marketo admin for {permission}; "
        "every other stream is exported."
    )


def refused_together(entities: list[str], answer: str, paths: list[str], permission: str) -> str:
    """The one line of several entities refused with the same answer, for the same permission."""
    others = len(dict.fromkeys(paths)) - 1
    return (
        f"{', '.join(entities[:-1])} and {entities[-1]} not exported: Marketo answered {answer} to {paths[0]} "
        f"and {others} other endpoints of theirs. Ask a Marketo admin for {permission}; every other stream is exported."
    )


def discover_run(sb: Any, **config: Any) -> tuple[dict[str, Any], list[str]]:
    """The catalog and the warnings of a --discover run."""
    run = run_tap(base_config(sb, **config), "--discover")
    assert run.returncode == 0, run.describe()
    assert "Traceback" not in run.stderr
    return json.loads(run.stdout), log_messages(run.stderr)


def assert_leads_and_activities_exact(sb: Any, run: Any, *, activities: bool = True) -> None:
    """leads (and activities) equal the sandbox's truth, and their bookmarks are the range's end."""
    fields = lead_export_fields(sb.data)
    assert by_key(run.records("leads"), "id") == {lead["id"]: expected_lead(lead, fields) for lead in sb.data.leads}
    bookmarks = run.states[-1]["bookmarks"]
    assert bookmarks["leads"] == {"replication_key": "updatedAt", "replication_key_value": "2024-04-01T00:00:00Z"}
    if activities:
        truth = {a["marketoGUID"]: expected_activity(a) for a in sb.data.activities if START <= a["activityDate"] < END}
        assert by_key(run.records("activities"), "marketoGUID") == truth
        assert bookmarks["activities"] == {
            "replication_key": "activityDate",
            "replication_key_value": "2024-04-01T00:00:00Z",
        }


@pytest.mark.parametrize(
    ("options", "refused", "warnings"),
    [
        (
            {"missing_permissions": frozenset({"Read-Only Assets"})},
            ["program_members", "programs", *ASSET_STREAMS],
            [
                refused_together(
                    ["programs", *ASSET_STREAMS],
                    "603 Access denied",
                    ["/rest/asset/v1/programs.json", *ASSET_STREAMS.values()],
                    ASSETS,
                ),
                refused_line("program_members", "603 Access denied", "/rest/asset/v1/programs.json", MEMBERS),
            ],
        ),
        (
            {"missing_permissions": frozenset({"Read-Only Assets"}), "missing_permission_answer": "404"},
            ["program_members", "programs", *ASSET_STREAMS],
            [
                refused_together(
                    ["programs", *ASSET_STREAMS],
                    "HTTP 404 Not Found",
                    ["/rest/asset/v1/programs.json", *ASSET_STREAMS.values()],
                    ASSETS,
                ),
                refused_line("program_members", "HTTP 404 Not Found", "/rest/asset/v1/programs.json", MEMBERS),
            ],
        ),
        (
            {"missing_entities": frozenset({"segmentations"}), "missing_entity_answer": "1026"},
            ["segmentations", "segments"],
            [
                "segmentations and segments not exported: Marketo answered 1026 Not available for this subscription "
                "to /rest/asset/v1/segmentation.json. Ask a Marketo admin for "
                f"{ASSETS}; every other stream is exported."
            ],
        ),
        (
            {"missing_permissions": frozenset({"Read-Only Activity"})},
            ["activities", "activity_types", "deleted_leads"],
            [
                "activities and deleted_leads not exported: Marketo answered 603 Access denied to "
                "/rest/v1/activities/types.json and 1 other endpoint of theirs. Ask a Marketo admin for "
                f"{ACTIVITY}; every other stream is exported.",
            ],
        ),
        (
            {"missing_permissions": frozenset({"Read-Only Custom Object"})},
            CUSTOM_OBJECTS,
            [refused_line("custom objects", "603 Access denied", "/rest/v1/customobjects.json", CUSTOM)],
        ),
        (
            {"missing_entities": frozenset({"custom_objects"}), "missing_entity_answer": "610"},
            CUSTOM_OBJECTS,
            [refused_line("custom objects", "610 Requested resource not found", "/rest/v1/customobjects.json", CUSTOM)],
        ),
        (
            {"missing_entities": frozenset({"custom_objects"}), "missing_entity_answer": "1026"},
            CUSTOM_OBJECTS,
            [
                refused_line(
                    "custom objects", "1026 Not available for this subscription", "/rest/v1/customobjects.json", CUSTOM
                )
            ],
        ),
        (
            {"missing_entities": frozenset({"custom_objects"}), "missing_entity_answer": "404"},
            CUSTOM_OBJECTS,
            [refused_line("custom objects", "HTTP 404 Not Found", "/rest/v1/customobjects.json", CUSTOM)],
        ),
        (
            {"missing_entities": frozenset({"program_members"}), "missing_entity_answer": "1026"},
            ["program_members"],
            [
                refused_line(
                    "program_members",
                    "1026 Not available for this subscription",
                    "/rest/v1/programs/members/describe.json",
                    MEMBERS,
                )
            ],
        ),
    ],
    ids=[
        "role_without_assets_603",
        "role_without_assets_http_404",
        "no_segmentation_1026",
        "role_without_activity_603",
        "role_without_custom_object_603",
        "no_custom_objects_610",
        "no_custom_objects_1026",
        "no_custom_objects_http_404",
        "no_program_members_1026",
    ],
)
def test_a_refused_entity_is_one_warning_at_discovery_and_the_rest_syncs_exactly(
    make_sandbox, options, refused, warnings
):
    sb = make_sandbox(**LEAN, **options)
    catalog, said = discover_run(sb)
    offered = sorted(stream_names(catalog))
    assert offered == sorted(set(ALL_STREAMS) - set(refused))
    usage_c = [] if "custom_object_purchase_c" in refused else [USAGE_C]
    assert sorted(said) == sorted([*warnings, *usage_c])  # each once, in discovery's order of entities

    sb.requests.clear()
    run = run_tap(base_config(sb), catalog=select(catalog, offered))
    assert run.returncode == 0, run.describe()
    # Said once per run: the discovery that made the catalog said it; the sync says nothing.
    assert tap_warnings(run.stderr) == []
    assert_leads_and_activities_exact(sb, run, activities="activities" not in refused)
    assert run.streams_with_records() == set(offered)  # every other stream still works
    assert not set(refused) & set(run.states[-1]["bookmarks"])
    # Nothing of a refused entity was asked for again, let alone exported.
    bulk = {"program_members": "program/members", "activities": "activities"}
    for stream in refused:
        if stream in bulk:
            assert create_bodies(sb, bulk[stream]) == []
    if "custom_object_purchase_c" in refused:
        assert [path for _, path, _ in sb.requests if "customobjects" in path] == []


@pytest.mark.parametrize(
    ("entity", "answer", "refused", "path", "said"),
    [
        (
            "program_member_export",
            "404",
            ["program_members"],
            "/bulk/v1/program/members/export/create.json",
            "HTTP 404 Not Found",
        ),
        (
            "custom_object_export",
            "1026",
            ["custom_object_invoice_c", "custom_object_purchase_c", "custom_object_subscription_c"],
            "/bulk/v1/customobjects/{}/export/create.json",
            "1026 Not available for this subscription",
        ),
    ],
    ids=["no_program_member_export_http_404", "no_custom_object_export_1026"],
)
def test_an_export_refused_during_the_sync_ends_that_stream_alone(make_sandbox, entity, answer, refused, path, said):
    """A subscription whose describes work but whose bulk extract of the entity is refused."""
    sb = make_sandbox(**LEAN, missing_entities=frozenset({entity}), missing_entity_answer=answer)
    catalog, warnings = discover_run(sb)
    assert sorted(stream_names(catalog)) == ALL_STREAMS  # describes answer: discovery cannot tell
    assert warnings == [USAGE_C]

    run = run_tap(base_config(sb), catalog=select(catalog, ALL_STREAMS))
    assert run.returncode == 0, run.describe()
    permission = MEMBERS if entity == "program_member_export" else CUSTOM
    expected = [
        refused_line(stream, said, path.format(stream.removeprefix("custom_object_")), permission) for stream in refused
    ]
    assert tap_warnings(run.stderr) == expected
    assert_leads_and_activities_exact(sb, run)
    for stream in refused:
        assert run.records(stream) == []
        assert "replication_key_value" not in run.states[-1]["bookmarks"].get(stream, {}), stream
    assert {"leads", "activities", "programs", "activity_types"} <= run.streams_with_records()
    assert sb.created_jobs().get("leads") == 3


@pytest.mark.parametrize(
    ("options", "config", "stream", "line"),
    [
        (
            {"missing_entities": frozenset({"custom_objects"}), "missing_entity_answer": "1026"},
            {"custom_objects": ["purchase_c"]},
            "custom_object_purchase_c",
            "custom objects: Marketo answered 1026 Not available for this subscription to /rest/v1/customobjects.json, "
            f"and the setting custom_objects asks for it. Ask a Marketo admin for {CUSTOM}, or remove custom_objects.",
        ),
        (
            {"missing_permissions": frozenset({"Read-Only Assets"})},
            {"program_ids": "first"},
            "program_members",
            "program_members: Marketo answered 603 Access denied to /rest/asset/v1/programs.json, and the setting "
            f"program_ids asks for it. Ask a Marketo admin for {MEMBERS}, or remove program_ids.",
        ),
        (
            {"missing_permissions": frozenset({"Read-Only Activity"}), "missing_permission_answer": "404"},
            {"activity_type_ids": [1, 2]},
            "activities",
            "activities: Marketo answered HTTP 404 Not Found to /rest/v1/activities/types.json, and the setting "
            f"activity_type_ids asks for it. Ask a Marketo admin for {ACTIVITY}, or remove activity_type_ids.",
        ),
    ],
    ids=["custom_objects_setting", "program_ids_setting", "activity_type_ids_setting"],
)
def test_an_entity_a_setting_names_stops_discovery_and_sync_with_one_line(make_sandbox, options, config, stream, line):
    """The catalog was made before the subscription or role lost the entity."""
    sb = make_sandbox(**LEAN)
    if config.get("program_ids") == "first":
        config = {"program_ids": [sb.data.programs[0]["id"]]}
    catalog, _ = discover_run(sb, **config)
    catalog = select(catalog, ["leads", stream])
    for name, value in options.items():
        setattr(sb.options, name, value)
    for args, kwargs in ((("--discover",), {}), ((), {"catalog": catalog})):
        run = run_tap(base_config(sb, **config), *args, **kwargs)
        assert run.returncode != 0, run.describe()
        assert "Traceback" not in run.stderr
        assert log_messages(run.stderr, "ERROR") == [f"tap-marketo-bulk stopped: {line}"]
        assert [m for m in run.messages if m["type"] == "RECORD"] == []
    assert sb.created_jobs() == {}


def test_a_catalog_selecting_a_stream_marketo_now_refuses_stops_with_one_line(make_sandbox):
    """The catalog was made while the role had Read-Only Assets; the sync runs without it."""
    sb = make_sandbox(**LEAN)
    catalog, _ = discover_run(sb)
    sb.options.missing_permissions = frozenset({"Read-Only Assets"})
    run = run_tap(base_config(sb), catalog=select(catalog, ["leads", "programs"]))
    assert run.returncode != 0, run.describe()
    assert "Traceback" not in run.stderr
    assert log_messages(run.stderr, "ERROR") == [
        "tap-marketo-bulk stopped: programs: Marketo answered 603 Access denied to /rest/asset/v1/programs.json, "
        f"and the catalog selects programs. Ask a Marketo admin for {ASSETS}, or deselect programs."
    ]
    assert sb.created_jobs() == {}

    # Deselected, the same refusal costs this sync nothing: not even the call.
    sb.requests.clear()
    run = run_tap(base_config(sb), catalog=select(catalog, ["leads", "activities"]))
    assert run.returncode == 0, run.describe()
    assert log_messages(run.stderr) == []
    assert_leads_and_activities_exact(sb, run)
    assert [path for _, path, _ in sb.requests if "programs" in path] == []


def test_a_setting_naming_an_entity_refused_during_the_sync_stops_there(make_sandbox):
    sb = make_sandbox(**LEAN, missing_entities=frozenset({"program_member_export"}), missing_entity_answer="1026")
    config = base_config(sb, program_member_status_names=["Member"])
    catalog, _ = discover_run(sb, program_member_status_names=["Member"])
    run = run_tap(config, catalog=select(catalog, ["leads", "program_members"]))
    assert run.returncode != 0, run.describe()
    assert "Traceback" not in run.stderr
    assert log_messages(run.stderr, "ERROR") == [
        "tap-marketo-bulk stopped: program_members: Marketo answered 1026 Not available for this subscription to "
        "/bulk/v1/program/members/export/create.json, and the setting program_member_status_names asks for it. "
        f"Ask a Marketo admin for {MEMBERS}, or remove program_member_status_names."
    ]
    # leads synced before program_members (streams sync in name order) and stay complete.
    fields = lead_export_fields(sb.data)
    assert by_key(run.records("leads"), "id") == {lead["id"]: expected_lead(lead, fields) for lead in sb.data.leads}
    assert run.records("program_members") == []


def test_static_list_members_refused_during_the_sync_ends_that_stream_alone(make_sandbox):
    """Get Lists answers (discovery's probe), Get Leads by List Id is refused: one warning at the
    sync, the other streams complete, and no list size is kept for the lists not read."""
    sb = make_sandbox(**LEAN, missing_entities=frozenset({"static_list_members"}), missing_entity_answer="1026")
    catalog, warnings = discover_run(sb)
    assert "static_list_members" in stream_names(catalog) and warnings == [USAGE_C]
    run = run_tap(base_config(sb), catalog=select(catalog, ["leads", "static_lists", "static_list_members"]))
    assert run.returncode == 0, run.describe()
    assert tap_warnings(run.stderr) == [
        refused_line(
            "static_list_members",
            "1026 Not available for this subscription",
            "/rest/v1/lists/2001/leads.json",
            "the Read-Only Lead permission for the API user's role",
        )
    ]
    assert run.records("static_list_members") == []
    assert len(run.records("static_lists")) == len(sb.data.static_lists)
    assert "list_sizes" not in run.states[-1]["bookmarks"].get("static_list_members", {})
    assert_leads_and_activities_exact(sb, run, activities=False)
