"""`scripts/demo`, and the Meltano commands the README says work after it, as typed.

The demo runs in a copy of this project (``.meltano/integration-tests/demo-project``, so
Meltano's target-jsonl venv is installed once) that differs from a fresh clone in two ways only:
the extractor runs this environment's ``tap-marketo-bulk`` (the code under test) instead of a
venv Meltano builds with ``pip install -e .``, and the demo is told ``--no-install`` with
``.venv`` pointing at this environment. Its sandbox listens on a free port (``SANDBOX_PORT=0``)
so that test runs on one machine do not collide. Nothing else of the shell environment names
a Meltano environment or a tap setting: ``.env`` and ``meltano.yml`` must do that.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tap_marketo_bulk.sandbox.app import SandboxServer
from tap_marketo_bulk.sandbox.data import SandboxData

from . import readme
from .conftest import BIN, CACHE, REPO, meltano_executable, sandbox_options

pytestmark = pytest.mark.integration

PROJECT = CACHE / "demo-project"
STATE_ID = "sandbox:tap-marketo-bulk-to-target-jsonl"
BULK_BOOKMARK = "2024-04-01T00:00:00Z"  # the sandbox environment's end_date


def clean_env(**extra: str) -> dict[str, str]:
    """The shell environment of a user who has not exported any Meltano or tap setting."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TAP_MARKETO_BULK_", "TARGET_", "MELTANO_")) and key != "SANDBOX_PORT"
    }
    return {**env, **extra}


