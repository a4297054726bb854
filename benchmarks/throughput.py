"""Throughput and memory of the tap's record path, against a bare ``csv.reader`` loop.

    python benchmarks/throughput.py [--activities 1000000] [--leads 200000] [--rss-small 100000]
                                    [--variants current,slow] [--namings marketo,snake_case]
                                    [--baseline DIR] [--repeat 5] [--small] [--profile DIR]

For each file kind (a: activities with their ``attributes`` JSON, b: leads with 60 columns of
mixed types) the benchmark

1. starts the sandbox in a thread of this process (processing time 0, status refresh 0, one
   31-day window), with 27 extra custom lead fields so that a lead export has 60 columns;
2. creates the export job itself and downloads the Completed file once: the sandbox renders a
   file and its checksum only once per (entity, fields) (``build_file`` and ``Job.checksum``
   are memoised here), so the tap's own job later serves the same bytes and Marketo-side
   time is excluded;
3. times a bare loop over that exact file (``for row in csv.reader(f): pass``) and the tap as a
   process (``benchmarks/run_tap.py VARIANT``, stdout to /dev/null, under ``/usr/bin/time -v``,
   else ``getrusage``), interleaved ``--repeat`` times, and prints the best of each: records/s,
   the ratio to the bare loop, MB/s of file and the peak RSS. Each variant runs once per
   ``--namings`` value (the ``column_naming`` setting); ``--baseline DIR`` adds the variant
   ``baseline``, the ``tap_marketo_bulk`` of another checkout DIR (e.g. a ``git worktree`` of
   main) with ``column_naming`` unset, interleaved with the others: a change before/after;
4. repeats the activities run with ``--rss-small`` rows and prints the 1M vs 100k RSS ratio.

The tap's bytecode is compiled first, as a ``pip install`` of the tap would have it (see
:func:`compile_package`). The tap's time includes its whole process: start-up, discovery, the (instant) export job and
the local download of the file, so the ratio is slightly pessimistic.

``--small`` instead checks correctness: small activity and lead exports are run through every
variant and the slow path (SDK defaults: RECURSIVE type conformance, ``SingerWriter``), under
each of ``--namings``, and the RECORD messages are compared value by value (JSON numbers decoded
as Decimal); it exits 1 on any difference. ``--profile DIR`` also writes a cProfile of each
tap run to DIR and prints its top.

Targets (issue "Throughput and memory"): ratio >= 0.5 for both files, peak RSS < 200 MB and the
1M run at most 10 % above the 100k run.
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import csv
import datetime as dt
import decimal
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tap_marketo_bulk.exports.model import ExportRequest
from tap_marketo_bulk.exports.runner import ExportRunner
from tap_marketo_bulk.marketo.client import MarketoClient
from tap_marketo_bulk.sandbox import files as sandbox_files
from tap_marketo_bulk.sandbox import jobs as sandbox_jobs
from tap_marketo_bulk.sandbox.app import SandboxServer
from tap_marketo_bulk.sandbox.data import _lead_field
from tap_marketo_bulk.sandbox.server import SandboxOptions
from tap_marketo_bulk.streams.activities import ACTIVITY_COLUMNS

HERE = Path(__file__).resolve().parent
START = "2024-01-01T00:00:00Z"
END = "2024-01-31T00:00:00Z"  # data range; the tap's one window is Jan 1 .. Feb 1
TAP_START = "2024-01-01T00:00:00Z"
TAP_END = "2024-02-01T00:00:00Z"
LEAD_COLUMNS = 60

# --- sandbox: one render per (entity, fields), 60 lead columns --------------------------------

_rendered: dict[tuple, tuple[bytes, int]] = {}
_original_build_file = sandbox_files.build_file


def _memo_build_file(data, entity, spec, end_incl, malformed=False):
    """The sandbox's build_file, memoised per sandbox data, entity and fields (not the filter):
    each benchmark sandbox has one window, so the tap's job gets the file we downloaded."""
    key = (id(data), entity, tuple(spec["fields"]), spec.get("format"), malformed)
    if key not in _rendered:
        _rendered[key] = _original_build_file(data, entity, spec, end_incl, malformed)
    return _rendered[key]


sandbox_jobs.build_file = _memo_build_file

