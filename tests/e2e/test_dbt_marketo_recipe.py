"""The dbt_marketo recipe against the package's column contracts, and its maps on real records.

The recipe is what README "Modelling" gives a user: meltano.yml's ``dbt_marketo`` environment
(the tap's settings and selection, the loader's stream maps) and the package's vars in
docs/dbt_marketo_recipe.yml.

fivetran/dbt_marketo cannot run in CI (its dependencies come from dbt's hub), so what it needs
of each source table is recorded here as facts, read from dbt_marketo 1.4.1 (commit 4473d38):
every column of its ``macros/staging/get_<table>_columns.sql`` with the macro's datatype, and
which of them its models need (joins, keys, filters, windows, computations; notes in
/work/notes/dbt_marketo.md section 3). A column the package does not find is filled with NULL
of the macro's type; a column it finds is used as it is, uncast. So the recipe must give every
REQUIRED column, with a type of the same family, and no column it gives may have another family
than the macro's, unless listed below as harmless.

The streams' schemas come from discovery against the sandbox with the recipe's settings, and the
loader's stream maps are applied by the SDK's own mapper (what an SDK target runs).
"""

from __future__ import annotations

import logging
from typing import Any

from singer_sdk.mapper import PluginMapper

from tests.support import END, dbt_marketo_recipe, to_json

from .helpers import base_config, by_key, discover, run_tap, select

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


def recipe_mapper(catalog: dict) -> tuple[PluginMapper, list[str]]:
    """The loader's mapper (the SDK's own, as an SDK target runs it) with every stream the
    recipe selects registered, and those streams."""
    r = dbt_marketo_recipe()
    schemas = {s["tap_stream_id"]: s for s in catalog["streams"]}
    selected = [pattern.removesuffix(".*") for pattern in r["select"]]
    assert set(selected) <= set(schemas), sorted(set(selected) - set(schemas))
    mapper = PluginMapper(plugin_config={"stream_maps": r["stream_maps"]}, logger=logging.getLogger("recipe"))
    for stream in selected:
        mapper.register_raw_stream_schema(stream, schemas[stream]["schema"], schemas[stream]["key_properties"])
    return mapper, selected


def loaded_tables(sb: Any) -> dict[str, dict[str, dict]]:
    """source table -> the columns (JSON Schema) of the loader's table the recipe points it at."""
    r = dbt_marketo_recipe()
    mapper, selected = recipe_mapper(discover(base_config(sb, **r["config"])))
    loaded = {m.stream_alias: m.transformed_schema["properties"] for s in selected for m in mapper.stream_maps[s]}
    tables = {}
    for var, table in r["vars"].items():
        if var.endswith("_identifier"):
            tables[var.removeprefix("marketo_").removesuffix("_identifier")] = loaded[table]
    return tables


def test_the_recipe_feeds_every_source_table_every_required_column_with_its_type(sb):
    tables = loaded_tables(sb)
    assert set(tables) == set(CONTRACTS)
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
    # Beyond the required: the columns the maps flatten are there, typed as the macros say.
    assert {c: family(tables["email_template_history"][c]) for c in ("subject", "from_email", "folder_value")} == {
        "subject": STRING,
        "from_email": STRING,
        "folder_value": INT,
    }
    assert {c: family(tables["campaign"][c]) for c in ("active", "workspace_name", "folder_id")} == {
        "active": BOOLEAN,
        "workspace_name": STRING,
        "folder_id": INT,
    }


def test_the_recipe_names_the_version_it_was_checked_against():
    assert dbt_marketo_recipe()["package"] == {
        "name": "fivetran/marketo",
        "version": "1.4.1",
        "commit": "4473d382e34feb23bb37808a2366c965fb07131d",
    }


def test_the_lead_table_has_the_default_history_columns_marketo_has(sb):
    """The lead history pivots lead columns named as lead_history_columns lists them; every
    default one the sandbox's instance has (Lead Status) is there by that name."""
    leads = loaded_tables(sb)["lead"]
    assert "lead_status" in leads
    assert {"id", "created_at", "updated_at", "email", "first_name", "last_name", "company", "phone"} <= set(leads)


