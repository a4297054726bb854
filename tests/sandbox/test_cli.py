"""CLI: prints one URL line, serves, exits 0 on SIGTERM/SIGINT; --help documents every option."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def _start(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tap_marketo_bulk.sandbox", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
        cwd=str(ROOT),
    )


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_cli_serves_and_stops(sig):
    proc = _start(
        "--port",
        "0",
        "--client-id",
        "cli",
        "--client-secret",
        "s3",
        "--leads",
        "20",
        "--activities",
        "30",
        "--disable-filter",
        "leads.updatedAt",
        "--end-at-exclusive",
    )
    try:
        line = proc.stdout.readline().strip()
        m = re.fullmatch(r"Marketo sandbox listening on (http://127\.0\.0\.1:(\d+))", line)
        assert m, line
        url = m.group(1)
        tok = requests.get(
            f"{url}/identity/oauth/token",
            params={"grant_type": "client_credentials", "client_id": "cli", "client_secret": "s3"},
            timeout=5,
        ).json()
        r = requests.post(
            f"{url}/bulk/v1/leads/export/create.json",
            timeout=5,
            headers={"Authorization": f"Bearer {tok['access_token']}"},
            json={
                "fields": ["id"],
                "filter": {
                    "updatedAt": {
                        "startAt": "2024-01-01T00:00:00Z",
                        "endAt": "2024-01-02T00:00:00Z",
                    }
                },
            },
        )
        assert r.json()["errors"][0]["code"] == "1035"
        proc.send_signal(sig)
        assert proc.wait(timeout=10) == 0
        assert proc.stdout.read() == ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cli_help_lists_options():
    out = subprocess.run(
        [sys.executable, "-m", "tap_marketo_bulk.sandbox", "--help"],
        capture_output=True,
        text=True,
        env=ENV,
        cwd=str(ROOT),
        timeout=20,
    ).stdout
    for opt in (
        "--port",
        "--client-id",
        "--client-secret",
        "--seed",
        "--leads",
        "--activities",
        "--programs",
        "--members-per-program",
        "--start",
        "--end",
        "--status-refresh-seconds",
        "--processing-seconds-per-1000",
        "--min-processing-seconds",
        "--export-quota-mb",
        "--disable-filter",
        "--end-at-exclusive",
        "--token-ttl",
        "--custom-object-records",
        "--denied-custom-objects",
        "--custom-object-list-state",
        "--job-list-status-lenient",
        "--updated-at-exclusive",
        "--asset-status-reading",
        "--page-limit",
        "customobjects.updatedAt",
    ):
        assert opt in out, opt


def test_cli_options_reach_the_sandbox_options():
    from tap_marketo_bulk.sandbox.cli import build_parser, options_from_args

    options = options_from_args(
        build_parser().parse_args(["--updated-at-exclusive", "--asset-status-reading", "latest", "--page-limit", "7"])
    )
    assert (options.updated_at_inclusive, options.asset_status_reading, options.page_limit) == (False, "latest", 7)
    default = options_from_args(build_parser().parse_args([]))
    assert (default.updated_at_inclusive, default.asset_status_reading, default.page_limit) == (True, "versions", None)


def test_main_function_importable():
    from tap_marketo_bulk.sandbox import main
    from tap_marketo_bulk.sandbox.__main__ import main as main2

    assert callable(main) and callable(main2)


def test_cli_port_in_use_is_one_line():
    """scripts/demo and scripts/sandbox use a fixed port: a sandbox left running must not end in a traceback."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = subprocess.run(
            [sys.executable, "-m", "tap_marketo_bulk.sandbox", "--port", str(port)],
            capture_output=True,
            text=True,
            env=ENV,
            cwd=str(ROOT),
            timeout=20,
        )
    assert out.returncode == 1
    assert out.stdout == ""
    assert out.stderr == (
        f"tap-marketo-bulk-sandbox: cannot listen on 127.0.0.1:{port} (Address already in use); stop what uses "
        "that port (a sandbox still running?) or choose another with --port (0: any free port)\n"
    )
