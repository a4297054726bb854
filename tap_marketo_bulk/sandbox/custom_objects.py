"""Custom object types and records of the sandbox, and their mutation API.

Records come from their own ``random.Random(seed + 1000)``, so leads, activities and program
members are the same with or without them.  The only lead state used is the current lead ids
(asked for on every new record, since leads come and go).  A record is a dict field name ->
typed value, exactly what the export file carries once rendered by ``files.to_text`` (the same
rendering as leads):

- ``string``/``text``: ``str`` (quoted by RFC 4180 rules when holding the delimiter, ``"``, CR, LF)
- ``integer``: ``int`` -> ``"37"``; ``float``: ``float`` -> ``str(value)``, e.g. ``"12.5"``
- ``currency``: ``Decimal`` -> ``format(value, "f")``, e.g. ``"62827.08"`` or ``"35449.8"``
- ``boolean``: ``bool`` -> ``true``/``false``; ``date``: ``date`` -> ``"2025-04-05"``
- ``datetime``: aware ``datetime`` -> ``"2024-01-01T00:00:00Z"`` (UTC, no milliseconds)
- ``None`` -> the unquoted ``null`` marker
"""

from __future__ import annotations

import copy
import random
import threading
import uuid
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from .special_text import SPECIAL_STRINGS

#: Custom object types of the sandbox.  Spec per type: (apiName, displayName, pluralName,
#: description, state, dedupeFields, link (field, related object, related field) or None,
#: custom fields as (name, displayName, dataType, length)).  Every type also has the standard
#: fields marketoGUID, createdAt and updatedAt.  ``usage_c`` links to ``subscription_c`` (a
#: second-level object the bulk extract refuses); ``invoice_c`` is denied to the API user by
#: default (SandboxOptions.denied_custom_objects); ``shipment_c`` exists only as a draft.
CUSTOM_OBJECT_SPECS: list[tuple[Any, ...]] = [
    (
        "purchase_c",
        "Purchase",
        "Purchases",
        "Purchases made by a person",
        "approved",
        ["purchaseId"],
        ("leadId", "Lead", "id"),
        [
            ("leadId", "Lead ID", "integer", None),
            ("purchaseId", "Purchase ID", "string", 255),
            ("productName", "Product Name", "string", 255),
            ("amount", "Amount", "currency", None),
            ("quantity", "Quantity", "integer", None),
            ("purchasedAt", "Purchased At", "datetime", None),
            ("isRefunded", "Is Refunded", "boolean", None),
            ("notes", "Notes", "text", None),
        ],
    ),
    (
        "subscription_c",
        "Subscription",
        "Subscriptions",
        "Product subscriptions of a person",
        "approved",
        ["leadId", "productCode"],
        ("leadId", "Lead", "id"),
        [
            ("leadId", "Lead ID", "integer", None),
            ("productCode", "Product Code", "string", 255),
            ("plan", "Plan", "string", 255),
            ("seats", "Seats", "integer", None),
            ("renewalDate", "Renewal Date", "date", None),
            ("discountPct", "Discount Pct", "float", None),
            ("active", "Active", "boolean", None),
        ],
    ),
    (
        "usage_c",
        "Usage",
        "Usages",
        "Monthly usage of a subscription (linked to subscription_c, not to Lead)",
        "approved",
        ["usageId"],
        ("subscriptionGUID", "subscription_c", "marketoGUID"),
        [
            ("subscriptionGUID", "Subscription GUID", "string", 36),
            ("usageId", "Usage ID", "string", 255),
            ("units", "Units", "integer", None),
            ("month", "Month", "date", None),
        ],
    ),
    (
        "invoice_c",
        "Invoice",
        "Invoices",
        "Invoices of a person",
        "approved",
        ["invoiceNumber"],
        ("leadId", "Lead", "id"),
        [
            ("leadId", "Lead ID", "integer", None),
            ("invoiceNumber", "Invoice Number", "string", 255),
            ("total", "Total", "currency", None),
            ("issuedOn", "Issued On", "date", None),
            ("paid", "Paid", "boolean", None),
        ],
    ),
    (
        "shipment_c",
        "Shipment",
        "Shipments",
        "Shipments (draft type, never approved)",
        "draft",
        ["trackingNumber"],
        ("leadId", "Lead", "id"),
        [
            ("leadId", "Lead ID", "integer", None),
            ("trackingNumber", "Tracking Number", "string", 255),
            ("carrier", "Carrier", "string", 255),
        ],
    ),
]
#: Per type, the integer field ``CustomObjectData.update_records`` bumps when given no changes.
CUSTOM_OBJECT_BUMP: dict[str, str] = {
    "purchase_c": "quantity",
    "subscription_c": "seats",
    "usage_c": "units",
    "invoice_c": "total",
}
PRODUCTS: list[tuple[str, str]] = [
    ("P-100", "Starter Kit"),
    ("P-200", 'Pro Bundle, "Gold"'),
    ("P-300", "Widget\nDeluxe"),
    ("P-400", "Gadget \U0001f680"),
    ("P-500", "Über Cable"),
    ("P-600", "Plain Box"),
    ("P-700", "Seat License"),
    ("P-800", "Support Plan"),
    ("P-900", "Training"),
    ("P-910", "Add-on; Storage"),
    ("P-920", "Consulting"),
    ("P-930", "Hardware"),
]
PLANS: list[str | None] = ["free", "team", "business", "enterprise", None]


