"""TapMarketoBulk: the Singer tap: its settings, the streams it discovers, its command line.

The only module that knows every stream: each stream module offers a function building its
streams from the run's :class:`~tap_marketo_bulk.instance.MarketoInstance`.
"""

from __future__ import annotations

import copy
import functools
import logging
import signal
import sys
import typing as t

import click
from singer_sdk import Stream, Tap
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers.capabilities import CapabilitiesEnum, PluginCapabilities, TapCapabilities

from tap_marketo_bulk import errors, interrupts
from tap_marketo_bulk.exports.model import STANDARD_ENTITIES
from tap_marketo_bulk.exports.spend import run_summary, used_today_mb
from tap_marketo_bulk.instance import MarketoInstance
from tap_marketo_bulk.records.output import OrderedMsgSpecWriter
from tap_marketo_bulk.settings import (
    SETTINGS_SCHEMA,
    CommandLineFiles,
    retired_settings,
    settings_problems,
    unknown_settings,
)
from tap_marketo_bulk.streams.activities import ActivityFamilyStream, activity_streams
from tap_marketo_bulk.streams.assets import ASSET_STREAMS
from tap_marketo_bulk.streams.base import BulkExportStream
from tap_marketo_bulk.streams.custom_objects import custom_object_streams
from tap_marketo_bulk.streams.leads import leads_stream
from tap_marketo_bulk.streams.lists import StaticListMembersStream, StaticListsStream, static_list_members_stream
from tap_marketo_bulk.streams.optional import OptionalEntities
from tap_marketo_bulk.streams.program_members import ProgramMembersStream, program_members_stream
from tap_marketo_bulk.streams.programs import ProgramCostsStream, ProgramsStream, ProgramTagsStream
from tap_marketo_bulk.streams.reference import (
    ActivityTypesStream,
    DeletedLeadsStream,
    LeadFieldsStream,
    LeadPartitionsStream,
)


