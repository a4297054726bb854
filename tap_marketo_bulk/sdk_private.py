"""Every private singer-sdk name this tap uses, and why no public one serves (singer-sdk 0.54).

Private names can change in any SDK release, so they are kept to these and listed here;
``tests/unit/test_sdk_private.py`` fails when the installed SDK lacks one of them, or when the
package starts using a private SDK name that is not listed. Replaced by public ones so far:
``TypeConformanceLevel`` (``singer_sdk.helpers.conform``), ``get_batch_config``.
"""

from __future__ import annotations

#: ``Class.name`` -> why the tap needs it.
PRIVATE_SDK_NAMES: dict[str, str] = {
    "Tap._validate_config": (
        "overridden to add the checks JSON schema cannot express (ranges, URL, dates, batch_config) "
        "to the SDK's own, so a bad setting fails before discovery with the SDK's error format"
    ),
    "Tap._handle_termination": (
        "overridden so SIGINT/SIGTERM stop at the next safe point instead of writing STATE from a "
        "signal handler (which could cut a line in half); the SDK offers no public signal hook"
    ),
    "Stream._sync_records": (
        "overridden to run the fast record path (streams/record_path.py) when stream maps, "
        "flattening and --test are off, and (streams/base.py) so a connection test that has its "
        "record creates no export job; the SDK has no public way to replace its record loop"
    ),
    "Stream._sync_batches": (
        "overridden so BATCH files follow our per-window checkpoints instead of the SDK's batching, "
        "and, like _sync_records, to create no export job in a connection test that has its record"
    ),
    "Stream._generate_schema_messages": (
        "overridden to send the discovered schema as is: the SDK's catalog model drops the "
        "precision/scale of x-singer.decimal"
    ),
    "Stream._increment_stream_state": (
        "overridden to a no-op: bookmarks move at window ends (checkpoint), never by record values"
    ),
    "Stream._write_state_message": "STATE at each window's end: the SDK has no public checkpoint call",
    "Stream._write_starting_replication_value": (
        "called by the fast path so get_starting_timestamp reads the bookmark as on the SDK's path; "
        "overridden so a bookmark written under the other column_naming is kept (the SDK drops a "
        "bookmark whose replication key name changed)"
    ),
    "Stream._finalize_state": "called at the end of a fast sync, as the SDK's loop does",
    "Stream._write_record_message": "activity family members' records when they are off the fast path",
    "Stream._write_schema_message": "SCHEMA of activity family members that sync inside another's run",
    "StateManager.is_flushed": "marks a stream's STATE changed so _write_state_message writes it",
    "singer_sdk.helpers._batch.BatchConfig": "the parsed batch_config; the SDK exports no public type",
    "singer_sdk.helpers._batch.SDKBatchMessage": "the BATCH message the SDK's targets read",
}
