"""ExportRunner: the job lifecycle, pipelining, failures, downloads and their checks."""

from __future__ import annotations

import errno
import io
import os

import pytest
import urllib3

from tap_marketo_bulk import errors
from tap_marketo_bulk.exports import downloads
from tap_marketo_bulk.exports.model import ExportRequest
from tap_marketo_bulk.windows import Window

from .bulk_mocks import BULK, CONTENT, completed, ok


def lead_request(window: Window | None = None) -> ExportRequest:
    return ExportRequest("leads", {"fields": ["id", "email"], "format": "CSV"}, window)


def test_single_job_lifecycle_yields_the_verified_file(requests_mock, runner, tmp_path, clock) -> None:
    create = requests_mock.post(f"{BULK}/create.json", json=ok(exportId="e1", status="Created"))
    enqueue = requests_mock.post(f"{BULK}/e1/enqueue.json", json=ok(exportId="e1", status="Queued"))
    status = requests_mock.get(
        f"{BULK}/e1/status.json",
        [
            {"json": ok(exportId="e1", status="Queued")},
            {"json": ok(exportId="e1", status="Processing")},
            {"json": completed("e1")},
        ],
    )
    requests_mock.get(f"{BULK}/e1/file.json", content=CONTENT)

    files = []
    for export_file in runner.run([lead_request()]):
        assert export_file.path is not None
        assert export_file.path.read_bytes() == CONTENT
        assert export_file.path.parent == tmp_path
        files.append(export_file)

    assert create.last_request.json() == {"fields": ["id", "email"], "format": "CSV"}
    assert enqueue.call_count == 1
    assert status.call_count == 3
    assert clock.sleeps == [60, 60]
    assert len(files) == 1
    assert files[0].number_of_records == 2
    assert not files[0].path.exists()  # deleted once the caller moved on
    assert list(tmp_path.iterdir()) == []


def test_jobs_are_pipelined_and_files_come_back_in_order(requests_mock, runner) -> None:
    ids = iter(["e1", "e2", "e3"])
    calls: list[str] = []

    def create_cb(request, context):
        export_id = next(ids)
        calls.append(f"create {export_id}")
        return ok(exportId=export_id, status="Created")

    requests_mock.post(f"{BULK}/create.json", json=create_cb)
    for export_id in ("e1", "e2", "e3"):
        data = f"id,email\n{export_id[-1]},x\n".encode()

        def enqueue_cb(request, context, export_id=export_id):
            calls.append(f"enqueue {export_id}")
            return ok(exportId=export_id, status="Queued")

        requests_mock.post(f"{BULK}/{export_id}/enqueue.json", json=enqueue_cb)
        requests_mock.get(f"{BULK}/{export_id}/status.json", json=completed(export_id, data, 1))
        requests_mock.get(f"{BULK}/{export_id}/file.json", content=data)

    seen = []
    for export_file in runner.run([lead_request(), lead_request(), lead_request()]):
        calls.append(f"read {export_file.export_id}")
        seen.append(export_file.path.read_bytes())

    assert seen == [b"id,email\n1,x\n", b"id,email\n2,x\n", b"id,email\n3,x\n"]
    # Two jobs in flight: e2 is queued before e1's file is read, e3 only after e1 is done.
    assert calls == [
        "create e1",
        "create e2",
        "enqueue e1",
        "enqueue e2",
        "read e1",
        "create e3",
        "enqueue e3",
        "read e2",
        "read e3",
    ]
    assert runner.spend.jobs_created["leads"] == 3


def test_queue_full_waits_and_retries_enqueue(requests_mock, runner, clock) -> None:
    requests_mock.post(f"{BULK}/create.json", json=ok(exportId="e1", status="Created"))
    enqueue = requests_mock.post(
        f"{BULK}/e1/enqueue.json",
        [
            {
                "json": {
                    "success": False,
                    "errors": [{"code": "1029", "message": "Too many jobs (10) in queue"}],
                }
            },
            {"json": ok(exportId="e1", status="Queued")},
        ],
    )
    requests_mock.get(f"{BULK}/e1/status.json", json=completed("e1"))
    requests_mock.get(f"{BULK}/e1/file.json", content=CONTENT)
    assert [f.export_id for f in runner.run([lead_request()])] == ["e1"]
    assert enqueue.call_count == 2
    assert clock.sleeps == [60]