def test_the_maps_turn_the_tables_records_into_the_packages_rows(sb):
    """A sync with the recipe's settings, through the loader's maps: the campaign, program,
    email template history and lead describe rows the package reads, against the sandbox."""
    r = dbt_marketo_recipe()
    config = base_config(sb, **r["config"])
    catalog = discover(config)
    mapper, _selected = recipe_mapper(catalog)
    run = run_tap(config, catalog=select(catalog, ["campaigns", "programs", "emails", "lead_fields"]))
    assert run.returncode == 0, run.describe()
    rows: dict[str, list[dict]] = {}
    for message in run.messages:
        if message["type"] == "RECORD":
            for stream_map in mapper.stream_maps[message["stream"]]:
                row = stream_map.transform(message["record"])
                if row is not None:
                    rows.setdefault(stream_map.stream_alias, []).append(row)
    ref = sb.data.reference

    campaigns = by_key(rows["campaigns"], "id")
    want = [c for c in ref.rows["campaigns"] if c["updatedAt"] < END]
    assert set(campaigns) == {c["id"] for c in want}
    for c in want:
        folder = c.get("folder") or {}
        got = campaigns[c["id"]]
        assert [got[k] for k in ("program_id", "active", "workspace_name", "folder_id", "folder_type")] == [
            c.get("parentProgramId"),
            c["isActive"],
            c["workspace"],
            folder.get("id"),
            folder.get("type"),
        ], c["id"]
    assert any(c["program_id"] for c in campaigns.values()) and any(c["program_id"] is None for c in campaigns.values())

    # One row per approved version, keyed (id, updated_at) as the loader's key properties say.
    (history_map,) = [m for m in mapper.stream_maps["emails"] if m.stream_alias == "email_template_history"]
    assert history_map.transformed_key_properties == ["id", "updated_at"]
    history = by_key(rows["email_template_history"], "id", "updated_at")
    approved = [e for e in ref.rows["emails"] if e["status"] == "approved" and e["updatedAt"] < END]
    assert set(history) == {(e["id"], to_json(e["updatedAt"])) for e in approved}
    assert len(rows["emails"]) > len(history)  # drafts stay in emails, out of the history
    for e in approved:
        folder = e["folder"]
        got = history[(e["id"], to_json(e["updatedAt"]))]
        assert got["created_at"] == to_json(e["createdAt"])
        assert [got[k] for k in ("subject", "from_name", "from_email", "reply_email", "operational")] == [
            (e[k] or {}).get("value") if k != "operational" else e[k]
            for k in ("subject", "fromName", "fromEmail", "replyEmail", "operational")
        ], e["id"]
        assert [got[k] for k in ("folder_value", "folder_type", "folder_folder_name", "program_id")] == [
            folder["value"],
            folder["type"],
            folder.get("folderName"),
            folder["value"] if folder["type"] == "Program" else None,
        ], e["id"]
    assert {g["program_id"] is None for g in history.values()} == {True, False}
    assert any(g["from_email"] is None for g in history.values())

    # Programs need no map: their columns are the package's, dates from Get Program by Id.
    programs = by_key(rows["programs"], "id")
    dated = {p: d for p, d in ref.program_details.items() if "startDate" in d}
    assert dated and {p: programs[p]["start_date"] for p in dated} == {
        p: to_json(d["startDate"]) for p, d in dated.items()
    }
    assert all(programs[p]["sfdc_id"] for p in programs if p in {x["id"] for x in sb.data.programs if "sfdcId" in x})

    # restname is the leads column of the field: what the package's lead history must find.
    leads_columns = next(s for s in catalog["streams"] if s["tap_stream_id"] == "leads")["schema"]["properties"]
    describe = by_key(rows["lead_fields"], "id")
    by_rest_name = {f["rest_name"]: f for f in describe.values()}
    assert by_rest_name["leadStatus"]["restname"] == "lead_status"
    assert by_rest_name["customDatetime"]["restname"] == "custom_datetime"
    assert {f["restname"] for f in describe.values()} - {None} <= set(leads_columns)
    assert all(f["restname"] == f["column_name"] for f in describe.values())
