"""Every mistake is one clear line, fast; the client secret never travels in a URL (issue 21)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from .helpers import TAP, base_config, discover, log_messages, run_tap, select

SECRET = "zz-Secret-In-A-Body-41c7"


def test_a_base_url_answering_a_web_page_stops_at_once_naming_base_url(sb):
    """A URL that is not the REST endpoint (here a path the web server answers with its HTML
    404 page) is not transient: one line naming base_url, in seconds, not after 2 minutes."""
    config = base_config(sb, base_url=f"{sb.url}/marketo/rest")
    for args in (("--discover",), ()):
        started = time.monotonic()
        run = run_tap(config, *args, timeout=60)
        seconds = time.monotonic() - started
        assert run.returncode == 1, run.describe()
        assert seconds < 10, seconds
        assert "Traceback" not in run.stderr and "Retrying" not in run.stderr
        assert log_messages(run.stderr, "ERROR") == [
            "tap-marketo-bulk stopped: /identity/oauth/token answered HTTP 404 with a body that is not JSON "
            "(text/html: '404 Not Found'), so base_url does not point at Marketo's REST API. Set base_url to the "
            "REST endpoint from Marketo Admin > Web Services, e.g. https://123-ABC-456.mktorest.com/rest"
        ]
    identity = [entry for entry in sb.request_log if entry["path"].endswith("/identity/oauth/token")]
    assert [entry["path"] for entry in identity] == ["/marketo/identity/oauth/token"] * 2  # one try each run


def test_a_misspelt_or_unknown_setting_is_one_warning_with_the_closest_name(sb):
    config = base_config(
        sb,
        window_dayz=7,
        Poll_Interval_Secs=1,
        colour="blue",
        custom_object_sweep_list={"staticListNmae": "All leads"},
        # Known settings, the SDK's own among them, are not warned about.
        stream_maps={"activity_types": {"description": "__NULL__"}},
        stream_map_config={"x": 1},
        flattening_enabled=False,
        flattening_max_depth=1,
        batch_config=None,
        faker_config={"seed": 1},
        parse_processes=2,
    )
    unknown = (
        "Unknown settings, ignored: window_dayz (did you mean window_days?); Poll_Interval_Secs (did you mean "
        "poll_interval_seconds?); colour (no setting of that name); custom_object_sweep_list.staticListNmae (did you "
        "mean custom_object_sweep_list.staticListName?). The settings are listed by tap-marketo-bulk --about and in "
        "the README."
    )
    retired = (
        "parse_processes is no longer used: each export file is parsed in the tap's process, which keeps far ahead "
        "of any Singer target (README, Performance); remove the setting"
    )
    run = run_tap(config, "--discover")
    assert run.returncode == 0, run.describe()
    assert log_messages(run.stderr) == [retired, unknown, *log_messages(run.stderr)[2:]]
    assert [line for line in log_messages(run.stderr) if "Unknown settings" in line] == [unknown]
    catalog = select(json.loads(run.stdout), ["activity_types"])
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.describe()
    assert log_messages(run.stderr) == [retired, unknown]
    assert len(run.records("activity_types")) == len(sb.data.activity_types)


def test_known_settings_alone_warn_nothing(sb):
    run = run_tap(base_config(sb, window_days=7, custom_object_sweep_list={"staticListName": "All"}), "--discover")
    assert run.returncode == 0, run.describe()
    assert [line for line in log_messages(run.stderr) if "setting" in line.lower()] == []


def _tap(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(TAP), *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize(
    ("option", "write", "problem"),
    [
        ("--config", None, "does not exist"),
        ("--config", "folder", "is a folder, not a file"),
        (
            "--config",
            '{"client_id": "x",',
            "is not valid JSON: Expecting property name enclosed in double quotes at line 1, column 19",
        ),
        ("--config", "[1, 2]", "must hold a JSON object ({...}), not a JSON list"),
        ("--config", b"\xff\xfe{}", "is not UTF-8 text (byte 0)"),
        (
            "--state",
            "{bookmarks}",
            "is not valid JSON: Expecting property name enclosed in double quotes at line 1, column 2",
        ),
        ("--state", None, "does not exist"),
        ("--state", '{"bad\n', "is not valid JSON: Invalid control character at line 1, column 6"),
        ("--catalog", "", "is not valid JSON: Expecting value at line 1, column 1"),
    ],
    ids=[
        "config_missing",
        "config_folder",
        "config_not_json",
        "config_a_list",
        "config_not_utf8",
        "state_not_json",
        "state_missing",
        "state_cut_off_in_a_string",
        "catalog_empty",
    ],
)
def test_a_bad_config_state_or_catalog_file_is_one_line_naming_it(sb, tmp_path, option, write, problem):
    config = tmp_path / "config.json"
    config.write_text(json.dumps(base_config(sb)))
    path = tmp_path / f"{option.strip('-')}-given.json"
    if write == "folder":
        path.mkdir()
    elif isinstance(write, bytes):
        path.write_bytes(write)
    elif write is not None:
        path.write_text(write)
    args = [option, str(path)] if option == "--config" else ["--config", str(config), option, str(path)]
    started = time.monotonic()
    proc = _tap(*args, cwd=tmp_path)
    assert time.monotonic() - started < 10
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].endswith(f"| tap-marketo-bulk stopped: {option} file {path} {problem}"), lines[0]
    assert sb.request_log == []  # nothing was asked of Marketo


def test_the_client_secret_travels_in_a_post_body_never_in_a_url(make_sandbox):
    sb = make_sandbox(client_secret=SECRET, leads=30, activities=50)
    config = base_config(sb)
    catalog = select(discover(config), ["leads", "activity_types"])
    run = run_tap(config, catalog=catalog, env={"LOGLEVEL": "DEBUG"})
    assert run.returncode == 0, run.describe()
    identity = [entry for entry in sb.request_log if entry["path"] == "/identity/oauth/token"]
    assert len(identity) == 2  # one token per process: discovery, then the sync
    for entry in identity:
        assert entry["method"] == "POST"
        assert entry["query"] == {}
        assert entry["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
        assert entry["body"] == {
            "grant_type": "client_credentials",
            "client_id": sb.options.client_id,
            "client_secret": SECRET,
        }
    assert all(SECRET not in json.dumps(entry["query"]) + entry["path"] for entry in sb.request_log)
    assert SECRET not in run.stderr and SECRET not in run.stdout
