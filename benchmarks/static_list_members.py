"""What reading one static list's members costs each way: REST pages against one bulk export job.

Usage::

    .venv/bin/python benchmarks/static_list_members.py [--members 10000 100000]

For each size, starts the sandbox in this process with that many leads (its "All leads" list
holds them all) and reads the list's members with the tap's own code:

- **REST**: ``token_pages`` over ``/rest/v1/lists/{id}/leads.json?fields=id``, 300 a call, paced
  by the tap's limiter to Marketo's 100 calls per 20 s, in real time;
- **bulk**: one lead export job (``staticListId``, ``fields: ["id"]``) through ``ExportRunner``,
  polling every 60 s as the tap does by default, against Marketo's 60 s status refresh and 1 s
  of processing per 1,000 records, on a simulated clock (the runner's sleeps move the sandbox's
  clock), so minutes of queueing cost no real time.

It prints calls, export bytes and wall time (simulated for bulk) per path. The sandbox's lead
ids are 1..N; real lead ids have 7 to 8 digits, so a real file is about 9 bytes per member.
"""

from __future__ import annotations

import argparse
import tempfile
import time

from tap_marketo_bulk.exports.model import ExportRequest
from tap_marketo_bulk.exports.runner import ExportRunner
from tap_marketo_bulk.marketo.client import MarketoClient
from tap_marketo_bulk.records.reader import read_export
from tap_marketo_bulk.records.types import converter
from tap_marketo_bulk.sandbox import SandboxOptions, SandboxServer
from tap_marketo_bulk.streams.rest import token_pages


def measure(members: int) -> dict:
    options = SandboxOptions(
        leads=members,
        activities=0,
        programs=1,
        members_per_program=1,
        custom_object_records=3,
        status_refresh_seconds=60,
        processing_seconds_per_1000_records=1.0,
    )
    with SandboxServer(options) as sb:
        list_id = next(lst["id"] for lst in sb.data.static_lists if lst["name"] == "All leads")

        rest = MarketoClient(sb.url, options.client_id, options.client_secret)
        rest.get("/rest/v1/leads/describe.json")  # the token, outside the count
        before, started = rest.calls_made, time.monotonic()
        rows = sum(len(page) for page in token_pages(rest, f"/rest/v1/lists/{list_id}/leads.json", {"fields": "id"}))
        rest_result = {"calls": rest.calls_made - before, "rows": rows, "seconds": time.monotonic() - started}

        bulk = MarketoClient(sb.url, options.client_id, options.client_secret)
        bulk.get("/rest/v1/leads/describe.json")
        clock = {"now": 0.0}

        def sleep(seconds: float) -> None:
            clock["now"] += seconds
            sb.advance(seconds)

        with tempfile.TemporaryDirectory() as tmp:
            runner = ExportRunner(bulk, poll_interval=60, sleep=sleep, clock=lambda: clock["now"], temp_dir=tmp)
            before = bulk.calls_made
            request = ExportRequest(
                "leads", {"fields": ["id"], "format": "CSV", "filter": {"staticListId": list_id}}, label="list"
            )
            rows = size = 0
            for export_file in runner.run([request]):
                size = export_file.size
                rows = sum(1 for _ in read_export(export_file.path, {"id": converter("integer")}))
        bulk_result = {"calls": bulk.calls_made - before, "rows": rows, "bytes": size, "seconds": clock["now"]}
    return {"members": members, "rest": rest_result, "bulk": bulk_result}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, nargs="+", default=[10_000, 100_000])
    args = parser.parse_args()
    print("| members | REST calls | REST wall time | bulk calls | bulk export bytes | bulk time (simulated) |")
    print("|---|---|---|---|---|---|")
    for members in args.members:
        result = measure(members)
        rest, bulk = result["rest"], result["bulk"]
        assert rest["rows"] == bulk["rows"] == members, result
        print(
            f"| {members:,} | {rest['calls']:,} | {rest['seconds']:.1f} s | {bulk['calls']} | "
            f"{bulk['bytes']:,} | {bulk['seconds']:.0f} s |"
        )


if __name__ == "__main__":
    main()
