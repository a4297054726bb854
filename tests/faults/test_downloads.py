"""Download faults: dropped connection, corrupted bytes, a file already gone."""

from __future__ import annotations

from .helpers import assert_complete, base_config, create_bodies, job_window, lead_jobs, run_tap


def _file_gets(sb):
    return [r for r in list(sb.request_log) if r["path"].endswith("/file.json")]


def test_dropped_download_resumes_with_range(sb, leads_catalog):
    sb.faults.add("drop_download", path_contains="file.json", count=1, after_bytes=500)
    run = run_tap(base_config(sb), leads_catalog)
    assert not sb.faults.pending()
    ranges = [{k.lower(): v for k, v in r["headers"].items()}.get("range") for r in _file_gets(sb)]
    assert "bytes=500-" in ranges, ranges
    # The resumed request is for the same file as the dropped one.
    dropped_path = sb.faults.fired[0][1]
    resumed = [
        r for r in _file_gets(sb) if {k.lower(): v for k, v in r["headers"].items()}.get("range") == "bytes=500-"
    ]
    assert resumed[0]["path"] == dropped_path
    # Byte-exact: the typed records equal the truth (a wrong splice breaks the CSV or a value).
    assert_complete(run, sb)
    assert len(create_bodies(sb)) == 3, "a dropped download must not recreate the job"


def test_corrupted_download_is_fetched_again(sb, leads_catalog):
    sb.faults.add("corrupt_download", path_contains="file.json", count=1)
    run = run_tap(base_config(sb), leads_catalog)
    assert not sb.faults.pending()
    corrupted_path = sb.faults.fired[0][1]
    assert sum(1 for r in _file_gets(sb) if r["path"] == corrupted_path and "Range" not in r["headers"]) >= 2
    assert_complete(run, sb)  # exact values, no duplicates: nothing of the corrupted copy emitted


def test_file_gone_recreates_job(sb, leads_catalog):
    sb.faults.add("file_gone", path_contains="file.json", count=1)
    run = run_tap(base_config(sb), leads_catalog)
    assert not sb.faults.pending()
    assert_complete(run, sb)
    jobs = lead_jobs(sb)
    windows = [job_window(j) for j in jobs]
    assert len(jobs) == 4, windows
    gone_id = sb.faults.fired[0][1].split("/")[-2]
    gone = next(j for j in jobs if j["exportId"] == gone_id)
    again = [j for j in jobs if job_window(j) == job_window(gone) and j["exportId"] != gone_id]
    assert len(again) == 1 and again[0]["status"] == "Completed"
