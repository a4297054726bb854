"""Faults on a custom object stream (custom_object_purchase_c): a dropped and a corrupted
download, a Failed job, SIGKILL and re-attach, the export quota; records always equal the truth."""

from __future__ import annotations

import collections
import signal
from typing import Any

import pytest

from ..support import END, START, to_json
from .helpers import (
    WINDOW_ENDS,
    WINDOW_STARTS,
    TapProcess,
    after_window1_with_jobs,
    base_config,
    bookmark,
    create_bodies,
    jobs_in_flight,
    one_error_line,
    run_tap,
    select,
    ts,
    wait_until,
    window_of_request,
)

STREAM = "custom_object_purchase_c"
ENTITY = "customobjects/purchase_c"
EXPORT_PATH = f"/bulk/v1/{ENTITY}/export/"
# As in test_signals: one job processes at a time, 1.5 s each, polled every 0.25 s.
SLOW = dict(max_processing=1, min_processing_seconds=1.5)
POLL = dict(poll_interval_seconds=0.25)


@pytest.fixture(scope="module")
def purchase_catalog(full_catalog: dict[str, Any]) -> dict[str, Any]:
    return select(full_catalog, {STREAM})


# --- truth and checks -------------------------------------------------------------------------


def updated_at(sb: Any) -> dict[str, Any]:
    with sb.data.lock:
        return {r["marketoGUID"]: r["updatedAt"] for r in sb.data.custom_object_records["purchase_c"]}


def truth_purchases(sb: Any, before: str | None = None) -> dict[str, dict[str, Any]]:
    """purchase_c records updated in [START, before or END), as the tap must emit them, by GUID."""
    data = sb.data
    names = data.custom_object_field_names("purchase_c")
    hi = ts(before) if before else END
    with data.lock:
        return {
            r["marketoGUID"]: {n: to_json(r.get(n)) for n in names}
            for r in data.custom_object_records["purchase_c"]
            if START <= r["updatedAt"] < hi
        }


