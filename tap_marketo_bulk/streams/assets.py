"""Asset API streams: smart campaigns, emails, email templates, forms, landing pages,
segmentations and their segments, channels and tag types.

Each is a declaration on the REST base (:mod:`tap_marketo_bulk.streams.rest`): every documented
field of its browse endpoint, nested objects (folder, subject, recurrence, ...) as JSON objects.
Campaigns and emails are read incrementally (their browse filters by ``updatedAt``); the others
are full tables. Emails, email templates, forms and landing pages have an approved version and
a draft: one row per version, keyed by ``id`` and ``status``.
"""

from __future__ import annotations

import typing as t

from tap_marketo_bulk.records.fields import ANY, BOOLEAN, DATETIME, INTEGER, STRING, Field, array, obj
from tap_marketo_bulk.streams.rest import ASSETS_PERMISSION, Paging, RestStream, RestWindow

#: An asset's folder in either documented shape: ``{id, type}`` (smart campaigns, the spec) or
#: ``{type, value, folderName}`` (emails, forms, pages, templates); ``type`` is "Folder" or
#: "Program", whose id the folder then is.
FOLDER = obj(Field("type", STRING), Field("id", INTEGER), Field("value", INTEGER), Field("folderName", STRING))
#: An email header (subject, from, reply-to): ``{type: "Text", value}``.
HEADER = obj(Field("type", STRING), Field("value", STRING))
#: Both versions of an asset, approved first (one row each).
VERSIONS = ("approved", "draft")
#: What every browsed asset has.
CREATED_UPDATED = (Field("createdAt", DATETIME), Field("updatedAt", DATETIME))
#: The first columns of an asset with versions (emails, email templates, forms, landing pages).
VERSION_HEAD = (Field("id", INTEGER), Field("status", STRING), Field("name", STRING), Field("description", STRING))


class AssetStream(RestStream):
    """An asset API browse (offset paging, 200 a page), Read-Only Assets."""

    paging = Paging.ASSET
    permission = ASSETS_PERMISSION


class VersionedAssetStream(AssetStream):
    """An asset with approved and draft versions: both browsed, one row per version.

    Which version a browse without ``status`` returns is not documented, so each status is
    browsed on its own; a row seen twice (a draft browse that also shows approved-only assets)
    is sent once.
    """

    key = ("id", "status")
    statuses = VERSIONS


class CampaignsStream(AssetStream):
    """Smart campaigns, incremental on ``updatedAt``."""

    name = "campaigns"
    path = "/rest/asset/v1/smartCampaigns.json"
    replication = "updatedAt"
    updated_at_filter = True
    fields = (
        Field("id", INTEGER),
        Field("name", STRING),
        Field("description", STRING),
        Field("type", STRING),
        Field("isSystem", BOOLEAN),
        Field("isActive", BOOLEAN),
        Field("isRequestable", BOOLEAN),
        Field(
            "recurrence",
            obj(
                Field("startAt", DATETIME),
                Field("endAt", DATETIME),
                Field("intervalType", STRING),
                Field("interval", INTEGER),
                Field("weekdayOnly", BOOLEAN),
                Field("weekdayMask", array(STRING)),
                Field("dayOfMonth", INTEGER),
                Field("dayOfWeek", STRING),
                Field("weekOfMonth", INTEGER),
            ),
        ),
        Field("qualificationRuleType", STRING),
        Field("qualificationRuleInterval", INTEGER),
        Field("qualificationRuleUnit", STRING),
        Field("maxMembers", INTEGER),
        Field("isCommunicationLimitEnabled", BOOLEAN),
        Field("smartListId", INTEGER),
        Field("flowId", INTEGER),
        Field("parentProgramId", INTEGER),
        Field("folder", FOLDER),
        *CREATED_UPDATED,
        Field("workspace", STRING),
        Field("computedUrl", STRING),
        Field("status", STRING),
    )


class EmailsStream(VersionedAssetStream):
    """Emails (metadata), one row per version, incremental on ``updatedAt``."""

    name = "emails"
    path = "/rest/asset/v1/emails.json"
    replication = "updatedAt"
    updated_at_filter = True
    fields = (
        *VERSION_HEAD,
        *CREATED_UPDATED,
        Field("url", STRING),
        Field("subject", HEADER),
        Field("fromName", HEADER),
        Field("fromEmail", HEADER),
        Field("replyEmail", HEADER),
        Field("folder", FOLDER),
        Field("operational", BOOLEAN),
        Field("textOnly", BOOLEAN),
        Field("publishToMSI", BOOLEAN),
        Field("webView", BOOLEAN),
        Field("template", INTEGER),
        Field("workspace", STRING),
        Field("isOpenTrackingDisabled", BOOLEAN),
        Field("version", INTEGER),
        Field("autoCopyToText", BOOLEAN),
        Field("preHeader", STRING),
        Field(
            "ccFields",
            array(
                obj(
                    Field("attributeId", STRING),
                    Field("objectName", STRING),
                    Field("displayName", STRING),
                    Field("apiName", STRING),
                )
            ),
        ),
    )


class EmailTemplatesStream(VersionedAssetStream):
    """Email templates (metadata), one row per version (full table: no date filter)."""

    name = "email_templates"
    path = "/rest/asset/v1/emailTemplates.json"
    fields = (
        *VERSION_HEAD,
        *CREATED_UPDATED,
        Field("url", STRING),
        Field("folder", FOLDER),
        Field("workspace", STRING),
        Field("version", INTEGER),
    )


