"""Map a Singer catalog to Snowflake column types with target-snowflake's own code, offline.

Run with the Python of a venv that has ``meltanolabs-target-snowflake`` (its dependencies clash
with ours, so it is not imported by the test process): reads a catalog (JSON) on stdin, writes
``{"<stream>": {"<property>": {"column": ..., "type": ..., "error": ...}}}`` as JSON on stdout,
and with ``--ddl`` also ``{"_ddl": {"<stream>": "CREATE TABLE ..."}}``: the statement the
target's ``create_empty_table`` would run for the stream (its columns and key properties named
by the target's ``conform_name``, compiled for Snowflake).

No connection is made: ``SnowflakeConnector`` builds its engine lazily, and the only piece of it
that name normalization needs (the dialect's identifier preparer) is supplied from a bare
``SnowflakeDialect``.
"""

from __future__ import annotations

import json
import sys
from importlib.metadata import version


def main() -> None:
    import sqlalchemy as sa
    from snowflake.sqlalchemy.snowdialect import SnowflakeDialect
    from target_snowflake.connector import SnowflakeConnector

    catalog = json.load(sys.stdin)
    normalise = "--normalise-casing" in sys.argv[1:]
    ddl = "--ddl" in sys.argv[1:]
    dialect = SnowflakeDialect()
    config = {
        "account": "offline",
        "user": "offline",
        "password": "offline",
        "database": "offline",
        "warehouse": "offline",
        "normalise_casing": normalise,
    }
    connector = SnowflakeConnector(config=config)
    connector.__dict__["formatter"] = dialect.identifier_preparer  # cached_property: never connect
    preparer = dialect.identifier_preparer
    out: dict = {"_versions": {p: version(p) for p in ("meltanolabs-target-snowflake", "singer-sdk")}}
    for stream in catalog["streams"]:
        columns = {}
        for name, schema in stream["schema"]["properties"].items():
            entry: dict = {}
            try:
                entry["column"] = connector.format_identifier(name)
                entry["quoted"] = preparer.quote(entry["column"])
                entry["type"] = connector.to_sql_type(schema).compile(dialect=dialect)
            except Exception as exc:  # reported per column, asserted by the test
                entry["error"] = f"{type(exc).__name__}: {exc}"
            columns[name] = entry
        out[stream["tap_stream_id"]] = columns
        if ddl:  # as SQLConnector.create_empty_table builds it from the conformed schema
            keys = [connector.format_identifier(k) for k in stream.get("key_properties") or []]
            table = sa.Table(
                stream["tap_stream_id"],
                sa.MetaData(schema="marketo"),
                *(
                    sa.Column(c["column"], connector.to_sql_type(stream["schema"]["properties"][p]))
                    for p, c in columns.items()
                ),
                *([sa.PrimaryKeyConstraint(*keys)] if keys else []),
            )
            out.setdefault("_ddl", {})[stream["tap_stream_id"]] = str(
                sa.schema.CreateTable(table).compile(dialect=dialect)
            )
    json.dump(out, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
