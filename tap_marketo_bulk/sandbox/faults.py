"""Fault injection: each registered fault fires on the next ``count`` matching requests/events."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

KINDS = frozenset(
    {
        "http_500",
        "http_502",
        "http_503",
        "code_604",
        "code_606",
        "code_607",
        "code_611",
        "code_615",
        "expire_token",
        "invalidate_token",
        "drop_download",
        "corrupt_download",
        "file_gone",
        "fail_job",
        "stuck_queued",
        "quota_exhausted",
        "queue_full",
        "malformed_row",
        "delay",  # extra: sleep params["seconds"] inside the request (to provoke real 615s in tests)
        # create.json only, after validation: the job is created at once (it counts toward the
        # limits and is in the job list), then the answer is held params["seconds"] (default 5) ...
        "hold_create",
        # ... or replaced by HTTP 502 (a client cannot tell that the job exists).
        "create_then_502",
    }
)


@dataclass
class Fault:
    kind: str
    path_contains: str
    count: int
    params: dict[str, Any] = field(default_factory=dict)


class Faults:
    """Registry consulted by the server (request faults) and the job manager (job faults)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self.fired: list[tuple[str, str]] = []

    def add(self, kind: str, path_contains: str = "", count: int = 1, **params: Any) -> None:
        """Register ``kind`` for the next ``count`` requests whose path contains ``path_contains``."""
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {sorted(KINDS)}")
        with self._lock:
            self._faults.append(Fault(kind, path_contains, count, params))

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def pending(self) -> list[Fault]:
        with self._lock:
            return [f for f in self._faults if f.count > 0]

    def take(self, kind: str, path: str) -> dict[str, Any] | None:
        """Consume one firing of the first matching fault; returns its params, or None."""
        with self._lock:
            for f in self._faults:
                if f.kind == kind and f.count > 0 and f.path_contains in path:
                    f.count -= 1
                    self.fired.append((kind, path))
                    return dict(f.params)
            return None
