"""Settings: the JSON schema users see in ``--about``, and the checks a schema cannot express.

Every problem is reported with the setting's name and the fix, before any call to Marketo.
"""

from __future__ import annotations

import datetime as dt
import decimal
import difflib
import io
import json
import os
import typing as t
from pathlib import Path

import click
from singer_sdk import typing as th

from tap_marketo_bulk import errors
from tap_marketo_bulk.marketo.client import normalize_base_url
from tap_marketo_bulk.records import batches
from tap_marketo_bulk.windows import parse_timestamp

SETTINGS_SCHEMA = th.PropertiesList(
    th.Property(
        "client_id",
        th.StringType,
        required=True,
        title="Client ID",
        description="Client ID of the API service (Admin > LaunchPoint > View Details).",
    ),
    th.Property(
        "client_secret",
        th.StringType,
        required=True,
        secret=True,
        title="Client Secret",
        description="Client secret of the API service. Never logged.",
    ),
    th.Property(
        "base_url",
        th.StringType,
        required=True,
        title="Base URL",
        description=(
            "REST endpoint from Admin > Web Services, e.g. "
            "https://123-ABC-456.mktorest.com/rest (with or without /rest)."
        ),
    ),
    th.Property(
        "start_date",
        th.DateTimeType,
        required=True,
        title="Start Date",
        description="Earliest record time to extract, e.g. 2024-01-01T00:00:00Z.",
    ),
    th.Property(
        "end_date",
        th.DateTimeType,
        title="End Date",
        description="Exclusive upper bound of the range; default, and at most: the time the run starts.",
    ),
    th.Property(
        "window_days",
        th.IntegerType,
        default=31,
        title="Window Days",
        description="Days per export window, 1..31 (Marketo allows at most 31).",
    ),
    th.Property(
        "poll_interval_seconds",
        th.NumberType,
        default=60,
        title="Poll Interval Seconds",
        description="Seconds between job status checks; Marketo refreshes status once a minute.",
    ),
    th.Property(
        "job_timeout_seconds",
        th.NumberType,
        default=10800,
        title="Job Timeout Seconds",
        description="Give up on (and cancel) an export job not completed after this long.",
    ),
    th.Property(
        "max_jobs_in_flight",
        th.IntegerType,
        default=2,
        title="Max Jobs In Flight",
        description=(
            "Export jobs kept created/queued ahead of the one being read, 1..10. Marketo "
            "processes 2 at a time and queues 10 per subscription, shared with other tools."
        ),
    ),
    th.Property(
        "request_timeout_seconds",
        th.NumberType,
        default=300,
        title="Request Timeout Seconds",
        description="HTTP timeout of one API call or download read.",
    ),
    th.Property(
        "leads_filter",
        th.StringType,
        default="auto",
        allowed_values=["auto", "updatedAt", "createdAt"],
        title="Leads Filter",
        description=(
            "auto: updatedAt windows, falling back to createdAt over the whole history when "
            "the subscription lacks the updatedAt filter (1035); or force one of them."
        ),
    ),
    th.Property(
        "activity_type_ids",
        th.ArrayType(th.IntegerType),
        title="Activity Type IDs",
        description=(
            "Activity types to export (one job per window covers them all); default: every "
            "exportable type of the instance (all but 37, Delete Lead)."
        ),
    ),
    th.Property(
        "activity_primary_attribute_value_ids",
        th.ArrayType(th.IntegerType),
        title="Activity Primary Attribute Value IDs",
        description=(
            "Optional primaryAttributeValueIds filter (at most 50); needs activity_type_ids "
            "of the matching asset group. Not with activity_primary_attribute_values."
        ),
    ),
    th.Property(
        "activity_primary_attribute_values",
        th.ArrayType(th.StringType),
        title="Activity Primary Attribute Values",
        description=(
            "Optional primaryAttributeValues filter (at most 50 names); needs "
            "activity_type_ids. Not with activity_primary_attribute_value_ids."
        ),
    ),
    th.Property(
        "activity_type_streams",
        th.BooleanType,
        default=False,
        title="Activity Type Streams",
        description=(
            "Also offer one stream per activity type (activities_<type name>) with the "
            "type's attributes as typed columns, fed by the same export jobs."
        ),
    ),
    th.Property(
        "custom_objects",
        th.ArrayType(th.StringType),
        title="Custom Objects",
        description=(
            "API names of the custom objects to discover as streams (custom_object_<name>); default: "
            "every approved custom object linked to leads that the API user may read; [] for none."
        ),
    ),
    th.Property(
        "custom_object_sweep_list",
        th.ObjectType(
            th.Property("staticListId", th.IntegerType, description="Id of a static list."),
            th.Property("staticListName", th.StringType, description="Name of a static list."),
            th.Property("smartListId", th.IntegerType, description="Id of a smart list."),
            th.Property("smartListName", th.StringType, description="Name of a smart list."),
        ),
        title="Custom Object Sweep List",
        description=(
            "Where Marketo refuses the custom object updatedAt filter (1035): the one static or smart "
            "list (one of staticListId, staticListName, smartListId, smartListName) whose leads' "
            "custom object records every run exports in full."
        ),
    ),
    th.Property(
        "program_ids",
        th.ArrayType(th.IntegerType),
        title="Program IDs",
        description="Programs whose members to export; default: every program.",
    ),
    th.Property(
        "program_member_lead_fields",
        th.ArrayType(th.StringType),
        title="Program Member Lead Fields",
        description="Lead fields (REST names) to add to program member records.",
    ),
    th.Property(
        "program_member_status_names",
        th.ArrayType(th.StringType),
        title="Program Member Status Names",
        description="Only members with one of these program statuses (statusNames filter).",
    ),
    th.Property(
        "program_member_is_exhausted",
        th.BooleanType,
        title="Program Member Is Exhausted",
        description="Only members whose nurture is (true) or is not (false) exhausted.",
    ),
    th.Property(
        "program_member_nurture_cadence",
        th.StringType,
        allowed_values=["paus", "norm"],
        title="Program Member Nurture Cadence",
        description="Only members with this nurture cadence: paus (paused) or norm (normal).",
    ),
    th.Property(
        "static_list_members_lists",
        th.ArrayType(th.CustomType({"type": ["integer", "string"]})),
        title="Static List Members Lists",
        description=(
            "Static lists (ids or names) whose members static_list_members reads; default: every static "
            "list. Each run reads each list in full: about one API call per 300 members, one bulk export "
            "job per list above 3,000."
        ),
    ),
    th.Property(
        "export_quota_budget_mb",
        th.NumberType,
        title="Export Quota Budget MB",
        description=(
            "Most export MB one run may download, so other integrations keep room in the "
            "daily export quota (500 MB by default); the run stops cleanly before a job that "
            "would exceed it, judged by the file sizes seen so far."
        ),
    ),
    th.Property(
        "use_singer_decimal",
        th.BooleanType,
        default=False,
        title="Use Singer Decimal",
        description=(
            "Write currency, percent and float values as exact decimal strings in the SDK's "
            "x-singer.decimal format, created as DECIMAL(38,10) by SDK-based SQL targets. Turn "
            "on for target-snowflake, which loads JSON numbers as binary FLOAT."
        ),
    ),
    th.Property(
        "column_naming",
        th.StringType,
        default="marketo",
        allowed_values=["marketo", "snake_case"],
        title="Column Naming",
        description=(
            "Column names of every stream: marketo keeps Marketo's names (createdAt, Company_Country__c); "
            "snake_case makes them created_at, company_country_c, for warehouses and Fivetran's dbt_marketo. "
            "Switching keeps STATE; run --discover again for the new names."
        ),
    ),
    th.Property(
        "export_daily_quota_mb",
        th.NumberType,
        title="Export Daily Quota MB",
        description=(
            "The subscription's daily bulk export quota (500 MB unless bought higher); only used to "
            "say at the end of a run how much of it is left."
        ),
    ),
    th.Property(
        "temp_dir",
        th.StringType,
        title="Temp Dir",
        description="Folder for downloaded export files (deleted after reading); default: system temp.",
    ),
).to_dict()


