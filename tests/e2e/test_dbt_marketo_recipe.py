"""The dbt_marketo recipe (docs/dbt_marketo_recipe.yml) against the package's column contracts.

fivetran/dbt_marketo cannot run in CI (its dependencies come from dbt's hub), so what it needs
of each source table is recorded here as facts, read from dbt_marketo 1.4.1 (commit 4473d38):
every column of its ``macros/staging/get_<table>_columns.sql`` with the macro's datatype, and
which of them its models need (joins, keys, filters, windows, computations; notes in
/work/notes/dbt_marketo.md section 3). A column the package does not find is filled with NULL
of the macro's type; a column it finds is used as it is, uncast. So the recipe must give every
REQUIRED column, with a type of the same family, and no column it gives may have another family
than the macro's, unless listed below as harmless.

The streams' schemas come from discovery against the sandox with the recipe's settings, and the
loader's stream maps are applied by the SDK's own mapper (what an SDK target runs).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import yaml
from singer_sdk.mapper import PluginMapper

from .helpers import base_config, discover

RECIPE = Path(__file__).resolve().parents[2] / "docs" / "dbt_marketo_recipe.yml"

INT, STRING, TIMESTAMP, BOOLEAN = "int", "string", "timestamp", "boolean"
#: The activity id: dbt.type_string() in the macros, integers in the package's own seeds; it
#: is only tested not null and used as a tie-break, so text or an integer both work.
ID = "id"

#: Columns every activity table's macro lists, with their datatype.
_ACTIVITY = {
    "_fivetran_synced": TIMESTAMP,
    "activity_date": TIMESTAMP,
    "activity_type_id": INT,
    "campaign_id": INT,
    "id": ID,
    "lead_id": INT,
    "primary_attribute_value": STRING,
    "primary_attribute_value_id": INT,
}
_EMAIL = {**_ACTIVITY, "campaign_run_id": INT, "email_template_id": INT}
#: What an email activity table must give: the parts of email_send_id (a surrogate key of
#: primary_attribute_value_id, campaign_id, campaign_run_id, lead_id) and the activity id.
_EMAIL_REQUIRED = {"id", "lead_id", "campaign_id", "campaign_run_id", "primary_attribute_value_id"}

#: source table -> (column -> datatype family of the package's macro, required columns).
CONTRACTS: dict[str, tuple[dict[str, str], set[str]]] = {
    "lead": (
        {
            "_fivetran_synced": TIMESTAMP,
            "created_at": TIMESTAMP,
            "email": STRING,
            "first_name": STRING,
            "id": INT,
            "last_name": STRING,
            "updated_at": TIMESTAMP,
            **dict.fromkeys(
                [
                    "phone",
                    "main_phone",
                    "mobile_phone",
                    "company",
                    "inferred_company",
                    "address_lead",
                    "address",
                    "city",
                    "state",
                    "state_code",
                    "country",
                    "country_code",
                    "postal_code",
                    "billing_street",
                    "billing_city",
                    "billing_state",
                    "billing_state_code",
                    "billing_country",
                    "billing_country_code",
                    "billing_postal_code",
                    "inferred_city",
                    "inferred_state_region",
                    "inferred_country",
                    "inferred_postal_code",
                    "inferred_phone_area_code",
                    "anonymous_ip",
                ],
                STRING,
            ),
            "unsubscribed": BOOLEAN,
            "email_invalid": BOOLEAN,
            "do_not_call": BOOLEAN,
        },
        # id joins every activity; created_at starts each lead's calendar (no lead history without it)
        {"id", "created_at"},
    ),
    "lead_describe": (
        {
            "_fivetran_synced": TIMESTAMP,
            "data_type": STRING,
            "display_name": STRING,
            "id": INT,
            "length": INT,
            "restname": STRING,
            "restread_only": BOOLEAN,
            "soapname": STRING,
            "soapread_only": BOOLEAN,
        },
        {"id", "restname"},  # Change Data Value's primary_attribute_value_id -> the field's name
    ),
    "activity_change_data_value": (
        {
            **_ACTIVITY,
            **dict.fromkeys(
                ("api_method_name", "modifying_user", "new_value", "old_value", "reason", "request_id", "source"),
                STRING,
            ),
        },
        {"activity_date", "id", "lead_id", "old_value", "primary_attribute_value_id"},
    ),
    "activity_send_email": (
        {**_EMAIL, "action_result": STRING, "choice_number": INT, "step_id": INT},
        _EMAIL_REQUIRED | {"activity_date", "email_template_id"},  # dedupe order; template version join
    ),
    "activity_email_delivered": (
        {**_EMAIL, "choice_number": INT, "step_id": INT, "test_variant": INT},
        _EMAIL_REQUIRED,
    ),
    "activity_email_bounced": (
        {
            **_EMAIL,
            "category": INT,
            "choice_number": INT,
            "details": STRING,
            "email": STRING,
            "step_id": INT,
            "subcategory": INT,
            "test_variant": INT,
        },
        _EMAIL_REQUIRED,
    ),
    "activity_open_email": (
        {
            **_EMAIL,
            "choice_number": INT,
            "device": STRING,
            "is_mobile_device": BOOLEAN,
            "platform": STRING,
            "step_id": INT,
            "test_variant": INT,
            "user_agent": STRING,
        },
        _EMAIL_REQUIRED,
    ),
    "activity_click_email": (
        {
            **_EMAIL,
            "choice_number": INT,
            "device": STRING,
            "is_mobile_device": BOOLEAN,
            "link": STRING,
            "link_id": STRING,
            "platform": STRING,
            "step_id": INT,
            "test_variant": INT,
            "user_agent": STRING,
        },
        _EMAIL_REQUIRED,
    ),
    "activity_unsubscribe_email": (
        {
            **_EMAIL,
            **dict.fromkeys(("client_ip_address", "form_fields", "query_parameters", "referrer_url"), STRING),
            "test_variant": INT,
            "user_agent": STRING,
            "webform_id": INT,
            "webpage_id": INT,
        },
        _EMAIL_REQUIRED,
    ),
    "activity_merge_leads": (
        {
            **_ACTIVITY,
            "master_updated": BOOLEAN,
            "merge_ids": STRING,  # trimmed of [ and ]: must be text, not JSON
            "merge_source": STRING,
            "merged_in_sales": BOOLEAN,
        },
        {"lead_id", "merge_ids"},
    ),
    "activity_delete_lead": ({**_ACTIVITY, "campaign": STRING}, {"lead_id"}),
    "campaign": (
        {
            "_fivetran_synced": TIMESTAMP,
            "_fivetran_deleted": BOOLEAN,
            "active": BOOLEAN,
            "created_at": TIMESTAMP,
            "description": STRING,
            "id": INT,
            "name": STRING,
            "program_id": INT,
            "type": STRING,
            "updated_at": TIMESTAMP,
            "workspace_name": STRING,
            "computed_url": STRING,
            "flow_id": INT,
            "folder_id": INT,
            "folder_type": STRING,
            "is_communication_limit_enabled": BOOLEAN,
            "is_requestable": BOOLEAN,
            "is_system": BOOLEAN,
            "max_members": INT,
            "qualification_rule_type": STRING,
            "qualification_rule_interval": INT,
            "qualification_rule_unit": STRING,
            "recurrence_start_at": TIMESTAMP,
            "recurrence_end_at": TIMESTAMP,
            "recurrence_interval_type": STRING,
            "recurrence_interval": INT,
            "recurrence_weekday_only": BOOLEAN,
            "recurrence_day_of_month": INT,
            "recurrence_day_of_week": STRING,
            "recurrence_week_of_month": INT,
            "smart_list_id": INT,
            "status": STRING,
        },
        {"id", "program_id"},  # joined to the sends' campaign_id; programs' stats go through it
    ),
    "program": (
        {
            "_fivetran_synced": TIMESTAMP,
            "_fivetran_deleted": BOOLEAN,
            "channel": STRING,
            "created_at": TIMESTAMP,
            "description": STRING,
            "end_date": TIMESTAMP,
            "id": INT,
            "name": STRING,
            "sfdc_id": STRING,
            "sfdc_name": STRING,
            "start_date": TIMESTAMP,
            "status": STRING,
            "type": STRING,
            "updated_at": TIMESTAMP,
            "url": STRING,
            "workspace": STRING,
        },
        {"id"},
    ),
    "email_template_history": (
        {
            "_fivetran_synced": TIMESTAMP,
            "created_at": TIMESTAMP,
            "description": STRING,
            "folder_folder_name": STRING,
            "folder_id": INT,
            "folder_type": STRING,
            "folder_value": INT,
            "from_email": STRING,
            "from_name": STRING,
            "id": INT,
            "name": STRING,
            "operational": BOOLEAN,
            "program_id": INT,
            "publish_to_msi": BOOLEAN,
            "reply_email": STRING,
            "status": STRING,
            "subject": STRING,
            "template": INT,
            "text_only": BOOLEAN,
            "updated_at": TIMESTAMP,
            "url": STRING,
            "version": INT,
            "web_view": BOOLEAN,
            "workspace": STRING,
        },
        # versions ordered by updated_at, the first valid from created_at (compared uncast with
        # timestamps: text fails); operational goes into every send
        {"id", "created_at", "updated_at", "operational"},
    ),
}
#: Columns the recipe gives with another family than the macro's, and why that is harmless:
#: the package only passes them through staging (never compared, joined or unioned).
HARMLESS: dict[tuple[str, str], str] = {
    ("activity_email_bounced", "category"): "Marketo's bounce Category is text; staged as bounce_category only",
    ("activity_email_bounced", "subcategory"): "Marketo's Subcategory is text; staged as bounce_subcategory only",
}


def family(schema: dict[str, Any]) -> str:
    """The datatype family a JSON Schema property loads as (target-postgres, target-snowflake)."""
    types = schema.get("type", [])
    kinds = [t for t in ([types] if isinstance(types, str) else types) if t != "null"]
    if kinds == ["integer"]:
        return INT
    if kinds == ["boolean"]:
        return BOOLEAN
    if kinds == ["string"]:
        return TIMESTAMP if schema.get("format") == "date-time" else STRING
    return "/".join(kinds)  # number, object, array: no family of the macros


def compatible(want: str, got: str) -> bool:
    return got == want or (want == ID and got in (STRING, INT))


def recipe() -> dict[str, Any]:
    return yaml.safe_load(RECIPE.read_text())


def loaded_tables(sb: Any) -> dict[str, dict[str, dict]]:
    """source table -> the columns (JSON Schema) of the stream feeding it, after the loader's maps."""
    r = recipe()
    catalog = discover(base_config(sb, **r["tap"]["config"]))
    schemas = {s["tap_stream_id"]: s for s in catalog["streams"]}
    selected = [pattern.removesuffix(".*") for pattern in r["tap"]["select"]]
    assert set(selected) <= set(schemas), sorted(set(selected) - set(schemas))
    mapper = PluginMapper(plugin_config={"stream_maps": r["loader"]["stream_maps"]}, logger=logging.getLogger("recipe"))
    tables = {}
    for var, stream in r["dbt"]["vars"].items():
        if not var.endswith("_identifier"):
            continue
        assert stream in selected, (var, stream)
        mapper.register_raw_stream_schema(stream, schemas[stream]["schema"], schemas[stream]["key_properties"])
        [stream_map] = mapper.stream_maps[stream]
        tables[var.removeprefix("marketo_").removesuffix("_identifier")] = stream_map.transformed_schema["properties"]
    return tables


