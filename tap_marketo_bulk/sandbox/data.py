"""Deterministic sandbox data (the "truth") and its mutation API.

Everything is generated from ``random.Random(seed)`` and the configured date range only, so
two sandboxes with the same options hold identical data.  Values deliberately contain what real
Marketo exports carry (quotes, commas, CR/LF, emoji, RTL text, huge text, nulls) and some records
sit exactly on window boundaries (start, start+31d, start+62d midnight UTC).

Custom object types and records live in :mod:`.custom_objects` (``SandboxData.custom``), assets
and the lead database's reference data in :mod:`.assets` (``SandboxData.reference``); each comes
from its own random stream, so the data here is the same with or without them.
"""

from __future__ import annotations

import copy
import random
import threading
from collections.abc import Iterable
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from .assets import AssetData
from .custom_objects import CustomObjectData
from .special_text import LONG_TEXT, SPECIAL_STRINGS

UTC = timezone.utc

FIRST_NAMES = [
    "Meera",
    "Jon",
    "Lyanna",
    "Rickon",
    "Osha",
    "Jojen",
    "Ana",
    "Björn",
    "Zoë",
    "Renée",
    "Mohammed",
    "Yuki",
    "Olga",
    "Chidi",
    "Priya",
    "Lars",
]
LAST_NAMES = [
    "Reed",
    "Umber",
    "Mormont",
    "Stark",
    "Karstark",
    "Luwin",
    "Cassel",
    "O'Brien",
    "García",
    "Müller",
    "Nakamura",
    "Okafor",
    "Singh",
    "Nilsson",
]
COMPANIES = ["Acme Inc", "Globex", "Initech", "Umbrella Corp", "Hooli", "Stark Industries"]
LEAD_STATUSES = ["New", "Working", "Nurture", "Qualified", "Disqualified", None]


def _lead_field(
    fid: int,
    name: str,
    display: str,
    dtype: str,
    length: int | None = None,
    read_only: bool = False,
    rest: bool = True,
) -> dict[str, Any]:
    """Build one describe entry shaped like Marketo's leads/describe.json."""
    f: dict[str, Any] = {"id": fid, "displayName": display, "dataType": dtype}
    if length is not None:
        f["length"] = length
    if rest:
        f["rest"] = {"name": name, "readOnly": read_only}
    f["soap"] = {"name": name[:1].upper() + name[1:], "readOnly": read_only}
    return f


def build_lead_fields() -> list[dict[str, Any]]:
    """Standard fields, one custom field per documented dataType, one SOAP-only and one formula."""
    spec = [
        ("id", "Id", "integer", None, True),
        ("email", "Email Address", "email", 255, False),
        ("firstName", "First Name", "string", 255, False),
        ("lastName", "Last Name", "string", 255, False),
        ("company", "Company Name", "string", 255, False),
        ("phone", "Phone Number", "phone", 255, False),
        ("website", "Website", "url", 255, False),
        ("title", "Job Title", "string", 255, False),
        ("leadScore", "Lead Score", "score", None, False),
        ("annualRevenue", "Annual Revenue", "currency", None, False),
        ("numberOfEmployees", "Num Employees", "integer", None, False),
        ("createdAt", "Created At", "datetime", None, True),
        ("updatedAt", "Updated At", "datetime", None, True),
        ("unsubscribed", "Unsubscribed", "boolean", None, False),
        ("dateOfBirth", "Date of Birth", "date", None, False),
        ("leadStatus", "Lead Status", "string", 255, False),
        ("customString", "Custom String", "string", 255, False),
        ("customText", "Custom Text", "text", None, False),
        ("customTextarea", "Custom Textarea", "textarea", None, False),
        ("customEmail", "Custom Email", "email", 255, False),
        ("customPhone", "Custom Phone", "phone", 255, False),
        ("customUrl", "Custom Url", "url", 255, False),
        ("customReference", "Custom Reference", "reference", 255, False),
        ("customInteger", "Custom Integer", "integer", None, False),
        ("customFloat", "Custom Float", "float", None, False),
        ("customCurrency", "Custom Currency", "currency", None, False),
        ("customPercent", "Custom Percent", "percent", None, False),
        ("customScore", "Custom Score", "score", None, False),
        ("customBoolean", "Custom Boolean", "boolean", None, False),
        ("customDate", "Custom Date", "date", None, False),
        ("customDatetime", "Custom Datetime", "datetime", None, False),
        ("customLeadFunction", "Custom Lead Function", "lead_function", 255, False),
        ("customArray", "Custom Array", "array", None, False),
    ]
    fields = [_lead_field(i + 1, n, d, t, ln, ro) for i, (n, d, t, ln, ro) in enumerate(spec)]
    fields.append(_lead_field(900, "soapOnlyField", "SOAP Only Field", "string", 255, rest=False))
    fields.append(_lead_field(901, "customFormula", "Custom Formula", "formula", None, True))
    return fields