_checksums: dict[int, str] = {}
_original_checksum = sandbox_jobs.Job.checksum


def _memo_checksum(job: sandbox_jobs.Job) -> str:
    """The sandbox's checksum, once per rendered file (kept alive by ``_rendered``): Marketo
    computes it when the job completes, not inside the tap's status call."""
    key = id(job.content)
    if key not in _checksums:
        _checksums[key] = _original_checksum(job)
    return _checksums[key]


sandbox_jobs.Job.checksum = _memo_checksum

_EXTRA_TYPES = [
    "string",
    "integer",
    "float",
    "currency",
    "boolean",
    "date",
    "datetime",
    "email",
    "text",
    "percent",
    "score",
    "url",
    "phone",
    "textarea",
]


def _add_lead_columns(sandbox: SandboxServer, total: int, seed: int = 7) -> None:
    """Give every lead custom fields until the export has ``total`` columns (mixed types)."""
    data = sandbox.data
    have = len(data.exportable_lead_fields())
    rng = random.Random(seed)
    extra = []
    for k in range(max(0, total - have)):
        dtype = _EXTRA_TYPES[k % len(_EXTRA_TYPES)]
        name = f"benchField{k:02d}{dtype.capitalize()}"
        data.lead_fields.append(_lead_field(90000 + k, name, f"Bench Field {k} ({dtype})", dtype))
        extra.append((name, dtype))
    base = dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)
    words = ["alpha", "beta", "gamma, delta", 'say "hi"', "Ünïcödé", "line\nbreak", "x" * 40]
    for lead in data.leads:
        for name, dtype in extra:
            r = rng.random()
            if r < 0.2:
                value: Any = None
            elif dtype in ("string", "text", "textarea", "phone"):
                value = words[int(r * 1000) % len(words)]
            elif dtype in ("integer", "score"):
                value = int(r * 10_000_000)
            elif dtype == "float":
                value = round(r * 1e6, 4)
            elif dtype in ("currency", "percent"):
                value = decimal.Decimal(f"{r * 1e7:.2f}")
            elif dtype == "boolean":
                value = r < 0.6
            elif dtype == "date":
                value = (base + dt.timedelta(days=int(r * 3000))).date()
            elif dtype == "datetime":
                value = base + dt.timedelta(seconds=int(r * 1e8))
            elif dtype == "email":
                value = f"user{int(r * 1e6)}@example.com"
            else:
                value = f"https://example.com/p/{int(r * 1e6)}"
            lead[name] = value


def start_sandbox(kind: str, rows: int) -> SandboxServer:
    opts = SandboxOptions(
        leads=rows if kind == "leads" else 50,
        activities=rows if kind == "activities" else 0,
        programs=1,
        members_per_program=1,
        start=START,
        end=END,
        status_refresh_seconds=0,
        processing_seconds_per_1000_records=0,
        min_processing_seconds=0,
        export_quota_mb=1e9,
        rate_limit_calls=100000,
        daily_call_quota=10**9,
    )
    sandbox = SandboxServer(opts)
    if kind == "leads":
        _add_lead_columns(sandbox, LEAD_COLUMNS)
    return sandbox.start()


def tap_config(sandbox: SandboxServer, workdir: Path, naming: str | None = None) -> Path:
    """The tap's config; ``naming`` is ``column_naming`` (unset when None)."""
    config = {
        "client_id": sandbox.options.client_id,
        "client_secret": sandbox.options.client_secret,
        "base_url": sandbox.url,
        "start_date": TAP_START,
        "end_date": TAP_END,
        "window_days": 31,
        "poll_interval_seconds": 0.01,
        "temp_dir": str(workdir),
        **({"column_naming": naming} if naming else {}),
    }
    path = workdir / f"config-{naming or 'unset'}.json"
    path.write_text(json.dumps(config))
    return path