def _field(name: str, display: str, dtype: str, length: int | None, updateable: bool) -> dict[str, Any]:
    """Describe entry shaped like customobjects/{apiName}/describe.json fields."""
    f: dict[str, Any] = {"name": name, "displayName": display, "dataType": dtype}
    if length is not None:
        f["length"] = length
    f["updateable"] = updateable
    f["crmManaged"] = False
    return f


def build_custom_objects() -> list[dict[str, Any]]:
    """Custom object types as the describe endpoints return them, plus ``state`` ("approved"/"draft").

    Link fields are described with dataType ``integer`` (or ``string`` for a GUID link), as in
    Marketo's describe examples (``link`` is only the dataType used when *adding* the field).
    """
    out = []
    for i, (name, display, plural, desc, state, dedupe, link, custom) in enumerate(CUSTOM_OBJECT_SPECS):
        draft = state == "draft"
        fields = [
            _field("createdAt", "Created At", "datetime", None, False),
            _field("marketoGUID", "Marketo GUID", "string", 36, False),
            _field("updatedAt", "Updated At", "datetime", None, False),
        ] + [_field(n, d, t, ln, True) for n, d, t, ln in custom]
        searchable = [list(dedupe), ["marketoGUID"]] + ([[link[0]]] if link and [link[0]] != dedupe else [])
        out.append(
            {
                "name": name,
                "displayName": display,
                "pluralName": plural,
                "description": desc,
                # A draft that was never approved has no dates or idField yet (docs' draft example).
                "createdAt": None if draft else f"2023-0{i + 1}-15T10:00:0{i}Z",
                "updatedAt": None if draft else f"2023-0{i + 1}-20T11:30:0{i}Z",
                "idField": None if draft else "marketoGUID",
                "dedupeFields": list(dedupe),
                "searchableFields": searchable,
                "relationships": [{"field": link[0], "type": "child", "relatedTo": {"name": link[1], "field": link[2]}}]
                if link
                else [],
                "fields": fields,
                "state": state,
            }
        )
    return out


def _rand_dt(rng: random.Random, lo: datetime, hi: datetime) -> datetime:
    span = int((hi - lo).total_seconds())
    return lo + timedelta(seconds=rng.randrange(max(span, 1)))


def _note(rng: random.Random) -> str:
    """A purchase_c ``notes`` value: often one of the special strings."""
    if rng.random() < 0.4:
        return rng.choice(SPECIAL_STRINGS)
    return rng.choice(["gift", "repeat customer", "paid by card, twice", "Ünïcödé note"])