def test_failed_job_is_recreated_then_reported_with_marketo_message(requests_mock, runner) -> None:
    ids = iter(["e1", "e2", "e3"])
    create = requests_mock.post(f"{BULK}/create.json", json=lambda r, c: ok(exportId=next(ids), status="Created"))
    for export_id in ("e1", "e2", "e3"):
        requests_mock.post(f"{BULK}/{export_id}/enqueue.json", json=ok(exportId=export_id, status="Queued"))
        requests_mock.get(
            f"{BULK}/{export_id}/status.json",
            json=ok(exportId=export_id, status="Failed", errorMsg="Internal failure"),
        )
    with pytest.raises(errors.ExportFailed, match="ended Failed 3 times; Marketo says: Internal failure"):
        list(runner.run([lead_request()]))
    assert create.call_count == 3


def test_timeout_cancels_the_job_with_a_clear_message(requests_mock, runner) -> None:
    requests_mock.post(f"{BULK}/create.json", json=ok(exportId="e1", status="Created"))
    requests_mock.post(f"{BULK}/e1/enqueue.json", json=ok(exportId="e1", status="Queued"))
    requests_mock.get(f"{BULK}/e1/status.json", json=ok(exportId="e1", status="Queued"))
    cancel = requests_mock.post(f"{BULK}/e1/cancel.json", json=ok(exportId="e1", status="Cancelled"))
    with pytest.raises(errors.ExportFailed, match=r"job_timeout_seconds=600 \(last status Queued"):
        list(runner.run([lead_request()]))
    assert cancel.call_count == 1


def test_jobs_not_consumed_are_cancelled_when_the_caller_stops(requests_mock, runner) -> None:
    ids = iter(["e1", "e2"])
    requests_mock.post(f"{BULK}/create.json", json=lambda r, c: ok(exportId=next(ids), status="Created"))
    for export_id in ("e1", "e2"):
        requests_mock.post(f"{BULK}/{export_id}/enqueue.json", json=ok(exportId=export_id, status="Queued"))
    requests_mock.get(f"{BULK}/e1/status.json", json=completed("e1"))
    requests_mock.get(f"{BULK}/e1/file.json", content=CONTENT)
    cancel_e2 = requests_mock.post(f"{BULK}/e2/cancel.json", json=ok(exportId="e2", status="Cancelled"))
    run = runner.run([lead_request(), lead_request()])
    first = next(run)
    assert first.export_id == "e1"
    run.close()
    assert cancel_e2.call_count == 1
    assert not first.path.exists()


def test_empty_export_is_not_downloaded(requests_mock, runner) -> None:
    requests_mock.post(f"{BULK}/create.json", json=ok(exportId="e1", status="Created"))
    requests_mock.post(f"{BULK}/e1/enqueue.json", json=ok(exportId="e1", status="Queued"))
    requests_mock.get(
        f"{BULK}/e1/status.json",
        json=ok(exportId="e1", status="Completed", numberOfRecords=0, fileSize=0),
    )
    file_call = requests_mock.get(f"{BULK}/e1/file.json", content=b"")
    files = list(runner.run([lead_request()]))
    assert [(f.path, f.number_of_records) for f in files] == [(None, 0)]
    assert file_call.call_count == 0


def _one_completed_job(requests_mock) -> None:
    requests_mock.post(f"{BULK}/create.json", json=ok(exportId="e1", status="Created"))
    requests_mock.post(f"{BULK}/e1/enqueue.json", json=ok(exportId="e1", status="Queued"))
    requests_mock.get(f"{BULK}/e1/status.json", json=completed("e1"))


def test_dropped_download_resumes_with_range(requests_mock, runner) -> None:
    _one_completed_job(requests_mock)

    class DroppingBody(io.BytesIO):
        """A socket that breaks after 10 bytes, as a dropped connection does."""

        def read(self, *args, **kwargs) -> bytes:
            if self.tell() >= 10:
                raise urllib3.exceptions.ProtocolError("Connection broken")
            return super().read(10)

        read1 = read

    def dropping_response() -> urllib3.HTTPResponse:
        return urllib3.HTTPResponse(
            body=DroppingBody(CONTENT),
            status=200,
            preload_content=False,
            headers={"Content-Length": str(len(CONTENT))},
        )

    file_call = requests_mock.get(
        f"{BULK}/e1/file.json",
        [
            {"raw": dropping_response(), "status_code": 200},
            {"content": CONTENT[10:], "status_code": 206},
        ],
    )
    files = [f.path.read_bytes() for f in runner.run([lead_request()])]
    assert files == [CONTENT]
    assert "Range" not in file_call.request_history[0].headers
    assert file_call.request_history[1].headers["Range"] == "bytes=10-"


