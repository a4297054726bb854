"""The log reads clearly (issue 21): each stream's lines count that stream only, a backfill says
window i of N and the export jobs in flight, "downloaded N, emitted M" says why they differ, a
warning is said once per run, and the end-of-run spend line survives Marketo's rate limit."""

from __future__ import annotations

import json
import re

from .helpers import WINDOWS, base_config, discover, log_messages, run_tap, select

PURCHASE = "custom_object_purchase_c"
ENTITY = {"leads": "leads", "activities": "activities", PURCHASE: "customobjects/purchase_c"}


def test_each_stream_says_window_i_of_n_rows_and_records_and_counts_only_itself(make_sandbox):
    sb = make_sandbox(leads=120, activities=600, custom_object_records=90)  # endAt inclusive: boundary rows
    config = base_config(sb, max_jobs_in_flight=3)
    run = run_tap(config, catalog=select(discover(config), list(ENTITY)))
    assert run.returncode == 0, run.describe()
    info = log_messages(run.stderr, "INFO")
    for stream, entity in ENTITY.items():
        jobs = [job for job in sb.jobs() if job["entity"] == entity]
        assert len(jobs) == 3
        assert f"{stream}: 3 windows of at most 31 days from {WINDOWS[0][0]} to {WINDOWS[-1][1]}, 3 export jobs" in info
        lines = [line for line in info if line.startswith(f"{stream} window ")]
        assert len(lines) == 3, lines
        rows = emitted = 0
        for number, (line, job, (start, end), ahead) in enumerate(zip(lines, jobs, WINDOWS, (2, 1, 0), strict=True), 1):
            match = re.fullmatch(
                rf"{stream} window {number} of 3 \({start}\.\.{end}\), export {job['exportId']}: "
                r"(\d+) rows downloaded, (\d+) records emitted(.*) in [\d.]+ s \(\d+ records/s\); "
                rf"{ahead} more export jobs? in flight",
                line,
            )
            assert match, line
            downloaded, records, why = int(match[1]), int(match[2]), match[3]
            assert downloaded == job["numberOfRecords"]
            left = downloaded - records
            if left:  # rows at the window's end belong to the next window: said so
                rows_word = "1 row" if left == 1 else f"{left} rows"
                assert why == f" ({rows_word} stamped {end}, the window's end, left to the next window)"
            else:
                assert why == ""
            rows, emitted = rows + downloaded, emitted + records
        assert emitted == len(run.records(stream))
        assert rows > emitted  # the sandbox puts records on the inner window boundaries
        # The stream's own summary: its jobs and MB, not the run's so far.
        megabytes = sum(job["fileSize"] for job in jobs) / 1_000_000
        [summary] = [line for line in info if line.startswith(f"{stream}: 3 windows, ")]
        assert summary.startswith(
            f"{stream}: 3 windows, 3 export jobs created, 0 re-attached, {megabytes:.2f} MB downloaded; "
            f"{rows} rows downloaded, {emitted} records emitted ({rows - emitted} rows stamped exactly at a window's "
            "end left to the next window) in "
        ), summary


def test_a_warning_is_said_once_per_run_not_at_discovery_and_again_at_sync(make_sandbox):
    """The discovery (which Meltano runs before every sync) says what is not offered; the sync
    says nothing of it. Within the sync, a warning whose cause recurs (the catalog's unknown
    field, met again after the 1035 fallback) is said once."""
    sb = make_sandbox(leads=60, activities=100, disabled_filters=frozenset({"leads.updatedAt"}))
    config = base_config(sb)
    discovery = run_tap(config, "--discover")
    assert discovery.returncode == 0, discovery.describe()
    catalog = select(json.loads(discovery.stdout), ["leads", PURCHASE])
    leads = next(s for s in catalog["streams"] if s["tap_stream_id"] == "leads")
    leads["metadata"].append({"breadcrumb": ["properties", "retiredField"], "metadata": {"selected": True}})
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.describe()
    assert log_messages(run.stderr) == [
        "leads: the catalog selects retiredField, which Marketo's describe does not offer (deleted or renamed in "
        "Marketo?); they are not exported. Run --discover again to refresh it.",
        "This subscription does not support the leads updatedAt filter (1035): exporting leads by createdAt over "
        "the whole history on every run, so that updated leads are not missed.",
    ]
    said = log_messages(discovery.stderr)
    assert [line.split(" not exported:")[0] for line in said] == ["Custom objects", "custom_object_invoice_c"]


def test_the_spend_line_waits_out_a_rate_limit_and_is_complete(make_sandbox):
    """After a busy run Marketo may answer the spend line's job-list lookups with 606: they are
    paced like every other call, and the line still says what is left of the export quota."""
    sb = make_sandbox(leads=60, activities=100)
    config = base_config(sb)
    catalog = select(discover(config), ["leads"])
    sb.faults.add("code_606", path_contains="/export.json", count=2)
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.describe()
    assert [kind for kind, _ in sb.faults.fired] == ["code_606", "code_606"]
    used = sum(job["fileSize"] for job in sb.jobs()) / 1_000_000
    [spent] = [line for line in log_messages(run.stderr, "INFO") if line.startswith("Run spent:")]
    assert spent.startswith("Run spent: 3 export jobs created (leads 3), 0 re-attached, ")
    assert (
        f"at most {500 - used:.1f} MB of the 500 MB daily export quota left ({used:.1f} MB used today by this API "
        "user's jobs; other API users' jobs count too). API calls by stream: leads "
    ) in spent, spent