#: This tap's object settings and their keys (taken before the SDK adds its own settings to the
#: schema, whose objects are free-form).
OBJECT_SETTING_KEYS: dict[str, tuple[str, ...]] = {
    name: tuple(schema["properties"])
    for name, schema in SETTINGS_SCHEMA["properties"].items()
    if schema.get("properties")
}


def _parse_datetime(value: t.Any) -> dt.datetime | None:
    try:
        return parse_timestamp(value)
    except ValueError:
        return None


#: Settings earlier versions read and this one ignores: what to tell a user who still sets them.
RETIRED_SETTINGS = {
    "parse_processes": (
        "parse_processes is no longer used: each export file is parsed in the tap's process, "
        "which keeps far ahead of any Singer target (README, Performance); remove the setting"
    ),
}


def retired_settings(config: t.Mapping[str, t.Any]) -> list[str]:
    """One warning per retired setting the config still sets."""
    return [why for name, why in RETIRED_SETTINGS.items() if config.get(name) is not None]


def unknown_settings(config: t.Mapping[str, t.Any], schema: t.Mapping[str, t.Any]) -> str | None:
    """One warning naming every setting ``schema`` does not know, each with the closest known name.

    ``schema`` is the tap's whole settings schema, the SDK's own settings (``stream_maps``,
    ``batch_config``, ``flattening_*``, ...) included, so no name is listed twice. The keys of
    this tap's object settings (``custom_object_sweep_list``) are checked too; the SDK's are
    free-form (``batch_config``'s storage options, ``stream_maps``).
    """
    known = schema.get("properties") or {}
    unknown: list[tuple[str, list[str]]] = []
    for key, value in config.items():
        if key in RETIRED_SETTINGS:
            continue
        if key not in known:
            unknown.append((key, list(known)))
            continue
        inner = OBJECT_SETTING_KEYS.get(key)
        if inner and isinstance(value, t.Mapping):
            unknown.extend((f"{key}.{name}", [f"{key}.{n}" for n in inner]) for name in value if name not in inner)
    if not unknown:
        return None
    named = "; ".join(f"{name} ({_closest(name, names)})" for name, names in unknown)
    return f"Unknown settings, ignored: {named}. The settings are listed by tap-marketo-bulk --about and in the README."


