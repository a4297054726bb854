"""Every `meltano ...` command of README.md runs, as typed, on the Meltano the project installs.

The commands after the demo are run by ``test_demo.py``, the Modelling one by
``test_postgres.py``; the ones of "Using it with a real Marketo instance" here, in a new
Meltano project built the way the README says: what ``meltano init`` writes, plus the
README's YAML. The sandbox and a throwaway PostgreSQL stand in
for the user's Marketo and database, so these values are substituted, and nothing else:

- the commands' ``…`` placeholders: the sandbox's client id and secret, a password;
- the extractor runs this environment's ``tap-marketo-bulk`` (the code under test) instead of
  a ``pip_url`` install from GitHub; the loader installs from PyPI as written (its venv is kept
  in ``.meltano/integration-tests`` and shared with ``test_postgres.py``);
- ``base_url`` is the sandbox's; the loader's host, port, user and database are the test
  server's;
- the run ends at the sandbox's data end (``end_date``): from ``start_date`` to today would be a
  window a month, each an export job per bulk stream, paced by the tap's 100 calls per 20 s.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from tap_marketo_bulk.sandbox.app import SandboxServer

from . import readme
from .conftest import BIN, CACHE, PostgresServer, meltano_executable

pytestmark = pytest.mark.integration

PROJECT = CACHE / "readme-project"
#: test_postgres.py's project: its target-postgres venv (the same pip_url) is reused.
SHARED_LOADERS = CACHE / "meltano-project" / ".meltano" / "loaders"
END = "2024-04-01T00:00:00Z"
PLACEHOLDERS = {"client_id": "sandbox-client", "client_secret": "sandbox-secret", "password": "unused-trust-auth"}
SCHEMA = "marketo"


def test_readme_meltano_commands_are_all_run_by_a_test():
    """A Meltano command anywhere else in the README would go untested: there are none."""
    assert readme.sections_with_meltano_commands() == {readme.AFTER_THE_DEMO, readme.REAL_INSTANCE, readme.MODELLING}


def init_project(sb: SandboxServer, postgres: PostgresServer) -> None:
    """`meltano init`'s meltano.yml with the README's plugins (substituted as the docstring says)."""
    plugins = readme.yaml_block(readme.REAL_INSTANCE, "target-postgres")["plugins"]
    (extractor,) = plugins["extractors"]
    assert extractor["pip_url"] == "git+https://github.com/<your-org>/tap-marketo-bulk.git"
    del extractor["pip_url"]
    extractor["executable"] = str(BIN / "tap-marketo-bulk")
    assert extractor["config"]["base_url"] == "https://123-ABC-456.mktorest.com/rest"
    extractor["config"].update(base_url=f"{sb.url}/rest", end_date=END)
    (loader,) = plugins["loaders"]
    loader["config"].update(host="127.0.0.1", port=postgres.port, user="postgres", database="marketo")
    project = {
        "default_environment": "dev",
        "project_id": "tap-marketo-bulk-readme",
        "environments": [{"name": "dev"}, {"name": "staging"}, {"name": "prod"}],
        "send_anonymous_usage_stats": False,
        "plugins": plugins,
    }
    PROJECT.mkdir(parents=True, exist_ok=True)
    (PROJECT / "meltano.yml").write_text(yaml.safe_dump(project, sort_keys=False))
    (PROJECT / ".env").unlink(missing_ok=True)
    loaders = PROJECT / ".meltano" / "loaders"
    if not loaders.exists():
        SHARED_LOADERS.mkdir(parents=True, exist_ok=True)
        loaders.parent.mkdir(parents=True, exist_ok=True)
        loaders.symlink_to(SHARED_LOADERS, target_is_directory=True)


@pytest.fixture
def project(sandbox: SandboxServer, postgres: PostgresServer) -> Iterator[Path]:
    init_project(sandbox, postgres)
    postgres.psql("DROP DATABASE IF EXISTS marketo")
    postgres.psql("CREATE DATABASE marketo")
    try:
        yield PROJECT
    finally:
        (PROJECT / ".env").unlink(missing_ok=True)  # the secrets `config set` stored


def substituted(command: list[str]) -> list[str]:
    if command[-1] == "…":
        return [*command[:-1], PLACEHOLDERS[command[-2]]]
    return command


def test_readme_meltano_commands_for_a_real_instance(
    project: Path, sandbox: SandboxServer, postgres: PostgresServer, tmp_path: Path
):
    commands = readme.meltano_commands(readme.REAL_INSTANCE)
    assert [command[:2] for command in commands] == [
        ["config", "set"],
        ["config", "set"],
        ["config", "set"],
        ["config", "test"],
        ["select", "tap-marketo-bulk"],
        ["run", "tap-marketo-bulk"],
        ["state", "get"],
    ]
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TAP_MARKETO_BULK_", "TARGET_", "MELTANO_"))
    }
    env["MELTANO_DATABASE_URI"] = f"sqlite:///{tmp_path / 'meltano.db'}"
    for command in commands:
        out = subprocess.run(
            [meltano_executable(), *substituted(command)],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert out.returncode == 0, f"meltano {' '.join(command)}:\n{out.stderr[-6000:]}"
        check_real_instance(command, out, project, sandbox, postgres)


def check_real_instance(
    command: list[str],
    out: subprocess.CompletedProcess[str],
    project: Path,
    sb: SandboxServer,
    postgres: PostgresServer,
) -> None:
    """What the README says each command does."""
    meltano_yml = (project / "meltano.yml").read_text()
    dotenv = (project / ".env").read_text() if (project / ".env").exists() else ""
    plugins = yaml.safe_load(meltano_yml)["plugins"]
    if command[:3] == ["config", "set", "tap-marketo-bulk"] and command[3] == "client_id":
        assert plugins["extractors"][0]["config"]["client_id"] == "sandbox-client"
        assert "sandbox-client" not in dotenv
    elif command[:2] == ["config", "set"]:  # a secret: kept in .env, never in meltano.yml or a log
        plugin, setting = command[2], command[3]
        value = PLACEHOLDERS[setting]
        variable = f"{plugin.upper().replace('-', '_')}_{setting.upper()}"
        assert f"{variable}='{value}'" in dotenv.splitlines()
        assert value not in meltano_yml
        assert value not in out.stdout + out.stderr
    elif command[:2] == ["config", "test"]:  # the connection, as in step 3: no export job
        assert out.stdout.strip() == "Plugin configuration is valid"
        assert sb.created_jobs() == {}
    elif command[0] == "select":  # what is selected: the README's select patterns
        listed = [line.strip("\t[").split("] ", 1) for line in out.stdout.splitlines() if line.startswith("\t[")]
        chosen = {name for state, name in listed if state.strip() in ("selected", "automatic")}
        assert {name for name in chosen if name.startswith("leads.")} == lead_fields(plugins)
        assert {name.split(".")[0] for name in chosen} == {p.split(".")[0] for p in select(plugins)}
    elif command[0] == "run":
        check_loaded(postgres, sb, plugins)
        assert PLACEHOLDERS["client_secret"] not in out.stdout + out.stderr
    elif command[:2] == ["state", "get"]:  # the bookmarks
        bookmarks = json.loads(out.stdout)["singer_state"]["bookmarks"]
        for stream in ("activities", "leads", "program_members"):
            assert bookmarks[stream]["replication_key_value"] == END
    else:
        pytest.fail(f"no check for the README command meltano {' '.join(command)}")


def select(plugins: dict) -> list[str]:
    return plugins["extractors"][0]["select"]


def lead_fields(plugins: dict) -> set[str]:
    """The lead properties the README selects one by one."""
    fields = {pattern for pattern in select(plugins) if pattern.startswith("leads.")}
    assert len(fields) == 5, fields
    return fields


def check_loaded(postgres: PostgresServer, sb: SandboxServer, plugins: dict) -> None:
    """The README's selection landed: its lead columns, the chosen activity types, every member."""
    data = sb.data
    end = datetime.fromisoformat(END.replace("Z", "+00:00"))
    type_ids = set(plugins["extractors"][0]["config"]["activity_type_ids"])

    def count(table: str) -> int:
        return int(postgres.psql(f"SELECT count(*) FROM {SCHEMA}.{table}", "marketo"))

    assert count("leads") == len(data.leads)
    chosen = sum(a["activityTypeId"] in type_ids and a["activityDate"] < end for a in data.activities)
    assert 0 < chosen < len(data.activities)
    assert count("activities") == chosen
    assert count("program_members") == len(data.program_members)
    assert count("programs") == len(data.programs)
    assert count("activity_types") == len(data.activity_types)
    columns = postgres.rows(
        f"SELECT column_name FROM information_schema.columns WHERE table_schema = '{SCHEMA}' "
        "AND table_name = 'leads' AND column_name NOT LIKE '\\_sdc\\_%' ORDER BY column_name",
        "marketo",
    )
    assert sorted(name.replace("_", "").lower() for (name,) in columns) == sorted(
        field.removeprefix("leads.").replace("_", "").lower() for field in lead_fields(plugins)
    )
    tables = {
        name for (name,) in postgres.rows(f"SELECT tablename FROM pg_tables WHERE schemaname = '{SCHEMA}'", "marketo")
    }
    assert tables == {pattern.split(".")[0] for pattern in select(plugins)}
    jobs = sb.created_jobs()
    assert set(jobs) == {"leads", "activities", "program_members"}
