"""Map a Singer catalog to Snowflake column types with target-snowflake's own code, offline.

Run with the Python of a venv that has ``meltanolabs-target-snowflake`` (its dependencies clash
with ours, so it is not imported by the test process): reads a catalog (JSON) on stdin, writes
``{"<stream>": {"<property>": {"column": ..., "type": ..., "error": ...}}}`` as JSON on stdout.

No connection is made: ``SnowflakeConnector`` builds its engine lazily, and the only piece of it
that name normalization needs (the dialect's identifier preparer) is supplied from a bare
``SnowflakeDialect``.
"""

from __future__ import annotations

import json
import sys
from importlib.metadata import version


def main() -> None:
    from snowflake.sqlalchemy.snowdialect import SnowflakeDialect
    from target_snowflake.connector import SnowflakeConnector

    catalog = json.load(sys.stdin)
    normalise = len(sys.argv) > 1 and sys.argv[1] == "--normalise-casing"
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
    json.dump(out, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
