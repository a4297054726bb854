"""The column naming rule (records/names.py): snake_case of Marketo names, and collisions."""

from __future__ import annotations

import pytest

from tap_marketo_bulk.records.names import column_list, column_name, column_names, naming_rule, snake_case


@pytest.mark.parametrize(
    ("marketo", "column"),
    [
        # Marketo's REST names: lower camel case
        ("createdAt", "created_at"),
        ("leadId", "lead_id"),
        ("primaryAttributeValueId", "primary_attribute_value_id"),
        ("marketoGUID", "marketo_guid"),
        ("id", "id"),
        ("attributes", "attributes"),
        ("linkedInId", "linked_in_id"),
        ("mktoName", "mkto_name"),
        # acronyms: in lower camel, at the end, in front of a word, plural
        ("sfdcType", "sfdc_type"),
        ("SFDCType", "sfdc_type"),
        ("anonymousIP", "anonymous_ip"),
        ("facebookPhotoURL", "facebook_photo_url"),
        ("HTMLText", "html_text"),
        ("HTTPSConfig", "https_config"),
        ("ID", "id"),
        ("URL", "url"),
        ("URLs", "urls"),
        ("Merge IDs", "merge_ids"),
        ("Merge Ids", "merge_ids"),
        ("IDsOfLeads", "ids_of_leads"),
        ("APIsList", "apis_list"),
        # custom fields: runs of separators collapse, as in Fivetran's Marketo schema
        ("Company_Country__c", "company_country_c"),
        ("SFDC_Owner_ID__c", "sfdc_owner_id_c"),
        ("my__Field___c", "my_field_c"),
        # activity attributes: display names with spaces
        ("Campaign Run ID", "campaign_run_id"),
        ("Client IP Address", "client_ip_address"),
        ("Is Mobile Device", "is_mobile_device"),
        ("Old Value", "old_value"),
        ("  Spaced  Out  ", "spaced_out"),
        ("Form-Fields (JSON)", "form_fields_json"),
        # digits stay with their word; a leading digit gets an underscore
        ("address2", "address2"),
        ("address2Line", "address2_line"),
        ("Q1Revenue", "q1_revenue"),
        ("2ndEmail", "_2nd_email"),
        ("2024", "_2024"),
        # unicode: Latin accents dropped, other letters separate words
        ("Zoë Größe", "zoe_grosse"),
        ("Størrelse", "storrelse"),
        ("Ærø", "aero"),
        ("ÆRØ", "ae_ro"),
        ("Café №5", "cafe_no5"),
        ("naïveField", "naive_field"),
        ("emoji 🚀 field", "emoji_field"),
        # nothing ASCII left: "column_" + 8 hex digits of the name's SHA-256, the same every run
        ("メール", "column_e547903f"),
        ("Имя", "column_1da7e937"),
        ("!!!", "column_e84c538e"),
    ],
)
def test_column_name(marketo: str, column: str) -> None:
    assert column_name(marketo) == column


@pytest.mark.parametrize(
    "name", ["createdAt", "Company_Country__c", "2ndEmail", "メール", "SFDCType", "Zoë", "custom_url_2", "_x"]
)
def test_column_names_are_their_own_column_name(name: str) -> None:
    """A column name passes through the rule unchanged: the rule can be applied to names
    another stream already made (activity attribute columns) without drift."""
    once = column_name(name)
    assert column_name(once) == once


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Send Email", "send_email"),
        ("Fill Out LinkedIn Lead Gen Form", "fill_out_linked_in_lead_gen_form"),
        ("SFDCType", "sfdctype"),  # no acronym break: stream names never change
        ("Zoë", "zo"),  # no accents: stream names never change
        ("メール", "_"),
        ("2ndEmail", "_2nd_email"),
        ("purchase_c", "purchase_c"),
    ],
)
def test_stream_name_rule_is_unchanged(text: str, name: str) -> None:
    assert snake_case(text) == name


