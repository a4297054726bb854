"""One export file parsed by several processes writes exactly what one process writes.

Each case runs a small script in a fresh process (forked children write to the real stdout's
file descriptor, which pytest's capture would hide) and compares its stdout byte for byte,
its progress and its error with the same file read by one process.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tap_marketo_bulk import types
from tap_marketo_bulk.reader import ExportReader, NotARecordBoundary
from tap_marketo_bulk.segments import _Claims

SCRIPT = r"""
import datetime as dt, json, logging, os, sys, time
from tap_marketo_bulk import output, segments, types
logging.basicConfig(level=os.environ.get("LOG_LEVEL", "WARNING"))
tap_pid = os.getpid()
from tap_marketo_bulk.errors import MalformedExportFile
from tap_marketo_bulk.reader import ExportReader

path, processes, struct, slow = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "struct", sys.argv[4] == "slow"
if os.environ.get("FORKS_BEFORE_FAILURE"):  # the fork after these many fails, as with a pids limit
    forks, real_fork = [int(os.environ["FORKS_BEFORE_FAILURE"])], os.fork
    def fork():
        forks[0] -= 1
        if forks[0] < 0:
            raise OSError(11, "Resource temporarily unavailable")
        return real_fork()
    os.fork = fork
convs = {
    "id": types.converter("integer"),
    "name": str,
    "amount": types.converter("currency"),
    "updatedAt": types.converter("datetime"),
    "attributes": types.converter("json"),
}
if slow:  # keep the children busy long enough to be interrupted
    original = segments._fork
    def announce(*args, **kwargs):
        original(*args, **kwargs)
        sys.stderr.write(f"CHILD {kwargs['children'][-1].pid}\n")
        sys.stderr.flush()
    segments._fork = announce
reader = ExportReader(path, convs, drop=("updatedAt", "2024-02-01T00:00:00Z"), struct=struct)
if len(sys.argv) > 5:  # BATCH files in this folder
    from tap_marketo_bulk.batches import BatchFiles, batch_config
    storage = {"encoding": {"format": "jsonl", "compression": "none"}, "storage": {"root": sys.argv[5]}}
    lines = BatchFiles("s", batch_config({"batch_config": {**storage, "batch_size": 20}}))
else:
    lines = output.RecordLines("s")
lines.stamp(dt.datetime(2024, 3, 1, tzinfo=dt.timezone.utc))
append = lines.append
if slow or os.environ.get("SLOW_TAP_PROCESS"):  # seconds per record, only in the tap's process
    delay = float(os.environ.get("SLOW_TAP_PROCESS") or 0.001)
    def append(record):
        if slow or os.getpid() == tap_pid:
            time.sleep(delay)
        lines.append(record)
report = {}
try:
    progress = segments.emit_file(reader, append, lines.spill, processes=processes, min_bytes=1)
    report = {"records": progress.records, "dropped": progress.dropped, "processes": progress.processes}
except MalformedExportFile as exc:
    report = {"error": str(exc)}
