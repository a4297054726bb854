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
import time
import typing as t

from tap_marketo_bulk import batches, interrupts, output
from tap_marketo_bulk.reader import ExportReader, NotARecordBoundary, Progress

LOGGER = logging.getLogger(__name__)

#: Ranges are at least this large: below it a fork costs more than it saves.
MIN_SEGMENT_BYTES = 8 << 20
#: Default cap on processes per file: the target, not the tap, sets the pace beyond it.
MAX_DEFAULT_PROCESSES = 4


def default_processes() -> int:
    """On Linux, the CPUs this process may run on, at most :data:`MAX_DEFAULT_PROCESSES`.

    Elsewhere 1: Windows has no fork, and on macOS a fork without exec can crash in system
    frameworks (a crashed child is only read again, but that wastes its work). There,
    ``parse_processes`` opts in.
    """
    if not sys.platform.startswith("linux"):
        return 1
    return max(1, min(len(os.sched_getaffinity(0)), MAX_DEFAULT_PROCESSES))


Append = t.Callable[[dict[str, t.Any]], t.Any]


#: Seconds a child has to remove its unannounced batch files after SIGTERM, before SIGKILL.
STOP_GRACE_SECONDS = 5.0
#: The signals a fork must not be cut by (see :func:`_fork`).
_STOPS = {signal.SIGINT, signal.SIGTERM}


@dataclasses.dataclass
class _Child:
    pid: int
    span: tuple[int, int]
    output: t.BinaryIO
    status: int
    reaped: bool = False
    closed: bool = False
    #: Bytes of its output already copied to stdout: the batch files announced there are the
    #: target's; those announced after it are deleted if the child's lines are given up.
    copied: int = 0

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

    def copy_out(self) -> None:
        """Write the child's lines to stdout, after what this process wrote."""

        def copied(offset: int) -> None:
            self.copied = offset

        output.copy_lines(self.output.fileno(), os.fstat(self.output.fileno()).st_size, copied)

    def close(self) -> None:
        """Stop (SIGTERM, then SIGKILL after a grace period) and reap the child, and delete
        the batch files it announced but that were not copied out. Idempotent."""
        if self.closed:
            return
        self.closed = True
        try:
            if not self.reaped:
                self._stop()
            if batches.in_use():
                self.output.seek(self.copied)
                batches.remove_files(url for line in self.output for url in batches.announced_files(line))
        finally:
            os.close(self.status)
            self.output.close()

    def _stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)  # the child deletes its open batch files first
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        while time.monotonic() < deadline:
            if os.waitpid(self.pid, os.WNOHANG)[0]:
                self.reaped = True
                return
            time.sleep(0.01)
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        self.reaped = True


def _close(children: list[_Child]) -> None:
    """Close every child, each even if another fails, with interrupts held."""
    with interrupts.held(), contextlib.ExitStack() as stack:
        for child in children:
            stack.callback(child.close)


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
            try:
                _fork(reader, append, spill, span, strict=number < len(spans), temp_dir=temp_dir, children=children)
            except OSError as exc:  # no process left (pids limit, memory): this one reads the rest
                LOGGER.warning("Could not start a parsing process (%s); the tap's process reads the rest", exc)
                break
        base = Progress(lines=reader.header_lines)
        try:
            progress = reader.emit(append, spill, spans[0], base=base, strict=True)
        except NotARecordBoundary as exc:
            LOGGER.warning(
                "Export file %s quotes values outside RFC 4180, so it cannot be cut safely; reading it in one process",
                reader.path.name,
            )
            _close(children)
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
                _close(children)
                return reader.emit(append, spill, (child.span[0], reader.size), base=progress)
            output.flush()
            child.copy_out()
            output.add_counts(report["counts"])
            progress = Progress(
                progress.records + report["records"],
                progress.dropped + report["dropped"],
                progress.lines + report["lines"],
            )
        if len(children) < len(spans) - 1:  # a fork failed: the rest, from a proven boundary
            progress = reader.emit(append, spill, (spans[len(children) + 1][0], reader.size), base=progress)
        progress.processes = 1 + len(children)
        return progress
    finally:
        _close(children)


def _rest_in_one(reader: ExportReader, append: Append, spill: t.Callable[[], t.Any], done: Progress) -> Progress:
    """Read the whole file in this process, past the ``done`` records already handed on."""
    return reader.emit(append, spill, base=Progress(0, done.dropped, 0), skip=done.records)


def _die_with_parent(parent: int) -> None:
    """Have the kernel send this child SIGTERM when the tap's process ends, even by SIGKILL
    (Linux), so no child outlives a killed run; elsewhere the parent's cleanup has to do."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the parent ended before the call above took effect
        os._exit(1)


def _load_prctl() -> t.Callable[..., int] | None:
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl
    except (ImportError, OSError, AttributeError):  # not Linux, or a Python without ctypes
        return None


_PR_SET_PDEATHSIG = 1
_PRCTL = _load_prctl() if sys.platform.startswith("linux") else None


def _abandon_and_exit(signum: int, frame: t.Any) -> None:
    """A child's SIGTERM: delete the batch files it has not announced, then exit."""
    output.abandon()
    os._exit(1)


def _fork(
    reader: ExportReader,
    append: Append,
    spill: t.Callable[[], t.Any],
    span: tuple[int, int],
    *,
    strict: bool,
    temp_dir: str | None,
    children: list[_Child],
) -> None:
    """Start a child for ``span`` and add it to ``children``.

    A stop must neither lose the child nor run in it: the parent holds interrupts until the
    child is in ``children`` (so it is stopped and reaped), and SIGINT/SIGTERM are blocked
    across the fork until the child has its own handlers (Python already drops, in a child,
    signals the parent received but had not handled yet). So a child never runs the parent's
    stop code, such as cancelling export jobs.
    """
    lines = tempfile.TemporaryFile(dir=temp_dir)  # noqa: SIM115 (closed by _Child.close)
    try:
        status_read, status_write = os.pipe()
    except OSError:
        lines.close()
        raise
    parent = os.getpid()
    with interrupts.held():
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, _STOPS)
        try:
            pid = os.fork()
        except OSError:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            for fd in (status_read, status_write):
                os.close(fd)
            lines.close()
            raise
        if not pid:
            _child(reader, append, spill, span, strict, lines, status_read, status_write, parent, mask)
        os.close(status_write)
        children.append(_Child(pid, span, lines, status_read))
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def _child(
    reader: ExportReader,
    append: Append,
    spill: t.Callable[[], t.Any],
    span: tuple[int, int],
    strict: bool,
    lines: t.BinaryIO,
    status_read: int,
    status_write: int,
    parent: int,
    mask: t.Iterable[int],
) -> t.NoReturn:
    """A child's whole life: its range's records onto ``lines``, a report, ``os._exit``."""
    code = 1
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the terminal's Ctrl-C is the parent's to handle
        signal.signal(signal.SIGTERM, _abandon_and_exit)
        interrupts.reset()
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
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
