"""JobRecovery through ExportRunner.run: create intents, adoption from Marketo's job list,
lost and refused create answers, header checks of adopted files, and earlier runs' leftovers."""

from __future__ import annotations

import copy
import datetime as dt
import types
import typing as t
from urllib.parse import parse_qs, urlsplit

import pytest

from tap_marketo_bulk.exports.model import ExportRequest
from tap_marketo_bulk.marketo import client as client_module
from tap_marketo_bulk.windows import Window

from .bulk_mocks import BULK, CONTENT, ROOT, completed, ok

UTC = dt.timezone.utc
LIST = f"{ROOT}/bulk/v1/leads/export.json"
#: The local clock during every test (Marketo's too, unless a Date header says otherwise).
LOCAL_NOW = dt.datetime(2024, 5, 1, 12, 0, 0, 400000, tzinfo=UTC)
#: LOCAL_NOW in whole seconds: the run's start in Marketo's time when no Date header was seen.
RUN_START = "2024-05-01T12:00:00Z"
#: A Date header one hour ahead of the local clock.
DATE_AHEAD = "Wed, 01 May 2024 13:00:00 GMT"


def listing(*jobs: dict, token: str | None = None) -> dict:
    page: dict[str, t.Any] = {"requestId": "r", "success": True, "result": list(jobs), "moreResult": bool(token)}
    if token:
        page["nextPageToken"] = token
    return page


def listed(export_id: str, created_at: str, *, fmt: str = "CSV", status: str = "Created") -> dict:
    return {"exportId": export_id, "format": fmt, "status": status, "createdAt": created_at}


class Timeline:
    """on_change calls and HTTP calls (identity calls left out) in the order they happened."""

    def __init__(self, requests_mock) -> None:
        self.mock = requests_mock
        self.events: list[t.Any] = []
        self.changes: list[tuple[list[dict], list[dict]]] = []
        self._seen = 0

    def on_change(self, jobs: list[dict], intents: list[dict]) -> None:
        self.sync()
        self.changes.append((copy.deepcopy(jobs), copy.deepcopy(intents)))
        self.events.append(("state", copy.deepcopy(jobs), copy.deepcopy(intents)))

    def sync(self) -> list[t.Any]:
        history = self.mock.request_history
        for call in history[self._seen :]:
            path = urlsplit(call.url).path
            if not path.startswith("/identity"):
                self.events.append(f"{call.method} {path}")
        self._seen = len(history)
        return self.events

    def http(self) -> list[str]:
        return [event for event in self.sync() if isinstance(event, str)]


