"""Secrets never leak, and bad settings stop the run with one clear line and no traceback."""

from __future__ import annotations

import datetime as dt

import pytest
import requests

from .helpers import base_config, create_bodies, discover, run_tap, select

SECRET = "zz-Distinctive-Secret-7f3a9c-e2e"


def test_secret_and_token_never_logged_even_at_debug(make_sandbox):
    sb = make_sandbox(client_secret=SECRET)
    config = base_config(sb)
    assert config["client_secret"] == SECRET
    catalog = select(discover(config), ["leads", "activity_types", "deleted_leads"])
    run = run_tap(config, catalog=catalog, env={"LOGLEVEL": "DEBUG"})
    assert run.returncode == 0, run.describe()
    assert " DEBUG " in run.stderr or "| DEBUG" in run.stderr, "DEBUG logging was not switched on"
    assert run.records("leads") and run.records("activity_types")

    response = requests.get(
        f"{sb.url}/identity/oauth/token",
        params={"grant_type": "client_credentials", "client_id": sb.options.client_id, "client_secret": SECRET},
        timeout=10,
    )
    token = response.json()["access_token"]
    # The token we got is the one the tap used (same token until expiry).
    used = {
        entry["headers"].get("Authorization") for entry in sb.request_log if not entry["path"].startswith("/identity/")
    }
    assert used == {f"Bearer {token}"}
    # The tap never sent the token as a query parameter.
    assert all("access_token" not in entry["query"] for entry in sb.request_log)

    for text, where in ((run.stderr, "stderr"), (run.stdout, "stdout")):
        assert SECRET not in text, f"client_secret leaked to {where}"
        assert token not in text, f"access token leaked to {where}"
        assert token.split(":")[0] not in text, f"access token leaked to {where}"


def _assert_clean_failure(run, *names):
    assert run.returncode != 0, run.describe()
    assert "Traceback" not in run.stderr, run.stderr
    for name in names:
        assert name in run.stderr, f"{name} not named:\n{run.stderr}"


def test_wrong_client_secret_fails_with_one_clear_line(sb):
    catalog = select(discover(base_config(sb)), ["leads"])
    run = run_tap(base_config(sb, client_secret="wrong-secret"), catalog=catalog)
    _assert_clean_failure(run, "client_id", "client_secret")
    lines = [line for line in run.stderr.splitlines() if "client_id" in line and "client_secret" in line]
    assert len(lines) == 1, run.stderr
    assert "wrong-secret" not in run.stderr
    assert sb.jobs() == []


FUTURE = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize(
    ("overrides", "setting"),
    [
        ({"window_days": 40}, "window_days"),
        ({"window_days": 0}, "window_days"),
        ({"start_date": FUTURE, "end_date": None}, "start_date"),
        ({"start_date": "2024-03-01T00:00:00Z", "end_date": "2024-02-01T00:00:00Z"}, "end_date"),
        ({"base_url": "not a url"}, "base_url"),
        ({"temp_dir": "/nonexistent/tap-marketo-bulk"}, "temp_dir"),
        ({"export_daily_quota_mb": 0}, "export_daily_quota_mb"),
        ({"custom_object_sweep_list": {"staticListId": 1, "smartListName": "x"}}, "custom_object_sweep_list"),
    ],
    ids=[
        "window_days_40",
        "window_days_0",
        "future_start",
        "end_before_start",
        "bad_base_url",
        "missing_temp_dir",
        "zero_daily_quota",
        "two_sweep_lists",
    ],
)
def test_bad_settings_fail_cleanly(sb, overrides, setting):
    catalog = select(discover(base_config(sb)), ["leads"])
    sb.requests.clear()
    run = run_tap(base_config(sb, **overrides), catalog=catalog)
    _assert_clean_failure(run, setting)
    assert run.messages == [] or all(m["type"] != "RECORD" for m in run.messages)
    assert create_bodies(sb, "leads") == []
    assert sb.jobs() == []


def test_retired_parse_processes_is_ignored_with_one_warning(sb):
    """Configs written for earlier versions still run; the log says the setting does nothing."""
    config = base_config(sb)
    catalog = select(discover(config), ["activity_types"])
    run = run_tap({**config, "parse_processes": 3}, catalog=catalog)
    assert run.returncode == 0, run.describe()
    warnings = [line for line in run.stderr.splitlines() if "parse_processes is no longer used" in line]
    assert len(warnings) == 1, run.stderr
    assert "remove the setting" in warnings[0]
    assert [m["stream"] for m in run.messages if m["type"] == "RECORD"] == ["activity_types"] * len(
        sb.data.activity_types
    )
