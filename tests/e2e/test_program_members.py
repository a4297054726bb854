"""Program members end to end: ten programs per job, exact memberships, the 1035 fallback."""

from __future__ import annotations

import math

from ..support import END, START
from .helpers import (
    WINDOWS,
    base_config,
    by_key,
    create_bodies,
    discover,
    expected_member,
    jobs_of,
    pm_fields,
    run_tap,
    select,
)


def _truth(data, windowed=True):
    leads = {lead["id"] for lead in data.leads}
    fields = pm_fields(data)
    return {
        (m["programId"], m["leadId"]): expected_member(m, fields)
        for m in data.program_members
        if m["leadId"] in leads and (not windowed or START <= m["updatedAt"] < END)
    }


def test_program_members_equal_truth_two_jobs_per_window(sb):
    data = sb.data
    assert len(data.programs) > 10
    config = base_config(sb)
    run = run_tap(config, catalog=select(discover(config), ["program_members"]))
    assert run.returncode == 0, run.describe()
    records = by_key(run.records("program_members"), "programId", "leadId")
    truth = _truth(data)
    assert len(records) == len(truth)
    assert set(records) == set(truth)
    assert records == truth

    per_window = math.ceil(len(data.programs) / 10)
    assert per_window == 2
    jobs = jobs_of(sb, "program_members")
    assert len(jobs) == 3 * per_window
    bodies = create_bodies(sb, "program/members")
    assert len(bodies) == 3 * per_window
    program_ids = sorted(p["id"] for p in data.programs)
    expected_fields = [f for f in pm_fields(data) if f != "programId"]
    for index, (start, end) in enumerate(WINDOWS):
        window_bodies = bodies[index * per_window : (index + 1) * per_window]
        covered: list[int] = []
        for body in window_bodies:
            assert set(body) == {"fields", "format", "filter"}
            assert body["format"] == "CSV"
            assert sorted(body["fields"]) == sorted(expected_fields)
            assert set(body["filter"]) == {"programIds", "updatedAt"}
            assert body["filter"]["updatedAt"] == {"startAt": start, "endAt": end}
            assert 1 <= len(body["filter"]["programIds"]) <= 10
            covered.extend(body["filter"]["programIds"])
        assert sorted(covered) == program_ids
    assert run.states[-1]["bookmarks"]["program_members"] == {
        "replication_key": "updatedAt",
        "replication_key_value": "2024-04-01T00:00:00Z",
    }


def test_program_members_1035_fallback_exports_everything(make_sandbox):
    sb = make_sandbox(disabled_filters=frozenset({"program_members.updatedAt"}))
    config = base_config(sb)
    run = run_tap(config, catalog=select(discover(config), ["program_members"]))
    assert run.returncode == 0, run.describe()
    records = by_key(run.records("program_members"), "programId", "leadId")
    assert records == _truth(sb.data, windowed=False)
    jobs = jobs_of(sb, "program_members")
    assert len(jobs) == math.ceil(len(sb.data.programs) / 10)
    covered = sorted(p for job in jobs for p in job["request"]["filter"]["programIds"])
    assert covered == sorted(p["id"] for p in sb.data.programs)
    for job in jobs:
        assert "updatedAt" not in job["request"]["filter"]
        assert len(job["request"]["filter"]["programIds"]) <= 10
    assert len([line for line in run.stderr.splitlines() if "(1035)" in line]) == 1, run.stderr


def test_unknown_program_id_fails_before_any_job(sb):
    catalog = select(discover(base_config(sb)), ["program_members"])
    run = run_tap(base_config(sb, program_ids=[1001, 99999]), catalog=catalog)
    assert run.returncode != 0, run.describe()
    assert "Traceback" not in run.stderr, run.stderr
    assert "program_ids" in run.stderr and "99999" in run.stderr
    assert sb.jobs() == []
    assert create_bodies(sb, "program/members") == []
