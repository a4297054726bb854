"""Helpers for the fault-injection suite: run the tap as a process against an in-thread
sandbox, read its Singer output, and compare it with the sandbox's truth."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..support import END, START, lead_export_fields, to_json

TAP = Path(sys.executable).parent / "tap-marketo-bulk"
#: Window ends of START..END in 31-day steps, as the bookmark writes them.
WINDOW_ENDS = ["2024-02-01T00:00:00Z", "2024-03-03T00:00:00Z", "2024-04-01T00:00:00Z"]
WINDOW_STARTS = ["2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z", "2024-03-03T00:00:00Z"]


def ts(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def base_config(sb: Any, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "client_id": "sandbox-client",
        "client_secret": "sandbox-secret",
        "base_url": f"{sb.url}/rest",
        "start_date": "2024-01-01T00:00:00Z",
        "end_date": "2024-04-01T00:00:00Z",
        "poll_interval_seconds": 0.05,
    }
    config.update(overrides)
    return config


def tap_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAP_MARKETO_BULK_") and k != "LOGLEVEL"}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def parse_messages(stdout: str) -> list[dict[str, Any]]:
    out = []
    for line in stdout.splitlines():
        if line.strip():
            out.append(json.loads(line, parse_float=decimal.Decimal))
    return out


@dataclasses.dataclass
class TapRun:
    returncode: int
    stdout: str
    stderr: str
    messages: list[dict[str, Any]]

    def records(self, stream: str = "leads") -> list[dict[str, Any]]:
        return [m["record"] for m in self.messages if m["type"] == "RECORD" and m["stream"] == stream]

    @property
    def states(self) -> list[dict[str, Any]]:
        return [m["value"] for m in self.messages if m["type"] == "STATE"]

    @property
    def last_state(self) -> dict[str, Any] | None:
        return self.states[-1] if self.states else None

    def bookmarks(self, stream: str = "leads") -> list[str | None]:
        return [bookmark(s, stream) for s in self.states]

    def describe(self) -> str:
        return f"exit {self.returncode}\n--- stderr (tail) ---\n{self.stderr[-3000:]}"

    def error_lines(self) -> list[str]:
        return [ln for ln in self.stderr.splitlines() if "tap-marketo-bulk stopped" in ln]


def bookmark(state: dict[str, Any], stream: str = "leads") -> str | None:
    return ((state or {}).get("bookmarks") or {}).get(stream, {}).get("replication_key_value")


def jobs_in_flight(state: dict[str, Any], stream: str = "leads") -> list[dict[str, Any]]:
    return ((state or {}).get("bookmarks") or {}).get(stream, {}).get("jobs_in_flight") or []


class TapProcess:
    """The tap as a child process; stdout is read line by line on a thread."""

    def __init__(self, config: dict, catalog: dict, state: dict | None = None) -> None:
        self.tmp = tempfile.TemporaryDirectory(prefix="tap-faults-")
        d = Path(self.tmp.name)
        (d / "config.json").write_text(json.dumps(config))
        (d / "catalog.json").write_text(json.dumps(catalog))
        cmd = [str(TAP), "--config", str(d / "config.json"), "--catalog", str(d / "catalog.json")]
        if state is not None:
            (d / "state.json").write_text(json.dumps(state))
            cmd += ["--state", str(d / "state.json")]
        self.stderr_file = (d / "stderr.txt").open("w+")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.stderr_file, text=True, env=tap_env())
        self.lines: list[str] = []
        self.messages: list[dict[str, Any]] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line)
                if line.strip():
                    self.messages.append(json.loads(line, parse_float=decimal.Decimal))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 60) -> None:
        """Wait until ``predicate(messages so far)`` holds (asserts the tap did not end first)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self.messages):
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    raise AssertionError(f"condition not reached; tap exit {self.proc.poll()}\n{self.stderr()[-3000:]}")
                self._cond.wait(min(left, 0.2))

    def send(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stderr(self) -> str:
        self.stderr_file.flush()
        return Path(self.stderr_file.name).read_text()

    def finish(self, timeout: float = 120) -> TapRun:
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        self._reader.join(timeout=10)
        with self._cond:
            messages = list(self.messages)
            stdout = "".join(self.lines)
        run = TapRun(self.proc.returncode, stdout, self.stderr(), messages)
        self.stderr_file.close()
        self.tmp.cleanup()
        return run

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()


def run_tap(config: dict, catalog: dict, state: dict | None = None, timeout: float = 120) -> TapRun:
    return TapProcess(config, catalog, state).finish(timeout)


def discover(config: dict[str, Any]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="tap-faults-") as tmp:
        path = Path(tmp) / "config.json"
        path.write_text(json.dumps(config))
        proc = subprocess.run(
            [str(TAP), "--config", str(path), "--discover"], capture_output=True, text=True, env=tap_env(), timeout=60
        )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def select(catalog: dict[str, Any], streams: set[str]) -> dict[str, Any]:
    catalog = json.loads(json.dumps(catalog))
    for stream in catalog["streams"]:
        for entry in stream["metadata"]:
            if entry["breadcrumb"] == []:
                entry["metadata"]["selected"] = stream["tap_stream_id"] in streams
    return catalog


# --- truth ------------------------------------------------------------------------------------


def truth_leads(sb: Any) -> dict[int, dict[str, Any]]:
    """Leads last modified in [START, END), as the tap must emit them, by id."""
    data = sb.data
    fields = lead_export_fields(data)
    out = {}
    with data.lock:
        for lead in data.leads:
            modified = data.lead_last_modified[lead["id"]]
            if START <= modified < END:
                out[lead["id"]] = {name: to_json(lead.get(name)) for name in fields}
    return out


def lead_modified(sb: Any) -> dict[int, dt.datetime]:
    with sb.data.lock:
        return dict(sb.data.lead_last_modified)


def boundary_ids(sb: Any) -> set[int]:
    """Leads last modified exactly on an inner window boundary. Marketo's endAt is inclusive
    and the hidden last-modified time is not in the file, so such a lead is in both windows'
    exports; when its visible updatedAt is not the boundary the tap cannot drop the copy.
    That is the one duplicate a clean run emits (reported separately); faults add no others."""
    inner = {ts(b) for b in WINDOW_ENDS[:-1]}
    return {i for i, t in lead_modified(sb).items() if t in inner}


def unique_by_id(records: list[dict[str, Any]], sb: Any = None) -> dict[int, dict[str, Any]]:
    """Records by id; asserts no id twice (apart from ``boundary_ids`` when ``sb`` is given)."""
    allowed = boundary_ids(sb) if sb is not None else set()
    out: dict[int, dict[str, Any]] = {}
    dups = []
    for r in records:
        if r["id"] in out:
            if r["id"] in allowed and out[r["id"]] == r:
                continue
            dups.append(r["id"])
        out[r["id"]] = r
    assert not dups, f"duplicate lead ids emitted: {sorted(set(dups))[:20]}"
    return out


def dedupe_by_id(records: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Records by id, where a retried window legitimately emits some ids twice: every copy must be equal."""
    out: dict[int, dict[str, Any]] = {}
    for r in records:
        if r["id"] in out:
            assert out[r["id"]] == r, f"two different versions of lead {r['id']}"
        out[r["id"]] = r
    return out


def assert_records_equal(got: dict[int, dict[str, Any]], truth: dict[int, dict[str, Any]]) -> None:
    missing = sorted(set(truth) - set(got))
    extra = sorted(set(got) - set(truth))
    assert not missing, f"{len(missing)} leads missing, e.g. {missing[:10]}"
    assert not extra, f"{len(extra)} unexpected leads, e.g. {extra[:10]}"
    wrong = [i for i in truth if got[i] != truth[i]]
    if wrong:
        i = wrong[0]
        diff = {k: (got[i].get(k), v) for k, v in truth[i].items() if got[i].get(k) != v}
        extra_keys = set(got[i]) - set(truth[i])
        raise AssertionError(f"{len(wrong)} leads differ; lead {i}: (got, want) {diff}; extra keys {extra_keys}")


def assert_states_never_skip(
    messages: list[dict[str, Any]], sb: Any, already: set[int] = frozenset(), stream: str = "leads"
) -> None:
    """Every STATE bookmark B is preceded by the records of every lead modified before B, and
    bookmarks never go backwards; ``already`` holds ids delivered by an earlier run."""
    modified = lead_modified(sb)
    seen = set(already)
    last = None
    for m in messages:
        if m["type"] == "RECORD" and m["stream"] == stream:
            seen.add(m["record"]["id"])
        elif m["type"] == "STATE":
            b = bookmark(m["value"], stream)
            if b is None:
                continue
            assert b in WINDOW_ENDS, f"bookmark {b} is not a window end"
            if last is not None:
                assert ts(b) >= ts(last), f"bookmark went back from {last} to {b}"
            last = b
            owed = {i for i, t in modified.items() if START <= t < ts(b)}
            missing = owed - seen
            assert not missing, (
                f"STATE bookmark {b} emitted before {len(missing)} leads of earlier windows, "
                f"e.g. {sorted(missing)[:10]}"
            )


def create_bodies(sb: Any, entity_path: str = "leads") -> list[dict[str, Any]]:
    """Bodies of the create calls the sandbox received. A call cut off by a SIGKILL before its
    body arrived is left out: it created nothing, and it has no window to count."""
    return [
        b
        for method, path, b in list(sb.requests)
        if method == "POST" and path == f"/bulk/v1/{entity_path}/export/create.json" and isinstance(b, dict)
    ]


def create_windows(sb: Any) -> list[tuple[str, str]]:
    """(startAt, endAt) of the updatedAt filter of each leads create.json call, in order."""
    out = []
    for body in create_bodies(sb):
        flt = body["filter"].get("updatedAt") or body["filter"].get("createdAt")
        out.append((flt["startAt"], flt["endAt"]))
    return out


def window_of_request(body: dict[str, Any]) -> str:
    flt = body["filter"].get("updatedAt") or body["filter"].get("createdAt")
    return flt["startAt"]


def lead_jobs(sb: Any) -> list[dict[str, Any]]:
    return [j for j in sb.jobs() if j["entity"] == "leads"]


def job_window(job: dict[str, Any]) -> str:
    return window_of_request(job["request"])


def no_traceback(stderr: str) -> None:
    assert "Traceback" not in stderr, stderr[-3000:]


def signal_name(sig: int) -> str:
    return signal.Signals(sig).name


def assert_complete(run: TapRun, sb: Any) -> None:
    """Exit 0, exactly the truth's leads (no duplicates beyond ``boundary_ids``), STATE never
    ahead of the records, and the final bookmark at the range end."""
    assert run.returncode == 0, run.describe()
    assert_records_equal(unique_by_id(run.records(), sb), truth_leads(sb))
    assert_states_never_skip(run.messages, sb)
    marks = [b for b in run.bookmarks() if b]
    assert marks and marks[-1] == WINDOW_ENDS[-1], marks


def one_error_line(run: TapRun) -> str:
    """The single 'tap-marketo-bulk stopped: ...' line; asserts no traceback."""
    lines = run.error_lines()
    assert len(lines) == 1, run.describe()
    no_traceback(run.stderr)
    return lines[0]


def wait_until(predicate: Callable[[], bool], timeout: float = 30, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def windows_with_leads(sb: Any, before: str) -> set[int]:
    """Ids of truth leads modified before ``before`` (windows that must be complete)."""
    return {i for i, t in lead_modified(sb).items() if START <= t < ts(before)}


def after_window1_with_jobs(stream: str = "leads") -> Any:
    """A wait_for condition: window 1 is bookmarked and the later windows' jobs are in flight."""

    def reached(messages: list[dict[str, Any]]) -> bool:
        for m in messages:
            if m["type"] == "STATE" and bookmark(m["value"], stream) == WINDOW_ENDS[0]:
                entries = jobs_in_flight(m["value"], stream)
                if entries and all(not e.get("window", "").startswith("2024-01-01") for e in entries):
                    return True
        return False

    return reached
