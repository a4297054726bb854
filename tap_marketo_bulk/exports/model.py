"""The vocabulary of bulk exports: what a job exports, a job as this run knows it, its file.

The modules around it each do one thing with these: :mod:`~tap_marketo_bulk.exports.jobs`
makes Marketo's job calls, :mod:`~tap_marketo_bulk.exports.downloads` fetches and verifies files,
:mod:`~tap_marketo_bulk.exports.recovery` finds jobs an interrupted run left at Marketo,
:mod:`~tap_marketo_bulk.exports.spend` counts what a run spends, and
:mod:`~tap_marketo_bulk.exports.runner` keeps jobs in flight and hands files back in order.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
import typing as t
from pathlib import Path

from tap_marketo_bulk import errors
from tap_marketo_bulk.windows import Window

#: Statuses after which a job never changes.
FINAL_STATES = frozenset({"Completed", "Failed", "Cancelled"})
#: The bulk entities every instance has; also where a STATE entry of an earlier version (no
#: ``entity`` key) may have its job.
STANDARD_ENTITIES = ("leads", "activities", "program/members")


@dataclasses.dataclass(frozen=True)
class ExportRequest:
    """What one export job extracts: the bulk entity path, the create body, its window."""

    entity: str  # "leads", "activities", "program/members" or "customobjects/<apiName>"
    body: dict[str, t.Any]
    window: Window | None = None
    label: str = ""
    #: The file's columns when they are not just the body's ``fields`` (a program member
    #: export by ``programIds`` leads with ``programId``).
    columns: tuple[str, ...] = ()

    def key(self) -> str:
        """Stable identity of what this job exports, to find its job again after a restart.

        Two requests with the same entity and body export the same records, so a job created
        for one can serve the other; a changed selection or filter gives a different key.
        """
        canonical = json.dumps([self.entity, self.body], sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:20]

    def file_columns(self) -> list[str]:
        """The columns the export file carries, in any order."""
        return list(self.columns or self.body["fields"])

    def describe(self) -> str:
        """Short text for logs and errors: entity, window, label."""
        parts = [self.entity]
        if self.window:
            parts.append(str(self.window))
        if self.label:
            parts.append(self.label)
        return " ".join(parts)


@dataclasses.dataclass
class ExportJob:
    """One Marketo export job as this run knows it."""

    request: ExportRequest
    export_id: str
    status: str = "Created"
    enqueued: bool = False
    attempt: int = 1
    created_at: float = dataclasses.field(default_factory=time.monotonic)
    details: dict[str, t.Any] = dataclasses.field(default_factory=dict)
    #: When a "still waiting" line was last logged, so long waits show progress each minute.
    last_progress_log: float = 0.0
    #: Found in Marketo's job list for an intent: its file's header is checked before use.
    adopted: bool = False

    def __post_init__(self) -> None:
        self.last_progress_log = self.last_progress_log or self.created_at

    def path(self, action: str) -> str:
        """URL path of one lifecycle call (``enqueue.json``, ``status.json``, ...)."""
        return f"/bulk/v1/{self.request.entity}/export/{self.export_id}/{action}"

    def state_entry(self) -> dict[str, t.Any]:
        """What STATE keeps of a job in flight, to re-attach to it after an interruption."""
        entry: dict[str, t.Any] = {"exportId": self.export_id, "key": self.request.key(), "entity": self.request.entity}
        if self.request.window:
            entry["window"] = str(self.request.window)
        if self.adopted:  # its file's header is still to be checked, also after a restart
            entry["adopted"] = True
        return entry


@dataclasses.dataclass(frozen=True)
class CreateIntent:
    """A job this run is about to create, written to STATE before the create call.

    If the run dies between Marketo creating the job and the STATE line naming it, the next
    run knows a job may exist for this request and looks for it in Marketo's job list
    (:mod:`tap_marketo_bulk.exports.recovery`) instead of paying for it twice. ``not_before`` is
    Marketo's time just before the call, from its ``Date`` header (ISO 8601, UTC, seconds).
    """

    request: ExportRequest
    not_before: str

    def state_entry(self) -> dict[str, str]:
        """The intent's STATE entry."""
        entry = {"key": self.request.key(), "entity": self.request.entity, "notBefore": self.not_before}
        entry["format"] = str(self.request.body.get("format") or "CSV")
        if self.request.window:
            entry["window"] = str(self.request.window)
        return entry


@dataclasses.dataclass(frozen=True)
class ExportFile:
    """A completed export's verified local file (``path`` is None when it had no records)."""

    request: ExportRequest
    export_id: str
    path: Path | None
    number_of_records: int
    size: int
    file_format: str = "CSV"

    def remove(self) -> None:
        """Delete the temporary file; exports can hold personal data."""
        if self.path is not None:
            self.path.unlink(missing_ok=True)


def first_result(envelope: t.Mapping[str, t.Any], path: str) -> dict[str, t.Any]:
    """The job object of a bulk answer; an answer without one is Marketo's fault, said so."""
    result = envelope.get("result")
    if not result or not isinstance(result[0], dict):
        msg = f"{path}: Marketo answered success without a job in 'result'; retry the run later"
        raise errors.TransientServerError(msg)
    return result[0]