ACTIVITY_TYPES: list[dict[str, Any]] = [
    {
        "id": 1,
        "name": "Visit Webpage",
        "description": "User visits a web page",
        "primaryAttribute": {"name": "Webpage ID", "dataType": "integer"},
        "attributes": [
            {"name": "Client IP Address", "dataType": "string"},
            {"name": "Query Parameters", "dataType": "string"},
            {"name": "Referrer URL", "dataType": "string"},
            {"name": "User Agent", "dataType": "string"},
            {"name": "Webpage URL", "dataType": "string"},
        ],
    },
    {
        "id": 2,
        "name": "Fill Out Form",
        "description": "User fills out and submits form on web page",
        "primaryAttribute": {"name": "Webform ID", "dataType": "integer"},
        "attributes": [
            {"name": "Form Fields", "dataType": "text"},
            {"name": "Webpage ID", "dataType": "integer"},
        ],
    },
    {
        "id": 3,
        "name": "Click Link",
        "description": "User clicks link on a page",
        "primaryAttribute": {"name": "Link ID", "dataType": "integer"},
        "attributes": [{"name": "Referrer URL", "dataType": "string"}],
    },
    {
        "id": 6,
        "name": "Send Email",
        "description": "Send Marketo Email to a person",
        "primaryAttribute": {"name": "Mailing ID", "dataType": "integer"},
        "attributes": [
            {"name": "Campaign Run ID", "dataType": "integer"},
            {"name": "Choice Number", "dataType": "integer"},
            {"name": "Has Predictive", "dataType": "boolean"},
            {"name": "Step ID", "dataType": "integer"},
            {"name": "Test Variant", "dataType": "integer"},
        ],
    },
    {
        "id": 7,
        "name": "Email Delivered",
        "description": "Marketo Email is delivered to a person",
        "primaryAttribute": {"name": "Mailing ID", "dataType": "integer"},
        "attributes": [
            {"name": "Campaign Run ID", "dataType": "integer"},
            {"name": "Choice Number", "dataType": "integer"},
            {"name": "Has Predictive", "dataType": "boolean"},
            {"name": "Step ID", "dataType": "integer"},
            {"name": "Test Variant", "dataType": "integer"},
        ],
    },
    {
        "id": 8,
        "name": "Email Bounced",
        "description": "Marketo Email bounces",
        "primaryAttribute": {"name": "Mailing ID", "dataType": "integer"},
        "attributes": [
            {"name": "Campaign Run ID", "dataType": "integer"},
            {"name": "Category", "dataType": "string"},
            {"name": "Choice Number", "dataType": "integer"},
            {"name": "Details", "dataType": "string"},
            {"name": "Email", "dataType": "string"},
            {"name": "Has Predictive", "dataType": "boolean"},
            {"name": "Step ID", "dataType": "integer"},
            {"name": "Subcategory", "dataType": "string"},
            {"name": "Test Variant", "dataType": "integer"},
        ],
    },
    {
        "id": 9,
        "name": "Unsubscribe Email",
        "description": "Person unsubscribes",
        "primaryAttribute": {"name": "Mailing ID", "dataType": "integer"},
        "attributes": [
            {"name": "Campaign Run ID", "dataType": "integer"},
            {"name": "Client IP Address", "dataType": "string"},
            {"name": "Form Fields", "dataType": "text"},
            {"name": "Query Parameters", "dataType": "string"},
            {"name": "Referrer URL", "dataType": "string"},
            {"name": "Test Variant", "dataType": "integer"},
            {"name": "User Agent", "dataType": "string"},
            {"name": "Webform ID", "dataType": "integer"},
            {"name": "Webpage ID", "dataType": "integer"},
        ],
    },
    {
        "id": 10,
        "name": "Open Email",
        "description": "User opens Marketo Email",
        "primaryAttribute": {"name": "Mailing ID", "dataType": "integer"},
        "attributes": [
            {"name": "Bot Activity Pattern", "dataType": "string"},
            {"name": "Browser", "dataType": "string"},
            {"name": "Campaign Run ID", "dataType": "integer"},
            {"name": "Choice Number", "dataType": "integer"},
            {"name": "Device", "dataType": "string"},
            {"name": "Has Predictive", "dataType": "boolean"},
            {"name": "Is Bot Activity", "dataType": "boolean"},
            {"name": "Is Mobile Device", "dataType": "boolean"},
            {"name": "Platform", "dataType": "string"},
            {"name": "Step ID", "dataType": "integer"},
            {"name": "Test Variant", "dataType": "integer"},
            {"name": "User Agent", "dataType": "string"},
        ],
    },
    {
        "id": 11,
        "name": "Click Email",
        "description": "User clicks on a link in a Marketo Email",
        "primaryAttribute": {"name": "Mailing ID", "dataType": "integer"},
        "attributes": [
            {"name": "Bot Activity Pattern", "dataType": "string"},
            {"name": "Browser", "dataType": "string"},
            {"name": "Campaign Run ID", "dataType": "integer"},
            {"name": "Choice Number", "dataType": "integer"},
            {"name": "Device", "dataType": "string"},
            {"name": "Has Predictive", "dataType": "boolean"},
            {"name": "Is Bot Activity", "dataType": "boolean"},
            {"name": "Is Mobile Device", "dataType": "boolean"},
            {"name": "Link", "dataType": "string"},
            {"name": "Link ID", "dataType": "string"},
            {"name": "Platform", "dataType": "string"},
            {"name": "Step ID", "dataType": "integer"},
            {"name": "Test Variant", "dataType": "integer"},
            {"name": "User Agent", "dataType": "string"},
        ],
    },
    {
        "id": 12,
        "name": "New Lead",
        "description": "New person/record is added to the lead database",
        "attributes": [
            {"name": "Source Type", "dataType": "string"},
            {"name": "Form Name", "dataType": "string"},
        ],
    },
    {
        "id": 13,
        "name": "Change Data Value",
        "description": "Changed attribute value for a person",
        "primaryAttribute": {"name": "Attribute Name", "dataType": "integer"},
        "attributes": [
            {"name": "Api Method Name", "dataType": "string"},
            {"name": "Modifying User", "dataType": "string"},
            {"name": "New Value", "dataType": "text"},
            {"name": "Old Value", "dataType": "text"},
            {"name": "Reason", "dataType": "string"},
            {"name": "Request Id", "dataType": "string"},
            {"name": "Source", "dataType": "string"},
        ],
    },
    {
        "id": 22,
        "name": "Change Score",
        "description": "Change a score value",
        "primaryAttribute": {"name": "Attribute Name", "dataType": "integer"},
        "attributes": [
            {"name": "Change Value", "dataType": "string"},
            {"name": "New Value", "dataType": "integer"},
            {"name": "Old Value", "dataType": "integer"},
        ],
    },
    {
        "id": 24,
        "name": "Add to List",
        "description": "Add a person to a list",
        "primaryAttribute": {"name": "List ID", "dataType": "integer"},
        "attributes": [],
    },
    {
        "id": 32,
        "name": "Merge Leads",
        "description": "Merge two or more leads",
        "primaryAttribute": {"name": "Lead ID", "dataType": "integer"},
        "attributes": [
            {"name": "Master Updated", "dataType": "boolean"},
            {"name": "Merge Ids", "dataType": "array"},
            {"name": "Merge Source", "dataType": "string"},
            {"name": "Merged in Sales", "dataType": "boolean"},
        ],
    },
    {
        "id": 37,
        "name": "Delete Lead",
        "description": "Delete a person",
        "primaryAttribute": {"name": "Lead ID", "dataType": "integer"},
        "attributes": [{"name": "Remove from CRM", "dataType": "boolean"}],
    },
    {"id": 46, "name": "Interesting Moment", "description": "Interesting moment"},
    {
        "id": 104,
        "name": "Change Status in Progression",
        "description": "Change a status in a program",
        "primaryAttribute": {"name": "Program ID", "dataType": "integer"},
        "attributes": [
            {"name": "Acquired By", "dataType": "boolean"},
            {"name": "New Status", "dataType": "string"},
            {"name": "New Status ID", "dataType": "integer"},
            {"name": "Old Status", "dataType": "string"},
            {"name": "Old Status ID", "dataType": "integer"},
            {"name": "Program Member ID", "dataType": "integer"},
            {"name": "Success", "dataType": "boolean"},
        ],
    },
]
#: Merge Leads: its primary attribute is the surviving lead (the activity's own lead).
MERGE_LEADS = 32
SEND_EMAIL = 6
#: Email Delivered, Bounced, Unsubscribe, Open and Click: what follows a send.
EMAIL_FOLLOW_UPS = (7, 8, 9, 10, 11)
#: What a follow-up shares with its send: the lead, the campaign, the email, and these attributes.
SEND_ATTRIBUTES = ("Campaign Run ID", "Step ID", "Choice Number", "Test Variant")
#: Activity fields a bulk export may carry; the first eight are the default.
ACTIVITY_FIELDS: list[str] = [
    "marketoGUID",
    "leadId",
    "activityDate",
    "activityTypeId",
    "campaignId",
    "primaryAttributeValueId",
    "primaryAttributeValue",
    "attributes",
    "actionResult",
]
DEFAULT_ACTIVITY_FIELDS: list[str] = ACTIVITY_FIELDS[:8]
#: Primary-attribute "asset groups": activity types sharing the same kind of primary asset.
ASSET_GROUPS: dict[str, list[int]] = {
    "Webpage": [1],
    "Webform": [2],
    "Link": [3],
    "Mailing": [6, 7, 8, 9, 10, 11],
    "Attribute": [13, 22],
    "List": [24],
    "Program": [104],
}

