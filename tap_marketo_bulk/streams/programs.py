"""Programs from the asset API's browse, read once a run for every stream that needs them."""

from __future__ import annotations

import typing as t

from tap_marketo_bulk.records.fields import DATETIME, INTEGER, STRING, Field, obj
from tap_marketo_bulk.streams.rest import ASSETS_PERMISSION, Paging, RestStream, RestWindow, asset_pages

if t.TYPE_CHECKING:
    from tap_marketo_bulk.instance import MarketoInstance

PROGRAMS_PATH = "/rest/asset/v1/programs.json"


def program_listing(marketo: MarketoInstance) -> list[dict]:
    """Every program as the browse answers it, read once a run (the programs stream, program
    members' programs, and the programs whose tags and costs changed all come from it)."""
    return marketo.once(
        "programs", lambda: [row for page in asset_pages(marketo.client, PROGRAMS_PATH) for row in page]
    )


class ProgramsStream(RestStream):
    """Programs from the asset API, paged by 200 (full table)."""

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
        Field("folder", obj(Field("type", STRING), Field("value", INTEGER), Field("folderName", STRING))),
        Field("url", STRING),
        Field("createdAt", DATETIME),
        Field("updatedAt", DATETIME),
    )

    def items(self, window: RestWindow | None) -> t.Iterator[dict]:
        """The run's program listing."""
        return iter(program_listing(self.marketo))
