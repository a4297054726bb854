"""Whole-history sweeps (no updatedAt filter on the subscription) resume where a stop left them."""

from __future__ import annotations

from .helpers import (
    assert_records_equal,
    base_config,
    create_bodies,
    one_error_line,
    run_tap,
    select,
    truth_leads,
    unique_by_id,
)


def test_lead_created_at_sweep_resumes_after_a_budget_stop(make_sandbox, leads_catalog):
    sb = make_sandbox(leads=1200, disabled_filters=frozenset({"leads.updatedAt"}))
    run1 = run_tap(base_config(sb, export_quota_budget_mb=0.4), leads_catalog)
    assert run1.returncode != 0, run1.describe()
    assert "export_quota_budget_mb" in one_error_line(run1)
    state = run1.last_state["bookmarks"]["leads"]
    assert state["filter"] == "createdAt"
    done_until = state["created_at_sweep_until"]
    assert "replication_key_value" not in state  # the bookmark moves only when the sweep ends
    bodies_run1 = len(create_bodies(sb))

    run2 = run_tap(base_config(sb), leads_catalog, state=run1.last_state)
    assert run2.returncode == 0, run2.describe()
    bodies = create_bodies(sb)[bodies_run1:]
    # No updatedAt probe, and only the windows the first run did not finish.
    assert [list(b["filter"]) for b in bodies] == [["createdAt"]] * len(bodies)
    assert bodies[0]["filter"]["createdAt"]["startAt"] == done_until
    final = run2.last_state["bookmarks"]["leads"]
    assert final["replication_key_value"] == "2024-04-01T00:00:00Z"
    assert "created_at_sweep_until" not in final
    assert_records_equal(unique_by_id(run1.records() + run2.records()), truth_leads(sb))


def test_program_member_sweep_resumes_after_a_budget_stop(make_sandbox, full_catalog):
    sb = make_sandbox(programs=35, members_per_program=20, disabled_filters=frozenset({"program_members.updatedAt"}))
    catalog = select(full_catalog, {"program_members"})
    run1 = run_tap(base_config(sb, export_quota_budget_mb=0.02), catalog)
    assert run1.returncode != 0, run1.describe()
    state = run1.last_state["bookmarks"]["program_members"]
    assert state["incremental"] is False
    done_through = state["sweep_done_through_program"]
    program_bodies = [b for m, p, b in sb.requests if p == "/bulk/v1/program/members/export/create.json"]
    sent = len(program_bodies)

    run2 = run_tap(base_config(sb), catalog, state=run1.last_state)
    assert run2.returncode == 0, run2.describe()
    resumed = [b for m, p, b in sb.requests if p == "/bulk/v1/program/members/export/create.json"][sent:]
    assert resumed and all("updatedAt" not in b["filter"] for b in resumed)
    assert min(min(b["filter"]["programIds"]) for b in resumed) > done_through
    keys = {(r["programId"], r["leadId"]) for r in run1.records("program_members") + run2.records("program_members")}
    assert keys == {(m["programId"], m["leadId"]) for m in sb.data.program_members}
    assert "sweep_done_through_program" not in run2.last_state["bookmarks"]["program_members"]