CHANNELS: list[tuple[str, str, list[str]]] = [
    ("Email Blast", "Email", ["Not in Program", "Member", "Sent", "Opened", "Clicked"]),
    (
        "Webinar",
        "Event",
        ["Not in Program", "Invited", "Registered", "Attended", "No Show", "Attended On-demand"],
    ),
    ("Nurture", "Engagement", ["Not in Program", "Member", "Engaged", "Exhausted"]),
    ("Tradeshow", "Event", ["Not in Program", "Invited", "Visited Booth", "Influenced"]),
    ("Content", "Default", ["Not in Program", "Member", "Engaged", "Waitlisted"]),
    ("Online Advertising", "Default", ["Not in Program", "Clicked", "Converted"]),
]


def _pm_field(name: str, dtype: str, length: int | None = None, updateable: bool = False) -> dict[str, Any]:
    """Describe entry shaped like programs/members/describe.json fields."""
    f: dict[str, Any] = {"name": name, "displayName": name, "description": None, "dataType": dtype}
    if length is not None:
        f["length"] = length
    f["updateable"] = updateable
    f["crmManaged"] = False
    return f


def build_program_member_fields() -> list[dict[str, Any]]:
    """Standard program member fields from the docs plus custom fields of several dataTypes."""
    std = [
        ("acquiredBy", "boolean", None),
        ("attendanceLikelihood", "integer", None),
        ("createdAt", "datetime", None),
        ("isExhausted", "boolean", None),
        ("leadId", "integer", None),
        ("membershipDate", "datetime", None),
        ("nurtureCadence", "string", 4),
        ("nurtureTrack", "string", 255),
        ("program", "string", 255),
        ("programId", "integer", None),
        ("progressionStatus", "string", 255),
        ("reachedSuccess", "boolean", None),
        ("reachedSuccessDate", "datetime", None),
        ("registrationLikelihood", "integer", None),
        ("statusName", "string", 255),
        ("statusReason", "string", 255),
        ("trackName", "string", 255),
        ("updatedAt", "datetime", None),
        ("waitlistPriority", "integer", None),
    ]
    fields = [_pm_field(n, t, ln) for n, t, ln in std]
    custom = [
        ("webinarUrl", "string", 2000),
        ("registrationCode", "string", 100),
        ("pmCustomText", "text", None),
        ("pmCustomInteger", "integer", None),
        ("pmCustomBoolean", "boolean", None),
        ("pmCustomDate", "date", None),
        ("pmCustomDatetime", "datetime", None),
        ("pmCustomCurrency", "currency", None),
        ("pmCustomFloat", "float", None),
    ]
    fields += [_pm_field(n, t, ln, updateable=True) for n, t, ln in custom]
    return fields


