"""The sandbox's assets and lead database reference data, and the API tests change them with.

Smart campaigns, emails, email templates, forms, landing pages, segmentations and their
segments, channels, tag types, lead partitions, the REST side of static lists (more lists, of
different sizes, beside the two the bulk ``staticListId`` filter already had) and what Get
Program by Id adds to a program (tags, costs, start and end dates). Drawn from their own
``random.Random`` so the leads, activities and programs of :mod:`.data` stay the same.

Versioned assets (emails, email templates, forms, landing pages, segmentations) keep one row
per version: an approved row, a draft row, or both with the same ``id``. Ids are chosen where
the activity data points: campaigns 1000.. (activities' ``campaignId``), emails 4000..
(mailing ids), forms 2000.. (web form ids), landing pages 1000.. (web page ids).
"""

from __future__ import annotations

import copy
import itertools
import random
import threading
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from .special_text import SPECIAL_STRINGS

#: Text with CR/LF, a right-to-left script and emoji, in a description of each asset kind.
SPECIAL_DESCRIPTION = "Welcome series,\r\nsecond line ✓ — Ünïcödé 🚀 مرحبا"
#: Entities served by the asset API with one row per version.
VERSIONED = ("emails", "email_templates", "forms", "landing_pages", "segmentations")
#: Channel program types as the asset API names them (programs.json shows them capitalised).
PROGRAM_TYPES = {"Email": "email_batch", "Event": "event", "Engagement": "nurture", "Default": "program"}
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


