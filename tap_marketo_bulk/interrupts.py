"""SIGINT/SIGTERM delivered at safe points only.

Python runs a signal handler between any two bytecodes. Raising there can cut a job creation
in half (created at Marketo, not yet remembered in STATE) or a write to stdout in half (a
broken line or a STATE ahead of its records). Such sections run inside :func:`held`; an
interrupt that arrives meanwhile is raised when the outermost section ends, and retries of
HTTP calls stop at once (:func:`requested`) so the wait stays short.
"""

from __future__ import annotations

import contextlib
import typing as t

_depth = 0
_pending: BaseException | None = None
_requested = False


@contextlib.contextmanager
def held() -> t.Iterator[None]:
    """Run a section that an interrupt must not cut; the interrupt is raised at its end."""
    global _depth, _pending
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
    # Reached only when the section ended normally: an error already unwinding is not hidden.
    if not _depth and _pending is not None:
        pending, _pending = _pending, None
        raise pending


def interrupt(exc: BaseException) -> None:
    """From a signal handler: raise ``exc`` now, or when the current held section ends."""
    global _pending, _requested
    _requested = True
    if _depth:
        _pending = exc
        return
    raise exc


def requested() -> bool:
    """Whether an interrupt arrived: retries give up, so the stop is not delayed by backoff."""
    return _requested