def write_project(database: Path) -> None:
    """The demo's files in PROJECT, as a fresh clone has them (but see the module docstring)."""
    (PROJECT / ".env").unlink(missing_ok=True)
    shutil.rmtree(PROJECT / "output", ignore_errors=True)
    (PROJECT / "scripts").mkdir(parents=True, exist_ok=True)
    for script in ("demo", "sandbox"):
        shutil.copy2(REPO / "scripts" / script, PROJECT / "scripts" / script)
    venv = PROJECT / ".venv"
    if not venv.is_symlink():
        venv.symlink_to(BIN.parent, target_is_directory=True)
    config = yaml.safe_load((REPO / "meltano.yml").read_text())
    extractor = next(p for p in config["plugins"]["extractors"] if p["name"] == "tap-marketo-bulk")
    extractor.pop("pip_url")
    extractor["executable"] = str(BIN / "tap-marketo-bulk")
    (PROJECT / "meltano.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    database.unlink(missing_ok=True)


def set_sandbox_url(url: str) -> None:
    """Point the sandbox environment at a test sandbox (meltano.yml names port 18765)."""
    config = yaml.safe_load((PROJECT / "meltano.yml").read_text())
    environment = next(e for e in config["environments"] if e["name"] == "sandbox")
    environment["config"]["plugins"]["extractors"][0]["config"]["base_url"] = f"{url}/rest"
    (PROJECT / "meltano.yml").write_text(yaml.safe_dump(config, sort_keys=False))


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Meltano's system database (state) for the demo and the commands after it."""
    return tmp_path_factory.mktemp("demo") / "meltano.db"


@pytest.fixture(scope="module")
def demo(database: Path) -> Iterator[subprocess.CompletedProcess[str]]:
    write_project(database)
    env = clean_env(SANDBOX_PORT="0", MELTANO_DATABASE_URI=f"sqlite:///{database}")
    out = subprocess.run(
        [str(PROJECT / "scripts" / "demo"), "--no-install"],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, f"{out.stdout[-4000:]}\n{out.stderr[-8000:]}"
    yield out


def truth() -> SandboxData:
    """The data of a sandbox with the options scripts/sandbox leaves at their defaults."""
    return SandboxData()


def test_demo_prints_the_records_per_stream_and_the_bookmarks(demo: subprocess.CompletedProcess[str]):
    data = truth()
    rows = {
        "activities": len(data.activities),
        "activity_types": len(data.activity_types),
        "custom_object_purchase_c": len(data.custom_object_records["purchase_c"]),
        "deleted_leads": len(data.deleted_leads),
        "leads": len(data.leads),
        "program_members": len(data.program_members),
        "programs": len(data.programs),
        "campaigns": len(data.reference.rows["campaigns"]),
        "emails": len(data.reference.rows["emails"]),  # one row per approved and draft version
        "static_list_members": sum(len(lst["leadIds"]) for lst in data.static_lists),
        "lead_fields": len(data.lead_fields),
    }
    assert rows["leads"] == 300
    printed = demo.stdout.split("Loaded into ./output (JSON lines, one file per stream):\n", 1)[1].splitlines()
    for stream, count in rows.items():
        assert f"  {f'output/{stream}.jsonl':<40} {count:>8} records" in printed
    # One row per lead: the demo's sandbox reads endAt as exclusive, so no boundary duplicate.
    leads = [json.loads(line) for line in (PROJECT / "output" / "leads.jsonl").read_text().splitlines()]
    assert sorted(lead["id"] for lead in leads) == sorted(lead["id"] for lead in data.leads)

    bookmarks = demo.stdout.split(f"Bookmarks Meltano saved for the next run (meltano state get {STATE_ID}):\n", 1)[1]
    lines = bookmarks.split("\nThe next run starts each stream at its bookmark", 1)[0].splitlines()
    for stream, key in (
        ("activities", "activityDate"),
        ("custom_object_purchase_c", "updatedAt"),
        ("campaigns", "updatedAt"),
        ("deleted_leads", "activityDate"),
        ("emails", "updatedAt"),
        ("leads", "updatedAt"),
        ("program_members", "updatedAt"),
        ("program_tags", "programUpdatedAt"),
        ("programs", "updatedAt"),
    ):
        line = f"  {stream:<30} {key:<16} {BULK_BOOKMARK}"
        assert line in lines
    whole = lines[-1].removesuffix(": full table, read whole on every run").strip().split(", ")
    assert {"activity_types", "static_list_members", "forms", "lead_fields"} <= set(whole)
    assert "programs" not in whole
    assert "\n  .venv/bin/meltano config test tap-marketo-bulk   # creates no export job\n" in demo.stdout


def test_demo_names_the_sandbox_environment_in_dotenv_and_stops_its_sandbox(demo: subprocess.CompletedProcess[str]):
    assert (PROJECT / ".env").read_text() == (
        "# Written by scripts/demo: Meltano commands in this folder use the sandbox environment.\n"
        "MELTANO_ENVIRONMENT=sandbox\n"
    )
    port = int(re.search(r"Marketo sandbox at http://127\.0\.0\.1:(\d+)", demo.stdout).group(1))
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0, "the demo left its sandbox running"


def test_the_readme_commands_after_the_demo_work_as_typed(demo: subprocess.CompletedProcess[str], database: Path):
    """README "After the demo": each `meltano ...` line, exactly, in a shell that exports nothing;
    a sandbox started by the test stands in for `scripts/sandbox &` (on a free port)."""
    lines = readme.shell_lines(readme.AFTER_THE_DEMO)
    assert lines[:2] == ["scripts/sandbox '&'", "source .venv/bin/activate"]
    commands = readme.meltano_commands(readme.AFTER_THE_DEMO)
    assert [command[:2] for command in commands] == [
        ["config", "list"],
        ["select", "tap-marketo-bulk"],
        ["config", "test"],
        ["run", "tap-marketo-bulk"],
        ["state", "get"],
    ]
    sb = SandboxServer(sandbox_options(end_at_inclusive=False)).start()
    try:
        set_sandbox_url(sb.url)
        env = clean_env(MELTANO_DATABASE_URI=f"sqlite:///{database}", PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
        for command in commands:
            out = subprocess.run(
                [meltano_executable(), *command], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=300
            )
            assert out.returncode == 0, f"meltano {' '.join(command)}:\n{out.stderr[-6000:]}"
            check_after_demo(command, out, sb)
    finally:
        sb.stop()


def check_after_demo(command: list[str], out: subprocess.CompletedProcess[str], sb: SandboxServer) -> None:
    """What the README's comment on each command says it does."""
    assert "Environment 'sandbox' is active" in out.stderr, command
    if command[:2] == ["config", "list"]:  # the settings, from the sandbox environment
        source = "(from the active environment in `meltano.yml`)"
        assert f"current value: '{sb.url}/rest' {source}" in out.stdout
        assert f"current value: 'sandbox-client' {source}" in out.stdout
        assert f"current value: (redacted) {source}" in out.stdout
        assert "current value: None" not in out.stdout.split("Optional:")[0]
    elif command[0] == "select":  # every stream and field, and what is selected
        listed = set(re.findall(r"\[(selected|automatic|excluded) *\] ([a-z_]+)\.", out.stdout))
        patterns = yaml.safe_load((PROJECT / "meltano.yml").read_text())["plugins"]["extractors"][0]["select"]
        states: dict[str, set[str]] = {}
        for state, stream in listed:
            states.setdefault(stream, set()).add(state)
        # A stream of key properties only (static_list_members) lists them all as automatic.
        chosen = {stream for stream, seen in states.items() if "selected" in seen or seen == {"automatic"}}
        assert chosen == {p.split(".")[0] for p in patterns}
        assert ("excluded", "custom_object_subscription_c") in listed
        assert sb.created_jobs() == {}
    elif command[:2] == ["config", "test"]:  # checks the connection, creates no export job
        assert out.stdout.strip() == "Plugin configuration is valid"
        assert sb.created_jobs() == {}
        assert any(path == "/rest/asset/v1/programs.json" for _method, path, _body in sb.requests)
    elif command[0] == "run":  # incremental: from the bookmarks on (the demo's reached end_date)
        assert sb.created_jobs() == {}
        for stream in ("activities", "custom_object_purchase_c", "leads", "program_members"):
            assert f"{stream}: 0 windows, 0 export jobs" in out.stderr
        assert len((PROJECT / "output" / "leads.jsonl").read_text().splitlines()) == 300
    elif command[:2] == ["state", "get"]:  # the bookmarks
        bookmarks = json.loads(out.stdout)["singer_state"]["bookmarks"]
        for stream in ("activities", "custom_object_purchase_c", "leads", "program_members"):
            assert bookmarks[stream]["replication_key_value"] == BULK_BOOKMARK
    else:
        pytest.fail(f"no check for the README command meltano {' '.join(command)}")


def test_config_test_fails_on_a_wrong_secret_with_the_taps_line(demo: subprocess.CompletedProcess[str], database: Path):
    """`meltano config test` proves the credentials: a wrong secret is not "valid"."""
    sb = SandboxServer(sandbox_options(end_at_inclusive=False)).start()
    try:
        set_sandbox_url(sb.url)
        env = clean_env(MELTANO_DATABASE_URI=f"sqlite:///{database}", TAP_MARKETO_BULK_CLIENT_SECRET="not-the-secret")
        out = subprocess.run(
            [meltano_executable(), "config", "test", "tap-marketo-bulk"],
            cwd=PROJECT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        sb.stop()
    assert out.returncode == 1
    assert "Plugin configuration is invalid" in out.stderr
    assert "tap-marketo-bulk stopped: Marketo refused client_id/client_secret (HTTP 401)" in out.stderr
    assert "not-the-secret" not in out.stdout + out.stderr
    assert sb.created_jobs() == {}


def test_prod_environment_takes_nothing_from_the_sandbox(demo: subprocess.CompletedProcess[str], database: Path):
    """meltano.yml: a real instance is `--environment prod` with TAP_MARKETO_BULK_* set; .env's
    sandbox choice and the sandbox's settings (its URL, secret, end_date, 1 s polling) stay out."""
    env = clean_env(
        MELTANO_DATABASE_URI=f"sqlite:///{database}",
        TAP_MARKETO_BULK_CLIENT_ID="prod-client",
        TAP_MARKETO_BULK_BASE_URL="https://123-ABC-456.mktorest.com/rest",
    )
    out = subprocess.run(
        [meltano_executable(), "--environment", "prod", "config", "print", "tap-marketo-bulk"],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-4000:]
    assert "Environment 'prod' is active" in out.stderr
    config = json.loads(out.stdout)
    assert config["client_id"] == "prod-client"
    assert config["base_url"] == "https://123-ABC-456.mktorest.com/rest"
    assert config["poll_interval_seconds"] == 60
    for sandbox_only in ("client_secret", "start_date", "end_date"):
        assert sandbox_only not in config
