"""Programs, and their tags and costs.

The browse (``programs.json``) gives every program for a call per 200, but not its tags, costs
or start and end dates: Marketo's programs guide says "This endpoint does not return program
tags. Retrieve tags with Get Programs by ID or Get Programs by Name." So ``program_tags`` and
``program_costs`` make one Get Program by Id call per program, and only for the programs whose
``updatedAt`` (from the browse) is in their window: every program on a first run, those
changed since on the next. Both streams share the calls of one run.
"""

from __future__ import annotations

import typing as t

from tap_marketo_bulk.records.fields import BOOLEAN, DATETIME, INTEGER, STRING, Field
from tap_marketo_bulk.streams.assets import FOLDER
from tap_marketo_bulk.streams.rest import ASSETS_PERMISSION, Paging, RestStream, RestWindow, asset_pages

if t.TYPE_CHECKING:
    from tap_marketo_bulk.instance import MarketoInstance

PROGRAMS_PATH = "/rest/asset/v1/programs.json"


def program_listing(marketo: MarketoInstance) -> list[dict]:
    """Every program as the browse answers it, read once a run (the programs stream, program
    members' programs, and the programs whose tags and costs changed all come from it)."""
    return marketo.read_once(
        "programs", lambda: [row for page in asset_pages(marketo.client, PROGRAMS_PATH) for row in page]
    )


def program_by_id(marketo: MarketoInstance, program_id: int) -> dict:
    """Get Program by Id's answer (``{}`` for a program deleted since the browse), once a run."""
    path = f"/rest/asset/v1/program/{program_id}.json"
    return marketo.read_once(path, lambda: next(iter(marketo.client.get(path).get("result") or []), {}))


class ProgramsStream(RestStream):
    """Programs from the asset API's browse, paged by 200 (full table)."""

    name = "programs"
    path = PROGRAMS_PATH
    paging = Paging.ASSET
    permission = ASSETS_PERMISSION
    fields = (
        Field("id", INTEGER),
        Field("name", STRING),
        Field("description", STRING),
        Field("type", STRING),
        Field("channel", STRING),
        Field("status", STRING),
        Field("workspace", STRING),
        Field("folder", FOLDER),
        Field("url", STRING),
        Field("createdAt", DATETIME),
        Field("updatedAt", DATETIME),
        Field("sfdcId", STRING),
        Field("sfdcName", STRING),
        Field("headStart", BOOLEAN),
        # Documented on Get Program by Id only: filled where the browse carries them.
        Field("startDate", DATETIME),
        Field("endDate", DATETIME),
    )

    def items(self, window: RestWindow | None) -> t.Iterator[dict]:
        """The run's program listing."""
        return iter(program_listing(self.marketo))


class ProgramDetailStream(RestStream):
    """Rows of one list member of Get Program by Id (``tags`` or ``costs``) per program,
    for the programs updated in the window; each row carries its program's ``updatedAt``
    (``programUpdatedAt``), so rows a program no longer has can be told apart from current
    ones (those whose ``programUpdatedAt`` equals the program's ``updatedAt``)."""

    path = PROGRAMS_PATH  # probed: the by-id calls need a program id and the same permission
    paging = Paging.ASSET
    permission = ASSETS_PERMISSION
    replication = "programUpdatedAt"
    #: The member of Get Program by Id's answer this stream emits a row per entry of.
    member: t.ClassVar[str]

    def items(self, window: RestWindow | None) -> t.Iterator[dict]:
        """The entries of each program updated in the window, one by-id call per program."""
        programs = [p for p in program_listing(self.marketo) if self.holds_updated_at(window, p.get("updatedAt"))]
        self.logger.info(
            "%s: %d programs updated since the last run (all on a first run): one Get Program by Id call "
            "each, shared with program_tags/program_costs in this run.",
            self.name,
            len(programs),
        )
        for program in programs:
            details = program_by_id(self.marketo, int(program["id"]))
            for entry in details.get(self.member) or []:
                yield {**entry, "programId": program["id"], "programUpdatedAt": program.get("updatedAt")}


class ProgramTagsStream(ProgramDetailStream):
    """A program's tags: one row per program and tag type."""

    name = "program_tags"
    member = "tags"
    key = ("programId", "tagType")
    fields = (
        Field("programId", INTEGER),
        Field("tagType", STRING),
        Field("tagValue", STRING),
        Field("programUpdatedAt", DATETIME),
    )


class ProgramCostsStream(ProgramDetailStream):
    """A program's period costs: one row per program, start date and cost."""

    name = "program_costs"
    member = "costs"
    key = ("programId", "startDate", "cost")
    fields = (
        Field("programId", INTEGER),
        Field("startDate", DATETIME),
        Field("cost", INTEGER),
        Field("note", STRING),
        Field("programUpdatedAt", DATETIME),
    )
