"""One large export file parsed by several processes, its records written in file order.

Parsing, typing and encoding cost about as much CPU per row as Python's csv module itself, so
one process cannot keep up with a fast target. A verified file is therefore cut into byte
ranges at record boundaries (:meth:`ExportReader.split`). The tap's process forks one child per
range but the first: a child runs the very same record code (the stream's writers, routing of
activity rows) with its stdout pointed at an unnamed temporary file, and reports how far it
read. The parent emits the first range itself, then copies each child's lines to stdout in
order, so the output is byte for byte what one process would write, just sooner.

Why the boundaries hold: a range is cut after a LF preceded by an even number of quote
characters, which in RFC 4180 quoting is outside any quoted value. Every range but the last is
read with csv's ``strict`` mode, which refuses quoting outside RFC 4180 and a file ending
inside a quoted value; a range read that way without error ended exactly where a single reader
would have ended a record, so the next range starts where that reader would. If a range fails
in any way (strict refusal, a malformed row, a crashed child) the parent reads the file on from
that range's start in one piece, as a single process would, with the same record numbers in
any error; nothing is written twice, nothing skipped.

Signals: a child ignores SIGINT (the terminal sends it to the whole process group; the parent
decides) and dies on SIGTERM. Whatever ends the parent's work ends the children: they are
killed and reaped, and their files vanish with them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import signal
import sys
import tempfile
import typing as t

from tap_marketo_bulk import batches, interrupts, output
from tap_marketo_bulk.reader import ExportReader, NotARecordBoundary, Progress

LOGGER = logging.getLogger(__name__)

#: Ranges are at least this large: below it a fork costs more than it saves.
MIN_SEGMENT_BYTES = 8 << 20
#: Default cap on processes per file: the target, not the tap, sets the pace beyond it.
MAX_DEFAULT_PROCESSES = 4


def default_processes() -> int:
    """CPUs this process may run on, at most :data:`MAX_DEFAULT_PROCESSES`; 1 without fork."""
    if not hasattr(os, "fork"):
        return 1
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS has no affinity call
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, MAX_DEFAULT_PROCESSES))


Append = t.Callable[[dict[str, t.Any]], t.Any]


@dataclasses.dataclass
class _Child:
    pid: int
    span: tuple[int, int]
    output: t.BinaryIO
    status: int
    reaped: bool = False
    #: Whether its lines were copied out; if not, the batch files it announced are deleted.
    copied: bool = False

    def result(self) -> dict[str, t.Any] | None:
        """The child's report after it exited, or None if it failed in any way."""
        chunks = []
        while chunk := os.read(self.status, 1 << 16):
            chunks.append(chunk)
        _, code = os.waitpid(self.pid, 0)
        self.reaped = True
        if code != 0 or not chunks:
            return None
        return json.loads(b"".join(chunks))

    def close(self) -> None:
        """Kill (if need be) and reap the child; delete the batch files it announced unless
        its lines were copied out (its range is read again, or the run stops)."""
        if not self.reaped:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
            self.reaped = True
        if not self.copied and batches.in_use():
            self.output.seek(0)
            batches.remove_files(url for line in self.output for url in batches.announced_files(line))
        os.close(self.status)
        self.output.close()


def emit_file(
    reader: ExportReader,
    append: Append,
    spill: t.Callable[[], t.Any],
    *,
    processes: int,
    temp_dir: str | None = None,
    min_bytes: int | None = None,
) -> Progress:
    """Hand every record of the file to ``append``, in up to ``processes`` processes.

    ``append`` and ``spill`` are as for :meth:`ExportReader.emit`; in a child they run on the
    child's copy of the writers. Ranges are at least ``min_bytes`` (default
    :data:`MIN_SEGMENT_BYTES`). Returns the progress over the whole file.
    """
    min_bytes = MIN_SEGMENT_BYTES if min_bytes is None else min_bytes
    spans = reader.split(processes, min_bytes) if processes > 1 and hasattr(os, "fork") else []
    if len(spans) < 2:
        return reader.emit(append, spill)
    output.flush()  # a child must not inherit records still to be written
    children: list[_Child] = []
    try:
        for number, span in enumerate(spans[1:], 2):
            children.append(_fork(reader, append, spill, span, strict=number < len(spans), temp_dir=temp_dir))
        base = Progress(lines=reader.header_lines)
        try:
            progress = reader.emit(append, spill, spans[0], base=base, strict=True)
        except NotARecordBoundary as exc:
            LOGGER.warning(
                "Export file %s quotes values outside RFC 4180, so it cannot be cut safely; reading it in one process",
                reader.path.name,
            )
            return _rest_in_one(reader, append, spill, exc.progress)
        for child in children:
            report = child.result()
            if report is None:
                LOGGER.warning(
                    "Export file %s: the process parsing bytes %d to %d stopped; reading them again "
                    "in the tap's process",
                    reader.path.name,
                    *child.span,
                )
                return reader.emit(append, spill, (child.span[0], reader.size), base=progress)
            output.flush()
            output.copy_lines(child.output.fileno(), os.fstat(child.output.fileno()).st_size)
            child.copied = True
            output.add_counts(report["counts"])
            progress = Progress(
                progress.records + report["records"],
                progress.dropped + report["dropped"],
                progress.lines + report["lines"],
            )
        progress.processes = len(spans)
        return progress
    finally:
        for child in children:
            child.close()


def _rest_in_one(reader: ExportReader, append: Append, spill: t.Callable[[], t.Any], done: Progress) -> Progress:
    """Read the whole file in this process, past the ``done`` records already handed on."""
    return reader.emit(append, spill, base=Progress(0, done.dropped, 0), skip=done.records)


def _die_with_parent(parent: int) -> None:
    """Have the kernel kill this child when the tap's process ends, even by SIGKILL (Linux),
    so no child outlives a killed run; elsewhere the parent's cleanup has to do."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent ended before the call above took effect
        os._exit(1)


def _load_prctl() -> t.Callable[..., int] | None:
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # not Linux
        return None


_PR_SET_PDEATHSIG = 1
_PRCTL = _load_prctl() if sys.platform.startswith("linux") else None


def _fork(
    reader: ExportReader,
    append: Append,
    spill: t.Callable[[], t.Any],
    span: tuple[int, int],
    *,
    strict: bool,
    temp_dir: str | None,
) -> _Child:
    lines = tempfile.TemporaryFile(dir=temp_dir)  # noqa: SIM115 (closed by _Child.close)
    status_read, status_write = os.pipe()
    parent = os.getpid()
    with interrupts.held():  # the parent knows its child before any stop can unwind it
        pid = os.fork()
        if pid:
            os.close(status_write)
            return _Child(pid, span, lines, status_read)
    # The child: never returns into the caller's frames.
    code = 1
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        _die_with_parent(parent)
        os.close(status_read)
        os.dup2(lines.fileno(), sys.stdout.fileno())
        before = output.counts()
        progress = reader.emit(append, spill, span, strict=strict)
        output.flush()
        report = {
            "records": progress.records,
            "dropped": progress.dropped,
            "lines": progress.lines,
            "counts": [after - was for after, was in zip(output.counts(), before, strict=False)],
        }
        os.write(status_write, json.dumps(report).encode())
        code = 0
    except BaseException:
        output.abandon()  # the parent reads this range again: its batch files must not stay
    finally:
        os._exit(code)
