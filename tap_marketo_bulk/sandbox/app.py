"""SandboxServer: wires data, clock, faults, job manager and the HTTP server together."""

from __future__ import annotations

import threading
from typing import Any

from .data import SandboxData
from .entities import check_names
from .faults import Faults
from .jobs import Clock, JobManager
from .server import ApiState, Handler, SandboxOptions, _HTTPServer


class SandboxServer:
    """A Marketo-compatible server on a daemon thread; use ``start``/``stop`` or as a context manager."""

    def __init__(self, options: SandboxOptions | None = None) -> None:
        self.options = options or SandboxOptions()
        o = self.options
        check_names(o.missing_entities, o.missing_permissions)
        self.clock = Clock()
        self.data = SandboxData(
            seed=o.seed,
            leads=o.leads,
            activities=o.activities,
            programs=o.programs,
            members_per_program=o.members_per_program,
            start=o.start,
            end=o.end,
            custom_object_records=o.custom_object_records,
        )
        self.faults = Faults()
        self.api = ApiState(o, self.clock)
        self.job_manager = JobManager(self.data, self.clock, o, self.faults.take)
        #: (method, path without query, parsed JSON body or None) of every request received.
        self.requests: list[tuple[str, str, Any]] = []
        #: Same requests with query parameters and headers, for deeper assertions.
        self.request_log: list[dict[str, Any]] = []
        self._log_lock = threading.Lock()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    def _log(self, method: str, path: str, body: Any, query: dict[str, str], headers: dict[str, str]) -> None:
        with self._log_lock:
            self.requests.append((method, path, body))
            self.request_log.append({"method": method, "path": path, "body": body, "query": query, "headers": headers})

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321``."""
        if self._httpd is None:
            raise RuntimeError("sandbox not started")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def start(self) -> SandboxServer:
        """Bind and serve in a daemon thread."""
        if self._httpd is not None:
            return self
        self._httpd = _HTTPServer((self.options.host, self.options.port), Handler)
        self._httpd.sandbox = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="marketo-sandbox",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port; safe to call twice."""
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def advance(self, seconds: float) -> None:
        """Move the sandbox clock forward (jobs, tokens, rate window, quotas, file expiry)."""
        self.clock.advance(seconds)

    def jobs(self, entity: str | None = None) -> list[dict[str, Any]]:
        """Every job (of ``entity`` if given) with true status, entity and the create body as received."""
        return [j for j in self.job_manager.describe_all() if entity is None or j["entity"] == entity]

    def created_jobs(self) -> dict[str, int]:
        """Jobs created so far per entity (``leads``, ``program_members``, ``customobjects/purchase_c``, ...),
        counted when the job is created - also when the create answer was held or lost (faults)."""
        with self.job_manager.lock:
            return dict(self.job_manager.created)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
