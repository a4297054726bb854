"""Streams whose columns follow the ``column_naming`` setting (Marketo's names or snake_case).

One mixin for every stream kind: it names the schema's properties, key properties and
replication key once, when the stream is built (the rule: :mod:`tap_marketo_bulk.records.names`),
and keeps what a user who switches the setting already has working:

- STATE: a bookmark written under the other naming (``"replication_key": "updatedAt"`` and now
  ``updated_at``) is still this stream's bookmark. The SDK would ignore it (it drops a bookmark
  whose replication key changed) and start again from ``start_date``, paying for every window
  twice; bookmarks are window ends, whatever the column is called.
- Catalogs: one discovered under the other naming is refused with one line saying to discover
  again, instead of silently selecting nothing.

Bulk streams get their records named by the reader (per file header, free per row); a REST
stream renames each record with :meth:`NamedColumns.named_record` in its ``post_process``.
"""

from __future__ import annotations

import inspect
import typing as t

from singer_sdk import Stream

from tap_marketo_bulk import errors
from tap_marketo_bulk.records.names import COLUMN_NAMINGS, column_name, column_names, naming_rule

if t.TYPE_CHECKING:
    from singer_sdk import Tap
    from singer_sdk import singerlib as singer


class NamedColumns(Stream):
    """A stream whose columns are named by ``column_naming`` as it is built.

    ``schema`` (or the class's own ``schema``) comes in with Marketo's names; ``columns`` maps
    each of its properties to a column name where the stream names them itself (activity type
    streams), else the setting's rule does.
    """

    #: Property as built (Marketo's name) -> column name.
    columns: dict[str, str]

    def __init__(
        self,
        tap: Tap,
        schema: dict | None = None,
        name: str | None = None,
        *,
        columns: t.Mapping[str, str] | None = None,
    ) -> None:
        given = schema if schema is not None else type(self).schema
        naming = tap.config.get("column_naming") or COLUMN_NAMINGS[0]
        self.column_naming = naming
        self.columns = dict(columns) if columns else column_names(given["properties"], naming_rule(naming))
        named = {**given, "properties": {self.columns[key]: value for key, value in given["properties"].items()}}
        if "required" in given:  # keys the schema requires (REST streams' primary keys) follow
            named["required"] = [self.columns.get(key, key) for key in given["required"]]
        super().__init__(tap, schema=named, name=name)
        if not isinstance(inspect.getattr_static(type(self), "schema"), property):
            self.schema = named  # a class-level schema (REST streams): this instance's is named
        self.primary_keys = self.named_keys(self.primary_keys or ())
        self.replication_key = self.named_key(self.replication_key)

    def named_keys(self, keys: t.Iterable[str]) -> list[str]:
        """Column names of properties given by Marketo name."""
        return [self.columns.get(key, key) for key in keys]

    def named_key(self, key: str | None) -> str | None:
        """Column name of one property given by Marketo name (None stays None)."""
        return self.columns.get(key, key) if key else None

    def marketo_name(self, column: str) -> str:
        """The Marketo name of one of this stream's columns."""
        return next((name for name, named in self.columns.items() if named == column), column)

    def named_record(self, record: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
        """A record keyed by Marketo's names, keyed by column names (REST streams; bulk
        records are named by the reader)."""
        columns = self.columns
        return {columns.get(key, key): value for key, value in record.items()}

    def is_selected(self, column: str) -> bool:
        """Whether the catalog selects this column (unlisted columns are selected)."""
        return self.mask.get(("properties", column), True)

    def other_names(self) -> dict[str, str]:
        """Another naming's name of each column (Marketo's, or its snake_case) -> the column."""
        named = set(self.columns.values())
        other: dict[str, str] = {}
        for name, column in self.columns.items():
            for alias in (name, column_name(name)):
                if alias not in named:
                    other.setdefault(alias, column)
        return other

    def apply_catalog(self, catalog: singer.Catalog) -> None:
        """The SDK's, after checking the catalog names this stream's columns as this run does."""
        entry = catalog.get_stream(self.name)
        if entry is not None:
            other = self.other_names()
            mismatched = [name for name in entry.schema.properties or {} if name in other]
            if mismatched:
                msg = (
                    f"{self.name}: the catalog names columns as the other column_naming does "
                    f"({', '.join(mismatched[:3])} for {', '.join(other[n] for n in mismatched[:3])}), "
                    f"but column_naming is {self.column_naming}. Run --discover again and select from the "
                    "new catalog (with Meltano: select patterns name columns, e.g. leads.first_name "
                    "for snake_case)."
                )
                raise errors.ConfigError(msg)
        super().apply_catalog(catalog)

    def _write_starting_replication_value(self, context: t.Mapping | None) -> None:
        """A bookmark written under the other naming still counts (see the module docstring)."""
        state = self.get_context_state(context)
        key, ours = state.get("replication_key"), self.replication_key
        if key and ours and key != ours and self.other_names().get(key) == ours:
            state["replication_key"] = ours
        super()._write_starting_replication_value(context)