class FormsStream(VersionedAssetStream):
    """Forms (every property but the field list), one row per version (full table)."""

    name = "forms"
    path = "/rest/asset/v1/forms.json"
    fields = (
        *VERSION_HEAD,
        *CREATED_UPDATED,
        Field("url", STRING),
        Field("folder", FOLDER),
        Field("workspace", STRING),
        Field("theme", STRING),
        Field("language", STRING),
        Field("locale", STRING),
        Field("progressiveProfiling", BOOLEAN),
        Field("labelPosition", STRING),
        Field("fontFamily", STRING),
        Field("fontSize", STRING),
        Field("knownVisitor", obj(Field("type", STRING), Field("template", STRING))),
        Field(
            "thankYouList",
            array(
                obj(
                    Field("followupType", STRING),
                    Field("followupValue", ANY),  # a landing page id, a URL or null
                    Field("default", BOOLEAN),
                    Field("operator", STRING),
                    Field("subjectField", STRING),
                    Field("values", array(STRING)),
                )
            ),
        ),
        Field("buttonLocation", INTEGER),
        Field("buttonLabel", STRING),
        Field("waitingLabel", STRING),
    )


class LandingPagesStream(VersionedAssetStream):
    """Landing pages (metadata), one row per version (full table)."""

    name = "landing_pages"
    path = "/rest/asset/v1/landingPages.json"
    fields = (
        *VERSION_HEAD,
        *CREATED_UPDATED,
        Field("folder", FOLDER),
        Field("workspace", STRING),
        Field("template", INTEGER),
        Field("title", STRING),
        Field("keywords", STRING),
        Field("robots", STRING),
        Field("formPrefill", BOOLEAN),
        Field("mobileEnabled", BOOLEAN),
        Field("customHeadHTML", STRING),
        Field("facebookOgTags", STRING),
        Field("URL", STRING),  # the page's public address (Marketo spells it in capitals)
        Field("computedUrl", STRING),
    )


class SegmentationsStream(AssetStream):
    """Segmentations, one row each: the approved version where there is one, else the draft
    (read once a run for this stream and ``segments``)."""

    name = "segmentations"
    path = "/rest/asset/v1/segmentation.json"
    statuses = VERSIONS  # approved first: a segmentation with both keeps its approved row
    fields = (
        Field("id", INTEGER),
        Field("name", STRING),
        Field("description", STRING),
        *CREATED_UPDATED,
        Field("url", STRING),
        Field("folder", FOLDER),
        Field("status", STRING),
        Field("workspace", STRING),
    )

    def items(self, window: RestWindow | None) -> t.Iterator[dict]:
        """The run's segmentation listing."""
        return iter(segmentation_listing(self))


def segmentation_listing(stream: RestStream) -> list[dict]:
    """Every segmentation version (approved, then draft), read once a run for the
    ``segmentations`` and ``segments`` streams."""
    return stream.marketo.read_once(
        "segmentations", lambda: list(stream.browse(SegmentationsStream.path, statuses=VERSIONS))
    )


class SegmentsStream(AssetStream):
    """The segments of each segmentation's version that ``segmentations`` emits.

    One call per segmentation and page; keyed by segmentation and segment, since that segment
    ids are unique across segmentations is not documented.
    """

    name = "segments"
    path = SegmentationsStream.path
    key = ("segmentationId", "id")
    fields = (
        Field("segmentationId", INTEGER),
        Field("id", INTEGER),
        Field("name", STRING),
        Field("description", STRING),
        *CREATED_UPDATED,
        Field("url", STRING),
        Field("status", STRING),
    )

    def items(self, window: RestWindow | None) -> t.Iterator[dict]:
        """Each segmentation's segments, of the version the segmentations stream keeps."""
        done: set[int] = set()
        for segmentation in segmentation_listing(self):
            segmentation_id = segmentation.get("id")
            if segmentation_id in done:
                continue
            done.add(segmentation_id)
            path = f"/rest/asset/v1/segmentation/{segmentation_id}/segments.json"
            for segment in self.browse(path, statuses=(segmentation["status"],)):
                yield {"segmentationId": segmentation_id, **segment}


class ChannelsStream(AssetStream):
    """Channels with their progression statuses (full table)."""

    name = "channels"
    path = "/rest/asset/v1/channels.json"
    fields = (
        Field("id", INTEGER),
        Field("name", STRING),
        Field("applicableProgramType", STRING),
        Field(
            "progressionStatuses",
            array(
                obj(
                    Field("name", STRING),
                    Field("step", INTEGER),
                    Field("description", STRING),
                    Field("hidden", BOOLEAN),
                    Field("success", BOOLEAN),
                    Field("type", STRING),
                )
            ),
        ),
        *CREATED_UPDATED,
    )


class TagTypesStream(AssetStream):
    """Program tag types (full table). Keyed by ``tagType``: tag types have no id. Their
    allowed values are not in the browse (one more call per type), so not here."""

    name = "tag_types"
    path = "/rest/asset/v1/tagTypes.json"
    key = ("tagType",)
    fields = (
        Field("tagType", STRING),
        Field("applicableProgramTypes", STRING),  # "[program,event]": Marketo's text, not a JSON array
        Field("required", BOOLEAN),
    )


ASSET_STREAMS: tuple[type[RestStream], ...] = (
    CampaignsStream,
    EmailsStream,
    EmailTemplatesStream,
    FormsStream,
    LandingPagesStream,
    SegmentationsStream,
    SegmentsStream,
    ChannelsStream,
    TagTypesStream,
)
