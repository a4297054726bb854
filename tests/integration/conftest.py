"""Fixtures of the warehouse-fit tests: a throwaway PostgreSQL server, a Marketo sandbox, caches.

Slow, networked-on-first-run pieces (Meltano's plugin venvs, the target-snowflake venv) are kept
under ``<repo>/.meltano/integration-tests/`` (ignored by git) so that later runs reuse them.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tap_marketo_bulk.sandbox.app import SandboxServer
from tap_marketo_bulk.sandbox.server import SandboxOptions

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".meltano" / "integration-tests"
BIN = Path(sys.executable).parent

INSTALL_HINT = (
    "PostgreSQL server binaries (initdb, pg_ctl, postgres, psql) were not found. Run .ci/run "
    "(installs them with apt-get) or install them yourself, e.g. `apt-get install -y postgresql` "
    "on Debian/Ubuntu or `brew install postgresql` on macOS."
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "integration: needs PostgreSQL binaries, Meltano and PyPI on first run")


def sandbox_options(**overrides: object) -> SandboxOptions:
    """Sandbox without artificial waits: jobs complete as soon as they are polled, and no
    call-count window across the discovery and sync processes (see tests/support.py FAST)."""
    fast = {"status_refresh_seconds": 0, "processing_seconds_per_1000_records": 0, "rate_limit_calls": 100_000}
    return SandboxOptions(**{**fast, **overrides})


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    server = SandboxServer(sandbox_options()).start()
    try:
        yield server
    finally:
        server.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def find_pg_bindir() -> Path | None:
    """Directory holding initdb/pg_ctl/postgres: PATH first, then Debian's versioned folders."""
    candidates: list[Path] = []
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).resolve().parent)
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.CalledProcessError):
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=True)
            candidates.append(Path(out.stdout.strip()))
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True)
    candidates += [Path(p) for p in versions]
    for folder in candidates:
        if all((folder / exe).is_file() for exe in ("initdb", "pg_ctl", "postgres")):
            return folder
    return None


