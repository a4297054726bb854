"""Resilience: transient 503s, an expired token, a dropped and a corrupted download."""

from __future__ import annotations

from ..support import END, START, lead_export_fields
from .helpers import base_config, by_key, discover, expected_activity, expected_lead, run_tap, select


def test_faults_do_not_change_the_data(make_sandbox):
    sb = make_sandbox(end_at_inclusive=False)
    config = base_config(sb)
    catalog = select(discover(config), ["leads", "activities"])
    sb.faults.add("http_503", path_contains="status.json", count=2)
    sb.faults.add("expire_token", path_contains="enqueue.json")
    sb.faults.add("drop_download", path_contains="file.json", after_bytes=100)
    sb.faults.add("corrupt_download", path_contains="file.json")
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.describe()
    assert sb.faults.pending() == [], "every fault should have fired"
    fired = [kind for kind, _ in sb.faults.fired]
    assert fired.count("http_503") == 2 and "expire_token" in fired
    assert "drop_download" in fired and "corrupt_download" in fired

    fields = lead_export_fields(sb.data)
    leads = by_key(run.records("leads"), "id")
    assert leads == {lead["id"]: expected_lead(lead, fields) for lead in sb.data.leads}
    activities = by_key(run.records("activities"), "marketoGUID")
    assert activities == {
        a["marketoGUID"]: expected_activity(a) for a in sb.data.activities if START <= a["activityDate"] < END
    }
    # Each window still cost one job per entity: no retry created extra jobs.
    assert sorted(job["entity"] for job in sb.jobs()) == ["activities"] * 3 + ["leads"] * 3