output.flush()
report["count"] = lines.count
sys.stderr.write("REPORT " + json.dumps(report) + "\n")
"""


def run(
    path: Path,
    processes: int,
    *,
    struct: bool = True,
    log: list[str] | None = None,
    batches: Path | None = None,
    slow: bool = False,
    env: dict[str, str] | None = None,
) -> tuple[bytes, dict]:
    """stdout and report of the script; ``batches``: write BATCH files there instead of RECORDs;
    ``slow``: 1 ms per record."""
    args = [str(path), str(processes), "struct" if struct else "dict", "slow" if slow else "fast"]
    args += [batches.as_uri()] if batches else []
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr.decode()[-3000:]
    report = next(line for line in out.stderr.decode().splitlines() if line.startswith("REPORT "))
    if log is not None:
        log.extend(out.stderr.decode().splitlines())
    return out.stdout, json.loads(report.removeprefix("REPORT "))


def row(i: int) -> str:
    """One record; every 7th has a value spanning lines, every 5th quotes and commas."""
    name = f'multi\nline "{i}"' if i % 7 == 0 else (f"a, b {i}" if i % 5 == 0 else f"n{i}")
    # Every 17th: JSON with line breaks between its tokens (valid JSON, still one RECORD line).
    attributes = json.dumps({"k": i, "text": f'v "{i}", x'}, indent=1 if i % 17 == 0 else None)
    updated = "2024-02-01T00:00:00Z" if i % 11 == 0 else f"2024-01-{1 + i % 28:02d}T10:00:00Z"
    amount = "null" if i % 13 == 0 else f"{i}.{i % 100:02d}"
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow([i, name, amount, updated, attributes])
    return buffer.getvalue()


def write(tmp_path: Path, rows: list[str], name: str = "export.csv") -> Path:
    path = tmp_path / name
    path.write_text("id,name,amount,updatedAt,attributes\n" + "".join(rows), encoding="utf-8")
    return path


CONVS = {
    "id": types.converter("integer"),
    "name": str,
    "amount": types.converter("currency"),
    "updatedAt": types.converter("datetime"),
    "attributes": types.converter("json"),
}


def record_ends(data: bytes) -> list[int]:
    """Byte offsets just past each record, the header included, as csv's own reader ends
    them: it pulls whole lines, and no more than a record needs."""
    consumed = [0]

    def lines():
        for line in data.splitlines(keepends=True):
            consumed[0] += len(line)
            yield line.decode()

    ends = []
    for _ in csv.reader(lines()):
        ends.append(consumed[0])
    return ends


def test_cuts_found_from_either_end_end_where_records_end(tmp_path):
    """Counting quotes from the record boundary before (the front) or after (the back) finds
    the same cut, the end of the record the target falls in: every record holds an even number
    of quotes. The file has values spanning lines and doubled quotes."""
    path = write(tmp_path, [row(i) for i in range(1, 400)])
    reader = ExportReader(path, CONVS)
    size = path.stat().st_size
    ends = record_ends(path.read_bytes())
    assert reader.data_start == ends[0] == len(b"id,name,amount,updatedAt,attributes\n")
    assert ends[-1] == size
    for target in range(reader.data_start, ends[-2], 37):
        cut = min(end for end in ends if end > target)
        assert reader.boundary_after(target) == cut
        assert reader.boundary_before(target, size) == cut
        assert reader.boundary_before(target, cut) is None  # no record ends inside that one
    assert reader.boundary_after(ends[-2]) == size
    assert reader.boundary_before(ends[-2], size) is None  # a cut never ends the file


def test_each_range_is_a_share_of_what_is_left(tmp_path):
    """Claims taken in turn from both ends: each is 1 / (2 x processes) of the bytes left, and
    at least 1/32 of a process's share, cut at the end of the record its target falls in; the
    last takes what is left when that is under a range and the finest size."""
    path = tmp_path / "export.csv"
    path.write_text("id,name\n" + "".join(f"{i:09d},{'x' * 89}\n" for i in range(640)))  # 100 bytes a record
    reader = ExportReader(path, {"id": types.converter("integer"), "name": str})
    claims = _Claims(reader, 2, 1, str(tmp_path))  # finest: 64,000 / 2 / 32 = 1,000
    spans = []
    while (span := claims.take(first=len(spans) % 2 == 0)) is not None:
        spans.append((span[0] - reader.data_start, span[1] - reader.data_start))
    claims.close()
    assert spans[:3] == [
        (0, 16100),  # 64,000 / 4 = 16,000: the record starting there ends at 16,100
        (52100, 64000),  # 47,900 / 4 = 11,975 from the back: 52,025 falls in the record from 52,000
        (16100, 25200),  # 36,000 / 4 = 9,000
    ]
    assert [end - start for start, end in spans] == [
        16100, 11900, 9100, 6700, 5100, 3700, 2900, 2100, 1700, 1100, 1100, 900, 1600
    ]  # fmt: skip
    assert sorted(spans) == list(itertools.pairwise(sorted({0, 64000, *itertools.chain(*spans)})))
    assert spans[-1] == (36000, 37600)  # 1,600 left: under 1,000 + 1,000, so all of it


@pytest.mark.parametrize("processes", [2, 3, 5])
@pytest.mark.parametrize("struct", [True, False])
def test_segments_write_what_one_process_writes(tmp_path, processes, struct):
    path = write(tmp_path, [row(i) for i in range(1, 600)])
    one, one_report = run(path, 1, struct=struct)
    many, many_report = run(path, processes, struct=struct)
    assert many == one
    assert many_report == {**one_report, "processes": processes}
    assert one_report == {"records": 599, "dropped": 54, "processes": 1, "count": 545}
    lines = one.splitlines()
    assert len(lines) == 545
    assert json.loads(lines[15])["record"]["attributes"] == {"k": 17, "text": 'v "17", x'}
    first = json.loads(one.splitlines()[0])
    assert first == {
        "type": "RECORD",
        "stream": "s",
        "record": {
            "id": 1,
            "name": "n1",
            "amount": 1.01,
            "updatedAt": "2024-01-02T10:00:00Z",
            "attributes": {"k": 1, "text": 'v "1", x'},
        },
        "time_extracted": "2024-03-01T00:00:00+00:00",
    }
    assert b'"amount":1.01,' in one.splitlines()[0]  # the exact digits, not a float's


def test_quoting_outside_rfc4180_falls_back_to_one_reader(tmp_path):
    """A stray quote in an unquoted value makes the quote count from the front lie: the cut
    lands inside a quoted value. Strict reading of the first range notices; the file is read on
    as one."""
    rows = [row(i) for i in range(1, 200) if i % 7]
    rows[9] = '11,stray"quote,1.00,2024-01-05T10:00:00Z,{}\n'
    rows[90] = '106,"spans\nthe middle",1.00,2024-01-05T10:00:00Z,{}\n'
    path = write(tmp_path, rows)
    reader = ExportReader(path, CONVS)
    data = path.read_bytes()
    target = data.index(b'106,"spans')
    cut = reader.boundary_after(target)
    assert data[:cut].endswith(b'106,"spans\n')  # counted from the front: inside the value
    back = reader.boundary_before(target, reader.size)
    assert data[:back].endswith(b'the middle",1.00,2024-01-05T10:00:00Z,{}\n')  # from the back: right
    with pytest.raises(NotARecordBoundary):
        reader.emit(lambda record: None, lambda: None, (reader.data_start, cut), strict=True)
    one, one_report = run(path, 1)
    log: list[str] = []
    many, many_report = run(path, 2, log=log)
    assert "Export file export.csv quotes values outside RFC 4180, so it cannot be cut safely; " in "\n".join(log)
    assert many == one
    assert many_report == one_report
    names = [json.loads(line)["record"]["name"] for line in one.splitlines()]
    assert names.count("spans\nthe middle") == 1
    assert names.count('stray"quote') == 1


def test_malformed_row_in_a_later_range_reads_as_one_process(tmp_path):
    rows = [row(i) for i in range(1, 300)]
    rows[250] = "251,bad,not-a-number,2024-01-05T10:00:00Z,{}\n"
    path = write(tmp_path, rows)
    one, one_report = run(path, 1)
    log: list[str] = []
    # The tap's process slowed down, so that the children take the range with the bad row.
    many, many_report = run(path, 3, log=log, env={"SLOW_TAP_PROCESS": "0.001"})
    assert any(
        re.search(r"the process parsing from byte \d+ stopped; reading the file on from there", line) for line in log
    )
    assert many == one
    assert many_report == one_report
    # Line: the header, 250 records (35 with a name on two lines, 14 with attributes on
    # four), then this one: 1 + 250 + 35 + 14 * 3 + 1.
    assert one_report["error"] == (
        "Export file export.csv: record 251 (ending on line 329), column 'amount': "
        "cannot convert value 'not-a-number': not a number: 'not-a-number'"
    )
    assert one_report["count"] == len(one.splitlines()) == 250 - sum(1 for i in range(1, 251) if i % 11 == 0)


def test_nul_bytes_and_header_only_files(tmp_path):
    path = write(tmp_path, [row(i).replace("n", "n\x00", 1) for i in range(1, 100)])
    assert run(path, 3)[0] == run(path, 1)[0]
    empty = write(tmp_path, [], "empty.csv")
    assert run(empty, 3) == (b"", {"records": 0, "dropped": 0, "processes": 1, "count": 0})


def test_sigterm_reaps_every_child(tmp_path):
    """Interrupted mid-file, the parent kills and reaps its children before it exits."""
    path = write(tmp_path, [row(i) for i in range(1, 3000)])
    script = SCRIPT.replace(
        "reader = ExportReader(",
        "from tap_marketo_bulk import interrupts\n"
        "from tap_marketo_bulk.errors import Interrupted\n"
        "signal_handler = lambda *a: interrupts.interrupt(Interrupted('stop'))\n"
        "import signal; signal.signal(signal.SIGTERM, signal_handler)\n"
        "reader = ExportReader(",
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(path), "3", "struct", "slow"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        children = [int(proc.stderr.readline().split()[1]) for _ in range(2)]
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0
    assert "Interrupted: stop" in proc.stderr.read()
    for pid in children:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_batch_files_of_a_range_read_again_are_deleted(tmp_path):
    """BATCH output, a malformed row in the last of 3 ranges: that child's files are deleted
    (its range is read again by the parent, up to the error), so the folder holds exactly the
    announced files, whose records are those one process writes before the error."""
    rows = [row(i) for i in range(1, 600)]
    rows[589] = "590,bad,not-a-number,2024-01-05T10:00:00Z,{}\n"  # the last child has announced files by then
    path = write(tmp_path, rows)
    one, one_report = run(path, 1, batches=tmp_path / "one")
    many, many_report = run(path, 3, batches=tmp_path / "many")
    assert many_report == one_report
    assert one_report["error"].startswith("Export file export.csv: record 590 ")

    def announced(stdout: bytes) -> list[Path]:
        urls = [url for line in stdout.splitlines() for url in json.loads(line)["manifest"]]
        return [Path(url.removeprefix("file://")) for url in urls]

    def records(files: list[Path]) -> list[dict]:
        return [json.loads(line) for file in files for line in file.read_bytes().splitlines()]

    assert sorted(announced(many)) == sorted((tmp_path / "many").iterdir())
    assert records(announced(many)) == records(announced(one))
    assert len(records(announced(one))) == one_report["count"] == 589 - sum(1 for i in range(1, 590) if i % 11 == 0)


def test_a_failed_fork_leaves_the_rest_to_the_tap_process(tmp_path):
    """No process left for the third range (pids limit): the tap's process reads it after
    the second child's lines, and writes what one process writes."""
    path = write(tmp_path, [row(i) for i in range(1, 600)])
    one, one_report = run(path, 1)
    log: list[str] = []
    many, many_report = run(path, 3, log=log, env={"FORKS_BEFORE_FAILURE": "1"})
    assert "Could not start a parsing process ([Errno 11] Resource temporarily unavailable)" in "\n".join(log)
    assert many == one
    assert many_report == {**one_report, "processes": 2}


