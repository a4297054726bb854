"""RECORD messages against the SDK's BATCH messages (jsonl, gzip), loaded by target-postgres.

    python benchmarks/batch_vs_record.py [--leads 100000] [--activities 500000] [--target PATH]

Issue "Throughput and memory", item 4: is BATCH faster end to end? For each file kind the
benchmark starts the sandbox (leads with 60 mixed columns, as ``throughput.py``; activities
with their ``attributes``), a throwaway PostgreSQL (the integration tests' server: its own
folder and port, stopped by pid), then times ``tap | target-postgres`` into a fresh schema:

- ``record``: the tap's default, RECORD lines;
- ``batch``: with ``batch_config``: BATCH messages announcing jsonl files compressed with gzip,
  10,000 records each, which target-postgres reads itself.

Both loads must give the same row count. ``--target`` is target-postgres's executable; by
default the one Meltano installed for the integration tests
(``.meltano/integration-tests/meltano-project``; run the tests once to create it).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import throughput  # noqa: E402  (the sandbox setup is shared with the record-path benchmark)

from tests.integration.conftest import PostgresServer, find_pg_bindir  # noqa: E402

HERE = Path(__file__).resolve().parent
DEFAULT_TARGET = (
    ROOT / ".meltano/integration-tests/meltano-project/.meltano/loaders/target-postgres/venv/bin/target-postgres"
)


def load(variant: str, tap_config: Path, catalog: Path, target: Path, server: PostgresServer, work: Path) -> float:
    """Seconds of ``tap | target-postgres`` for one variant, into schema ``bench_<variant>``."""
    config = json.loads(tap_config.read_text())
    if variant == "batch":
        root = work / "batches"
        root.mkdir(exist_ok=True)
        config["batch_config"] = {
            "encoding": {"format": "jsonl", "compression": "gzip"},
            "storage": {"root": root.as_uri(), "prefix": "batch-"},
            "batch_size": 10_000,
        }
    (work / f"tap-{variant}.json").write_text(json.dumps(config))
    target_config = {
        "host": "127.0.0.1",
        "port": server.port,
        "user": server.user,
        "password": "",
        "database": "postgres",
        "default_target_schema": f"bench_{variant}",
        "add_record_metadata": False,
        "activate_version": False,
    }
    (work / f"target-{variant}.json").write_text(json.dumps(target_config))
    tap_cmd = [sys.executable, str(HERE / "run_tap.py"), "current"]
    tap_cmd += ["--config", str(work / f"tap-{variant}.json"), "--catalog", str(catalog)]
    started = time.perf_counter()
    with open(work / f"tap-{variant}.log", "wb") as tap_log, open(work / f"target-{variant}.log", "wb") as target_log:
        tap = subprocess.Popen(tap_cmd, stdout=subprocess.PIPE, stderr=tap_log)
        loader = subprocess.run(
            [str(target), "--config", str(work / f"target-{variant}.json")],
            stdin=tap.stdout,
            stdout=subprocess.DEVNULL,
            stderr=target_log,
            check=False,
        )
        assert tap.stdout is not None
        tap.stdout.close()
        tap.wait()
    seconds = time.perf_counter() - started
    if tap.returncode or loader.returncode:
        tail = (work / f"target-{variant}.log").read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{variant}: tap exited {tap.returncode}, target {loader.returncode}\n{tail}")
    return seconds


def measure(kind: str, rows: int, target: Path, server: PostgresServer) -> None:
    stream = "leads" if kind == "leads" else "activities"
    sandbox = throughput.start_sandbox(kind, rows)
    try:
        with tempfile.TemporaryDirectory(prefix="tap-batch-bench-") as tmp:
            work = Path(tmp)
            config = throughput.tap_config(sandbox, work)
            catalog = throughput.tap_catalog(config, stream, work)
            print(f"\n== {kind} x {rows:,} into target-postgres", flush=True)
            counts = {}
            for variant in ("record", "batch"):
                seconds = load(variant, config, catalog, target, server, work)
                counts[variant] = int(server.psql(f"SELECT count(*) FROM bench_{variant}.{stream}"))  # noqa: S608 (fixed names)
                print(
                    f"{variant:>6}: {seconds:.1f} s end to end = {counts[variant] / seconds:,.0f} rows/s loaded",
                    flush=True,
                )
            if counts["record"] != counts["batch"]:
                raise RuntimeError(f"row counts differ: {counts}")
            server.psql("DROP SCHEMA bench_record CASCADE; DROP SCHEMA bench_batch CASCADE")
    finally:
        sandbox.stop()
        throughput._rendered.clear()
        throughput._checksums.clear()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--activities", type=int, default=500_000)
    parser.add_argument("--target", type=Path, default=DEFAULT_TARGET)
    args = parser.parse_args()
    if not args.target.exists():
        sys.exit(f"target-postgres not found at {args.target}; run the integration tests once or pass --target")
    bindir = find_pg_bindir()
    if bindir is None:
        sys.exit("PostgreSQL server binaries not found; run scripts/install-postgres")
    server = PostgresServer(bindir)
    try:
        server.start()
        if args.leads:
            measure("leads", args.leads, args.target, server)
        if args.activities:
            measure("activities", args.activities, args.target, server)
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