class TapMarketoBulk(CommandLineFiles, Tap):
    """Singer tap for Marketo's Bulk Extract API."""

    name = "tap-marketo-bulk"
    package_name = "tap-marketo-bulk"
    config_jsonschema = SETTINGS_SCHEMA
    #: Streams and schemas come from the instance's describe endpoints, so --discover needs
    #: valid settings: the SDK then validates them before discovery too.
    dynamic_catalog = True
    #: msgspec encoding, and RECORD lines of the fast path always written before STATE.
    message_writer_class = OrderedMsgSpecWriter
    #: The SDK's defaults. BATCH output of bulk streams is ours (tap_marketo_bulk.records.batches): the
    #: SDK's batch path gathers records apart from our per-window checkpoints.
    capabilities: t.ClassVar[list[CapabilitiesEnum]] = [
        TapCapabilities.CATALOG,
        TapCapabilities.STATE,
        TapCapabilities.DISCOVER,
        TapCapabilities.ACTIVATE_VERSION,
        PluginCapabilities.ABOUT,
        PluginCapabilities.BATCH,
        PluginCapabilities.STREAM_MAPS,
        PluginCapabilities.FLATTENING,
        PluginCapabilities.STRUCTURED_LOGGING,
    ]

    # --- settings ---------------------------------------------------------------------

    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """JSON-schema checks, then the checks a schema cannot say (ranges, URL, dates)."""
        problems = super()._validate_config(raise_errors=raise_errors)
        if problems:
            return problems
        schema = copy.deepcopy(type(self).config_jsonschema)
        self.append_builtin_config(schema)  # the SDK's own settings are known settings too
        for warning in [*retired_settings(self.config), unknown_settings(self.config, schema)]:
            if warning:
                self.logger.warning(warning)
        problems = settings_problems(self.config)
        if problems and raise_errors:
            raise ConfigValidationError("Config validation failed", errors=problems, schema=self.config_jsonschema)
        return problems

    # --- discovery --------------------------------------------------------------------

    @functools.cached_property
    def marketo(self) -> MarketoInstance:
        """What this run's streams share: one client, one export runner, the describes."""
        return MarketoInstance(self.config)

    def discover_streams(self) -> list[Stream]:
        """Build the streams from the describe endpoints of this Marketo instance.

        Settings that name things in the instance (activity types, programs, lead fields)
        are checked here, so a mistake stops the run before any export job exists. Every
        entity but leads is optional: Marketo refusing it (a subscription or a role without
        it) skips it with one warning, unless it was asked for by name
        (:mod:`tap_marketo_bulk.streams.optional`).
        """
        marketo = self.marketo
        optional = OptionalEntities(self, marketo)
        streams = [
            leads_stream(self, marketo),
            *optional.streams(
                ActivityFamilyStream,
                "activities",
                ("activities", "activities_*", "activity_types"),
                lambda: [ActivityTypesStream(self, marketo), *activity_streams(self, marketo)],
            ),
            *optional.each(DeletedLeadsStream, ProgramsStream),
            *optional.streams(
                ProgramMembersStream,
                "program_members",
                ["program_members"],
                lambda: [program_members_stream(self, marketo)],
            ),
            *custom_object_streams(self, marketo, optional),
            *optional.each(
                *ASSET_STREAMS,
                ProgramTagsStream,
                ProgramCostsStream,
                StaticListsStream,
                LeadFieldsStream,
                LeadPartitionsStream,
            ),
            *optional.streams(
                StaticListMembersStream,
                "static_list_members",
                ["static_list_members"],
                lambda: [static_list_members_stream(self, marketo)],
            ),
        ]
        optional.say()
        return streams

    def load_streams(self) -> list[Stream]:
        """The streams in sync order: those that need no export job first, programs first.

        A connection test wants one record: ``meltano config test`` stops the tap at its first
        RECORD, the SDK's ``--test`` takes one per stream, and once a record is out no bulk stream
        of such a run creates an export job (``BulkExportStream.connection_tested``). So the record
        comes from the free streams, after the describes of every run proved the credentials, the
        URL and the Lead, Activity and Custom Object permissions; ``programs`` first adds Read-Only
        Assets, which no describe needs. The SDK's order (by name) holds within each group.
        """
        return sorted(super().load_streams(), key=lambda s: (isinstance(s, BulkExportStream), s.name != "programs"))

    @property
    def catalog_dict(self) -> dict:
        """The catalog, its streams by name as the SDK lists them: only the sync order is ours."""
        catalog = super().catalog_dict
        catalog["streams"].sort(key=lambda entry: entry["tap_stream_id"])
        return catalog

    def load_state(self, state: dict[str, t.Any]) -> None:
        """The SDK's STATE, with no bookmark later than this run's start (see
        :meth:`MarketoInstance.bookmarks_after_start`)."""
        super().load_state(state)
        for warning in self.marketo.bookmarks_after_start(self.state):
            self.logger.warning(warning)

    def sync_all(self) -> None:
        """The SDK's sync, then one line saying what the run spent, however it ended."""
        note = self.marketo.end_date_note()
        if note:
            self.logger.info(note)
        try:
            super().sync_all()
        finally:
            self.log_spend()

    def log_spend(self) -> None:
        """Jobs created and re-attached, MB exported, calls made (per stream), daily export quota left.

        The quota left is read from Marketo's job lists (this API user's Completed jobs since
        midnight US Central) of leads, activities, program members and whatever else this run
        exported: a call or two each, not counted in the calls reported, paced like every call
        (rate limits are waited out) but not retried on failure, so a run that failed ends
        without delay. A run that exported nothing (a REST-only selection, or one that failed
        first) says so without asking.
        """
        marketo = self.marketo
        spend = marketo.exports.spend
        calls = marketo.client.calls_made
        calls_by_stream = dict(marketo.client.calls_by_label)
        used: float | None = None
        if spend.jobs_created or spend.jobs_reattached:
            used = 0.0
            for entity in sorted({*spend.jobs_created, *spend.entities_reattached, *STANDARD_ENTITIES}):
                mb = used_today_mb(marketo.exports.jobs.listed(entity, ["Completed"], retry="rate_limits"), entity)
                if mb is None:
                    used = None
                    break
                used += mb
        quota = float(self.config.get("export_daily_quota_mb") or 500)
        self.logger.info(run_summary(spend, calls, used, quota, calls_by_stream))

    # --- command line -----------------------------------------------------------------

    def _handle_termination(self, signum: int, frame: t.Any) -> None:
        """SIGINT/SIGTERM: stop at the next safe point; jobs in flight are cancelled on the way out.

        Unlike the SDK's default (write STATE from the handler, exit 0), nothing is written
        here: every bookmark was emitted at its window's end, and a write from a handler
        could cut a line in half. The run ends non-zero: it did not finish.
        """
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_DFL)  # a second signal stops at once
        name = signal.Signals(signum).name
        msg = (
            f"interrupted by {name}: the last STATE emitted holds the last finished window and "
            "export jobs still in flight are cancelled; run again with that STATE to resume"
        )
        interrupts.interrupt(errors.Interrupted(msg))

    @classmethod
    def get_singer_command(cls) -> click.Command:
        """The SDK's command, with our errors reported as one clear line, no traceback."""
        command = super().get_singer_command()
        sdk_hook = command.excepthook  # type: ignore[attr-defined]

        def excepthook(exc_type: type[BaseException], exc: BaseException, tb: t.Any) -> None:
            if isinstance(exc, (errors.MarketoError, errors.Interrupted)):
                cls.logger.error("tap-marketo-bulk stopped: %s", exc)
                return
            sdk_hook(exc_type, exc, tb)

        command.excepthook = excepthook  # type: ignore[attr-defined]
        # --discover runs as an option callback, before the command installs its hook.
        sys.excepthook = excepthook
        for handler in logging.getLogger().handlers:
            handler.addFilter(SaidByTheStopLine())
        return command


class SaidByTheStopLine(logging.Filter):
    """Drops the SDK's "An unhandled error occurred while syncing 'leads'" when the error is one
    this tap raises on purpose: its one ``tap-marketo-bulk stopped:`` line follows, naming the
    stream where that matters. The SDK logs it inside its ``except`` block, so the error is
    the one being handled."""

    def filter(self, record: logging.LogRecord) -> bool:
        """False for that line of an error of ours; True for every other record."""
        if isinstance(record.msg, str) and record.msg.startswith("An unhandled error occurred while syncing"):
            return not isinstance(sys.exc_info()[1], errors.MarketoError)
        return True
