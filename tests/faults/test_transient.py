"""Faults a tap must ride out: token loss, rate limits, 5xx on every call kind, a full queue."""

from __future__ import annotations

import pytest

from .helpers import TapProcess, assert_complete, base_config, create_bodies, run_tap, wait_until


def test_token_expired_after_first_job(sb, leads_catalog):
    # The first status call comes after the first job exists; the token expires right before it.
    sb.faults.add("expire_token", path_contains="status.json", count=1)
    run = run_tap(base_config(sb), leads_catalog)
    assert [k for k, _ in sb.faults.fired] == ["expire_token"], sb.faults.fired
    assert_complete(run, sb)
    identity_calls = [p for m, p, _ in sb.requests if p.startswith("/identity/")]
    assert len(identity_calls) >= 2, "the tap did not fetch a new token after 602"


def test_token_expired_while_running(sb, leads_catalog):
    """Expiry added from outside while the tap runs, once the first job exists."""
    proc = TapProcess(base_config(sb, max_jobs_in_flight=1), leads_catalog)
    try:
        wait_until(lambda: len(create_bodies(sb)) >= 1, what="first create.json")
        sb.faults.add("expire_token", count=1)
        run = proc.finish()
    finally:
        proc.kill()
    assert_complete(run, sb)


def test_token_invalidated(sb, leads_catalog):
    sb.faults.add("invalidate_token", path_contains="enqueue.json", count=1)
    run = run_tap(base_config(sb), leads_catalog)
    assert [k for k, _ in sb.faults.fired] == ["invalidate_token"]
    assert_complete(run, sb)


@pytest.mark.parametrize(
    ("on_status", "on_create"),
    [("code_606", "code_615"), ("code_615", "code_606")],
)
def test_rate_limit_bursts(sb, leads_catalog, on_status, on_create):
    sb.faults.add(on_status, path_contains="status.json", count=3)
    sb.faults.add(on_create, path_contains="create.json", count=3)
    run = run_tap(base_config(sb), leads_catalog)
    assert not sb.faults.pending(), "faults did not all fire"
    assert_complete(run, sb)


def test_http_5xx_on_every_call_kind(sb, leads_catalog):
    plan = [
        ("http_500", "/identity/oauth/token"),
        ("http_502", "describe.json"),
        ("http_503", "create.json"),
        ("http_500", "enqueue.json"),
        ("http_502", "status.json"),
        ("http_503", "file.json"),
    ]
    for kind, path in plan:
        sb.faults.add(kind, path_contains=path, count=1)
    run = run_tap(base_config(sb), leads_catalog)
    fired = sorted(sb.faults.fired)
    assert not sb.faults.pending(), f"not every 5xx fired: {fired}"
    assert_complete(run, sb)


def test_queue_full_is_waited_out(sb, leads_catalog):
    sb.faults.add("queue_full", path_contains="enqueue.json", count=3)
    run = run_tap(base_config(sb), leads_catalog)
    assert not sb.faults.pending()
    assert_complete(run, sb)
    assert "Traceback" not in run.stderr
    assert "tap-marketo-bulk stopped" not in run.stderr
    # Waited, not recreated: one create per window.
    assert len(create_bodies(sb)) == 3
