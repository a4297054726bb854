"""Command line for ``tap-marketo-bulk-sandbox``: serve the sandbox until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any

from .app import SandboxServer
from .entities import ENTITY_PATHS, PERMISSION_ENTITIES
from .server import SandboxOptions

_D = SandboxOptions()


def build_parser() -> argparse.ArgumentParser:
    """Every option documented in --help; defaults mirror Marketo's documented limits."""
    p = argparse.ArgumentParser(
        prog="tap-marketo-bulk-sandbox",
        description="Local Marketo-compatible REST/bulk-extract sandbox (binds 127.0.0.1 only). "
        "Prints 'Marketo sandbox listening on http://127.0.0.1:PORT' once ready.",
    )
    p.add_argument("--port", type=int, default=0, help="TCP port; 0 picks a free port (default: 0)")
    p.add_argument("--client-id", default=_D.client_id, help=f"OAuth client id (default: {_D.client_id})")
    p.add_argument(
        "--client-secret",
        default=_D.client_secret,
        help=f"OAuth client secret (default: {_D.client_secret})",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=_D.seed,
        help=f"random seed for the generated data (default: {_D.seed})",
    )
    p.add_argument("--leads", type=int, default=_D.leads, help=f"number of leads (default: {_D.leads})")
    p.add_argument(
        "--activities",
        type=int,
        default=_D.activities,
        help=f"number of activities (default: {_D.activities})",
    )
    p.add_argument(
        "--programs",
        type=int,
        default=_D.programs,
        help=f"number of programs (default: {_D.programs})",
    )
    p.add_argument(
        "--members-per-program",
        type=int,
        default=_D.members_per_program,
        help=f"program members per program (default: {_D.members_per_program})",
    )
    p.add_argument(
        "--start",
        default=_D.start,
        help=f"start of the data date range, ISO-8601 (default: {_D.start})",
    )
    p.add_argument("--end", default=_D.end, help=f"end of the data date range, ISO-8601 (default: {_D.end})")
    p.add_argument(
        "--status-refresh-seconds",
        type=float,
        default=_D.status_refresh_seconds,
        help="a job's visible status changes at most every N seconds (default: 60)",
    )
    p.add_argument(
        "--processing-seconds-per-1000",
        type=float,
        default=_D.processing_seconds_per_1000_records,
        help="processing time per 1000 exported records (default: 1.0)",
    )
    p.add_argument(
        "--min-processing-seconds",
        type=float,
        default=_D.min_processing_seconds,
        help="minimum processing time of a job (default: 0)",
    )
    p.add_argument(
        "--export-quota-mb",
        type=float,
        default=_D.export_quota_mb,
        help="daily bulk export quota in MB, resets midnight America/Chicago (default: 500)",
    )
    p.add_argument(
        "--disable-filter",
        action="append",
        default=[],
        metavar="ENTITY.FILTER",
        help="answer 1035 for this filter; repeatable: leads.updatedAt, leads.smartListId, "
        "leads.smartListName, program_members.updatedAt, customobjects.updatedAt, "
        "customobjects.smartListId, customobjects.smartListName",
    )
    p.add_argument(
        "--custom-object-records",
        type=int,
        default=_D.custom_object_records,
        help=f"purchase_c records; subscription_c gets 2/3, invoice_c 1/3, usage_c 1/5 of it "
        f"(default: {_D.custom_object_records})",
    )
    p.add_argument(
        "--denied-custom-objects",
        default=",".join(sorted(_D.denied_custom_objects)),
        metavar="API_NAMES",
        help="comma-separated custom objects the API user may not read (603 Access denied); "
        "'' for none (default: %(default)s)",
    )
    p.add_argument(
        "--missing-entity",
        action="append",
        default=[],
        metavar="ENTITY",
        help="an entity this subscription does not have; repeatable: " + ", ".join(sorted(ENTITY_PATHS)),
    )
    p.add_argument(
        "--missing-entity-answer",
        default=_D.missing_entity_answer,
        metavar="CODE",
        help="how a missing entity is answered (undocumented): an envelope code such as 610 or 1026 "
        "(CODE:message to set the message), or 404 for HTTP 404 with an HTML page (default: %(default)s)",
    )
    p.add_argument(
        "--missing-permission",
        action="append",
        default=[],
        metavar="PERMISSION",
        help="a permission the API user's role lacks; repeatable: " + ", ".join(sorted(PERMISSION_ENTITIES)),
    )
    p.add_argument(
        "--missing-permission-answer",
        default=_D.missing_permission_answer,
        metavar="CODE",
        help="how a call the role may not make is answered, as --missing-entity-answer (default: %(default)s)",
    )
    p.add_argument(
        "--custom-object-list-state",
        action="store_true",
        help="List/Describe Custom Objects carry state/version and show draft types (default: as the docs' examples)",
    )
    p.add_argument(
        "--job-list-status-lenient",
        action="store_true",
        help="job list status filter ignores case and accepts 'Canceled' (default: exact values)",
    )
    p.add_argument(
        "--updated-at-exclusive",
        action="store_true",
        help="asset API earliestUpdatedAt/latestUpdatedAt bounds are exclusive (default: inclusive)",
    )
    p.add_argument(
        "--asset-status-reading",
        choices=["versions", "latest"],
        default=_D.asset_status_reading,
        help="what an asset browse by status shows of an asset with one version: versions (that version "
        "only; no status: every version) or latest (status=draft also shows approved-only assets; no "
        "status: one row per asset) (default: %(default)s)",
    )
    p.add_argument(
        "--page-limit",
        type=int,
        default=None,
        help="most rows per REST listing page whatever maxReturn/batchSize ask (default: what they ask)",
    )
    p.add_argument(
        "--end-at-exclusive",
        action="store_true",
        help="treat filter endAt as exclusive (default: inclusive)",
    )
    p.add_argument(
        "--token-ttl",
        type=int,
        default=_D.token_ttl_seconds,
        help="access token lifetime in seconds (default: 3600)",
    )
    return p