def test_corrupted_download_is_fetched_again(requests_mock, runner) -> None:
    _one_completed_job(requests_mock)
    corrupted = bytearray(CONTENT)
    corrupted[5] ^= 0xFF
    file_call = requests_mock.get(f"{BULK}/e1/file.json", [{"content": bytes(corrupted)}, {"content": CONTENT}])
    assert [f.path.read_bytes() for f in runner.run([lead_request()])] == [CONTENT]
    assert file_call.call_count == 2


def test_corrupted_twice_is_an_error_and_leaves_no_file(requests_mock, runner, tmp_path) -> None:
    _one_completed_job(requests_mock)
    requests_mock.get(f"{BULK}/e1/file.json", content=CONTENT.replace(b"1", b"7"))
    with pytest.raises(errors.ChecksumMismatch, match="differs from Marketo's fileChecksum"):
        list(runner.run([lead_request()]))
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_is_named_not_retried_and_leaves_no_file(requests_mock, runner, tmp_path, monkeypatch) -> None:
    _one_completed_job(requests_mock)
    file_call = requests_mock.get(f"{BULK}/e1/file.json", content=CONTENT)
    opened = []

    def full_disk(fd: int, mode: str) -> io.BufferedWriter:
        handle = open(fd, mode)  # noqa: SIM115 (closed by the code under test)
        opened.append(handle)

        def write(data: bytes) -> int:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        handle.write = write
        return handle

    monkeypatch.setattr(downloads.os, "fdopen", full_disk)
    with pytest.raises(errors.TempFileUnwritable) as raised:
        list(runner.run([lead_request()]))
    assert str(raised.value) == (
        f"Export e1: cannot write its file to {tmp_path} (No space left on device). Free space there, or set "
        "temp_dir to a folder with room for the largest export file."
    )
    assert file_call.call_count == 1  # not taken for a dropped connection and retried
    assert opened and opened[0].closed
    assert list(tmp_path.iterdir()) == []


def test_a_temp_dir_that_is_gone_is_named(requests_mock, runner, tmp_path) -> None:
    _one_completed_job(requests_mock)
    requests_mock.get(f"{BULK}/e1/file.json", content=CONTENT)
    runner.downloads.temp_dir = str(tmp_path / "gone")
    gone = r"cannot write its file to .*/gone \(No such file or directory\)"
    with pytest.raises(errors.TempFileUnwritable, match=gone):
        list(runner.run([lead_request()]))


def test_reattaches_to_a_job_of_the_last_run_instead_of_creating_one(requests_mock, runner) -> None:
    request = lead_request()
    create = requests_mock.post(f"{BULK}/create.json", json=ok(exportId="new", status="Created"))
    requests_mock.get(f"{BULK}/old/status.json", json=completed("old"))
    probe_and_file = requests_mock.get(f"{BULK}/old/file.json", content=CONTENT)
    changes: list[list[str]] = []

    files = [
        f.export_id
        for f in runner.run(
            [request],
            known_jobs=[{"key": request.key(), "exportId": "old"}],
            on_change=lambda jobs, intents: changes.append([j["exportId"] for j in jobs]),
        )
    ]

    assert files == ["old"]
    assert create.call_count == 0
    assert probe_and_file.request_history[0].headers["Range"] == "bytes=0-0"
    assert changes == [["old"], []]
    assert runner.spend.jobs_reattached == 1