def _closest(name: str, known: list[str]) -> str:
    """``did you mean window_days?``, or where the settings are listed when none is close."""
    by_lower = {candidate.lower(): candidate for candidate in known}
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.6)
    return f"did you mean {by_lower[close[0]]}?" if close else "no setting of that name"


def read_json_file(path: str, option: str) -> dict[str, t.Any]:
    """The JSON object in a file given on the command line (``--config``, ``--state``,
    ``--catalog``); a missing, unreadable or malformed file is one line naming it."""
    return json.loads(read_json_text(path, option), parse_float=decimal.Decimal)  # as the SDK reads numbers


def read_json_text(path: str, option: str) -> str:
    """The text of a command line file holding a JSON object, checked (see :func:`read_json_file`)."""
    where = f"{option} file {path}"
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        msg = f"{where} does not exist"
        raise errors.ConfigError(msg) from None
    except IsADirectoryError:
        msg = f"{where} is a folder, not a file"
        raise errors.ConfigError(msg) from None
    except UnicodeDecodeError as exc:
        msg = f"{where} is not UTF-8 text (byte {exc.start})"
        raise errors.ConfigError(msg) from None
    except OSError as exc:
        msg = f"{where} cannot be read ({exc.strerror or type(exc).__name__})"
        raise errors.ConfigError(msg) from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        # json's own words, some of which end in "at" ("Invalid control character at")
        msg = f"{where} is not valid JSON: {exc.msg.removesuffix(' at')} at line {exc.lineno}, column {exc.colno}"
        raise errors.ConfigError(msg) from None
    if not isinstance(value, dict):
        msg = f"{where} must hold a JSON object ({{...}}), not a JSON {type(value).__name__}"
        raise errors.ConfigError(msg)
    return text


def settings_problems(config: t.Mapping[str, t.Any]) -> list[str]:
    """Every problem with the settings, each naming the setting and how to fix it."""
    problems: list[str] = []
    try:
        normalize_base_url(str(config.get("base_url", "")))
    except errors.ConfigError as exc:
        problems.append(str(exc))
    now = dt.datetime.now(dt.timezone.utc)
    start = _parse_datetime(config.get("start_date"))
    end = _parse_datetime(config["end_date"]) if config.get("end_date") else None
    if start is None:
        problems.append("start_date must be an ISO-8601 date-time such as 2024-01-01T00:00:00Z")
    elif start > now:
        problems.append(f"start_date {config['start_date']} is in the future; use a past date")
    if config.get("end_date") and end is None:
        problems.append("end_date must be an ISO-8601 date-time such as 2024-02-01T00:00:00Z")
    if start and end and end <= start:
        problems.append(f"end_date {config['end_date']} is not after start_date {config['start_date']}")
    _check_range(problems, config, "window_days", 1, 31, "Marketo allows 1..31 days")
    _check_range(problems, config, "max_jobs_in_flight", 1, 10, "Marketo queues 10 jobs")
    problems.extend(activity_filter_problems(config))
    quota = config.get("export_daily_quota_mb")
    if quota is not None and quota <= 0:
        problems.append(f"export_daily_quota_mb must be above 0 (Marketo's default is 500), not {quota}")
    sweep_list = config.get("custom_object_sweep_list")
    if sweep_list is not None and len([key for key, value in sweep_list.items() if value not in (None, "")]) != 1:
        problems.append(
            "custom_object_sweep_list must name exactly one list: one of staticListId, staticListName, "
            'smartListId or smartListName, e.g. {"staticListName": "All leads"}'
        )
    try:
        batches.batch_config(config)
    except errors.ConfigError as exc:
        problems.append(str(exc))
    temp_dir = config.get("temp_dir")
    if temp_dir and not (os.path.isdir(temp_dir) and os.access(temp_dir, os.W_OK | os.X_OK)):
        problems.append(
            f"temp_dir {temp_dir} is not a folder this user can write to; create it, or leave temp_dir unset "
            "for the system's temporary folder"
        )
    for name in (
        "poll_interval_seconds",
        "job_timeout_seconds",
        "request_timeout_seconds",
        "export_quota_budget_mb",
    ):
        value = config.get(name)
        if value is not None and float(value) <= 0:
            problems.append(f"{name} must be a positive number, got {value}")
    return problems