def unique_by_guid(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Records by marketoGUID; asserts none twice (updatedAt is in the file: no boundary copies)."""
    out: dict[str, dict[str, Any]] = {}
    dups = []
    for record in records:
        if record["marketoGUID"] in out:
            dups.append(record["marketoGUID"])
        out[record["marketoGUID"]] = record
    assert not dups, f"duplicate purchase_c records emitted: {sorted(set(dups))[:10]}"
    return out


def assert_records_equal(got: dict[str, dict[str, Any]], want: dict[str, dict[str, Any]]) -> None:
    missing, extra = sorted(set(want) - set(got)), sorted(set(got) - set(want))
    assert not missing, f"{len(missing)} records missing, e.g. {missing[:5]}"
    assert not extra, f"{len(extra)} unexpected records, e.g. {extra[:5]}"
    wrong = [g for g in want if got[g] != want[g]]
    assert not wrong, f"{len(wrong)} records differ; {wrong[0]}: got {got[wrong[0]]}, want {want[wrong[0]]}"


def bookmarks(run: Any) -> list[str]:
    return [b for b in (bookmark(s, STREAM) for s in run.states) if b]


def assert_states_never_skip(messages: list[dict[str, Any]], sb: Any, already: set[str] = frozenset()) -> None:
    """Each STATE bookmark B comes after every record updated before B; bookmarks are window
    ends and never go back. ``already``: GUIDs delivered by an earlier run."""
    modified = updated_at(sb)
    seen, last = set(already), None
    for m in messages:
        if m["type"] == "RECORD" and m["stream"] == STREAM:
            seen.add(m["record"]["marketoGUID"])
        elif m["type"] == "STATE":
            b = bookmark(m["value"], STREAM)
            if b is None:
                continue
            assert b in WINDOW_ENDS, f"bookmark {b} is not a window end"
            assert last is None or ts(b) >= ts(last), f"bookmark went back from {last} to {b}"
            last = b
            owed = {g for g, t in modified.items() if START <= t < ts(b)}
            assert not owed - seen, f"STATE {b} before {len(owed - seen)} records of earlier windows"


def assert_complete(run: Any, sb: Any) -> None:
    assert run.returncode == 0, run.describe()
    assert_records_equal(unique_by_guid(run.records(STREAM)), truth_purchases(sb))
    assert_states_never_skip(run.messages, sb)
    assert bookmarks(run)[-1] == WINDOW_ENDS[-1]


def purchase_jobs(sb: Any) -> list[dict[str, Any]]:
    return sb.jobs(entity=ENTITY)


def job_window(job: dict[str, Any]) -> str:
    return window_of_request(job["request"])


def _file_gets(sb: Any) -> list[dict[str, Any]]:
    return [r for r in list(sb.request_log) if r["path"].endswith("/file.json")]


def _range(request: dict[str, Any]) -> str | None:
    return {k.lower(): v for k, v in request["headers"].items()}.get("range")


# --- downloads --------------------------------------------------------------------------------


def test_clean_run_is_the_reference(sb, purchase_catalog):
    run = run_tap(base_config(sb), purchase_catalog)
    assert_complete(run, sb)
    assert len(create_bodies(sb, ENTITY)) == 3
    assert {p for _, p, _ in sb.requests if p.endswith("/create.json")} == {f"{EXPORT_PATH}create.json"}


def test_dropped_download_resumes_with_range(sb, purchase_catalog):
    sb.faults.add("drop_download", path_contains=EXPORT_PATH, count=1, after_bytes=500)
    run = run_tap(base_config(sb), purchase_catalog)
    assert not sb.faults.pending()
    dropped_path = sb.faults.fired[0][1]
    assert dropped_path.startswith(EXPORT_PATH) and dropped_path.endswith("/file.json")
    resumed = [r for r in _file_gets(sb) if _range(r) == "bytes=500-"]
    assert [r["path"] for r in resumed] == [dropped_path]
    assert_complete(run, sb)  # byte-exact splice: the typed records equal the truth
    assert len(create_bodies(sb, ENTITY)) == 3, "a dropped download must not recreate the job"


def test_corrupted_download_is_fetched_again(sb, purchase_catalog):
    sb.faults.add("corrupt_download", path_contains=EXPORT_PATH, count=1)
    run = run_tap(base_config(sb), purchase_catalog)
    assert not sb.faults.pending()
    corrupted_path = sb.faults.fired[0][1]
    assert sum(1 for r in _file_gets(sb) if r["path"] == corrupted_path and _range(r) is None) >= 2
    assert_complete(run, sb)  # exact values, no duplicates: nothing of the corrupted copy emitted
    assert len(create_bodies(sb, ENTITY)) == 3


# --- jobs -------------------------------------------------------------------------------------

FAIL_MSG = "Export failed: sandbox disk on fire"


def test_failed_job_is_recreated(sb, purchase_catalog):
    sb.faults.add("fail_job", path_contains=EXPORT_PATH, count=1, message=FAIL_MSG)
    run = run_tap(base_config(sb), purchase_catalog)
    assert_complete(run, sb)
    jobs = purchase_jobs(sb)
    failed = [j for j in jobs if j["status"] == "Failed"]
    assert len(failed) == 1 and failed[0]["errorMsg"] == FAIL_MSG
    again = [j for j in jobs if job_window(j) == job_window(failed[0]) and j is not failed[0]]
    assert [j["status"] for j in again] == ["Completed"]
    assert again[0]["request"] == failed[0]["request"]
    assert len(jobs) == 4
    assert sb.created_jobs() == {ENTITY: 4}


# --- SIGKILL and re-attach ----------------------------------------------------------------------


def test_sigkill_then_reattach(make_sandbox, purchase_catalog):
    sb = make_sandbox(**SLOW)
    proc = TapProcess(base_config(sb, **POLL), purchase_catalog)
    try:
        proc.wait_for(after_window1_with_jobs(STREAM))
        proc.send(signal.SIGKILL)
        run1 = proc.finish(timeout=30)
    finally:
        proc.kill()
    assert run1.returncode == -signal.SIGKILL
    state = run1.last_state
    in_flight = jobs_in_flight(state, STREAM)
    assert in_flight, state
    in_flight_ids = {e["exportId"] for e in in_flight}
    assert in_flight_ids <= {j["exportId"] for j in purchase_jobs(sb)}
    assert all(j["status"] != "Cancelled" for j in purchase_jobs(sb) if j["exportId"] in in_flight_ids)
    assert sb.created_jobs()[ENTITY] >= 2  # window 2's job (maybe 3's) exists already

    run2 = run_tap(base_config(sb, **POLL), purchase_catalog, state=state)
    assert run2.returncode == 0, run2.describe()
    assert "re-attached (" in run2.stderr, run2.describe()  # not just the summary's "0 re-attached"
    # Jobs, not create calls: a create the SIGKILL cut short reaches the sandbox without its
    # body (logged with body None) and creates nothing.
    per_window = collections.Counter(job_window(j) for j in purchase_jobs(sb))
    assert per_window == {s: 1 for s in WINDOW_STARTS}, f"jobs created per window: {dict(per_window)}"
    assert sb.created_jobs() == {ENTITY: 3}
    assert_states_never_skip(run2.messages, sb, already={r["marketoGUID"] for r in run1.records(STREAM)})
    # Killed between window 1's checkpoint and window 2's records: the union has no duplicates.
    union = unique_by_guid(run1.records(STREAM) + run2.records(STREAM))
    assert_records_equal(union, truth_purchases(sb))
    assert {r["marketoGUID"] for r in run1.records(STREAM)} == set(truth_purchases(sb, WINDOW_ENDS[0]))
    assert bookmarks(run2)[-1] == WINDOW_ENDS[-1]
    assert run2.last_state == {
        "bookmarks": {STREAM: {"replication_key": "updatedAt", "replication_key_value": WINDOW_ENDS[-1]}}
    }


# --- quota --------------------------------------------------------------------------------------


def test_export_quota_on_second_window_stops_cleanly_then_resumes(sb, purchase_catalog):
    # Window 1's enqueue is held 1 s, time enough to target window 2's job by its id.
    sb.faults.add("delay", path_contains="enqueue.json", count=1, seconds=1.0)
    proc = TapProcess(base_config(sb), purchase_catalog)
    try:
        wait_until(lambda: len(purchase_jobs(sb)) >= 2, what="two jobs created")
        second = next(j for j in purchase_jobs(sb) if job_window(j) == WINDOW_STARTS[1])
        sb.faults.add("quota_exhausted", path_contains=f"/{second['exportId']}/enqueue.json", count=1)
        run1 = proc.finish()
    finally:
        proc.kill()
    assert [k for k, _ in sb.faults.fired] == ["delay", "quota_exhausted"]
    assert run1.returncode != 0, run1.describe()
    line = one_error_line(run1)
    for words in ("export quota", "This run downloaded", "resets at midnight US Central"):
        assert words in line, f"{words!r} not in {line}"
    # Window 1 delivered and checkpointed, nothing past it.
    assert_states_never_skip(run1.messages, sb)
    assert bookmarks(run1)[-1] == WINDOW_ENDS[0]
    got = unique_by_guid(run1.records(STREAM))
    w1 = truth_purchases(sb, WINDOW_ENDS[0])
    assert_records_equal({g: got[g] for g in got if g in w1}, w1)
    assert set(got) == set(w1)

    run2 = run_tap(base_config(sb), purchase_catalog, state=run1.last_state)
    assert run2.returncode == 0, run2.describe()
    assert_states_never_skip(run2.messages, sb, already=set(got))
    assert_records_equal(unique_by_guid(run1.records(STREAM) + run2.records(STREAM)), truth_purchases(sb))
    per_window = collections.Counter(window_of_request(b) for b in create_bodies(sb, ENTITY))
    assert per_window == {s: 1 for s in WINDOW_STARTS}, f"jobs created per window: {dict(per_window)}"
    assert bookmarks(run2)[-1] == WINDOW_ENDS[-1]


# --- SIGKILL during a 1035 sweep ----------------------------------------------------------------

SWEEP = {"staticListId": 2001}


def test_sigkill_during_1035_sweep_then_reattach_to_the_sweep_job(make_sandbox, purchase_catalog):
    """A run killed while its sweep job (no updatedAt filter, custom_object_sweep_list) is
    processing: the next run is refused updatedAt again and must re-attach to that job from
    STATE instead of creating (and paying for) the same sweep again."""
    sb = make_sandbox(
        max_processing=1, min_processing_seconds=3.0, disabled_filters=frozenset({"customobjects.updatedAt"})
    )
    config = base_config(sb, **POLL, custom_object_sweep_list=SWEEP)
    proc = TapProcess(config, purchase_catalog)
    try:
        proc.wait_for(
            lambda messages: any(jobs_in_flight(m["value"], STREAM) for m in messages if m["type"] == "STATE")
        )
        wait_until(lambda: [j["status"] for j in purchase_jobs(sb)] == ["Processing"], what="the sweep job processing")
        proc.send(signal.SIGKILL)
        run1 = proc.finish(timeout=30)
    finally:
        proc.kill()
    assert run1.returncode == -signal.SIGKILL
    (sweep_job,) = purchase_jobs(sb)
    assert sweep_job["request"]["filter"] == SWEEP
    assert [e["exportId"] for e in jobs_in_flight(run1.last_state, STREAM)] == [sweep_job["exportId"]]
    assert run1.records(STREAM) == []

    run2 = run_tap(config, purchase_catalog, state=run1.last_state)
    assert run2.returncode == 0, run2.describe()
    with sb.data.lock:
        leads = set(next(lst for lst in sb.data.static_lists if lst["id"] == 2001)["leadIds"])
    want = {g: r for g, r in truth_purchases(sb).items() if r["leadId"] in leads}
    assert_records_equal(unique_by_guid(run2.records(STREAM)), want)
    assert bookmarks(run2)[-1] == WINDOW_ENDS[-1]
    # The killed run's sweep job served the second run: one job in all, none left behind.
    assert sb.created_jobs() == {ENTITY: 1}, [(j["status"], j["request"]["filter"]) for j in purchase_jobs(sb)]
    assert "re-attached (Processing) from the last run's STATE" in run2.stderr, run2.describe()