def test_a_job_marketo_no_longer_has_is_created_again(requests_mock, runner) -> None:
    request = lead_request()
    requests_mock.get(f"{BULK}/old/status.json", status_code=404, text="Export job not found")
    create = requests_mock.post(f"{BULK}/create.json", json=ok(exportId="e1", status="Created"))
    requests_mock.post(f"{BULK}/e1/enqueue.json", json=ok(exportId="e1", status="Queued"))
    requests_mock.get(f"{BULK}/e1/status.json", json=completed("e1"))
    requests_mock.get(f"{BULK}/e1/file.json", content=CONTENT)
    assert [f.export_id for f in runner.run([request], known_jobs=[{"key": request.key(), "exportId": "old"}])] == [
        "e1"
    ]
    assert create.call_count == 1


def test_jobs_of_the_last_run_that_no_request_needs_are_cancelled(requests_mock, runner) -> None:
    _one_completed_job(requests_mock)
    requests_mock.get(f"{BULK}/e1/file.json", content=CONTENT)
    stale = requests_mock.post(f"{BULK}/stale/cancel.json", json=ok(exportId="stale", status="Cancelled"))
    list(runner.run([lead_request()], known_jobs=[{"key": "other-key", "exportId": "stale"}]))
    assert stale.call_count == 1


def test_request_key_changes_with_the_body() -> None:
    a = ExportRequest("leads", {"fields": ["id"], "filter": {"createdAt": {"startAt": "x"}}})
    b = ExportRequest("leads", {"filter": {"createdAt": {"startAt": "x"}}, "fields": ["id"]})
    c = ExportRequest("leads", {"fields": ["id", "email"], "filter": {"createdAt": {"startAt": "x"}}})
    assert a.key() == b.key()
    assert a.key() != c.key()


def test_expired_file_of_a_completed_job_recreates_the_job(requests_mock, runner) -> None:
    ids = iter(["e1", "e2"])
    create = requests_mock.post(f"{BULK}/create.json", json=lambda r, c: ok(exportId=next(ids), status="Created"))
    for export_id in ("e1", "e2"):
        requests_mock.post(f"{BULK}/{export_id}/enqueue.json", json=ok(exportId=export_id, status="Queued"))
        requests_mock.get(f"{BULK}/{export_id}/status.json", json=completed(export_id))
    requests_mock.get(f"{BULK}/e1/file.json", status_code=404, text="File not found")
    requests_mock.get(f"{BULK}/e2/file.json", content=CONTENT)
    assert [f.path.read_bytes() for f in runner.run([lead_request()])] == [CONTENT]
    assert create.call_count == 2


def test_export_budget_stops_before_a_job_that_would_exceed_it(requests_mock, runner) -> None:
    runner.spend.budget_bytes = len(CONTENT) + 10  # room for one file of this size, not two
    runner.max_jobs_in_flight = 1
    ids = iter(["e1", "e2"])
    create = requests_mock.post(f"{BULK}/create.json", json=lambda r, c: ok(exportId=next(ids), status="Created"))
    requests_mock.post(f"{BULK}/e1/enqueue.json", json=ok(exportId="e1", status="Queued"))
    requests_mock.get(f"{BULK}/e1/status.json", json=completed("e1"))
    requests_mock.get(f"{BULK}/e1/file.json", content=CONTENT)
    consumed = []
    with pytest.raises(errors.ExportBudgetReached, match=r"export_quota_budget_mb=4\.6e-05 reached"):
        for export_file in runner.run([lead_request(), lead_request()]):
            consumed.append(export_file.export_id)
    assert consumed == ["e1"]
    assert create.call_count == 1


def test_a_spent_budget_still_reattaches_and_keeps_the_earlier_runs_jobs(requests_mock, runner) -> None:
    """Re-using a job spends nothing new, so the budget stops only before a new job; the
    earlier run's job for a request not reached stays in STATE, not cancelled."""
    runner.spend.budget_bytes = 1
    runner.max_jobs_in_flight = 1
    first, second = lead_request(Window.parse("2024-01-01T00:00:00Z..2024-02-01T00:00:00Z")), lead_request()
    third = ExportRequest("leads", {"fields": ["id"], "format": "CSV"})
    create = requests_mock.post(f"{BULK}/create.json", json=ok(exportId="new", status="Created"))
    requests_mock.get(f"{BULK}/old/status.json", json=completed("old"))
    requests_mock.get(f"{BULK}/old/file.json", content=CONTENT)
    cancel = requests_mock.post(f"{BULK}/later/cancel.json", json=ok(exportId="later", status="Cancelled"))
    later = {"key": third.key(), "exportId": "later", "entity": "leads"}
    changes: list[list[str]] = []
    consumed = []
    with pytest.raises(errors.ExportBudgetReached):
        for export_file in runner.run(
            [first, second, third],
            known_jobs=[{"key": first.key(), "exportId": "old", "entity": "leads"}, later],
            on_change=lambda jobs, intents: changes.append([j["exportId"] for j in jobs]),
        ):
            consumed.append(export_file.export_id)
    assert consumed == ["old"]
    assert create.call_count == 0
    assert cancel.call_count == 0
    assert changes == [["old", "later"], ["later"]]