def test_first_in_marketo_order_keeps_the_name_later_ones_get_2_3() -> None:
    names = ["customUrl", "customURL", "custom_url", "custom url", "email"]
    assert column_names(names, column_name) == {
        "customUrl": "custom_url",
        "customURL": "custom_url_2",
        "custom_url": "custom_url_3",
        "custom url": "custom_url_4",
        "email": "email",
    }


def test_a_suffixed_name_never_takes_a_later_natural_name() -> None:
    """``a_b_2`` is taken by the second ``a_b``, so the field literally named ``a_b_2`` gets
    ``a_b_2_2``: deterministic, and no column is named twice."""
    columns = column_names(["aB", "a_b", "a_b_2"], column_name)
    assert columns == {"aB": "a_b", "a_b": "a_b_2", "a_b_2": "a_b_2_2"}
    assert len(set(columns.values())) == 3


def test_the_same_names_in_the_same_order_always_give_the_same_columns() -> None:
    names = ["Company_Country__c", "companyCountryC", "companyCountry_c", "leadStatus"]
    assert column_names(names, column_name) == column_names(list(names), column_name)
    assert list(column_names(names, column_name).values()) == [
        "company_country_c",
        "company_country_c_2",
        "company_country_c_3",
        "lead_status",
    ]


def test_taken_columns_push_attributes_to_the_next_suffix() -> None:
    """An activity type stream's attributes come after its activity columns."""
    taken = ["marketo_guid", "lead_id", "attributes"]
    assert column_list(["Lead ID", "Attributes", "Lead ID", "Step ID"], column_name, taken=taken) == [
        "lead_id_2",
        "attributes_2",
        "lead_id_3",
        "step_id",
    ]


def test_marketo_naming_keeps_every_name() -> None:
    rule = naming_rule("marketo")
    assert column_names(["createdAt", "Company_Country__c"], rule) == {
        "createdAt": "createdAt",
        "Company_Country__c": "Company_Country__c",
    }
    assert naming_rule(None) is rule
    assert naming_rule("snake_case") is column_name


def test_an_unknown_naming_is_refused() -> None:
    with pytest.raises(ValueError, match="column_naming must be one of marketo, snake_case, not 'camel'"):
        naming_rule("camel")


#: Marketo's standard REST lead fields -> the lead column fivetran/dbt_marketo reads (its
#: get_lead_columns macro, and the default lead_history_columns).
FIVETRAN_LEAD_COLUMNS = {
    "id": "id",
    "createdAt": "created_at",
    "updatedAt": "updated_at",
    "email": "email",
    "firstName": "first_name",
    "lastName": "last_name",
    "phone": "phone",
    "mainPhone": "main_phone",
    "mobilePhone": "mobile_phone",
    "company": "company",
    "inferredCompany": "inferred_company",
    "address": "address",
    "city": "city",
    "state": "state",
    "country": "country",
    "postalCode": "postal_code",
    "billingStreet": "billing_street",
    "billingCity": "billing_city",
    "billingState": "billing_state",
    "billingCountry": "billing_country",
    "billingPostalCode": "billing_postal_code",
    "inferredCity": "inferred_city",
    "inferredStateRegion": "inferred_state_region",
    "inferredCountry": "inferred_country",
    "inferredPostalCode": "inferred_postal_code",
    "inferredPhoneAreaCode": "inferred_phone_area_code",
    "anonymousIP": "anonymous_ip",
    "unsubscribed": "unsubscribed",
    "emailInvalid": "email_invalid",
    "doNotCall": "do_not_call",
    "leadStatus": "lead_status",
    "urgency": "urgency",
    "priority": "priority",
    "relativeScore": "relative_score",
    "relativeUrgency": "relative_urgency",
}


def test_marketos_standard_lead_fields_get_the_columns_dbt_marketo_reads():
    assert {name: column_name(name) for name in FIVETRAN_LEAD_COLUMNS} == FIVETRAN_LEAD_COLUMNS