def _check_range(problems: list[str], config: t.Mapping[str, t.Any], name: str, low: int, high: int, why: str) -> None:
    value = config.get(name)
    if value is not None and not low <= int(value) <= high:
        problems.append(f"{name} must be between {low} and {high} ({why}), got {value}")


#: Marketo's limit of primary attribute values per activity export.
MAX_PRIMARY_ATTRIBUTE_VALUES = 50


def activity_filter_problems(config: t.Mapping[str, t.Any]) -> list[str]:
    """The activity export filter rules that Marketo would otherwise reject at job creation."""
    problems: list[str] = []
    ids = config.get("activity_primary_attribute_value_ids") or []
    names = config.get("activity_primary_attribute_values") or []
    if ids and names:
        problems.append(
            "activity_primary_attribute_value_ids and activity_primary_attribute_values "
            "cannot be used together (Marketo accepts one of them); remove one"
        )
    for setting, values in (
        ("activity_primary_attribute_value_ids", ids),
        ("activity_primary_attribute_values", names),
    ):
        if len(values) > MAX_PRIMARY_ATTRIBUTE_VALUES:
            problems.append(
                f"{setting} has {len(values)} values; Marketo accepts at most {MAX_PRIMARY_ATTRIBUTE_VALUES} per export"
            )
        if values and not config.get("activity_type_ids"):
            problems.append(
                f"{setting} needs activity_type_ids listing the activity types of the matching "
                "asset group (e.g. [2] for Fill Out Form and form ids)"
            )
    if 37 in (config.get("activity_type_ids") or []):
        problems.append(
            "activity_type_ids contains 37 (Delete Lead), which bulk export refuses; remove it "
            "and select the deleted_leads stream instead"
        )
    return problems


class CommandLineFiles:
    """The tap's ``--config``, ``--state`` and ``--catalog`` files, read so that a missing,
    unreadable or malformed one is one line naming it (the SDK would end in a traceback).

    Mixed in before the SDK's ``Tap``; the files are checked here, then read by the SDK as usual.
    """

    @classmethod
    def cb_config(cls, ctx: click.Context, param: click.Option, value: tuple[str, ...]) -> t.Any:
        """``--config`` files (``ENV`` means the environment), each checked first."""
        for path in value:
            if path != "ENV":
                read_json_file(path, "--config")
        return super().cb_config(ctx, param, value)  # type: ignore[misc]

    @classmethod
    def invoke(
        cls,
        *,
        about: bool = False,
        about_format: str | None = None,
        config: t.Any = None,
        state: str | None = None,
        catalog: str | None = None,
    ) -> None:
        """The SDK's run, given ``--state`` and ``--catalog`` as checked text."""
        if about:
            return super().invoke(about=about, about_format=about_format)  # type: ignore[misc]
        files = {
            option: None if path is None else io.StringIO(read_json_text(path, f"--{option}"))
            for option, path in (("state", state), ("catalog", catalog))
        }
        return super().invoke(config=config, **files)  # type: ignore[misc]

    @classmethod
    def get_singer_command(cls) -> click.Command:
        """The SDK's command, its ``--state`` and ``--catalog`` taken as paths for :meth:`invoke`."""
        command = super().get_singer_command()  # type: ignore[misc]
        for param in command.params:
            if param.name in {"state", "catalog"}:
                param.type = click.STRING
        return command
