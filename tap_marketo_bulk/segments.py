"""One large export file parsed by several processes, its records written in file order.

Parsing, typing and encoding cost about as much CPU per row as Python's csv module itself, so
one process cannot keep up with a fast target. A verified file is therefore read in byte ranges
cut at record boundaries, several per process. The tap's process forks children that run the
very same record code (the stream's writers, routing of activity rows) with their stdout
pointed at unnamed temporary files, and report each range they finish. Ranges are claimed one
at a time (:class:`_Claims`): the tap's process carves them off the front of what is left and
writes their records straight to stdout, the children carve them off the back. When the two
ends meet, the tap's process copies the children's ranges out in file order, so the output is
byte for byte what one process would write, just sooner.

Why ranges claimed on demand: on a shared machine one CPU is often slower than the other for a
while. With one fixed half per process the run lasts as long as the slower half; with ranges
taken as each process gets free, a slow CPU simply takes fewer, and the processes end at most
one range apart. Why each range is a share of what is left (guided self-scheduling): the first
ranges are large and the last ones, those that decide how far apart the processes end, small,
wherever the ends meet; and there are few ranges in all (each costs a little to start).
Why cuts are found at claim time: each process reads only the stretch of the file it claims to
find its cut, so no process scans the whole file before the others can start.

Why the boundaries hold: a range is cut after a LF with an even number of quote characters
between it and a record boundary, before it (the front) or after it (the back). In RFC 4180
quoting every record holds an even number of quotes, so either count puts the cut outside any
quoted value. Files that break that rule are caught, whichever end found the cut: every range
but the last is read with csv's ``strict`` mode, which raises when a range ends inside a quoted
value (a cut after a LF is either there or at a record start). Ranges tile the file, and the
first starts at a record boundary; a range that starts at one and is read that way without error
ends where a single reader would have ended a record, so the next range starts where that reader
would. If a range fails in any way (strict refusal, a malformed row, a crashed child) the parent
reads the file on from that range's start in one piece, as a single process would, with the same
record numbers in any error; nothing is written twice, nothing skipped.

Signals: a child ignores SIGINT (the terminal sends it to the whole process group; the parent
decides); on SIGTERM it deletes the batch files it has not announced and exits, once any held
section has ended (:func:`_stop_at_a_safe_point`). Whatever ends the parent's work ends the children: they are
killed and reaped, and their files vanish with them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import signal
import struct
import sys
import tempfile
import time
import typing as t

from tap_marketo_bulk import batches, interrupts, output

try:
    import fcntl
except ImportError:  # Windows, which has no fork either: files are read in one process there
    fcntl = None
from tap_marketo_bulk.reader import ExportReader, NotARecordBoundary, Progress

LOGGER = logging.getLogger(__name__)

#: Ranges are at least this large, so a file is split only from twice this size: starting a
#: range (a view of the file, a csv reader, a report) costs about half a millisecond, a fork a
#: few.
MIN_SEGMENT_BYTES = 2 << 20
#: The smallest ranges are 1/32 of each process's share of the file: the processes end about
#: that far apart.
FINEST_RANGES_PER_PROCESS = 32
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


class _Claims:
    """The bytes of the file no process has claimed yet, shared by the tap's process and its
    children.

    Two offsets, where those bytes start and end, in a small unnamed file that every process
    reads and updates under a POSIX record lock (``lockf``): such locks belong to a process,
    so they exclude a forked child from its parent, and the kernel releases them when a
    process dies, so a killed child never leaves the others waiting. The claimed ranges tile
    the data rows exactly, whoever found their cuts.
    """

    _LAYOUT = struct.Struct("<qq")

    def __init__(self, reader: ExportReader, processes: int, min_bytes: int, temp_dir: str | None) -> None:
        assert reader.data_start is not None
        self._reader = reader
        self._processes = processes
        share = (reader.size - reader.data_start) // processes
        #: The smallest range a claim carves (but for what is left at the end).
        self.finest = max(min_bytes, share // FINEST_RANGES_PER_PROCESS)
        self._file = tempfile.TemporaryFile(dir=temp_dir)  # noqa: SIM115 (closed by close())
        os.pwrite(self._file.fileno(), self._LAYOUT.pack(reader.data_start, reader.size), 0)

    def take(self, *, first: bool) -> tuple[int, int] | None:
        """Claim a range off the front (the tap's process) or the back (a child) of the bytes
        left; None when none are."""
        fd = self._file.fileno()
        with interrupts.held():
            fcntl.lockf(fd, fcntl.LOCK_EX)
            try:
                low, high = self._LAYOUT.unpack(os.pread(fd, self._LAYOUT.size, 0))
                if low >= high:
                    return None
                span = self._carve(low, high, first=first)
                os.pwrite(fd, self._LAYOUT.pack(*((span[1], high) if first else (low, span[0]))), 0)
                return span
            finally:
                fcntl.lockf(fd, fcntl.LOCK_UN)

    def _carve(self, low: int, high: int, *, first: bool) -> tuple[int, int]:
        """A range of about 1 / (2 x processes) of bytes ``low`` to ``high``, and never less
        than the finest size, cut at a record boundary found from its own end of them (all of
        them when no cut is left). Found under the lock: it reads only the range's bytes, and
        the tap's process takes its first range before any child starts."""
        size = max(self.finest, (high - low) // (2 * self._processes))
        if high - low < size + self.finest:
            return low, high
        cut = self._reader.boundary_after(low + size, low) if first else self._reader.boundary_before(high - size, high)
        if cut is None or not low < cut < high:
            return low, high
        return (low, cut) if first else (cut, high)

    def close(self) -> None:
        """Release the file."""
        self._file.close()


@dataclasses.dataclass
class _Child:
    pid: int
    output: t.BinaryIO
    status: int
    reaped: bool = False
    closed: bool = False
    #: Byte ranges of its output already copied to stdout: the batch files announced there are
    #: the target's; those announced elsewhere are deleted when the child is closed.
    copied: list[list[int]] = dataclasses.field(default_factory=list)

    def reports(self) -> list[dict[str, t.Any]]:
        """Wait for the child to exit; the reports of the ranges it finished (all of them
        valid even if it failed later: each is sent only once its lines are written)."""
        chunks = []
        while chunk := os.read(self.status, 1 << 16):
            chunks.append(chunk)
        os.waitpid(self.pid, 0)
        self.reaped = True
        return [json.loads(line) for line in b"".join(chunks).splitlines()]

    def copy_out(self, report: dict[str, t.Any]) -> None:
        """Write the lines of one reported range to stdout, after what this process wrote."""
        start = report["offset"]
        done = [start, start]
        self.copied.append(done)

        def copied(offset: int) -> None:
            done[1] = offset

        output.copy_lines(self.output.fileno(), start, start + report["size"], copied)

    def close(self) -> None:
        """Stop (SIGTERM, then SIGKILL after a grace period) and reap the child, and delete
        the batch files it announced but that were not copied out. Idempotent."""
        if self.closed:
            return
        self.closed = True
        try:
            if not self.reaped:
                self._stop()
            config = batches.config_in_use()
            if config is not None:
                uncopied = (url for line in self._uncopied_lines() for url in batches.announced_files(line))
                batches.remove_files(uncopied, config)
        finally:
            os.close(self.status)
            self.output.close()

    def _uncopied_lines(self) -> t.Iterator[bytes]:
        self.output.seek(0)
        offset = 0
        for line in self.output:
            if not any(start <= offset < end for start, end in self.copied):
                yield line
            offset += len(line)

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
    start = reader.data_start
    if processes < 2 or not hasattr(os, "fork") or start is None or reader.size - start < 2 * min_bytes:
        return reader.emit(append, spill)
    output.flush()  # a child must not inherit records still to be written
    claims = _Claims(reader, processes, min_bytes, temp_dir)
    work = _Work(reader, append, spill, claims)
    children: list[_Child] = []
    try:
        span = claims.take(first=True)  # before any child starts: none waits while it finds the cut
        if span is not None and span[1] < reader.size:
            for _ in range(min(processes - 1, max(1, (reader.size - span[1]) // claims.finest))):  # a range each
                try:
                    _fork(work, temp_dir=temp_dir, children=children)
                except OSError as exc:  # no process left (pids limit, memory): the others read more
                    LOGGER.warning("Could not start a parsing process (%s); the tap's process reads the rest", exc)
                    break
        progress = Progress(lines=reader.header_lines)
        reached, mine = start, 0
        while span is not None:
            try:
                after = reader.emit(append, spill, span, base=progress, strict=span[1] < reader.size)
            except NotARecordBoundary as exc:
                LOGGER.warning(
                    "Export file %s quotes values outside RFC 4180, so it cannot be cut safely; reading it on "
                    "in one process",
                    reader.path.name,
                )
                _close(children)
                return _rest_in_one(reader, append, spill, span[0], progress, exc.progress)
            progress, reached, mine = after, span[1], mine + 1
            span = claims.take(first=True)
        done = {report["span"][0]: (child, report) for child in children for report in child.reports()}
        ranges = mine + len(done)
        while reached < reader.size:
            if reached not in done:
                LOGGER.warning(
                    "Export file %s: the process parsing from byte %d stopped; reading the file on from there "
                    "in the tap's process",
                    reader.path.name,
                    reached,
                )
                _close(children)
                return reader.emit(append, spill, (reached, reader.size), base=progress)
            child, report = done[reached]
            output.flush()
            child.copy_out(report)
            output.add_counts(report["counts"])
            progress = Progress(
                progress.records + report["records"],
                progress.dropped + report["dropped"],
                progress.lines + report["lines"],
            )
            reached = report["span"][1]
        LOGGER.debug(
            "Export file %s: %d ranges in %d processes, %d of them read by the tap's process",
            reader.path.name,
            ranges,
            1 + len(children),
            mine,
        )
        progress.processes = 1 + len(children)
        return progress
    finally:
        _close(children)
        claims.close()


def _rest_in_one(
    reader: ExportReader,
    append: Append,
    spill: t.Callable[[], t.Any],
    start: int,
    before: Progress,
    done: Progress,
) -> Progress:
    """Read the file on from byte ``start`` in this process: ``before`` is the progress up to
    there, ``done`` up to the records already handed on."""
    base = Progress(before.records, done.dropped, before.lines)
    return reader.emit(append, spill, (start, reader.size), base=base, skip=done.records - before.records)


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


class _Stopped(BaseException):
    """A child's SIGTERM, raised where no batch file is half created or half announced."""


def _stop_at_a_safe_point(signum: int, frame: t.Any) -> None:
    """A child's SIGTERM: inside a held section (:mod:`interrupts`), such as the one that
    closes a batch file and writes its BATCH message, stop when it ends (:func:`_child` then
    deletes the files not announced); outside one, delete them and exit now. Acting inside
    one could leave a finished file that no message announces and no process deletes."""
    if interrupts.holding():
        interrupts.interrupt(_Stopped())
        return
    _abandon_and_exit()


def _abandon_and_exit() -> t.NoReturn:
    """Delete this child's batch files not yet announced and exit, with SIGTERM ignored from
    here on: a second one must not cut the deletion short (the parent SIGKILLs after
    :data:`STOP_GRACE_SECONDS`)."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    output.abandon()
    os._exit(1)


@dataclasses.dataclass
class _Work:
    """What a child needs: the file, the record sink, and the bytes left to claim."""

    reader: ExportReader
    append: Append
    spill: t.Callable[[], t.Any]
    claims: _Claims


def _fork(work: _Work, *, temp_dir: str | None, children: list[_Child]) -> None:
    """Start a child that claims ranges from the back, and add it to ``children``.

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
            _child(work, lines, status_read, status_write, parent, mask)
        os.close(status_write)
        children.append(_Child(pid, lines, status_read))
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def _child(
    work: _Work,
    lines: t.BinaryIO,
    status_read: int,
    status_write: int,
    parent: int,
    mask: t.Iterable[int],
) -> t.NoReturn:
    """A child's whole life: ranges claimed from the back, each range's records onto
    ``lines`` and a report line about it on ``status_write``, then ``os._exit``."""
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the terminal's Ctrl-C is the parent's to handle
        signal.signal(signal.SIGTERM, _stop_at_a_safe_point)
        interrupts.reset()
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        _die_with_parent(parent)
        os.close(status_read)
        stdout = sys.stdout.fileno()
        os.dup2(lines.fileno(), stdout)
        while (span := work.claims.take(first=False)) is not None:
            before, offset = output.counts(), os.lseek(stdout, 0, os.SEEK_CUR)
            progress = work.reader.emit(work.append, work.spill, span, strict=span[1] < work.reader.size)
            output.flush()  # the range's lines, and the BATCH messages of its files, are whole
            report = {
                "span": span,
                "offset": offset,
                "size": os.lseek(stdout, 0, os.SEEK_CUR) - offset,
                "records": progress.records,
                "dropped": progress.dropped,
                "lines": progress.lines,
                "counts": [after - was for after, was in zip(output.counts(), before, strict=False)],
            }
            os.write(status_write, json.dumps(report).encode() + b"\n")
    except BaseException:
        _abandon_and_exit()  # the parent reads this range again: its batch files must not stay
    os._exit(0)