def _alive(pid: int) -> bool:
    """True while the process exists and is not a zombie (PID 1 of a container may not reap it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(OSError, IndexError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


FAST = ["--no-locale", "--no-sync"]  # initdb: C locale, no fsync of a throwaway cluster
WAIT = ["-w", "-t", "60", "start"]  # pg_ctl: start and wait until it accepts connections


class PostgresServer:
    """A PostgreSQL cluster in a temporary folder, listening on 127.0.0.1 only, trust auth.

    ``initdb`` refuses to run as root, so as root every server command runs as the ``postgres``
    user (created by the Debian package) through ``runuser``.
    """

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.port = free_port()
        self.user = "postgres"
        self.base = Path(tempfile.mkdtemp(prefix="tap-marketo-bulk-pg-"))
        self.datadir = self.base / "data"
        self.logfile = self.base / "server.log"
        self.pid: int | None = None
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                pytest.fail("running as root and there is no `postgres` user to run initdb as. " + INSTALL_HINT)
            os.chown(self.base, owner.pw_uid, owner.pw_gid)
            runuser = shutil.which("runuser")
            self.as_user = [runuser, "-u", "postgres", "--"] if runuser else ["su", "postgres", "-s", "/bin/sh", "-c"]

    def _run(self, args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        if self.as_user and self.as_user[0] == "su":
            import shlex

            cmd = [*self.as_user, shlex.join(args)]
        else:
            cmd = [*self.as_user, *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kwargs)  # type: ignore[call-overload]

    def start(self) -> None:
        init = self._run(
            [str(self.bindir / "initdb"), "-D", str(self.datadir), "-U", self.user, "-A", "trust", "-E", "UTF8", *FAST]
        )
        if init.returncode:
            pytest.fail(f"initdb failed:\n{init.stdout}\n{init.stderr}")
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.base} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        start = self._run(
            [str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-l", str(self.logfile), "-o", options, *WAIT]
        )
        self.pid = self._read_pid()
        if start.returncode:
            log = self.logfile.read_text(errors="replace") if self.logfile.exists() else ""
            pytest.fail(f"pg_ctl start failed:\n{start.stdout}\n{start.stderr}\n{log}")

    def _read_pid(self) -> int | None:
        with contextlib.suppress(OSError, ValueError, IndexError):
            return int((self.datadir / "postmaster.pid").read_text().splitlines()[0])
        return None

    def stop(self) -> None:
        """Stop the postmaster by its pid (SIGINT = fast shutdown, then SIGKILL) and delete the folder."""
        pid = self.pid or self._read_pid()
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGINT)
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline and _alive(pid):
                    time.sleep(0.1)
                if _alive(pid):
                    os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.base, ignore_errors=True)

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run SQL with the psql client (-At: unaligned, tuples only); returns stdout."""
        psql = shutil.which("psql") or str(self.bindir / "psql")
        env = {**os.environ, "PGCONNECT_TIMEOUT": "10"}
        args = ["-U", self.user, "-d", database, "-c", sql]
        out = subprocess.run(
            [psql, "-X", "-v", "ON_ERROR_STOP=1", "-At", "-F", "\t", "-h", "127.0.0.1", "-p", str(self.port), *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        if out.returncode:
            raise AssertionError(f"psql failed for {sql!r}:\n{out.stderr}")
        return out.stdout.rstrip("\n")

    def rows(self, sql: str, database: str = "postgres") -> list[list[str]]:
        text = self.psql(sql, database)
        return [line.split("\t") for line in text.split("\n")] if text else []


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    bindir = find_pg_bindir()
    if bindir is None:
        pytest.fail(INSTALL_HINT)
    server = PostgresServer(bindir)
    try:
        server.start()
        yield server
    finally:
        server.stop()


def meltano_executable() -> str:
    exe = BIN / "meltano"
    found = str(exe) if exe.exists() else shutil.which("meltano")
    if not found:
        pytest.fail(
            "Meltano is not installed in this environment: `pip install meltano` "
            "(it belongs to the project's `test` extra); .ci/run installs it."
        )
    return found


# ---------------------------------------------------------------------- target-snowflake venv
SNOWFLAKE_REQUIREMENT = "meltanolabs-target-snowflake==0.20.4"


@pytest.fixture(scope="session")
def snowflake_python() -> str:
    """Python of a separate venv with target-snowflake (it pins another singer-sdk than ours)."""
    venv = CACHE / "target-snowflake-venv"
    python = venv / "bin" / "python"
    marker = venv / "requirement.txt"
    if not (python.exists() and marker.exists() and marker.read_text().strip() == SNOWFLAKE_REQUIREMENT):
        shutil.rmtree(venv, ignore_errors=True)
        venv.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        install = subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", SNOWFLAKE_REQUIREMENT],
            capture_output=True,
            text=True,
            timeout=900,
        )
        if install.returncode:
            pytest.fail(f"could not install {SNOWFLAKE_REQUIREMENT} into {venv}:\n{install.stderr[-4000:]}")
        marker.write_text(SNOWFLAKE_REQUIREMENT + "\n")
    return str(python)


def discover(sandbox: SandboxServer, tmp_path: Path, **settings: object) -> dict:
    """`tap-marketo-bulk --discover` against the sandbox, as a subprocess like Meltano runs it."""
    config = {
        "client_id": sandbox.options.client_id,
        "client_secret": sandbox.options.client_secret,
        "base_url": sandbox.url,
        "start_date": "2024-01-01T00:00:00Z",
        **settings,
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    tap = BIN / "tap-marketo-bulk"
    out = subprocess.run(
        [str(tap) if tap.exists() else "tap-marketo-bulk", "--config", str(path), "--discover"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-4000:]
    return json.loads(out.stdout)