def test_export_quota_error_says_what_this_run_spent_and_when_it_resets(requests_mock, runner) -> None:
    requests_mock.post(f"{BULK}/create.json", json=ok(exportId="e1", status="Created"))
    requests_mock.post(
        f"{BULK}/e1/enqueue.json",
        json={"success": False, "errors": [{"code": "1029", "message": "Export daily quota 500MB exceeded."}]},
    )
    cancel = requests_mock.post(f"{BULK}/e1/cancel.json", json=ok(exportId="e1", status="Cancelled"))
    with pytest.raises(errors.ExportQuotaExhausted) as caught:
        list(runner.run([lead_request()]))
    text = str(caught.value)
    assert text.startswith(
        "[Marketo 1029] /bulk/v1/leads/export/e1/enqueue.json: Export daily quota 500MB exceeded. Marketo's"
    )
    assert "it resets at midnight US Central (" in text
    assert text.endswith("This run downloaded 0.0 MB from 1 new export jobs (0 re-attached).")
    # Never queued, so it cost nothing: kept for the next run to re-attach after the reset.
    assert cancel.call_count == 0


def test_quota_refusal_behind_the_first_job_delivers_the_first_then_stops(requests_mock, runner) -> None:
    ids = iter(["e1", "e2"])
    create = requests_mock.post(f"{BULK}/create.json", json=lambda r, c: ok(exportId=next(ids), status="Created"))
    requests_mock.post(f"{BULK}/e1/enqueue.json", json=ok(exportId="e1", status="Queued"))
    requests_mock.post(
        f"{BULK}/e2/enqueue.json",
        json={"success": False, "errors": [{"code": "1029", "message": "Export daily quota 500MB exceeded."}]},
    )
    requests_mock.get(f"{BULK}/e1/status.json", json=completed("e1"))
    requests_mock.get(f"{BULK}/e1/file.json", content=CONTENT)
    cancel_e2 = requests_mock.post(f"{BULK}/e2/cancel.json", json=ok(exportId="e2", status="Cancelled"))
    delivered = []
    with pytest.raises(errors.ExportQuotaExhausted, match=r"This run downloaded 0\.0 MB from 2 new export jobs"):
        for export_file in runner.run([lead_request(), lead_request(), lead_request()]):
            delivered.append(export_file.path.read_bytes())
    assert delivered == [CONTENT]
    assert create.call_count == 2  # no third job once the quota is known to be spent
    assert cancel_e2.call_count == 0


def test_an_interrupt_during_a_held_section_waits_for_its_end(monkeypatch) -> None:
    from tap_marketo_bulk import interrupts

    # The module keeps process-wide state; restore it for the tests that follow.
    monkeypatch.setattr(interrupts, "_requested", False)
    monkeypatch.setattr(interrupts, "_pending", None)
    stop = errors.Interrupted("interrupted by SIGTERM")
    steps = []
    with pytest.raises(errors.Interrupted), interrupts.held():
        interrupts.interrupt(stop)
        steps.append("create finished and remembered")
    assert steps == ["create finished and remembered"]
    assert interrupts.requested()
    with pytest.raises(errors.Interrupted):
        interrupts.interrupt(stop)  # outside a held section: at once


def test_an_error_in_a_held_section_is_not_replaced_by_the_held_interrupt(monkeypatch) -> None:
    from tap_marketo_bulk import interrupts

    monkeypatch.setattr(interrupts, "_requested", False)
    monkeypatch.setattr(interrupts, "_pending", None)
    with pytest.raises(errors.ExportQuotaExhausted), interrupts.held():
        interrupts.interrupt(errors.Interrupted("interrupted by SIGTERM"))
        raise errors.ExportQuotaExhausted("quota")