def test_the_recipe_gives_every_required_column_with_its_type(sb):
    tables = loaded_tables(sb)
    r = recipe()
    assert set(tables) | set(r["later"]) == set(CONTRACTS)
    assert not set(tables) & set(r["later"])
    missing, wrong, harmless = [], [], []
    for table, columns in tables.items():
        contract, required = CONTRACTS[table]
        missing += [f"{table}.{column}" for column in sorted(required - set(columns))]
        for column, want in contract.items():
            if column in columns and not compatible(want, got := family(columns[column])):
                (harmless if (table, column) in HARMLESS else wrong).append(f"{table}.{column}: {got}, not {want}")
    assert missing == []
    assert wrong == []
    assert len(harmless) == len(HARMLESS), harmless


def test_what_the_tables_still_to_come_must_give(sb):
    """The source tables of phase 2: the recipe feeds none of them yet; their REQUIRED columns
    are what the REST streams must provide (by column_naming, or the loader's maps)."""
    assert recipe()["later"] == {
        "campaign": "campaigns",
        "program": "programs",
        "email_template_history": "emails",
        "lead_describe": "lead_fields",
    }
    assert {table: sorted(CONTRACTS[table][1]) for table in recipe()["later"]} == {
        "campaign": ["id", "program_id"],
        "program": ["id"],
        "email_template_history": ["created_at", "id", "operational", "updated_at"],
        "lead_describe": ["id", "restname"],
    }


def test_the_lead_table_has_the_default_history_columns_marketo_has(sb):
    """The lead history pivots lead columns named as lead_history_columns lists them; every
    default one the sandbox's instance has (Lead Status) is there by that name."""
    leads = loaded_tables(sb)["lead"]
    assert "lead_status" in leads
    assert {"id", "created_at", "updated_at", "email", "first_name", "last_name", "company", "phone"} <= set(leads)
