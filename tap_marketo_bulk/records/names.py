"""Column names: Marketo's own, or warehouse-friendly snake_case (the ``column_naming`` setting).

Why here, at the records wing: a stream's column names are fixed when its schema is built, and
the export file's header (Marketo's names) is mapped to them once per file by the generated row
code (:mod:`tap_marketo_bulk.records.rowcode`), so renaming costs nothing per record. Export
requests, file headers and STATE keep Marketo's names; only the Singer side (schema, records,
key properties, replication key, catalog selection) sees the column names.

The rule of ``snake_case`` naming (:func:`column_name`):

1. Latin letters lose their accents (``Zoë`` -> ``Zoe``; ``ß`` -> ``ss``, ``ø`` -> ``o``);
   every other character that is not an ASCII letter or digit separates words.
2. Words also break where a lower-case letter or digit meets a capital (``leadStatus`` ->
   ``lead_status``, ``address2Line`` -> ``address2_line``) and before the last capital of an
   all-capitals run followed by lower case (``SFDCType`` -> ``sfdc_type``,
   ``HTMLText`` -> ``html_text``), except for a plural ``s`` (``IDs``, ``URLs`` stay one word).
3. Words are joined by one ``_`` and lower-cased: runs of separators collapse, so a custom
   field ``Company_Country__c`` becomes ``company_country_c``, as in Fivetran's Marketo schema
   (what fivetran/dbt_marketo's lead history expects of custom fields).
4. A name starting with a digit gets a leading ``_`` (``2ndEmail`` -> ``_2nd_email``); a name
   with no ASCII letter or digit left (a Japanese display name) becomes ``column_`` and the
   first 8 hex digits of its SHA-256, the same on every run.

Collisions (:func:`column_names`): names are taken in the order Marketo lists them (describe
order; for activity type streams the activity columns first, then the primary attribute and
the attributes); the first keeps its name, each later one that would repeat a column gets the
first free of ``_2``, ``_3``, ... (``customUrl`` and a later ``customURL`` ->
``custom_url``, ``custom_url_2``). Marketo's describes list fields in creation order, so a
field added later never takes a name from an existing column.

:func:`snake_case` is the rule before ``column_naming`` existed (no accents, no acronym
breaks): stream names (``activities_send_email``, which key STATE) and the attribute columns of
activity type streams under ``column_naming: marketo`` keep it, so no existing table or column
changes its name.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Iterable

__all__ = ["COLUMN_NAMINGS", "column_list", "column_name", "column_names", "naming_rule", "snake_case"]

#: The ``column_naming`` setting's values: Marketo's names as they are, or snake_case.
COLUMN_NAMINGS = ("marketo", "snake_case")

_LOWER_THEN_UPPER = re.compile(r"([a-z0-9])([A-Z])")
#: The last capital of an all-capitals run before lower case starts a word, unless the lower
#: case is a lone plural ``s`` (``IDs``).
_ACRONYM_END = re.compile(r"([A-Z])(?=[A-Z](?!s(?![a-z]))[a-z])")
_SEPARATORS = re.compile(r"[^0-9A-Za-z]+")
#: Latin letters Unicode does not decompose into a base letter and an accent.
_LATIN = str.maketrans(
    {"ß": "ss", "æ": "ae", "Æ": "Ae", "ø": "o", "Ø": "O", "œ": "oe", "Œ": "Oe", "đ": "d", "Đ": "D"}
    | {"ł": "l", "Ł": "L", "þ": "th", "Þ": "Th", "ð": "d", "Ð": "D", "\u0131": "i"}
)


def snake_case(text: str) -> str:
    """Stream-name rule (and activity attribute columns under ``marketo`` naming): lower snake
    case of ASCII letters, digits and underscores; unchanged since the first release, because
    stream names key STATE and name the user's tables."""
    text = _LOWER_THEN_UPPER.sub(r"\1_\2", text.strip())
    text = _SEPARATORS.sub("_", text).strip("_").lower()
    if not text or text[0].isdigit():
        text = f"_{text}"
    return text


def column_name(name: str) -> str:
    """The ``snake_case`` column name of one Marketo name (the rule in the module docstring)."""
    text = unicodedata.normalize("NFKD", name.translate(_LATIN))
    text = "".join(char for char in text if not unicodedata.combining(char))
    text = _ACRONYM_END.sub(r"\1_", _LOWER_THEN_UPPER.sub(r"\1_\2", text))
    text = _SEPARATORS.sub("_", text).strip("_").lower()
    if not text:
        return "column_" + hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"_{text}" if text[0].isdigit() else text


def naming_rule(column_naming: str | None) -> Callable[[str], str]:
    """The function naming one column under a ``column_naming`` value (default ``marketo``)."""
    if column_naming in (None, "marketo"):
        return str
    if column_naming == "snake_case":
        return column_name
    msg = f"column_naming must be one of {', '.join(COLUMN_NAMINGS)}, not {column_naming!r}"
    raise ValueError(msg)


def column_list(names: Iterable[str], rule: Callable[[str], str], *, taken: Iterable[str] = ()) -> list[str]:
    """The column of each name, in Marketo's order, by the collision rule of the module
    docstring; ``taken`` are columns already used (an activity type stream's activity
    columns, for its attributes). A name listed twice gets two columns."""
    used = set(taken)
    out: list[str] = []
    for name in names:
        base = column = rule(name)
        suffix = 2
        while column in used:
            column = f"{base}_{suffix}"
            suffix += 1
        used.add(column)
        out.append(column)
    return out


def column_names(names: Iterable[str], rule: Callable[[str], str]) -> dict[str, str]:
    """Marketo name -> column name of a stream's distinct names, in Marketo's order."""
    unique = list(dict.fromkeys(names))
    return dict(zip(unique, column_list(unique, rule), strict=True))