def tap_catalog(config: Path, stream: str, workdir: Path) -> Path:
    """Discover, then select only ``stream`` (all its properties); one catalog per config."""
    out = subprocess.run(
        [sys.executable, str(HERE / "run_tap.py"), "current", "--config", str(config), "--discover"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    catalog = json.loads(out)
    for entry in catalog["streams"]:
        for meta in entry["metadata"]:
            if meta["breadcrumb"] == []:
                meta["metadata"]["selected"] = entry["tap_stream_id"] == stream
    path = workdir / f"catalog-{stream}-{config.stem}.json"
    path.write_text(json.dumps(catalog))
    return path


def download_export(sandbox: SandboxServer, kind: str, workdir: Path) -> Path:
    """Create the export the tap will create (same fields), wait for Completed, download it."""
    if kind == "leads":
        fields = list(sandbox.data.exportable_lead_fields())
        body = {
            "fields": fields,
            "format": "CSV",
            "filter": {"createdAt": {"startAt": TAP_START, "endAt": "2024-01-31T00:00:00Z"}},
        }
    else:
        fields = list(ACTIVITY_COLUMNS)
        body = {
            "fields": fields,
            "format": "CSV",
            "filter": {"createdAt": {"startAt": TAP_START, "endAt": "2024-01-31T00:00:00Z"}},
        }
    client = MarketoClient(sandbox.url, sandbox.options.client_id, sandbox.options.client_secret, timeout=600)
    runner = ExportRunner(client, poll_interval=0, job_timeout=3600, max_jobs_in_flight=1, temp_dir=str(workdir))
    for export_file in runner.run([ExportRequest(kind, body)]):
        assert export_file.path is not None
        target = workdir / f"{kind}.csv"
        shutil.copyfile(export_file.path, target)
        return target
    raise RuntimeError("no export file")


# --- measurements -------------------------------------------------------------------------


def bare_loop(path: Path, repeat: int = 3) -> tuple[float, int]:
    """Best seconds of ``for row in csv.reader(f): pass`` over the file, and its row count."""
    best, rows = float("inf"), 0
    for _ in range(repeat):
        started = time.perf_counter()
        with path.open("r", encoding="utf-8", newline="") as handle:
            count = 0
            for _row in csv.reader(handle):
                count += 1
        best = min(best, time.perf_counter() - started)
        rows = count - 1  # header
    return best, rows


#: ``--baseline``: the directory whose ``tap_marketo_bulk`` the ``baseline`` variant runs.
BASELINE: dict[str, Path] = {}


def run_tap(
    variant: str, config: Path, catalog: Path, stdout: Any = subprocess.DEVNULL, profile: Path | None = None
) -> tuple[float, float]:
    """(wall seconds, peak RSS MB) of one tap process."""
    env = dict(os.environ)
    if variant == "baseline":  # the installed console script's code, from the other checkout
        env["PYTHONPATH"] = str(BASELINE["dir"])
        variant = "current"
    command = [sys.executable, str(HERE / "run_tap.py"), variant, "--config", str(config), "--catalog", str(catalog)]
    if profile:
        env["BENCH_PROFILE"] = str(profile)
    timer = shutil.which("time") if Path("/usr/bin/time").exists() else None
    with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
        if timer:
            command = ["/usr/bin/time", "-v", "-o", report.name, *command]
        started = time.perf_counter()
        proc = subprocess.run(command, stdout=stdout, stderr=subprocess.PIPE, env=env, check=False)
        wall = time.perf_counter() - started
        if proc.returncode:
            sys.stderr.write(proc.stderr.decode(errors="replace")[-4000:])
            raise RuntimeError(f"tap ({variant}) exited with {proc.returncode}")
        if timer:
            for line in Path(report.name).read_text().splitlines():
                if "Maximum resident set size" in line:
                    return wall, int(line.rsplit(":", 1)[1]) / 1024
        return wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def print_profile(path: Path, top: int = 25) -> None:
    import pstats

    stats = pstats.Stats(str(path))
    stats.sort_stats("tottime").print_stats(top)


def runs_of(variants: list[str], namings: list[str]) -> dict[str, tuple[str, str | None]]:
    """Label -> (variant, column_naming) of every tap run of one repetition; the baseline once,
    with column_naming unset (a checkout from before the setting ignores it)."""
    runs: dict[str, tuple[str, str | None]] = {}
    for variant in variants:
        if variant == "baseline":
            runs["baseline"] = (variant, None)
            continue
        for naming in namings:
            runs[variant if namings == ["marketo"] else f"{variant}/{naming}"] = (variant, naming)
    return runs


def measure(
    kind: str, rows: int, variants: list[str], repeat: int, workdir: Path, profile_dir: Path | None, namings: list[str]
) -> dict[str, dict[str, float]]:
    stream = "leads" if kind == "leads" else "activities"
    label = f"{kind} x {rows:,}"
    started = time.perf_counter()
    sandbox = start_sandbox(kind, rows)
    try:
        print(f"\n== {label}: sandbox ready in {time.perf_counter() - started:.1f} s", flush=True)
        path = download_export(sandbox, kind, workdir)
        size = path.stat().st_size
        setups = {}
        for name, (variant, naming) in runs_of(variants, namings).items():
            config = tap_config(sandbox, workdir, naming)
            setups[name] = (variant, config, tap_catalog(config, stream, workdir))
        with path.open(encoding="utf-8", newline="") as handle:
            columns = len(next(csv.reader(handle)))
        # Interleaved, best of each: a shared machine's speed drifts by tens of percent over a
        # minute, and the ratio must compare the two loops at the same speed.
        bare_times: list[float] = []
        runs: dict[str, list[tuple[float, float]]] = {name: [] for name in setups}
        for _ in range(repeat):
            seconds, file_rows = bare_loop(path, repeat=1)
            bare_times.append(seconds)
            for name, (variant, config, catalog) in setups.items():
                runs[name].append(run_tap(variant, config, catalog))
        bare = min(bare_times)
        print(f"file: {file_rows:,} rows, {columns} columns, {size / 1e6:.1f} MB")
        print(
            f"bare csv.reader loop: {bare:.2f} s = {file_rows / bare:,.0f} rec/s, {size / bare / 1e6:.1f} MB/s "
            f"(runs: {', '.join(f'{t:.2f}' for t in bare_times)} s)"
        )
        results = {}
        for name, (variant, config, catalog) in setups.items():
            wall = min(r[0] for r in runs[name])
            rss = max(r[1] for r in runs[name])
            results[name] = {"wall": wall, "rss": rss, "rate": file_rows / wall, "ratio": bare / wall}
            print(
                f"tap[{name}]: {wall:.2f} s = {file_rows / wall:,.0f} rec/s, "
                f"ratio to bare loop {bare / wall:.2f}, {size / wall / 1e6:.1f} MB/s, peak RSS {rss:.0f} MB "
                f"(runs: {', '.join(f'{r[0]:.2f}' for r in runs[name])} s)",
                flush=True,
            )
            if profile_dir:
                prof = profile_dir / f"{kind}-{rows}-{name.replace('/', '-')}.prof"
                run_tap(variant, config, catalog, profile=prof)
                print(f"-- profile of tap[{name}] ({prof}):")
                print_profile(prof)
        return results
    finally:
        sandbox.stop()
        _rendered.clear()
        _checksums.clear()


# --- --small: fast path vs slow path, value by value --------------------------------------


def _records(output: bytes) -> dict[str, list[dict]]:
    by_stream: dict[str, list[dict]] = {}
    for line in output.splitlines():
        message = json.loads(line, parse_float=decimal.Decimal)
        if message.get("type") == "RECORD":
            by_stream.setdefault(message["stream"], []).append(message["record"])
    return by_stream


def _diff(a: Any, b: Any, where: str, out: list[str]) -> None:
    if type(a) is not type(b) or (not isinstance(a, (dict, list)) and a != b):
        out.append(f"{where}: {a!r} != {b!r}")
    elif isinstance(a, dict):
        if list(a) != list(b):
            out.append(f"{where}: keys {list(a)} != {list(b)}")
        for key in a.keys() & b.keys():
            _diff(a[key], b[key], f"{where}.{key}", out)
    elif isinstance(a, list):
        if len(a) != len(b):
            out.append(f"{where}: {len(a)} items != {len(b)}")
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            _diff(x, y, f"{where}[{i}]", out)


def small(variants: list[str], workdir: Path, namings: list[str]) -> int:
    failures = 0
    for kind, rows in (("activities", 3000), ("leads", 2000)):
        stream = "leads" if kind == "leads" else "activities"
        sandbox = start_sandbox(kind, rows)
        try:
            for naming in namings:
                config = tap_config(sandbox, workdir, naming)
                catalog = tap_catalog(config, stream, workdir)
                outputs = {}
                for variant in ["slow", *variants]:
                    out = workdir / f"small-{kind}-{variant}-{naming}.jsonl"
                    with out.open("wb") as handle:
                        run_tap(variant, config, catalog, stdout=handle)
                    outputs[variant] = _records(out.read_bytes())
                reference = outputs["slow"]
                count = len(reference.get(stream, []))
                for variant in variants:
                    problems: list[str] = []
                    _diff(reference, outputs[variant], variant, problems)
                    status = "identical" if not problems else f"{len(problems)} DIFFERENCES"
                    print(f"--small {kind}, {naming}: {count:,} records, {variant} vs slow path: {status}")
                    for problem in problems[:20]:
                        print("   ", problem)
                    failures += bool(problems)
        finally:
            sandbox.stop()
            _rendered.clear()
            _checksums.clear()
    return 1 if failures else 0


def compile_package() -> None:
    """Write the tap's bytecode (and the baseline's), as ``pip install`` does for a user's install.

    The project's own editable install has none, and with ``PYTHONDONTWRITEBYTECODE`` set (as
    on the CI machines) every tap run would compile the package from source again: about
    45 ms that no installed copy of the tap spends.
    """
    import tap_marketo_bulk

    compileall.compile_dir(Path(tap_marketo_bulk.__file__).parent, quiet=1)
    if BASELINE:
        compileall.compile_dir(BASELINE["dir"] / "tap_marketo_bulk", quiet=1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--activities", type=int, default=1_000_000)
    parser.add_argument("--leads", type=int, default=200_000)
    parser.add_argument("--rss-small", type=int, default=100_000, help="activities of the RSS comparison run")
    parser.add_argument("--variants", default="current", help="comma list of current, slow (and baseline)")
    parser.add_argument("--namings", default="marketo", help="comma list of column_naming values: marketo, snake_case")
    parser.add_argument(
        "--baseline", type=Path, help="a checkout whose tap_marketo_bulk runs as the variant 'baseline' (before/after)"
    )
    parser.add_argument(
        "--repeat", type=int, default=5, help="interleaved bare-loop and tap runs per variant (best time kept)"
    )
    parser.add_argument("--small", action="store_true", help="compare fast-path output with the slow path")
    parser.add_argument("--profile", type=Path, help="directory for cProfile output of each tap run")
    parser.add_argument("--only", choices=["activities", "leads"], help="measure one file kind only")
    args = parser.parse_args()
    variants = [v for v in args.variants.split(",") if v]
    namings = [n for n in args.namings.split(",") if n]
    if args.baseline:
        BASELINE["dir"] = args.baseline.resolve()
        variants = ["baseline", *(v for v in variants if v != "baseline")]
    compile_package()
    with tempfile.TemporaryDirectory(prefix="tap-bench-") as tmp:
        workdir = Path(tmp)
        if args.small:
            return small([v for v in variants if v not in ("slow", "baseline")] or ["current"], workdir, namings)
        if args.profile:
            args.profile.mkdir(parents=True, exist_ok=True)
        results = {}
        if args.only in (None, "activities") and args.activities:
            results["a"] = measure("activities", args.activities, variants, args.repeat, workdir, args.profile, namings)
        if args.only in (None, "leads") and args.leads:
            results["b"] = measure("leads", args.leads, variants, args.repeat, workdir, args.profile, namings)
        if args.only in (None, "activities") and args.rss_small and args.activities:
            small_run = measure("activities", args.rss_small, variants, 1, workdir, None, namings)
            print("\n== peak RSS, flat with size (target: large <= 1.10 x small, < 200 MB)")
            for variant in small_run:
                big, little = results["a"][variant]["rss"], small_run[variant]["rss"]
                print(
                    f"tap[{variant}]: {args.activities:,} rows {big:.0f} MB vs {args.rss_small:,} rows "
                    f"{little:.0f} MB = {big / little:.2f}x"
                )
        print("\n== summary")
        for name, per_variant in results.items():
            for variant, r in per_variant.items():
                print(f"({name}) tap[{variant}]: {r['rate']:,.0f} rec/s, ratio {r['ratio']:.2f}, RSS {r['rss']:.0f} MB")
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
