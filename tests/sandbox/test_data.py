"""Data determinism, value coverage and the mutation API seen through the next incremental export."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

from tap_marketo_bulk.sandbox import SandboxData
from tap_marketo_bulk.sandbox.data import SPECIAL_STRINGS

from .helpers import parse_file

AT = datetime(2024, 4, 2, 12, 0, 0, tzinfo=timezone.utc)  # after the generated range
WIN = {"startAt": "2024-04-02T12:00:00Z", "endAt": "2024-04-05T00:00:00Z"}


def test_deterministic_from_seed():
    a, b, c = SandboxData(seed=7), SandboxData(seed=7), SandboxData(seed=8)
    assert a.leads == b.leads and a.activities == b.activities and a.program_members == b.program_members
    assert a.lead_last_modified == b.lead_last_modified and a.programs == b.programs
    assert a.leads != c.leads


def test_sizes_and_types():
    d = SandboxData(leads=50, activities=100, programs=3, members_per_program=5)
    assert len(d.leads) == 50 and len(d.activities) == 100 and len(d.programs) == 3
    assert len(d.program_members) == 15
    lead = d.leads[3]
    assert isinstance(lead["customCurrency"], Decimal) and lead["createdAt"].tzinfo is not None
    assert all(d.start <= ld["createdAt"] < d.end for ld in d.leads)
    assert all(d.start <= a["activityDate"] < d.end for a in d.activities)
    values = {v for ld in d.leads for v in ld.values() if isinstance(v, str)}
    assert set(SPECIAL_STRINGS) <= values
    assert any(isinstance(v, str) and "\n" in v for a in d.activities for v in a["attributes"].values())


def test_add_and_update_leads_next_export(sb, client):
    new = sb.data.add_leads(3, AT)
    sb.data.update_leads([1, 2], AT.replace(hour=13), fields={"lastName": 'Changed, "X"'})
    sb.data.update_leads([5], AT.replace(hour=14), visible=False)
    _, content = client.export("leads", {"fields": ["id", "lastName", "updatedAt"], "filter": {"updatedAt": WIN}})
    rows = {int(r[0]): r for r in parse_file(content)[1]}
    assert set(rows) == set(new) | {1, 2, 5}
    assert rows[1][1] == 'Changed, "X"' and rows[1][2] == "2024-04-02T13:00:00Z"
    assert rows[5][2] != "2024-04-02T14:00:00Z"  # hidden update: visible updatedAt unchanged
    _, content = client.export("leads", {"fields": ["id"], "filter": {"createdAt": WIN}})
    assert {int(r[0]) for r in parse_file(content)[1]} == set(new)


def test_add_activities_next_export(sb, client):
    guids = sb.data.add_activities(4, AT)
    _, content = client.export("activities", {"filter": {"createdAt": WIN}})
    assert {r[0] for r in parse_file(content)[1]} == set(guids)


def test_program_member_mutations(sb, client):
    prog = sb.data.programs[0]["id"]
    current = {m["leadId"] for m in sb.data.program_members if m["programId"] == prog}
    newcomers = [ld["id"] for ld in sb.data.leads if ld["id"] not in current][:2]
    sb.data.add_program_members(prog, newcomers, AT)
    old = sorted(current)[0]
    sb.data.update_program_members([(prog, old)], AT, {"statusName": "Clicked"})
    _, content = client.export(
        "program/members",
        {"fields": ["leadId", "statusName"], "filter": {"programId": prog, "updatedAt": WIN}},
    )
    rows = {int(r[0]): r[1] for r in parse_file(content)[1]}
    assert set(rows) == set(newcomers) | {old} and rows[old] == "Clicked"


def test_delete_leads_removes_from_exports(sb, client):
    victim = sb.data.leads[0]["id"]
    sb.data.delete_leads([victim], AT)
    assert sb.data.deleted_leads[-1]["leadId"] == victim or any(d["leadId"] == victim for d in sb.data.deleted_leads)
    _, content = client.export(
        "leads",
        {
            "fields": ["id"],
            "filter": {"createdAt": {"startAt": "2024-01-01T00:00:00Z", "endAt": "2024-01-02T00:00:00Z"}},
        },
    )
    assert str(victim) not in {r[0] for r in parse_file(content)[1]}