class CustomObjectData:
    """Custom object types (``types``) and records (``records[apiName]``), guarded by ``lock``.

    ``lock`` is the lock of the owning SandboxData, so a lead deletion and the removal of its
    linked records are one step for readers.
    """

    def __init__(
        self,
        seed: int,
        n: int,
        start: datetime,
        end: datetime,
        boundaries: list[datetime],
        lead_ids: Callable[[], list[int]],
        lock: threading.RLock,
    ) -> None:
        self.start = start
        self.end = end
        self.boundaries = boundaries
        self.lock = lock
        self._lead_ids = lead_ids
        self._rng = random.Random(seed)
        #: Custom object types (describe entries plus the internal ``state``), see CUSTOM_OBJECT_SPECS.
        self.types: list[dict[str, Any]] = build_custom_objects()
        #: apiName -> records (typed values, keyed by field name), see :meth:`_generate`.
        self.records: dict[str, list[dict[str, Any]]] = {o["name"]: [] for o in self.types}
        self._seq: dict[str, int] = {o["name"]: 0 for o in self.types}
        #: (leadId, productCode) of every subscription_c record: its compound dedupe key.
        self._sub_keys: set[tuple[int, str]] = set()
        self._generate(n)

    def get(self, api_name: str) -> dict[str, Any] | None:
        """The type entry (describe shape plus ``state``) of ``api_name``, or None."""
        return next((o for o in self.types if o["name"] == api_name), None)

    def field_names(self, api_name: str) -> list[str]:
        """Field names of a type, in describe order."""
        obj = self.get(api_name)
        if obj is None:
            raise ValueError(f"unknown custom object {api_name!r}")
        return [f["name"] for f in obj["fields"]]

    # ------------------------------------------------------------------ generation
    def _times(self, i: int) -> tuple[datetime, datetime]:
        """(createdAt, updatedAt) of the i-th generated record: the first ones sit on the boundaries."""
        b = self.boundaries
        if i < len(b):  # created and updated exactly on a boundary
            return b[i], b[i]
        if i == len(b) and len(b) > 1:  # created earlier, updated exactly on the first inner boundary
            return self.start + timedelta(hours=7), b[1]
        if i == len(b) + 1 and len(b) > 2:
            return b[1] + timedelta(hours=3), b[2]
        created = _rand_dt(self._rng, self.start, self.end)
        updated = created if self._rng.random() < 0.5 else _rand_dt(self._rng, created, self.end)
        return created, updated

    def _generate(self, n: int) -> None:
        """Records of purchase_c (n), subscription_c (2n/3), invoice_c (n/3) and usage_c (n/5).

        Every record of a Lead-linked type references an existing lead; ``shipment_c`` (draft)
        has none.
        """
        lead_ids = self._lead_ids()
        if not lead_ids or n <= 0:
            return
        for i in range(n):
            self._new_record("purchase_c", *self._times(i))
        combos = [(lid, code) for lid in lead_ids for code, _ in PRODUCTS]
        for i, (lid, code) in enumerate(self._rng.sample(combos, min(n * 2 // 3, len(combos)))):
            self._new_record("subscription_c", *self._times(i), lead_id=lid, product_code=code)
        for i in range(n // 3):
            self._new_record("invoice_c", *self._times(i))
        for i in range(n // 5):
            self._new_record("usage_c", *self._times(i))

    def _new_record(
        self,
        api_name: str,
        created: datetime,
        updated: datetime,
        lead_id: int | None = None,
        product_code: str | None = None,
    ) -> dict[str, Any]:
        r = self._rng
        self._seq[api_name] += 1
        seq = self._seq[api_name]
        lead_ids = self._lead_ids()
        if api_name != "usage_c" and lead_id is None:
            if not lead_ids:
                raise ValueError("no leads to link custom object records to")
            lead_id = r.choice(lead_ids)
        rec: dict[str, Any] = {
            "marketoGUID": str(uuid.UUID(int=r.getrandbits(128), version=4)),
            "createdAt": created,
            "updatedAt": updated,
        }
        if api_name == "purchase_c":
            _, product = r.choice(PRODUCTS)
            notes = None if r.random() < 0.4 else _note(r)
            if seq <= len(SPECIAL_STRINGS):  # every special string in some record's notes
                notes = SPECIAL_STRINGS[seq - 1]
            rec.update(
                leadId=lead_id,
                purchaseId=f"PO-{seq:06d}",
                productName=None if r.random() < 0.05 else product,
                amount=Decimal(r.randrange(100, 10**7)) / 100,
                quantity=r.randrange(1, 50),
                purchasedAt=_rand_dt(r, created - timedelta(days=30), created),
                isRefunded=r.random() < 0.1,
                notes=notes,
            )
        elif api_name == "subscription_c":
            if product_code is None:
                free = [c for c, _ in PRODUCTS if (lead_id, c) not in self._sub_keys]
                if not free:
                    raise ValueError(f"lead {lead_id} already has a subscription to every product")
                product_code = free[0]
            self._sub_keys.add((lead_id, product_code))
            rec.update(
                leadId=lead_id,
                productCode=product_code,
                plan=r.choice(PLANS),
                seats=None if r.random() < 0.15 else r.randrange(1, 500),
                renewalDate=None if r.random() < 0.2 else date(2024, 6, 1) + timedelta(days=r.randrange(365)),
                discountPct=None if r.random() < 0.3 else round(r.uniform(0, 40), 2),
                active=r.random() < 0.8,
            )
        elif api_name == "invoice_c":
            rec.update(
                leadId=lead_id,
                invoiceNumber=f"INV-{seq:05d}",
                total=Decimal(r.randrange(0, 10**8)) / 100,
                issuedOn=created.date(),
                paid=None if r.random() < 0.1 else r.random() < 0.6,
            )
        elif api_name == "usage_c":
            subs = self.records["subscription_c"]
            rec.update(
                subscriptionGUID=r.choice(subs)["marketoGUID"] if subs else None,
                usageId=f"U-{seq:06d}",
                units=r.randrange(0, 100000),
                month=date(created.year, created.month, 1),
            )
        else:
            raise ValueError(f"custom object {api_name!r} cannot hold records")
        self.records[api_name].append(rec)
        return rec

    # ------------------------------------------------------------------ mutation API
    def add_records(self, api_name: str, n: int, at: datetime, lead_id: int | None = None) -> list[str]:
        """Create n records of ``api_name`` created and updated at ``at``; returns their marketoGUIDs.

        Each is linked to ``lead_id`` (default: a random existing lead); subscription_c takes
        the lead's first product code not yet used (compound dedupe key leadId+productCode).
        """
        with self.lock:
            if api_name not in self.records:
                raise ValueError(f"unknown custom object {api_name!r}")
            return [self._new_record(api_name, at, at, lead_id)["marketoGUID"] for _ in range(n)]

    def update_records(self, api_name: str, guids: Iterable[str], at: datetime, **changes: Any) -> None:
        """Set ``changes`` (field=value) on the records, or without changes bump an integer/currency
        field (CUSTOM_OBJECT_BUMP); updatedAt becomes ``at``.  Unknown fields or guids raise ValueError."""
        with self.lock:
            names = set(self.field_names(api_name))
            bad = [k for k in changes if k not in names or k in ("marketoGUID", "createdAt", "updatedAt")]
            if bad:
                raise ValueError(f"cannot change {bad} of {api_name}")
            wanted = set(guids)
            found = set()
            for rec in self.records.get(api_name, []):
                if rec["marketoGUID"] not in wanted:
                    continue
                found.add(rec["marketoGUID"])
                if changes:
                    rec.update(changes)
                else:
                    key = CUSTOM_OBJECT_BUMP[api_name]
                    step: Any = Decimal(1) if isinstance(rec[key], Decimal) or key == "total" else 1
                    rec[key] = (rec[key] or 0) + step
                rec["updatedAt"] = at
            if found != wanted:
                raise ValueError(f"unknown {api_name} marketoGUIDs: {sorted(wanted - found)}")

    def drop_leads(self, lead_ids: Iterable[int]) -> None:
        """Remove the records linked to these (deleted) leads, and usage_c records of those subscriptions."""
        with self.lock:
            wanted = set(lead_ids)
            for api, records in self.records.items():
                if api != "usage_c":
                    self.records[api] = [c for c in records if c.get("leadId") not in wanted]
            subs = {c["marketoGUID"] for c in self.records["subscription_c"]}
            self.records["usage_c"] = [u for u in self.records["usage_c"] if u["subscriptionGUID"] in subs]
            self._sub_keys = {k for k in self._sub_keys if k[0] not in wanted}

    def snapshot(self) -> dict[str, list[dict[str, Any]]]:
        """A deep copy of the records (for SandboxData.snapshot)."""
        with self.lock:
            return copy.deepcopy(self.records)