@pytest.fixture(autouse=True)
def wall(monkeypatch) -> types.SimpleNamespace:
    """The client's wall clock frozen at ``wall.now``, so Marketo's time is exact."""
    state = types.SimpleNamespace(now=LOCAL_NOW)

    class FrozenDatetime(dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return state.now.astimezone(tz) if tz else state.now.replace(tzinfo=None)

    monkeypatch.setattr(
        client_module,
        "dt",
        types.SimpleNamespace(datetime=FrozenDatetime, timezone=dt.timezone, timedelta=dt.timedelta),
    )
    return state


def window(day: int) -> Window:
    return Window(dt.datetime(2024, 4, day, tzinfo=UTC), dt.datetime(2024, 4, day + 1, tzinfo=UTC))


def lead_request(day: int = 1, body: dict | None = None) -> ExportRequest:
    w = window(day)
    body = body or {"fields": ["id", "email"], "format": "CSV"}
    return ExportRequest("leads", {**body, "filter": {"createdAt": w.as_filter()}}, w)


def intent_entry(request: ExportRequest, not_before: str, fmt: str = "CSV") -> dict:
    return {
        "key": request.key(),
        "entity": "leads",
        "notBefore": not_before,
        "format": fmt,
        "window": str(request.window),
    }


def job_entry(request: ExportRequest, export_id: str, *, adopted: bool = False) -> dict:
    entry = {"exportId": export_id, "key": request.key(), "entity": "leads", "window": str(request.window)}
    return {**entry, "adopted": True} if adopted else entry


def serve_job(requests_mock, export_id: str, data: bytes = CONTENT, records: int = 2) -> dict[str, t.Any]:
    """Mocks of a job's enqueue, status (Completed) and file calls."""
    return {
        "enqueue": requests_mock.post(f"{BULK}/{export_id}/enqueue.json", json=ok(exportId=export_id, status="Queued")),
        "status": requests_mock.get(f"{BULK}/{export_id}/status.json", json=completed(export_id, data, records)),
        "file": requests_mock.get(f"{BULK}/{export_id}/file.json", content=data),
    }


def list_params(mock) -> list[dict[str, list[str]]]:
    return [parse_qs(urlsplit(call.url).query) for call in mock.request_history]


CREATED_PARAMS = {"status": ["Created"], "batchSize": ["300"]}


# --- the intent written before every create -------------------------------------------------


def test_intent_reaches_state_before_the_create_call_in_marketos_time(requests_mock, runner) -> None:
    first, second = lead_request(1), lead_request(2)
    ids = iter(["e1", "e2"])

    def create_cb(request, context):
        context.headers["Date"] = DATE_AHEAD  # Marketo's clock is one hour ahead of ours
        return ok(exportId=next(ids), status="Created")

    create = requests_mock.post(f"{BULK}/create.json", json=create_cb)
    serve_job(requests_mock, "e1")
    serve_job(requests_mock, "e2")
    listed_jobs = requests_mock.get(LIST, json=listing())
    timeline = Timeline(requests_mock)

    files = [f.export_id for f in runner.run([first, second], on_change=timeline.on_change)]

    assert files == ["e1", "e2"]
    assert create.call_count == 2
    assert [call.json() for call in create.request_history] == [first.body, second.body]
    assert listed_jobs.call_count == 0  # no intent of an earlier run: nothing to look for
    create_path = "POST /bulk/v1/leads/export/create.json"
    assert timeline.sync()[:6] == [
        # No answer of Marketo seen yet: its time is taken as ours.
        ("state", [], [intent_entry(first, "2024-05-01T12:00:00Z")]),
        create_path,
        ("state", [job_entry(first, "e1")], []),
        # The create's answer said Marketo's clock is 13:00:00 while ours is 12:00:00.4.
        ("state", [job_entry(first, "e1")], [intent_entry(second, "2024-05-01T13:00:00Z")]),
        create_path,
        ("state", [job_entry(first, "e1"), job_entry(second, "e2")], []),
    ]
    assert timeline.changes[4:] == [([job_entry(second, "e2")], []), ([], [])]


def test_intent_not_before_follows_a_date_header_seen_before_the_run(requests_mock, runner) -> None:
    request = lead_request()
    requests_mock.get(
        f"{ROOT}/rest/v1/leads/describe.json", json=ok(), headers={"Date": "Wed, 01 May 2024 11:00:00 GMT"}
    )
    runner.client.get("/rest/v1/leads/describe.json")  # Marketo's clock: one hour behind ours
    requests_mock.post(f"{BULK}/create.json", json=ok(exportId="e1", status="Created"))
    serve_job(requests_mock, "e1")
    timeline = Timeline(requests_mock)

    assert [f.export_id for f in runner.run([request], on_change=timeline.on_change)] == ["e1"]

    assert timeline.changes == [
        ([], [intent_entry(request, "2024-05-01T11:00:00Z")]),
        ([job_entry(request, "e1")], []),
        ([], []),
    ]


# --- adopting the job of an intent from Marketo's job list -----------------------------------


def test_the_one_unknown_created_job_of_an_intent_is_adopted(requests_mock, runner) -> None:
    request = lead_request()
    create = requests_mock.post(f"{BULK}/create.json", json=ok(exportId="new", status="Created"))
    pages = requests_mock.get(
        LIST,
        [
            {"json": listing(listed("older", "2024-05-01T11:00:00Z"), token="page-2")},
            {"json": listing(listed("lost", "2024-05-01T11:49:58Z"))},  # notBefore - 2 s: still in
        ],
    )
    lost = serve_job(requests_mock, "lost")
    timeline = Timeline(requests_mock)

    files = [
        (f.export_id, f.path.read_bytes())
        for f in runner.run(
            [request],
            intents=[intent_entry(request, "2024-05-01T11:50:00Z")],
            on_change=timeline.on_change,
        )
    ]

    assert files == [("lost", CONTENT)]
    assert create.call_count == 0
    assert list_params(pages) == [CREATED_PARAMS, {**CREATED_PARAMS, "nextPageToken": ["page-2"]}]
    assert lost["enqueue"].call_count == 1  # never enqueued: the lost answer left it Created
    assert runner.spend.jobs_reattached == 1
    assert sum(runner.spend.jobs_created.values()) == 0
    assert timeline.changes == [([job_entry(request, "lost", adopted=True)], []), ([], [])]


def test_run_start_of_the_adoption_window_is_in_marketos_time(requests_mock, runner) -> None:
    request = lead_request()
    requests_mock.get(f"{ROOT}/rest/v1/leads/describe.json", json=ok(), headers={"Date": DATE_AHEAD})
    runner.client.get("/rest/v1/leads/describe.json")  # Marketo's clock: 13:00:00, ours 12:00:00.4
    create = requests_mock.post(f"{BULK}/create.json", json=ok(exportId="new", status="Created"))
    requests_mock.get(
        LIST,
        json=listing(
            listed("lost", "2024-05-01T12:59:30Z"),  # after our clock's now, before Marketo's
            listed("later", "2024-05-01T13:00:03Z"),  # after Marketo's run start (+2 s slack)
        ),
    )
    serve_job(requests_mock, "lost")

    files = [f.export_id for f in runner.run([request], intents=[intent_entry(request, "2024-05-01T12:59:00Z")])]

    assert files == ["lost"]
    assert create.call_count == 0
    assert runner.spend.jobs_reattached == 1


NOT_ADOPTED = {
    "two candidates": ([listed("a", "2024-05-01T11:55:00Z"), listed("b", "2024-05-01T11:56:00Z")], []),
    "other format": ([listed("a", "2024-05-01T11:55:00Z", fmt="TSV")], []),
    "created before notBefore - 2 s": ([listed("a", "2024-05-01T11:49:57Z")], []),
    "created after the run start": ([listed("a", "2024-05-01T12:00:03Z")], []),
    "export id known from STATE": (
        [listed("old", "2024-05-01T11:55:00Z")],
        [{"key": "key-of-no-request", "exportId": "old", "entity": "leads"}],
    ),
    # Marketo is asked for status=Created; this answer holds a Queued job all the same.
    "status Queued in the list's answer": ([listed("a", "2024-05-01T11:55:00Z", status="Queued")], []),
}


@pytest.mark.parametrize(("jobs", "known"), NOT_ADOPTED.values(), ids=NOT_ADOPTED.keys())
def test_a_job_that_cannot_be_told_to_be_the_intents_is_not_adopted(requests_mock, runner, jobs, known) -> None:
    request = lead_request()
    create = requests_mock.post(f"{BULK}/create.json", json=ok(exportId="e1", status="Created"))
    pages = requests_mock.get(LIST, json=listing(*jobs))
    serve_job(requests_mock, "e1")
    requests_mock.post(f"{BULK}/old/cancel.json", json=ok(exportId="old", status="Cancelled"))
    for job in jobs:  # served in full, so a wrong adoption shows in the results, not as a mock error
        serve_job(requests_mock, job["exportId"])
    timeline = Timeline(requests_mock)

    files = [
        f.export_id
        for f in runner.run(
            [request],
            known_jobs=known,
            intents=[intent_entry(request, "2024-05-01T11:50:00Z")],
            on_change=timeline.on_change,
        )
    ]

    assert files == ["e1"]
    assert create.call_count == 1
    assert create.last_request.json() == request.body
    assert list_params(pages) == [CREATED_PARAMS]
    assert runner.spend.jobs_reattached == 0
    # A known entry no request uses is carried until the run ends, then cancelled and dropped.
    assert timeline.changes == [
        (known, [intent_entry(request, RUN_START)]),
        ([job_entry(request, "e1"), *known], []),
        (known, []),
        *([([], [])] if known else []),
    ]
    http = timeline.http()
    assert http.index("GET /bulk/v1/leads/export.json") < http.index("POST /bulk/v1/leads/export/create.json")


def test_a_queued_job_is_not_adopted_when_marketo_filters_the_list_by_status(requests_mock, runner) -> None:
    request = lead_request()
    create = requests_mock.post(f"{BULK}/create.json", json=ok(exportId="e1", status="Created"))
    everything = [listed("a", "2024-05-01T11:55:00Z", status="Queued")]

    def list_cb(call, context):  # Marketo's job list answers only the statuses asked for
        wanted = parse_qs(urlsplit(call.url).query)["status"][0].split(",")
        return listing(*(job for job in everything if job["status"] in wanted))

    pages = requests_mock.get(LIST, json=list_cb)
    serve_job(requests_mock, "e1")
    serve_job(requests_mock, "a")

    files = [f.export_id for f in runner.run([request], intents=[intent_entry(request, "2024-05-01T11:50:00Z")])]

    assert files == ["e1"]
    assert create.call_count == 1
    assert list_params(pages) == [CREATED_PARAMS]


# --- lost and refused create answers ----------------------------------------------------------


def test_a_lost_create_answer_adopts_the_job_it_created(requests_mock, runner) -> None:
    request = lead_request()
    create = requests_mock.post(
        f"{BULK}/create.json",
        [{"status_code": 502, "text": "Bad Gateway"}, {"json": ok(exportId="e2", status="Created")}],
    )
    pages = requests_mock.get(LIST, json=listing(listed("lost", "2024-05-01T12:00:00Z")))
    serve_job(requests_mock, "lost")
    timeline = Timeline(requests_mock)

    files = [f.export_id for f in runner.run([request], on_change=timeline.on_change)]

    assert files == ["lost"]
    assert create.call_count == 1
    assert list_params(pages) == [CREATED_PARAMS]
    assert timeline.sync()[:4] == [
        ("state", [], [intent_entry(request, RUN_START)]),
        "POST /bulk/v1/leads/export/create.json",
        "GET /bulk/v1/leads/export.json",
        ("state", [job_entry(request, "lost", adopted=True)], []),
    ]
    assert timeline.changes[-1] == ([], [])


def test_a_lost_create_answer_without_a_listed_job_creates_again(requests_mock, runner, clock) -> None:
    request = lead_request()
    create = requests_mock.post(
        f"{BULK}/create.json",
        [{"status_code": 502, "text": "Bad Gateway"}, {"json": ok(exportId="e2", status="Created")}],
    )
    pages = requests_mock.get(LIST, json=listing(listed("too-old", "2024-05-01T11:59:57Z")))
    serve_job(requests_mock, "e2")
    timeline = Timeline(requests_mock)

    files = [f.export_id for f in runner.run([request], on_change=timeline.on_change)]

    assert files == ["e2"]
    assert create.call_count == 2
    assert [call.json() for call in create.request_history] == [request.body, request.body]
    assert list_params(pages) == [CREATED_PARAMS]
    assert timeline.http()[:3] == [
        "POST /bulk/v1/leads/export/create.json",
        "GET /bulk/v1/leads/export.json",
        "POST /bulk/v1/leads/export/create.json",
    ]
    assert clock.sleeps[:2] == [1.0, 1.0]  # 2 s, in steps a stop request can end
    assert timeline.changes == [
        ([], [intent_entry(request, RUN_START)]),
        ([job_entry(request, "e2")], []),
        ([], []),
    ]
    assert runner.spend.jobs_reattached == 0


def test_a_rate_limited_create_is_tried_again_without_the_list(requests_mock, runner, clock) -> None:
    request = lead_request()
    refused = {
        "success": False,
        "errors": [{"code": "606", "message": "Max rate limit '100' exceeded with in '20' secs"}],
    }
    create = requests_mock.post(
        f"{BULK}/create.json", [{"json": refused}, {"json": ok(exportId="e1", status="Created")}]
    )
    pages = requests_mock.get(LIST, json=listing(listed("lost", "2024-05-01T12:00:00Z")))
    serve_job(requests_mock, "e1")
    timeline = Timeline(requests_mock)

    files = [f.export_id for f in runner.run([request], on_change=timeline.on_change)]

    assert files == ["e1"]
    assert create.call_count == 2
    assert pages.call_count == 0
    assert clock.sleeps[:2] == [1.0, 1.0]  # 2 s, in steps a stop request can end
    assert timeline.http()[:2] == ["POST /bulk/v1/leads/export/create.json"] * 2
    assert timeline.changes == [
        ([], [intent_entry(request, RUN_START)]),
        ([job_entry(request, "e1")], []),
        ([], []),
    ]


# --- the header check of adopted files --------------------------------------------------------


def test_an_adopted_job_with_other_columns_is_discarded_and_created_anew(requests_mock, runner, tmp_path) -> None:
    request = lead_request()
    other = b"id,firstName\n1,Ann\n"
    create = requests_mock.post(f"{BULK}/create.json", json=ok(exportId="e1", status="Created"))
    requests_mock.get(LIST, json=listing(listed("lost", "2024-05-01T11:55:00Z")))
    lost = serve_job(requests_mock, "lost", other, 1)
    serve_job(requests_mock, "e1")
    timeline = Timeline(requests_mock)

    handed_out = []
    for export_file in runner.run(
        [request], intents=[intent_entry(request, "2024-05-01T11:50:00Z")], on_change=timeline.on_change
    ):
        handed_out.append((export_file.export_id, export_file.path.read_bytes()))
        assert list(tmp_path.iterdir()) == [export_file.path]  # the adopted job's file is gone

    assert handed_out == [("e1", CONTENT)]
    assert lost["file"].call_count == 1
    assert create.call_count == 1
    assert create.last_request.json() == request.body
    assert list(tmp_path.iterdir()) == []
    assert timeline.changes == [
        ([job_entry(request, "lost", adopted=True)], []),
        ([job_entry(request, "lost", adopted=True)], [intent_entry(request, RUN_START)]),
        ([job_entry(request, "e1")], []),
        ([], []),
    ]


def test_an_adopted_job_with_the_requested_columns_is_used(requests_mock, runner) -> None:
    request = lead_request()
    data = b"email,id\na@example.com,1\n"  # the requested columns, in another order
    create = requests_mock.post(f"{BULK}/create.json", json=ok(exportId="e1", status="Created"))
    requests_mock.get(LIST, json=listing(listed("lost", "2024-05-01T11:55:00Z")))
    serve_job(requests_mock, "lost", data, 1)

    files = [
        (f.export_id, f.path.read_bytes())
        for f in runner.run([request], intents=[intent_entry(request, "2024-05-01T11:50:00Z")])
    ]

    assert files == [("lost", data)]
    assert create.call_count == 0


# --- earlier runs' entries: kept until reached, the others cancelled -------------------------


def test_entries_stay_until_the_run_ends_and_those_of_no_request_are_cancelled(requests_mock, runner) -> None:
    runner.max_jobs_in_flight = 1
    first, second, third = lead_request(1), lead_request(2), lead_request(3)
    known_second = job_entry(second, "old-b")
    stale = {"key": "key-of-no-request", "exportId": "stale", "entity": "activities"}
    legacy = {"key": "legacy-key-of-no-request", "exportId": "legacy"}  # written before entries had an entity
    intent_third = intent_entry(third, "2024-05-01T11:00:00Z")
    intent_gone = {"key": "gone-key", "entity": "leads", "notBefore": "2024-05-01T11:00:00Z", "format": "CSV"}
    ids = iter(["e1", "e3"])
    create = requests_mock.post(f"{BULK}/create.json", json=lambda r, c: ok(exportId=next(ids), status="Created"))
    serve_job(requests_mock, "e1")
    serve_job(requests_mock, "old-b")
    serve_job(requests_mock, "e3")
    pages = requests_mock.get(LIST, json=listing())
    cancels = {
        "activities stale": requests_mock.post(
            f"{ROOT}/bulk/v1/activities/export/stale/cancel.json", json=ok(exportId="stale", status="Cancelled")
        ),
        "leads stale": requests_mock.post(f"{BULK}/stale/cancel.json", json=ok(exportId="stale", status="Cancelled")),
        "leads legacy": requests_mock.post(f"{BULK}/legacy/cancel.json", status_code=404, text="Export not found"),
        "activities legacy": requests_mock.post(
            f"{ROOT}/bulk/v1/activities/export/legacy/cancel.json", status_code=404, text="Export not found"
        ),
        "program/members legacy": requests_mock.post(
            f"{ROOT}/bulk/v1/program/members/export/legacy/cancel.json", json=ok(exportId="legacy", status="Cancelled")
        ),
    }
    timeline = Timeline(requests_mock)

    files = [
        f.export_id
        for f in runner.run(
            [first, second, third],
            known_jobs=[known_second, stale, legacy],
            intents=[intent_third, intent_gone],
            on_change=timeline.on_change,
        )
    ]

    assert files == ["e1", "old-b", "e3"]
    assert create.call_count == 2
    assert [call.json() for call in create.request_history] == [first.body, third.body]
    assert list_params(pages) == [CREATED_PARAMS]  # for the third request's intent only
    assert runner.spend.jobs_reattached == 1
    # Every trace not used yet stays until the run ends (a retry with another filter may need
    # it); then those no request used are cancelled and a last STATE drops them.
    assert timeline.changes == [
        ([known_second, stale, legacy], [intent_entry(first, RUN_START), intent_third, intent_gone]),
        ([job_entry(first, "e1"), known_second, stale, legacy], [intent_third, intent_gone]),
        ([job_entry(second, "old-b"), stale, legacy], [intent_third, intent_gone]),
        ([stale, legacy], [intent_entry(third, RUN_START), intent_gone]),
        ([job_entry(third, "e3"), stale, legacy], [intent_gone]),
        ([stale, legacy], [intent_gone]),
        ([], []),
    ]
    assert {name: mock.call_count for name, mock in cancels.items()} == {
        "activities stale": 1,
        "leads stale": 0,
        "leads legacy": 1,
        "activities legacy": 1,
        "program/members legacy": 1,
    }
    cancel_calls = [call for call in timeline.http() if call.endswith("/cancel.json")]
    assert cancel_calls == [
        "POST /bulk/v1/activities/export/stale/cancel.json",
        "POST /bulk/v1/leads/export/legacy/cancel.json",
        "POST /bulk/v1/activities/export/legacy/cancel.json",
        "POST /bulk/v1/program/members/export/legacy/cancel.json",
    ]


# --- adopted jobs after a restart, and files with more columns than fields ----------------


def test_a_job_adopted_before_a_restart_still_has_its_header_checked(requests_mock, runner) -> None:
    """STATE says the job was adopted from the list: the next run checks its file too."""
    request = lead_request()
    create = requests_mock.post(f"{BULK}/create.json", json=ok(exportId="e1", status="Created"))
    requests_mock.get(LIST, json=listing())
    lost = serve_job(requests_mock, "lost", b"id,firstName\n1,Ann\n", 1)
    serve_job(requests_mock, "e1")

    files = [f.export_id for f in runner.run([request], known_jobs=[job_entry(request, "lost", adopted=True)])]

    assert files == ["e1"]
    assert lost["status"].call_count >= 1
    assert create.call_count == 1


def test_columns_beyond_the_fields_are_part_of_the_header_check(requests_mock, runner) -> None:
    """A program member export by programIds leads with programId, which fields do not list."""
    w = window(1)
    body = {"fields": ["leadId", "updatedAt"], "format": "CSV", "filter": {"programIds": [1001]}}
    request = ExportRequest("program/members", body, w, columns=("programId", "leadId", "updatedAt"))
    members = f"{ROOT}/bulk/v1/program/members/export"
    data = b"programId,leadId,updatedAt\n1001,7,2024-04-01T00:00:00Z\n"
    create = requests_mock.post(f"{members}/create.json", json=ok(exportId="e1", status="Created"))
    requests_mock.get(
        f"{ROOT}/bulk/v1/program/members/export.json", json=listing(listed("lost", "2024-05-01T11:55:00Z"))
    )
    requests_mock.post(f"{members}/lost/enqueue.json", json=ok(exportId="lost", status="Queued"))
    requests_mock.get(f"{members}/lost/status.json", json=completed("lost", data, 1))
    requests_mock.get(f"{members}/lost/file.json", content=data)
    intent = {**intent_entry(request, "2024-05-01T11:50:00Z"), "entity": "program/members"}

    files = [(f.export_id, f.path.read_bytes()) for f in runner.run([request], intents=[intent])]

    assert files == [("lost", data)]
    assert create.call_count == 0