def test_children_stopped_mid_range_leave_no_batch_files(tmp_path):
    """BATCH output, 4 processes, a malformed row in the tap's own range: the run stops while
    the children are mid-range with files open (SIGTERM: they delete them) and others
    announced (the parent deletes those), so the folder holds exactly the announced files."""
    rows = [row(i) for i in range(1, 2000)]
    rows[299] = "300,bad,not-a-number,2024-01-05T10:00:00Z,{}\n"
    path = write(tmp_path, rows)
    many, report = run(path, 4, batches=tmp_path / "many", slow=True)
    assert report["error"].startswith("Export file export.csv: record 300 ")
    urls = [url for line in many.splitlines() for url in json.loads(line)["manifest"]]
    assert sorted(Path(url.removeprefix("file://")) for url in urls) == sorted((tmp_path / "many").iterdir())
    assert sum(len(Path(url.removeprefix("file://")).read_bytes().splitlines()) for url in urls) == report["count"]


def test_claims_tile_the_file_from_both_ends(tmp_path):
    """The tap's process carves ranges off the front while a child carves them off the back,
    both as fast as they can once each has its first: the ranges tile the data rows exactly,
    each ends where a record ends, and each end's ranges follow one another."""
    path = write(tmp_path, [row(i) for i in range(1, 4000)])
    reader = ExportReader(path, CONVS)
    claims = _Claims(reader, 2, 1, str(tmp_path))
    read, write_end = os.pipe()
    to_parent, from_child = os.pipe()
    to_child, from_parent = os.pipe()
    pid = os.fork()
    if not pid:  # the child: take from the back, report what it took
        try:
            os.close(read)
            taken = [claims.take(first=False)]
            os.write(from_child, b"1")
            os.read(to_child, 1)  # the tap's process has its first too
            while (span := claims.take(first=False)) is not None:
                taken.append(span)
            os.write(write_end, json.dumps(taken).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    os.read(to_parent, 1)
    mine = [claims.take(first=True)]
    os.write(from_parent, b"1")
    while (span := claims.take(first=True)) is not None:
        mine.append(span)
    with os.fdopen(read, "rb") as pipe:
        theirs = [tuple(span) for span in json.loads(pipe.read())]
    os.waitpid(pid, 0)
    claims.close()
    assert mine and theirs
    assert [start for start, _ in mine] == [reader.data_start] + [end for _, end in mine[:-1]]
    assert [end for _, end in theirs] == [reader.size] + [start for start, _ in theirs[:-1]]
    assert mine[-1][1] == theirs[-1][0]
    ends = record_ends(path.read_bytes())
    assert {end for _, end in mine + theirs} <= set(ends)


def test_a_slow_process_takes_fewer_ranges(tmp_path):
    """Ranges go to whichever process is free: with the tap's process slowed to 5 ms per
    record (0.7 s for its first range, a quarter of the file), the child reads all the rest,
    and the output is still that of one process."""
    path = write(tmp_path, [row(i) for i in range(1, 600)])
    one, one_report = run(path, 1)
    log: list[str] = []
    many, many_report = run(path, 2, log=log, env={"SLOW_TAP_PROCESS": "0.005", "LOG_LEVEL": "DEBUG"})
    assert many == one
    assert many_report == {**one_report, "processes": 2}
    [summary] = [line for line in log if "ranges in 2 processes" in line]
    ranges, mine = re.search(r"(\d+) ranges in 2 processes, (\d+) of them read by the tap's process", summary).groups()
    assert (int(ranges), int(mine)) == (13, 1)


STOPPED_WHILE_CLEANING_UP = r"""
import csv, io, json, os, sys, time
from pathlib import Path
from tap_marketo_bulk import batches, output, segments, types
from tap_marketo_bulk.batches import BatchFiles, batch_config
from tap_marketo_bulk.errors import MalformedExportFile
from tap_marketo_bulk.reader import ExportReader

folder, path = Path(sys.argv[1]), Path(sys.argv[2])
tap_pid = os.getpid()
remove = batches.remove_files
def slow_remove(urls, config):  # a child deletes slowly, as with remote storage
    urls = list(urls)
    if os.getpid() != tap_pid:
        time.sleep(1.0)
    remove(urls, config)
batches.remove_files = slow_remove
reader = ExportReader(path, {"id": types.converter("integer"), "name": str})
storage = {"encoding": {"format": "jsonl", "compression": "none"}, "storage": {"root": folder.as_uri()}}
lines = BatchFiles("s", batch_config({"batch_config": {**storage, "batch_size": 20}}))
def append(record):
    if os.getpid() == tap_pid:
        time.sleep(0.002)  # the child meets its bad row first
    lines.append(record)
try:
    segments.emit_file(reader, append, lines.spill, processes=2, min_bytes=1)
except MalformedExportFile as exc:
    sys.stderr.write(f"ERROR {exc}\n")
output.flush()
"""


def test_a_child_cleaning_up_after_its_error_is_not_cut_short_by_sigterm(tmp_path):
    """A child's range fails (a bad row) and it starts deleting its open batch file, slowly;
    meanwhile the tap's process fails on its own bad row and stops the children (SIGTERM). The
    deletion still finishes: the folder holds exactly the announced files."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["id", "name"])
    writer.writerows([["oops" if i in (300, 1900) else i, f"name {i}"] for i in range(2000)])
    path = tmp_path / "export.csv"
    path.write_text(buffer.getvalue())
    folder = tmp_path / "batches"
    folder.mkdir()
    out = subprocess.run(
        [sys.executable, "-c", STOPPED_WHILE_CLEANING_UP, str(folder), str(path)],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr.decode()[-3000:]
    assert "ERROR Export file export.csv: record 301 " in out.stderr.decode()
    urls = [url for line in out.stdout.splitlines() for url in json.loads(line)["manifest"]]
    assert len(urls) == 15  # records 0-299: 15 files of 20
    assert sorted(Path(url.removeprefix("file://")) for url in urls) == sorted(folder.iterdir())