def options_from_args(ns: argparse.Namespace) -> SandboxOptions:
    return SandboxOptions(
        seed=ns.seed,
        leads=ns.leads,
        activities=ns.activities,
        programs=ns.programs,
        members_per_program=ns.members_per_program,
        start=ns.start,
        end=ns.end,
        status_refresh_seconds=ns.status_refresh_seconds,
        processing_seconds_per_1000_records=ns.processing_seconds_per_1000,
        min_processing_seconds=ns.min_processing_seconds,
        export_quota_mb=ns.export_quota_mb,
        client_id=ns.client_id,
        client_secret=ns.client_secret,
        token_ttl_seconds=ns.token_ttl,
        disabled_filters=frozenset(ns.disable_filter),
        end_at_inclusive=not ns.end_at_exclusive,
        custom_object_records=ns.custom_object_records,
        denied_custom_objects=frozenset(n.strip() for n in ns.denied_custom_objects.split(",") if n.strip()),
        custom_object_list_state=ns.custom_object_list_state,
        job_list_status_lenient=ns.job_list_status_lenient,
        updated_at_inclusive=not ns.updated_at_exclusive,
        asset_status_reading=ns.asset_status_reading,
        page_limit=ns.page_limit,
        missing_entities=frozenset(ns.missing_entity),
        missing_entity_answer=ns.missing_entity_answer,
        missing_permissions=frozenset(ns.missing_permission),
        missing_permission_answer=ns.missing_permission_answer,
        host="127.0.0.1",
        port=ns.port,
    )


def main(argv: list[str] | None = None) -> int:
    """Run until SIGTERM/SIGINT, then stop cleanly and return 0."""
    ns = build_parser().parse_args(argv)
    stop = threading.Event()

    def _on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    try:
        sb = SandboxServer(options_from_args(ns)).start()
    except OSError as exc:  # the port is taken, most often by a sandbox still running
        print(
            f"tap-marketo-bulk-sandbox: cannot listen on 127.0.0.1:{ns.port} ({exc.strerror}); stop what "
            "uses that port (a sandbox still running?) or choose another with --port (0: any free port)",
            file=sys.stderr,
        )
        return 1
    try:
        print(f"Marketo sandbox listening on {sb.url}", flush=True)
        while not stop.wait(0.2):
            pass
    finally:
        sb.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