class AssetData:
    """Asset rows by entity (``rows``), segments, program details and the static lists' REST side.

    Why this class is long: every asset kind is drawn from the one ``rng`` stream in a fixed
    order, and its mutation API must keep versions, timestamps and lists consistent under the
    sandbox's one lock; each generator is a short method of its own.
    """

    def __init__(
        self,
        seed: int,
        start: datetime,
        end: datetime,
        programs: list[dict[str, Any]],
        static_lists: list[dict[str, Any]],
        lead_ids: list[int],
        channels: list[tuple[str, str, list[str]]],
        lock: threading.RLock,
        campaigns: int = 24,
        emails: int = 20,
    ) -> None:
        self.rng = random.Random(seed)
        self.start, self.end, self.lock = start, end, lock
        #: The programs of :mod:`.data` (the browse's rows): tags and costs are not in them.
        self.programs = programs
        #: The static lists of :mod:`.data` (``leadIds``, which bulk ``staticListId`` exports
        #: read), with the members Get Lists shows added here.
        self.static_lists = static_lists
        self.rows: dict[str, list[dict[str, Any]]] = {}
        self.rows["campaigns"] = [self._campaign(i) for i in range(campaigns)]
        self.rows["emails"] = self._versions(self._email, 4000, emails)
        self.rows["email_templates"] = self._versions(self._email_template, 100, 8)
        self.rows["forms"] = self._versions(self._form, 2000, 8)
        self.rows["landing_pages"] = self._versions(self._landing_page, 1000, 8)
        self.rows["segmentations"] = self._versions(self._segmentation, 1001, 3)
        self.rows["segments"] = self._segments()
        self.rows["channels"] = self._channels(channels)
        self.rows["tag_types"] = self._tag_types()
        self.rows["lead_partitions"] = [
            {"id": 1, "name": "Default", "description": "Initial system lead partition"},
            {"id": 2, "name": "EMEA", "description": "Leads of the EMEA team"},
        ]
        #: Program id -> what Get Program by Id adds: tags, costs, startDate, endDate.
        self.program_details: dict[int, dict[str, Any]] = {p["id"]: self._program_details(p) for p in programs}
        self._add_lists(lead_ids)

    # ------------------------------------------------------------------ helpers
    def _when(self) -> tuple[datetime, datetime]:
        """createdAt up to 400 days before the data range, updatedAt after it, before the end."""
        created = self.start - timedelta(seconds=self.rng.randrange(400 * 86400))
        updated = created + timedelta(seconds=self.rng.randrange(int((self.end - created).total_seconds())))
        return created, updated

    def _description(self, i: int) -> str:
        if i == 1:
            return SPECIAL_DESCRIPTION
        return self.rng.choice(["", "Quarterly", SPECIAL_STRINGS[i % len(SPECIAL_STRINGS)], "Owned by the web team"])

    def _folder(self, i: int, with_name: bool = True) -> dict[str, Any]:
        """The older ``{type, value, folderName}`` shape (emails, forms, pages, templates)."""
        folder: dict[str, Any] = {"type": "Folder", "value": 300 + i % 4}
        if with_name:
            folder["folderName"] = None if i % 5 == 4 else f"Folder {i % 4}"
        return folder

    def _versions(self, make: Any, first_id: int, n: int) -> list[dict[str, Any]]:
        """Rows of ``n`` assets: every third approved with a draft, every fifth a draft only."""
        rows: list[dict[str, Any]] = []
        for i in range(n):
            row = make(first_id + i, i)
            if i % 5 == 1:
                rows.append({**row, "status": "draft"})
                continue
            rows.append({**row, "status": "approved"})
            if i % 3 == 0:
                later = min(row["updatedAt"] + timedelta(hours=5), self.end - timedelta(seconds=1))
                rows.append({**copy.deepcopy(row), "status": "draft", "updatedAt": later, **self._draft_changes(row)})
        return rows

    @staticmethod
    def _draft_changes(row: dict[str, Any]) -> dict[str, Any]:
        """What a draft changes: the name, and the subject of an email."""
        changes: dict[str, Any] = {"name": f"{row['name']} (draft)"}
        if "subject" in row:
            changes["subject"] = {"type": "Text", "value": f"{row['subject']['value']} v2"}
        return changes

    # ------------------------------------------------------------------ generators
    def _campaign(self, i: int) -> dict[str, Any]:
        r = self.rng
        created, updated = self._when()
        kind = ["batch", "trigger", "default"][i % 3]
        cid = 1000 + i
        row: dict[str, Any] = {
            "id": cid,
            "name": f"Campaign {i}" + (', "Q1" push' if i == 2 else ""),
            "description": self._description(i),
            "type": kind,
            "isSystem": i < 2,
            "isActive": kind == "trigger" and r.random() < 0.7,
            "isRequestable": kind == "trigger" and i % 2 == 1,
            "recurrence": {"weekdayOnly": False},
            "qualificationRuleType": r.choice(["once", "any", "interval"]),
            "isCommunicationLimitEnabled": r.random() < 0.3,
            "smartListId": 7000 + i,
            "flowId": 8000 + i,
            "createdAt": created,
            "updatedAt": updated,
            "workspace": "Default",
            "computedUrl": f"https://app-sjqe.marketo.com/#SC{cid}A1",
            "status": {"batch": "Single Run", "trigger": "Active", "default": "Never Run"}[kind],
        }
        if row["qualificationRuleType"] == "interval":
            row.update(qualificationRuleInterval=r.randrange(1, 5), qualificationRuleUnit=r.choice(["day", "week"]))
        if kind == "batch" and i % 2 == 0:  # a recurring batch campaign, every documented member
            row["status"] = "Recurring Run"
            row["recurrence"] = {
                "startAt": self.start + timedelta(days=i, hours=9),
                "endAt": self.end + timedelta(days=90),
                "intervalType": "Weekly",
                "interval": 1,
                "weekdayOnly": False,
                "weekdayMask": sorted(r.sample(WEEKDAYS[:5], 2), key=WEEKDAYS.index),
            }
        elif kind == "batch" and i % 4 == 3:
            row["recurrence"] = {
                "startAt": self.start + timedelta(hours=i),
                "intervalType": "Monthly",
                "interval": 1,
                "dayOfMonth": 15,
                "weekOfMonth": 2,
                "dayOfWeek": "Tuesday",
            }
        if i % 4 == 0:
            row["maxMembers"] = r.randrange(100, 10000)
        if not row["isSystem"]:  # system campaigns have no folder or parent program
            if self.programs and i % 2 == 0:
                program = self.programs[i % len(self.programs)]
                row["parentProgramId"] = program["id"]
                row["folder"] = {"id": program["id"], "type": "Program"}
            else:
                row["folder"] = {"id": 200 + i % 3, "type": "Folder"}
        return row

    def _email(self, eid: int, i: int) -> dict[str, Any]:
        r = self.rng
        created, updated = self._when()
        sender = f"news{i % 3}@example.com"
        row: dict[str, Any] = {
            "id": eid,
            "name": f"Newsletter {i}.Email",
            "description": self._description(i),
            "createdAt": created,
            "updatedAt": updated,
            "url": None,
            "subject": {"type": "Text", "value": f"Issue {i}: what's new ✓"},
            "fromName": {"type": "Text", "value": "Marketing, Inc."},
            "fromEmail": None if i % 7 == 3 else {"type": "Text", "value": sender},
            "replyEmail": {"type": "Text", "value": sender},
            "folder": self._folder(i),
            "operational": i % 6 == 0,
            "textOnly": False,
            "publishToMSI": r.random() < 0.2,
            "webView": r.random() < 0.5,
            "template": None if i % 4 == 3 else 100 + i % 8,
            "workspace": "Default",
            "isOpenTrackingDisabled": False,
            "version": 2 if i % 2 else 1,
            "autoCopyToText": r.random() < 0.5,
            "preHeader": "Read this first" if i % 2 else "",
            "ccFields": [],
        }
        if i % 4 == 1 and self.programs:  # an email of a program: its folder is the program
            program = self.programs[i % len(self.programs)]
            row["folder"] = {"type": "Program", "value": program["id"], "folderName": program["name"]}
        if i % 4 == 0:
            row["ccFields"] = [
                {"attributeId": "157", "objectName": "lead", "displayName": "Lead Owner Email Address", "apiName": None}
            ]
        return row

    def _email_template(self, tid: int, i: int) -> dict[str, Any]:
        created, updated = self._when()
        return {
            "id": tid,
            "name": f"Template {i}",
            "description": self._description(i) or None,
            "createdAt": created,
            "updatedAt": updated,
            "url": f"https://app-sjqe.marketo.com/#EMT{tid}A1",
            "folder": self._folder(i, with_name=False),
            "workspace": "Default",
            "version": 2 if i % 2 else 1,
        }

    def _form(self, fid: int, i: int) -> dict[str, Any]:
        created, updated = self._when()
        thanks: list[dict[str, Any]] = [{"followupType": "none", "followupValue": None, "default": True}]
        if i % 2 == 0:
            thanks = [
                {
                    "followupType": "url",
                    "followupValue": f"https://example.com/thanks?f={fid}",
                    "default": False,
                    "operator": "is",
                    "subjectField": "Country",
                    "values": ["France", "Germany"],
                },
                {"followupType": "lp", "followupValue": 1000 + i, "default": True},
            ]
        return {
            "id": fid,
            "name": f"Form {i}",
            "description": self._description(i),
            "createdAt": created,
            "updatedAt": updated,
            "url": f"https://app-sjqe.marketo.com/#FO{fid}B2",
            "theme": "simple",
            "language": "French" if i % 3 == 1 else "English",
            "locale": "fr_FR" if i % 3 == 1 else "en_US",
            "progressiveProfiling": i % 2 == 1,
            "labelPosition": "left",
            "fontFamily": "Helvetica",
            "fontSize": "13px",
            "folder": self._folder(i),
            "knownVisitor": {"type": "form", "template": None},
            "thankYouList": thanks,
            "buttonLocation": 120,
            "buttonLabel": "Submit",
            "waitingLabel": "Please Wait",
        }

    def _landing_page(self, pid: int, i: int) -> dict[str, Any]:
        created, updated = self._when()
        return {
            "id": pid,
            "name": f"page-{i}",
            "description": self._description(i),
            "createdAt": created,
            "updatedAt": updated,
            "folder": self._folder(i),
            "workspace": "Default",
            "template": 1 + i % 2,
            "title": f"Page {i}",
            "keywords": "awesome, pages",
            "robots": "index, nofollow",
            "formPrefill": i % 2 == 0,
            "mobileEnabled": False,
            "customHeadHTML": '<meta name="x" content="y">' if i % 3 == 0 else "",
            "facebookOgTags": "",
            "URL": f"https://pages.example.com/lp/page-{i}.html",
            "computedUrl": f"https://app-sjqe.marketo.com/#LP{pid}B2",
        }

    def _segmentation(self, sid: int, i: int) -> dict[str, Any]:
        created, updated = self._when()
        return {
            "id": sid,
            "name": ["Industry", "Region", "Company size"][i % 3],
            "description": self._description(i),
            "createdAt": created,
            "updatedAt": updated,
            "url": f"https://app-sjqe.marketo.com/#SG{sid}A1",
            "folder": {"type": "Program", "value": 396, "folderName": None},
            "workspace": "Default",
        }

    def _segments(self) -> list[dict[str, Any]]:
        """Each segmentation version's segments, "Default" first; ids unique across segmentations."""
        names = {"Industry": ["Healthcare", "Retail"], "Region": ["EMEA", "AMER", "APAC"], "Company size": ["Small"]}
        rows: list[dict[str, Any]] = []
        next_id = itertools.count(2001)
        for seg in [s for s in self.rows["segmentations"] if s["status"] == "approved"] + [
            s for s in self.rows["segmentations"] if s["status"] == "draft"
        ]:
            known = {row["name"]: row["id"] for row in rows if row["segmentationId"] == seg["id"]}
            for name in ["Default", *names[seg["name"].removesuffix(" (draft)")]]:
                row = {
                    "id": known.get(name) or next(next_id),
                    "name": name,
                    "description": None if name == "Default" else f"{name} leads",
                    "createdAt": seg["createdAt"],
                    "updatedAt": seg["updatedAt"],
                    "status": seg["status"],
                    "segmentationId": seg["id"],
                }
                if name != "Default":
                    row["url"] = f"https://app-sjqe.marketo.com/#SL{row['id']}A1"
                rows.append(row)
        return rows

    def _channels(self, channels: list[tuple[str, str, list[str]]]) -> list[dict[str, Any]]:
        rows = []
        for k, (name, program_type, statuses) in enumerate(channels):
            created, updated = self._when()
            rows.append(
                {
                    "id": k + 1,
                    "name": name,
                    "applicableProgramType": PROGRAM_TYPES[program_type],
                    "progressionStatuses": [
                        {
                            "name": status,
                            "step": 10 * j,
                            "description": None,
                            "hidden": status == "Waitlisted",
                            "success": j == len(statuses) - 1,
                            "type": "Success" if j == len(statuses) - 1 else "Member",
                        }
                        for j, status in enumerate(statuses)
                    ],
                    "createdAt": created,
                    "updatedAt": updated,
                }
            )
        return rows

    @staticmethod
    def _tag_types() -> list[dict[str, Any]]:
        return [
            {
                "tagType": "Region",
                "applicableProgramTypes": "[program,email_batch,nurture,event,webinar]",
                "required": True,
            },
            {"tagType": "Product Line", "applicableProgramTypes": "[program,event]", "required": False},
            {"tagType": "Budget, Owner", "applicableProgramTypes": "[program]", "required": False},
        ]

    def _program_details(self, program: dict[str, Any]) -> dict[str, Any]:
        """Tags, costs (None: Marketo's ``costs: null``), and dates for event programs."""
        r, i = self.rng, program["id"] - 1001
        tags = [{"tagType": "Region", "tagValue": r.choice(["EMEA", "AMER", "APAC"])}]
        if i % 2 == 0:
            tags.append({"tagType": "Product Line", "tagValue": r.choice(["Cloud", "On-premise, legacy"])})
        costs: list[dict[str, Any]] | None = None
        if i % 3 != 2:
            costs = [{"startDate": "2024-01-01", "cost": 200 + i, "note": "Google Adwords"}]
            if i % 2:
                costs.append({"startDate": "2024-02-01", "cost": 150})
        details: dict[str, Any] = {"tags": tags if i % 5 != 4 else [], "costs": costs}
        if program["type"] == "Event":
            details["startDate"] = self.start + timedelta(days=20 + i, hours=15)
            details["endDate"] = details["startDate"] + timedelta(hours=2)
        if i % 4 == 1:  # linked to a Salesforce campaign (browse fields)
            program["sfdcId"] = f"7015g00000{program['id']:06d}AAA"
            program["sfdcName"] = f"SFDC {program['name']}"
        return details

    def _add_lists(self, lead_ids: list[int]) -> None:
        """Get Lists metadata on the existing lists, and lists of other sizes: empty, one
        member, every lead (one full page of 300 with the default data), a hundred and twenty."""
        r = self.rng
        sizes = [("Empty list", 0), ("One lead", 1), ("All leads", len(lead_ids)), ("Newsletter", 120)]
        for name, size in sizes:
            members = sorted(r.sample(lead_ids, min(size, len(lead_ids))))
            self.static_lists.append({"id": 2001 + len(self.static_lists), "name": name, "leadIds": members})
        for k, lst in enumerate(self.static_lists):
            created, updated = self._when()
            lst.update(workspaceName="Default", workspaceId=1, createdAt=created, updatedAt=updated)
            if k % 2 == 0:
                lst["description"] = SPECIAL_DESCRIPTION if k == 0 else "Imported"
            if k == 1 and self.programs:
                lst["programName"] = self.programs[0]["name"]

    # ------------------------------------------------------------------ mutation API
    def update(self, entity: str, ids: Iterable[int], at: datetime, status: str | None = None, **changes: Any) -> None:
        """Update rows (of ``status`` only, if given) at ``at``: ``updatedAt`` and ``changes``."""
        with self.lock:
            wanted = set(ids)
            for row in self.rows[entity]:
                if row["id"] in wanted and status in (None, row.get("status")):
                    row.update(copy.deepcopy(changes))
                    row["updatedAt"] = at

    def add(self, entity: str, n: int, at: datetime) -> list[int]:
        """``n`` new assets (approved, where versioned) created and updated at ``at``."""
        with self.lock:
            rows = self.rows[entity]
            first = max(row["id"] for row in rows) + 1
            make = {
                "campaigns": lambda aid, i: self._campaign(aid - 1000),
                "emails": self._email,
                "email_templates": self._email_template,
                "forms": self._form,
                "landing_pages": self._landing_page,
            }[entity]
            new = []
            for k in range(n):
                row = make(first + k, first + k)
                row.update(id=first + k, createdAt=at, updatedAt=at)
                if entity in VERSIONED:
                    row["status"] = "approved"
                new.append(row)
            rows.extend(new)
            return [row["id"] for row in new]

    def add_draft(self, entity: str, asset_id: int, at: datetime) -> None:
        """A draft of an approved asset, edited at ``at``."""
        with self.lock:
            approved = next(r for r in self.rows[entity] if r["id"] == asset_id and r["status"] == "approved")
            draft = {**copy.deepcopy(approved), "status": "draft", "updatedAt": at, **self._draft_changes(approved)}
            self.rows[entity].append(draft)

    def approve_draft(self, entity: str, asset_id: int, at: datetime) -> None:
        """The draft becomes the approved version (the old approved version is gone)."""
        with self.lock:
            rows = self.rows[entity]
            draft = next(r for r in rows if r["id"] == asset_id and r["status"] == "draft")
            rows[:] = [r for r in rows if not (r["id"] == asset_id and r["status"] == "approved")]
            draft.update(status="approved", updatedAt=at)

    def update_program(
        self,
        program_id: int,
        at: datetime,
        tags: list[dict[str, Any]] | None = None,
        costs: list[dict[str, Any]] | None = None,
    ) -> None:
        """A program edited at ``at`` (its browse ``updatedAt``), with new tags and/or costs."""
        with self.lock:
            program = next(p for p in self.programs if p["id"] == program_id)
            program["updatedAt"] = at
            details = self.program_details[program_id]
            if tags is not None:
                details["tags"] = copy.deepcopy(tags)
            if costs is not None:
                details["costs"] = copy.deepcopy(costs)

    def static_list(self, list_id: int) -> dict[str, Any]:
        """A static list by id (KeyError if there is none)."""
        for lst in self.static_lists:
            if lst["id"] == list_id:
                return lst
        raise KeyError(list_id)

    def add_list_members(self, list_id: int, lead_ids: Iterable[int]) -> None:
        """Add leads to a static list (the REST members and the bulk staticListId export)."""
        with self.lock:
            lst = self.static_list(list_id)
            lst["leadIds"] = sorted(set(lst["leadIds"]) | set(lead_ids))

    def remove_list_members(self, list_id: int, lead_ids: Iterable[int]) -> None:
        """Remove leads from a static list."""
        with self.lock:
            lst = self.static_list(list_id)
            lst["leadIds"] = sorted(set(lst["leadIds"]) - set(lead_ids))
