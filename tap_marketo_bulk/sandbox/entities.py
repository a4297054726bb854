"""What a subscription or an API role lacks: Marketo entities by the paths that serve them.

Subscriptions differ in what they include (custom objects, program member infrastructure, the
newer bulk extracts) and API roles in their permissions (Read-Only Activity, Read-Only Assets,
...). Marketo documents 603 "Access denied" for a missing permission and nothing for a missing
feature, so the sandbox answers either switch with any reading: an envelope code (603, 610,
1026, ...) or an HTTP 404 with an HTML page. The switches are applied before routing, by entity
name: a new endpoint only registers its paths under an entity below.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .asset_api import ENDPOINTS

#: Entity name -> the API paths (regular expressions on the path) that serve it. Entities may
#: overlap: the bulk extracts are features of their own that a subscription may lack.
ENTITY_PATHS: dict[str, tuple[str, ...]] = {
    "leads": (r"^/rest/v1/leads/describe2?\.json$", r"^/bulk/v1/leads/export"),
    "activities": (
        r"^/rest/v1/activities/types\.json$",
        r"^/rest/v1/activities/pagingtoken\.json$",
        r"^/bulk/v1/activities/export",
    ),
    "deleted_leads": (r"^/rest/v1/activities/deletedleads\.json$",),
    "programs": (r"^/rest/asset/v1/programs?\b",),
    "program_members": (r"^/rest/v1/programs/members/", r"^/bulk/v1/program/members/export"),
    "program_member_export": (r"^/bulk/v1/program/members/export",),
    "custom_objects": (r"^/rest/v1/customobjects", r"^/bulk/v1/customobjects/"),
    "custom_object_export": (r"^/bulk/v1/customobjects/",),
}
for _endpoint in ENDPOINTS:  # the asset and list endpoints, registered where they are served
    ENTITY_PATHS[_endpoint.entity] = (*ENTITY_PATHS.get(_endpoint.entity, ()), _endpoint.pattern.pattern)
#: Permission of an API role -> the entities a role without it may not read (Marketo's docs:
#: bulk program member extract needs Read-Only Lead; programs are assets).
PERMISSION_ENTITIES: dict[str, tuple[str, ...]] = {
    "Read-Only Lead": ("leads", "program_members"),
    "Read-Only Activity": ("activities", "deleted_leads"),
    "Read-Only Assets": ("programs",),
    "Read-Only Custom Object": ("custom_objects",),
}
for _endpoint in ENDPOINTS:
    if _endpoint.entity not in PERMISSION_ENTITIES[_endpoint.permission]:
        PERMISSION_ENTITIES[_endpoint.permission] += (_endpoint.entity,)
#: Messages of the envelope codes a refusal may be answered with (others get a generic one).
ANSWER_MESSAGES = {
    "603": "Access denied",
    "610": "Requested resource not found",
}
#: The body of an HTTP 404 refusal: a web server's page, not Marketo JSON.
NOT_FOUND_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head>\n<body><h1>Not Found</h1></body></html>\n"
)
_COMPILED = {name: tuple(re.compile(p) for p in patterns) for name, patterns in ENTITY_PATHS.items()}


@dataclass(frozen=True)
class Refusal:
    """How one call is refused: an envelope error (``code``, ``message``) or HTTP 404 (``code`` "404")."""

    entity: str
    code: str
    message: str

    @property
    def is_http_404(self) -> bool:
        return self.code == "404"


def check_names(entities: frozenset[str], permissions: frozenset[str]) -> None:
    """Raise ValueError for an entity or permission the table above does not know."""
    unknown = sorted(set(entities) - set(ENTITY_PATHS)) + sorted(set(permissions) - set(PERMISSION_ENTITIES))
    if unknown:
        msg = (
            f"unknown entity or permission {unknown}; entities: {sorted(ENTITY_PATHS)}, "
            f"permissions: {sorted(PERMISSION_ENTITIES)}"
        )
        raise ValueError(msg)


def answer(code: str, entity: str) -> Refusal:
    """The refusal an answer reading (``"603"``, ``"1026"``, ``"404"``, or ``"CODE:message"``) stands for."""
    code, _, message = code.partition(":")
    return Refusal(entity, code, message or ANSWER_MESSAGES.get(code, "Not available for this subscription"))


def refusal_for(
    path: str,
    missing_entities: frozenset[str],
    entity_answer: str,
    missing_permissions: frozenset[str],
    permission_answer: str,
) -> Refusal | None:
    """How the call of ``path`` is refused, if an entity it serves is missing or not permitted."""
    denied = {entity for permission in missing_permissions for entity in PERMISSION_ENTITIES[permission]}
    for entities, reading in ((missing_entities, entity_answer), (denied, permission_answer)):
        for entity in sorted(entities):
            if any(pattern.search(path) for pattern in _COMPILED[entity]):
                return answer(reading, entity)
    return None
