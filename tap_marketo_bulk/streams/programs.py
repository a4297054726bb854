"""Programs, and their tags, costs and start and end dates.

The browse (``programs.json``) gives every program for a call per 200, but not its tags, costs
or start and end dates: Marketo's programs guide says "This endpoint does not return program
tags. Retrieve tags with Get Programs by ID or Get Programs by Name", and documents
``startDate``/``endDate`` on Get Program by Id only. So one Get Program by Id call per program
is made, and only for the programs whose ``updatedAt`` (from the browse) is in the reading
stream's window: every program on a first run, those changed since on the next. The calls
are made for ``program_tags`` and ``program_costs``, and for ``programs`` when its
``startDate`` or ``endDate`` column is selected; the streams of one run share them.

``programs`` is therefore incremental on ``updatedAt`` too: a full-table read would send every
program on every run, and the ones not read again by id would overwrite the dates the
warehouse has with nulls.
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


def updated_programs(stream: RestStream, window: RestWindow | None, by_id_for: str | None = None) -> list[dict]:
    """The browsed programs whose ``updatedAt`` is in ``stream``'s window. With ``by_id_for``
    (what the stream reads by id) the cost is said in one line: one Get Program by Id call
    per program, shared by the streams of this run."""
    programs = [p for p in program_listing(stream.marketo) if stream.holds_updated_at(window, p.get("updatedAt"))]
    if by_id_for:
        stream.logger.info(
            "%s: %d programs updated since the last run (all on a first run): one Get Program by Id call each "
            "for their %s, shared with programs/program_tags/program_costs in this run.",
            stream.name,
            len(programs),
            by_id_for,
        )
    return programs


#: Program members documented on Get Program by Id only.
DETAIL_MEMBERS = ("startDate", "endDate")


class ProgramsStream(RestStream):
    """Programs from the asset API's browse, paged by 200, incremental on ``updatedAt``; their
    start and end dates from Get Program by Id where the catalog selects those columns."""

    name = "programs"
    path = PROGRAMS_PATH
    paging = Paging.ASSET
    permission = ASSETS_PERMISSION
    replication = "updatedAt"
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
        # Documented on Get Program by Id only (DETAIL_MEMBERS).
        Field("startDate", DATETIME),
        Field("endDate", DATETIME),
    )

    def items(self, window: RestWindow | None) -> t.Iterator[dict]:
        """The programs updated in the window, each with Get Program by Id's dates if they are
        selected (read one program at a time, so a connection test makes one such call)."""
        wanted = [name for name in DETAIL_MEMBERS if self.is_selected(self.columns[name])]
        for program in updated_programs(self, window, " and ".join(wanted) or None):
            if wanted:
                details = program_by_id(self.marketo, int(program["id"]))
                program = {**program, **{name: details.get(name, program.get(name)) for name in wanted}}
            yield program


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
        for program in updated_programs(self, window, self.member):
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
