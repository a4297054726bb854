"""Every stream selected in one run, and typed activity streams without the activities stream."""

from __future__ import annotations

from ..support import END, START, lead_export_fields
from .helpers import (
    base_config,
    by_key,
    discover,
    expected_activity,
    expected_lead,
    expected_member,
    jobs_of,
    pm_fields,
    run_tap,
    select,
    stream_names,
)


def test_all_streams_in_one_run(make_sandbox):
    sb = make_sandbox(end_at_inclusive=False)
    config = base_config(sb, activity_type_streams=True)
    catalog = discover(config)
    run = run_tap(config, catalog=select(catalog, stream_names(catalog)))
    assert run.returncode == 0, run.describe()
    data = sb.data
    fields = lead_export_fields(data)
    assert by_key(run.records("leads"), "id") == {lead["id"]: expected_lead(lead, fields) for lead in data.leads}
    in_range = [a for a in data.activities if START <= a["activityDate"] < END]
    assert by_key(run.records("activities"), "marketoGUID") == {
        a["marketoGUID"]: expected_activity(a) for a in in_range
    }
    typed = [name for name in stream_names(catalog) if name.startswith("activities_")]
    assert sum(len(run.records(name)) for name in typed) == len(in_range)
    leads = {lead["id"] for lead in data.leads}
    pmf = pm_fields(data)
    assert by_key(run.records("program_members"), "programId", "leadId") == {
        (m["programId"], m["leadId"]): expected_member(m, pmf)
        for m in data.program_members
        if m["leadId"] in leads and START <= m["updatedAt"] < END
    }
    assert len(run.records("activity_types")) == len(data.activity_types) == 17
    assert len(run.records("programs")) == len(data.programs)
    assert len(run.records("deleted_leads")) == len(data.deleted_leads)
    assert len(jobs_of(sb, "leads")) == 3
    assert len(jobs_of(sb, "activities")) == 3
    assert len(jobs_of(sb, "program_members")) == 6
    final = run.states[-1]["bookmarks"]
    for name in ["leads", "activities", *typed, "program_members"]:
        assert final[name].get("replication_key_value") == "2024-04-01T00:00:00Z", (name, final[name])
        assert "jobs_in_flight" not in final[name], (name, final[name])
        assert "jobs_being_created" not in final[name], (name, final[name])


def test_typed_activity_streams_without_the_activities_stream(sb):
    config = base_config(sb, activity_type_streams=True)
    catalog = discover(config)
    run = run_tap(config, catalog=select(catalog, ["activities_visit_webpage", "activities_change_score"]))
    assert run.returncode == 0, run.describe()
    assert run.streams_with_records() == {"activities_visit_webpage", "activities_change_score"}
    assert len(jobs_of(sb, "activities")) == 3
    for name, type_id in (("activities_visit_webpage", 1), ("activities_change_score", 22)):
        want = [a for a in sb.data.activities if START <= a["activityDate"] < END and a["activityTypeId"] == type_id]
        records = by_key(run.records(name), "marketoGUID")
        assert set(records) == {a["marketoGUID"] for a in want}
        for act in want:
            record = records[act["marketoGUID"]]
            for column, value in expected_activity(act).items():
                assert record[column] == value, (name, column)
    for job in jobs_of(sb, "activities"):
        # Still one job per window for every exportable type (rows are split afterwards).
        assert 37 not in job["request"]["filter"]["activityTypeIds"]