def parse_dt(value: str) -> datetime:
    """Parse ISO-8601 with Z/offset into an aware UTC datetime."""
    v = value.strip()
    if v.endswith("Z"):
        v = v[:-1] + "+00:00"
    d = datetime.fromisoformat(v)
    if d.tzinfo is None:
        d = d.replace(tzinfo=UTC)
    return d.astimezone(UTC)


class SandboxData:
    """The sandbox's source of truth; all mutation goes through methods guarded by ``lock``.

    Why this class is long: leads, lists, programs, members, activities and deleted leads are
    drawn from the one ``rng`` stream in a fixed order (every value depends on all draws before
    it) and share the id counters, so split apart the pieces would have to pass the stream and
    counters around and still run in the same order.
    The mutation API stays here because one call keeps several of them consistent (``delete_leads``
    touches leads, members, deletions and custom objects).  Custom objects, which have their own
    stream, live in :class:`CustomObjectData` (``custom``).
    """

    def __init__(
        self,
        seed: int = 1,
        leads: int = 300,
        activities: int = 2000,
        programs: int = 14,
        members_per_program: int = 20,
        start: str = "2024-01-01T00:00:00Z",
        end: str = "2024-04-01T00:00:00Z",
        custom_object_records: int = 300,
    ) -> None:
        self.lock = threading.RLock()
        self.rng = random.Random(seed)
        self.start = parse_dt(start)
        self.end = parse_dt(end)
        if self.end <= self.start:
            raise ValueError("end must be after start")
        #: Instants on purpose shared by records: the very start and 31/62 days later (midnight UTC).
        self.boundaries: list[datetime] = [self.start] + [
            b for b in (self.start + timedelta(days=31), self.start + timedelta(days=62)) if b < self.end
        ]
        self.lead_fields = build_lead_fields()
        self.activity_types = copy.deepcopy(ACTIVITY_TYPES)
        self.program_member_fields = build_program_member_fields()
        self.leads: list[dict[str, Any]] = []
        self.lead_last_modified: dict[int, datetime] = {}
        self.activities: list[dict[str, Any]] = []
        self.programs: list[dict[str, Any]] = []
        self.program_members: list[dict[str, Any]] = []
        self.deleted_leads: list[dict[str, Any]] = []
        self.static_lists: list[dict[str, Any]] = []
        self.smart_lists: list[dict[str, Any]] = []
        self.channel_statuses: dict[str, list[str]] = {c: s for c, _, s in CHANNELS}
        self.program_statuses: list[str] = sorted({s for _, _, ss in CHANNELS for s in ss})
        self._next_lead_id = 1
        self._next_activity_id = 100000001
        self._next_deleted_id = 900000001
        self.assets: dict[int, dict[int, str]] = self._build_assets()
        #: Sends so far, and the generator that makes half the email follow-ups (delivered,
        #: opened, ...) follow one of them; its own, so every other value stays as it was.
        self._sends: list[dict[str, Any]] = []
        self._email_rng = random.Random(seed + 3000)
        self._generate(leads, activities, programs, members_per_program)
        # Own generator: the data above stays identical whatever is generated below.
        self.custom = CustomObjectData(
            seed + 1000,
            custom_object_records,
            self.start,
            self.end,
            self.boundaries,
            lead_ids=lambda: [ld["id"] for ld in self.leads],
            lock=self.lock,
        )
        #: Assets and lead database reference data, from their own generator too.
        self.reference = AssetData(
            seed + 2000,
            self.start,
            self.end,
            self.programs,
            self.static_lists,
            [ld["id"] for ld in self.leads],
            CHANNELS,
            self.lock,
        )

    # ------------------------------------------------------------------ helpers
    def lead_rest_fields(self) -> dict[str, dict[str, Any]]:
        """REST name -> describe entry, for fields that have a REST name."""
        return {f["rest"]["name"]: f for f in self.lead_fields if "rest" in f}

    def exportable_lead_fields(self) -> dict[str, dict[str, Any]]:
        """REST fields a bulk export accepts (formula fields are not exportable)."""
        return {n: f for n, f in self.lead_rest_fields().items() if f["dataType"] != "formula"}

    def _rand_dt(self, lo: datetime, hi: datetime) -> datetime:
        span = int((hi - lo).total_seconds())
        return lo + timedelta(seconds=self.rng.randrange(max(span, 1)))

    def _text(self, pool: list[str] | None = None, special_p: float = 0.1) -> str:
        if self.rng.random() < special_p:
            return self.rng.choice(SPECIAL_STRINGS)
        return self.rng.choice(pool or ["alpha", "beta", "gamma value", "delta-42", "Ünïcödé"])

    def _build_assets(self) -> dict[int, dict[int, str]]:
        """Per activity type, the primary asset pool (id -> name) used for primaryAttributeValue(Id)s."""
        r = self.rng
        webpages = {1000 + i: f"/page-{i}.html" for i in range(8)}
        forms = {2000 + i: f"Form {i}" for i in range(5)}
        links = {3000 + i: f"https://example.com/l/{i}" for i in range(5)}
        mailings = {4000 + i: f"Newsletter {i}.Email" for i in range(6)}
        attrs = {f["id"]: f["displayName"] for f in build_lead_fields()[:20]}
        lists = {5000 + i: f"Static List {i}" for i in range(4)}
        r.random()
        out: dict[int, dict[int, str]] = {
            1: webpages,
            2: forms,
            3: links,
            13: attrs,
            22: attrs,
            24: lists,
        }
        for t in ASSET_GROUPS["Mailing"]:
            out[t] = mailings
        return out

    # ------------------------------------------------------------------ generation
    def _generate(self, n_leads: int, n_acts: int, n_programs: int, per_program: int) -> None:
        for i in range(n_leads):
            created = self._rand_dt(self.start, self.end)
            updated = self._rand_dt(created, self.end)
            if i < len(self.boundaries):  # created and updated exactly on a boundary
                created = updated = self.boundaries[i]
            elif i == len(self.boundaries) and len(self.boundaries) > 1:  # only updated on a boundary
                created = self.start + timedelta(hours=5)
                updated = self.boundaries[1]
            lead = self._new_lead(created, updated, i)
            hidden = updated
            if i == len(self.boundaries) + 1 and len(self.boundaries) > 2:
                hidden = self.boundaries[2]  # hidden last-modified exactly on a boundary
                if hidden < updated:
                    lead["updatedAt"] = updated = self.boundaries[1]
            elif self.rng.random() < 0.07:
                hidden = min(
                    self._rand_dt(updated, updated + timedelta(days=5)),
                    self.end - timedelta(seconds=1),
                )
            self.leads.append(lead)
            self.lead_last_modified[lead["id"]] = max(hidden, updated)
        ids = [ld["id"] for ld in self.leads]
        self.static_lists = [
            {"id": 2001 + k, "name": nm, "leadIds": sorted(self.rng.sample(ids, min(len(ids), 25)))}
            for k, nm in enumerate(["Webinar Invitees", 'VIP, "Gold" Customers'])
        ]
        self.smart_lists = [
            {"id": 3001 + k, "name": nm, "leadIds": sorted(self.rng.sample(ids, min(len(ids), 30)))}
            for k, nm in enumerate(["All Engaged", "Recently Active"])
        ]
        self._generate_programs(n_programs, per_program)
        for i in range(n_acts):
            at = self.boundaries[i % len(self.boundaries)] if i < 2 * len(self.boundaries) else None
            self._new_activity(at if at else self._rand_dt(self.start, self.end))
        for k in range(min(5, max(0, n_leads // 50))):
            self._record_deletion(900000 + k, self._rand_dt(self.start, self.end), f"Deleted Person {k}")
        self.deleted_leads.sort(key=lambda d: (d["activityDate"], d["id"]))

    def _new_lead(self, created: datetime, updated: datetime, i: int) -> dict[str, Any]:
        r = self.rng
        lid = self._next_lead_id
        self._next_lead_id += 1
        maybe = lambda v, p=0.15: None if r.random() < p else v  # noqa: E731
        first, last = r.choice(FIRST_NAMES), r.choice(LAST_NAMES)
        lead: dict[str, Any] = {
            "id": lid,
            "email": f"{first.lower()}.{lid}@example.com",
            "firstName": maybe(first),
            "lastName": last,
            "company": maybe(r.choice(COMPANIES)),
            "phone": maybe(f"+1 (555) {r.randrange(10**6, 10**7)}"),
            "website": maybe(f"https://www.example{lid}.com/?a=1&b=2"),
            "title": maybe(self._text(["CEO", "CTO", "VP, Sales"])),
            "leadScore": r.randrange(0, 200),
            "annualRevenue": maybe(Decimal(r.randrange(0, 10**9)) / 100),
            "numberOfEmployees": maybe(r.randrange(1, 100000)),
            "createdAt": created,
            "updatedAt": updated,
            "unsubscribed": r.random() < 0.1,
            "dateOfBirth": maybe(date(1950, 1, 1) + timedelta(days=r.randrange(20000)), 0.4),
            "leadStatus": r.choice(LEAD_STATUSES),
            "customString": maybe(self._text()),
            "customText": maybe(self._text(special_p=0.3)),
            "customTextarea": maybe(self._text(special_p=0.3), 0.3),
            "customEmail": maybe(f"alt{lid}@example.org"),
            "customPhone": maybe("555-0100"),
            "customUrl": maybe(f'https://example.org/p?id={lid}&x="y"'),
            "customReference": maybe(f"REF-{lid:06d}"),
            "customInteger": maybe(r.randrange(-(10**9), 10**9)),
            "customFloat": maybe(round(r.uniform(-1e6, 1e6), 6)),
            "customCurrency": maybe(Decimal(r.randrange(10**12)) / 100),
            "customPercent": maybe(Decimal(r.randrange(0, 1000000)) / 10000),
            "customScore": maybe(r.randrange(0, 1000)),
            "customBoolean": maybe(r.random() < 0.5),
            "customDate": maybe(date(2020, 1, 1) + timedelta(days=r.randrange(2000))),
            "customDatetime": maybe(self._rand_dt(self.start - timedelta(days=400), self.end)),
            "customLeadFunction": maybe(r.choice(["Marketing", "Sales", "Engineering"])),
            "customArray": maybe(";".join(r.sample(["red", "green", "blue", "cyan"], 2))),
            "customFormula": None,
        }
        n = len(SPECIAL_STRINGS)
        if i < n:  # guarantee every special string is present at least once
            lead["company"] = SPECIAL_STRINGS[i]
            lead["customText"] = SPECIAL_STRINGS[(i + 3) % n]
        if i == 3:
            lead["customTextarea"] = LONG_TEXT
            lead["customCurrency"] = Decimal("123456789012.34")
            lead["customPercent"] = Decimal("12.3456")
            lead["customInteger"] = 2147483647
        if i == 4:
            lead["customString"] = "null-ish: NULL"
            lead["firstName"] = None
        return lead

    def _attributes(self, type_id: int) -> dict[str, Any]:
        r = self.rng
        t = next(a for a in self.activity_types if a["id"] == type_id)
        out: dict[str, Any] = {}
        for attr in t.get("attributes", []):
            dt = attr["dataType"]
            if attr["name"] == "Merge Ids":  # the merged (losing) leads' ids, a JSON list
                out[attr["name"]] = sorted(r.sample(range(700000, 800000), r.choice([1, 1, 2, 3])))
            elif attr["name"] == "Old Value" and r.random() < 0.2:
                out[attr["name"]] = ""  # the field was empty before the change
            elif dt == "integer":
                out[attr["name"]] = r.randrange(1, 100000)
            elif dt == "boolean":
                out[attr["name"]] = r.random() < 0.5
            else:
                out[attr["name"]] = self._text(
                    [
                        "Mozilla/5.0 (X11; Linux)",
                        "10.0.0.1",
                        'utm_source=a&b="c"',
                        "Form, with comma",
                        "plain",
                    ],
                    special_p=0.25,
                )
        if type_id == 13 and r.random() < 0.3:
            out["Ratio"] = round(r.random(), 4)
        return out

    def _new_activity(self, at: datetime, lead_id: int | None = None) -> dict[str, Any]:
        r = self.rng
        pinned_lead = lead_id
        types = [t["id"] for t in self.activity_types if t["id"] != 37]
        tid = r.choice(types)
        pool = self.assets.get(tid)
        pid, pval = (None, None)
        lead_id = lead_id if lead_id is not None else (r.choice(self.leads)["id"] if self.leads else 1)
        if tid == 104 and self.programs:
            p = r.choice(self.programs)
            pid, pval = p["id"], p["name"]
        elif tid == MERGE_LEADS:  # the lead the others were merged into
            pid, pval = lead_id, str(lead_id)
        elif pool:
            pid = r.choice(sorted(pool))
            pval = pool[pid]
        aid = self._next_activity_id
        self._next_activity_id += 1
        act = {
            "id": aid,
            "marketoGUID": str(aid),
            "leadId": lead_id,
            "activityDate": at,
            "activityTypeId": tid,
            "campaignId": None if r.random() < 0.3 else r.randrange(1000, 1100),
            "primaryAttributeValueId": pid,
            "primaryAttributeValue": pval,
            "actionResult": r.choice(["succeeded"] * 8 + ["failed", "skipped"]),
            "attributes": self._attributes(tid),
        }
        if tid == SEND_EMAIL:
            self._sends.append(act)
        elif tid in EMAIL_FOLLOW_UPS and pinned_lead is None:
            self._follow_a_send(act)
        self.activities.append(act)
        return act

    def _follow_a_send(self, act: dict[str, Any]) -> None:
        """Make half the email follow-ups one of an earlier send's: same lead, campaign, email
        and campaign run, as Marketo's are, so models that count opens or clicks per send
        (dbt_marketo's email_send_id) have something to count."""
        if not self._sends or self._email_rng.random() < 0.5:
            return
        send = self._email_rng.choice(self._sends)
        if send["activityDate"] > act["activityDate"]:
            return
        for key in ("leadId", "campaignId", "primaryAttributeValueId", "primaryAttributeValue"):
            act[key] = send[key]
        for name in SEND_ATTRIBUTES:
            if name in act["attributes"] and name in send["attributes"]:
                act["attributes"][name] = send["attributes"][name]

    def _generate_programs(self, n: int, per_program: int) -> None:
        r = self.rng
        for i in range(n):
            channel, ptype, _ = CHANNELS[i % len(CHANNELS)]
            created = self._rand_dt(self.start - timedelta(days=200), self.start)
            pid = 1001 + i
            self.programs.append(
                {
                    "id": pid,
                    "name": f"{channel} Program {i + 1}" + (', "Q1"' if i == 1 else ""),
                    "description": self._text(["", "Quarterly program"], 0.2),
                    "type": ptype,
                    "channel": channel,
                    "status": "on" if ptype == "Engagement" else ("unlocked" if i % 3 else "locked"),
                    "workspace": "Default",
                    "folder": {
                        "type": "Folder",
                        "value": 100 + i % 3,
                        "folderName": f"Folder {i % 3}",
                    },
                    "url": f"https://app-sjqe.marketo.com/#PG{pid}A1",
                    "createdAt": created,
                    "updatedAt": self._rand_dt(created, self.end),
                }
            )
        lead_ids = [ld["id"] for ld in self.leads]
        for pi, prog in enumerate(self.programs):
            members = r.sample(lead_ids, min(per_program, len(lead_ids)))
            for mi, lid in enumerate(members):
                at = self._rand_dt(self.start, self.end)
                if pi == 0 and mi < len(self.boundaries):
                    at = self.boundaries[mi]
                self.program_members.append(self._new_member(prog, lid, at, at if pi == 0 and mi < 3 else None))

    def _new_member(self, prog: dict[str, Any], lead_id: int, at: datetime, updated: datetime | None) -> dict[str, Any]:
        r = self.rng
        statuses = self.channel_statuses[prog["channel"]]
        status = r.choice(statuses[1:])
        success = r.random() < 0.3
        upd = updated or (self._rand_dt(at, self.end) if at < self.end else at)
        engagement = prog["type"] == "Engagement"
        webinar = prog["channel"] == "Webinar"
        return {
            "leadId": lead_id,
            "programId": prog["id"],
            "program": prog["name"],
            "membershipDate": at,
            "statusName": status,
            "progressionStatus": status,
            "statusReason": r.choice([None, "Changed by API", "Filled out form"]),
            "reachedSuccess": success,
            "reachedSuccessDate": upd if success else None,
            "isExhausted": engagement and r.random() < 0.3,
            "nurtureCadence": r.choice(["paus", "norm"]) if engagement else None,
            "nurtureTrack": "Track A" if engagement else None,
            "trackName": "Track A" if engagement else None,
            "acquiredBy": r.random() < 0.2,
            "attendanceLikelihood": r.randrange(0, 5) if webinar else None,
            "registrationLikelihood": r.randrange(0, 5) if webinar else None,
            "createdAt": at,
            "updatedAt": upd,
            "waitlistPriority": r.randrange(1, 10) if status == "Waitlisted" else None,
            "webinarUrl": f"https://webinar.example.com/j/{lead_id}?pwd=a,b" if webinar else None,
            "registrationCode": f"REG-{lead_id}" if webinar else None,
            "pmCustomText": self._text(special_p=0.3) if r.random() < 0.7 else None,
            "pmCustomInteger": r.randrange(0, 10**6) if r.random() < 0.8 else None,
            "pmCustomBoolean": r.random() < 0.5,
            "pmCustomDate": date(2024, 1, 1) + timedelta(days=r.randrange(365)),
            "pmCustomDatetime": self._rand_dt(self.start, self.end) if r.random() < 0.5 else None,
            "pmCustomCurrency": Decimal(r.randrange(10**9)) / 100,
            "pmCustomFloat": round(r.uniform(0, 100), 3),
        }

    def _record_deletion(self, lead_id: int, at: datetime, name: str) -> None:
        did = self._next_deleted_id
        self._next_deleted_id += 1
        self.deleted_leads.append(
            {
                "id": did,
                "leadId": lead_id,
                "activityDate": at,
                "activityTypeId": 37,
                "primaryAttributeValueId": lead_id,
                "primaryAttributeValue": name,
                "attributes": [],
            }
        )

    # ------------------------------------------------------------------ custom objects
    # Delegates to ``custom`` kept for the tests outside the sandbox package that use these names.
    @property
    def custom_object_records(self) -> dict[str, list[dict[str, Any]]]:
        """apiName -> records, see :attr:`CustomObjectData.records`."""
        return self.custom.records

    def custom_object(self, api_name: str) -> dict[str, Any] | None:
        """See :meth:`CustomObjectData.get`."""
        return self.custom.get(api_name)

    def custom_object_field_names(self, api_name: str) -> list[str]:
        """See :meth:`CustomObjectData.field_names`."""
        return self.custom.field_names(api_name)

    def add_custom_object_records(self, api_name: str, n: int, at: datetime, lead_id: int | None = None) -> list[str]:
        """See :meth:`CustomObjectData.add_records`."""
        return self.custom.add_records(api_name, n, at, lead_id)

    def update_custom_object_records(self, api_name: str, guids: Iterable[str], at: datetime, **changes: Any) -> None:
        """See :meth:`CustomObjectData.update_records`."""
        self.custom.update_records(api_name, guids, at, **changes)

    # ------------------------------------------------------------------ mutation API
    def add_leads(self, n: int, at: datetime) -> list[int]:
        """Create n leads created and updated at ``at``; returns their ids."""
        with self.lock:
            new = [self._new_lead(at, at, 10**6) for _ in range(n)]
            self.leads.extend(new)
            for ld in new:
                self.lead_last_modified[ld["id"]] = at
            return [ld["id"] for ld in new]

    def update_leads(
        self,
        ids: Iterable[int],
        at: datetime,
        fields: dict[str, Any] | None = None,
        visible: bool = True,
    ) -> None:
        """Update leads at ``at``; visible=False moves only the hidden last-modified (custom-field update)."""
        with self.lock:
            wanted = set(ids)
            for ld in self.leads:
                if ld["id"] in wanted:
                    if fields:
                        ld.update(fields)
                    if visible:
                        ld["updatedAt"] = at
                    self.lead_last_modified[ld["id"]] = at

    def add_activities(self, n: int, at: datetime, lead_id: int | None = None) -> list[str]:
        """Append n activities dated ``at``; returns their marketoGUIDs."""
        with self.lock:
            return [self._new_activity(at, lead_id)["marketoGUID"] for _ in range(n)]

    def add_program_members(self, program_id: int, lead_ids: Iterable[int], at: datetime) -> None:
        """Make leads members of a program at ``at`` (membershipDate/createdAt/updatedAt)."""
        with self.lock:
            prog = next(p for p in self.programs if p["id"] == program_id)
            for lid in lead_ids:
                self.program_members.append(self._new_member(prog, lid, at, at))

    def update_program_members(
        self, keys: Iterable[tuple[int, int]], at: datetime, fields: dict[str, Any] | None = None
    ) -> None:
        """Update memberships given as (programId, leadId) keys; sets updatedAt=at."""
        with self.lock:
            wanted = set(keys)
            for m in self.program_members:
                if (m["programId"], m["leadId"]) in wanted:
                    if fields:
                        m.update(fields)
                    m["updatedAt"] = at

    def delete_leads(self, ids: Iterable[int], at: datetime) -> None:
        """Delete leads (their memberships and linked custom object records, and usage_c records of
        those subscriptions) and record Delete Lead activities for deletedleads.json."""
        with self.lock:
            wanted = set(ids)
            for ld in [ld for ld in self.leads if ld["id"] in wanted]:
                self._record_deletion(ld["id"], at, f"{ld.get('firstName') or ''} {ld.get('lastName') or ''}".strip())
            self.leads = [ld for ld in self.leads if ld["id"] not in wanted]
            self.program_members = [m for m in self.program_members if m["leadId"] not in wanted]
            for lid in wanted:
                self.lead_last_modified.pop(lid, None)
            self.custom.drop_leads(wanted)
            self.deleted_leads.sort(key=lambda d: (d["activityDate"], d["id"]))

    # ------------------------------------------------------------------ snapshots for jobs
    def snapshot(self) -> dict[str, Any]:
        """A consistent deep copy taken when a job starts processing (file reflects data at that time)."""
        with self.lock:
            return {
                "leads": copy.deepcopy(self.leads),
                "lead_last_modified": dict(self.lead_last_modified),
                "activities": copy.deepcopy(self.activities),
                "program_members": copy.deepcopy(self.program_members),
                "static_lists": copy.deepcopy(self.static_lists),
                "smart_lists": copy.deepcopy(self.smart_lists),
                "custom_object_records": self.custom.snapshot(),
            }
