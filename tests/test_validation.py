"""Validation at source: each rule family, n/a rules, duplicates, disabled rules, versions.

All contact data is invented: company domains on made-up stems, role mailboxes, and phone
numbers from the ranges reserved for fiction where a country has one (US 555-01xx, UK
020 7946 0xxx).
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cadence_pipeline.governance.config import GovernanceConfig, load_config
from cadence_pipeline.governance.normalise import email_key
from cadence_pipeline.governance.records import Lead
from cadence_pipeline.governance.validation import (
    FAMILIES,
    RULES,
    RULES_BY_NAME,
    ValidationResult,
    effective_rule_version,
    rule_set_description,
    rule_set_fingerprint,
    validate_batch,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CLEAN_US_PHONE = "+1 201-555-0123"
CLEAN_DE_PHONE = "+49 30 123456"

ALL_RULES = {
    "compliance.consent",
    "compliance.email_opt_out",
    "compliance.country_allowed",
    "compliance.privacy_fields",
    "truth.email_syntax",
    "truth.email_domain",
    "truth.disposable_domain",
    "truth.phone",
    "truth.placeholder",
    "truth.duplicate",
    "value.business_domain",
    "value.industry",
    "value.company_size",
    "value.role",
}


def make_lead(lead_id: str = "L1", minutes: int = 0, **fields: Any) -> Lead:
    """Return a B2B lead that passes every rule under the default configuration."""
    values: dict[str, Any] = {
        "lead_id": lead_id,
        "crm": "salesforce",
        "source": "webform",
        "motion": "b2b",
        "created_at": T0 + timedelta(minutes=minutes),
        "email": f"ops.{lead_id.lower()}@brightfield.com",
        "phone": CLEAN_US_PHONE,
        "country": "US",
        "company": "Brightfield Analytics",
        "industry": "software",
        "employees": 250,
        "title": "VP Marketing",
        "email_opt_out": False,
        "consent": True,
    }
    values.update(fields)
    return Lead(**values)


def config(overrides: dict[str, Any] | None = None) -> GovernanceConfig:
    return load_config(overrides={"validation": overrides} if overrides else None)


def validate_one(
    lead: Lead, *others: Lead, cfg: GovernanceConfig | None = None
) -> ValidationResult:
    """Validate `lead` with `others` in one batch and return the result for `lead`."""
    results = validate_batch([lead, *others], cfg or config(), {})
    return results[0]


# Registry -----------------------------------------------------------------------------------


def test_rules_registered_by_name() -> None:
    assert {r.name for r in RULES} == ALL_RULES
    assert set(RULES_BY_NAME) == ALL_RULES


def test_rule_family_is_name_prefix() -> None:
    for current in RULES:
        assert current.family in FAMILIES
        assert current.name.startswith(current.family + ".")
        assert current.description, current.name


# A clean lead -------------------------------------------------------------------------------


def test_clean_b2b_lead_passes() -> None:
    result = validate_one(make_lead())
    assert result.passed is True
    assert result.failed_rules == []
    # The default B2B profile sets no industries and no roles.
    assert result.not_applicable_rules == ["value.industry", "value.role"]
    assert result.duplicate_of is None
    assert result.email_key == email_key("ops.l1@brightfield.com")


def test_results_keep_input_order() -> None:
    leads = [make_lead("L3", 3), make_lead("L1", 1), make_lead("L2", 2)]
    results = validate_batch(leads, config(), {})
    assert [r.lead_id for r in results] == ["L3", "L1", "L2"]


# Compliance ---------------------------------------------------------------------------------


def test_consent_false_fails() -> None:
    assert validate_one(make_lead(consent=False)).failed_rules == ["compliance.consent"]


def test_blank_consent_fails() -> None:
    result = validate_one(make_lead("L1", consent=None), make_lead("L2"))
    assert result.failed_rules == ["compliance.consent"]


def test_consent_not_provided_is_not_applicable() -> None:
    result = validate_one(make_lead("L1", consent=None), make_lead("L2", consent=None))
    assert result.passed is True
    assert "compliance.consent" in result.not_applicable_rules


def test_opted_out_lead_fails() -> None:
    assert validate_one(make_lead(email_opt_out=True)).failed_rules == ["compliance.email_opt_out"]


def test_blank_opt_out_flag_passes() -> None:
    result = validate_one(make_lead("L1", email_opt_out=None), make_lead("L2"))
    assert result.passed is True
    assert "compliance.email_opt_out" not in result.not_applicable_rules


def test_country_outside_allowed_list_fails() -> None:
    result = validate_one(make_lead(country="CN", phone="+86 10 1234 5678"))
    assert result.failed_rules == ["compliance.country_allowed"]


def test_country_name_in_other_language_recognised() -> None:
    result = validate_one(make_lead(country="Deutschland", phone=CLEAN_DE_PHONE))
    assert result.passed is True


def test_country_alias_recognised() -> None:
    assert validate_one(make_lead(country="U.S.A.")).passed is True
    assert validate_one(make_lead(country="ｕｋ", phone="+44 20 7946 0018")).passed is True


def test_unrecognised_country_fails() -> None:
    result = validate_one(make_lead(country="Atlantis"))
    assert result.failed_rules == ["compliance.country_allowed"]


def test_country_rule_na_without_allowed_list() -> None:
    result = validate_one(make_lead(country="CN"), cfg=config({"allowed_countries": []}))
    assert result.passed is True
    assert "compliance.country_allowed" in result.not_applicable_rules


def test_missing_country_fails_privacy_fields() -> None:
    result = validate_one(make_lead("L1", country=None), make_lead("L2"))
    assert result.failed_rules == ["compliance.privacy_fields"]
    assert "compliance.country_allowed" in result.not_applicable_rules


def test_privacy_fields_apply_to_source_without_country() -> None:
    # The rule's data is the contact data: a source sending emails without any country
    # gives no basis to apply privacy law, so its leads fail.
    leads = [make_lead("L1", country=None), make_lead("L2", country=None)]
    results = validate_batch(leads, config(), {})
    assert [r.failed_rules for r in results] == [["compliance.privacy_fields"]] * 2


def test_required_privacy_fields_configurable() -> None:
    cfg = config({"required_privacy_fields": ["country", "consent"]})
    result = validate_one(make_lead("L1", consent=None), make_lead("L2"), cfg=cfg)
    assert result.failed_rules == ["compliance.consent", "compliance.privacy_fields"]


# Truth: email -------------------------------------------------------------------------------


def test_email_without_at_sign_fails_syntax() -> None:
    result = validate_one(make_lead(email="ops.brightfield.com"))
    assert result.failed_rules == ["truth.email_syntax"]
    assert "truth.email_domain" in result.not_applicable_rules


def test_blank_email_fails_syntax() -> None:
    result = validate_one(make_lead("L1", email=" \u200b"), make_lead("L2"))
    assert result.failed_rules == ["truth.email_syntax"]
    for name in ("truth.email_domain", "truth.duplicate", "value.business_domain"):
        assert name in result.not_applicable_rules


def test_email_with_two_at_signs_fails_syntax() -> None:
    assert "truth.email_syntax" in validate_one(make_lead(email="a@b@brightfield.com")).failed_rules


def test_email_with_space_fails_syntax() -> None:
    assert (
        "truth.email_syntax"
        in validate_one(make_lead(email="ops team@brightfield.com")).failed_rules
    )


def test_email_zero_width_space_inside_passes() -> None:
    result = validate_one(make_lead(email="ops\u200b.team@brightfield.com"))
    assert result.passed is True


def test_email_full_width_letters_pass() -> None:
    result = validate_one(make_lead(email="ＯＰＳ@ｂｒｉｇｈｔｆｉｅｌｄ.com"))
    assert result.passed is True


def test_domain_without_dot_fails_domain_form() -> None:
    result = validate_one(make_lead(email="ops@brightfield"))
    assert result.failed_rules == ["truth.email_domain"]


@pytest.mark.parametrize(
    "domain", ["localhost", "mail.local", "brightfield.test", "brightfield.invalid", "example.com"]
)
def test_special_use_domain_fails_domain_form(domain: str) -> None:
    result = validate_one(make_lead(email=f"ops@{domain}"))
    assert result.failed_rules == ["truth.email_domain"], domain


def test_numeric_top_level_domain_fails() -> None:
    assert validate_one(make_lead(email="ops@brightfield.123")).failed_rules == [
        "truth.email_domain"
    ]


def test_disposable_domain_fails() -> None:
    result = validate_one(make_lead(email="ops@mailinator.com"))
    assert result.failed_rules == ["truth.disposable_domain"]


def test_disposable_parent_domain_fails() -> None:
    result = validate_one(make_lead(email="ops@eu.mailinator.com"))
    assert result.failed_rules == ["truth.disposable_domain"]


def test_extra_disposable_domain_fails() -> None:
    cfg = config({"extra_disposable_domains": ["northstone-burner.com"]})
    result = validate_one(make_lead(email="ops@northstone-burner.com"), cfg=cfg)
    assert result.failed_rules == ["truth.disposable_domain"]


# Truth: phone -------------------------------------------------------------------------------


@pytest.mark.parametrize("phone", ["12345", "+1 555 01", "000000", "call me"])
def test_invalid_phone_fails(phone: str) -> None:
    assert validate_one(make_lead(phone=phone)).failed_rules == ["truth.phone"]


def test_national_number_read_for_lead_country() -> None:
    # Without a country calling code, the number is read as German for a German lead.
    assert validate_one(make_lead(country="DE", phone="030 123456")).passed is True


def test_national_number_uses_default_region_without_country() -> None:
    # "030 123456" is a Berlin number when read as German and invalid when read as US.
    german = config({"required_privacy_fields": [], "default_phone_region": "DE"})
    lead = make_lead("L1", country=None, phone="030 123456")
    assert validate_one(lead, make_lead("L2"), cfg=german).passed is True
    us = config({"required_privacy_fields": []})
    assert validate_one(lead, make_lead("L2"), cfg=us).failed_rules == ["truth.phone"]


def test_phone_with_no_break_space_passes() -> None:
    assert validate_one(make_lead(phone="+1\u00a0201\u00a0555\u00a00123")).passed is True


def test_blank_phone_not_applicable_for_that_lead() -> None:
    result = validate_one(make_lead("L1", phone=None), make_lead("L2"))
    assert result.passed is True
    assert "truth.phone" in result.not_applicable_rules


def test_unknown_default_region_rejected() -> None:
    with pytest.raises(ValueError, match="default_phone_region"):
        validate_one(make_lead(), cfg=config({"default_phone_region": "XX"}))


# Truth: placeholders ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("company", "asdf"),
        ("company", "N/A"),
        ("company", "Ｔｅｓｔ"),
        ("company", "qwerty"),
        ("company", "sdfghj"),
        ("company", "xxxx"),
        ("company", "jkjkjk"),
        ("title", "unknown"),
        ("title", "-"),
        ("email", "test@brightfield.com"),
        ("email", "test123@brightfield.com"),
        ("email", "asdf+promo@brightfield.com"),
    ],
)
def test_placeholder_value_fails(field: str, value: str) -> None:
    result = validate_one(make_lead(**{field: value}))
    assert result.failed_rules == ["truth.placeholder"], (field, value)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("company", "AAA"),
        ("company", "Test Kitchen Foods"),
        ("title", "IT"),
        ("email", "testing.lead@brightfield.com"),
        ("email", "ops.a1b034@brightfield.com"),
    ],
)
def test_real_value_is_not_placeholder(field: str, value: str) -> None:
    assert validate_one(make_lead(**{field: value})).passed is True, (field, value)


def test_placeholder_list_configurable() -> None:
    cfg = config({"placeholder_values": ["acme"]})
    assert validate_one(make_lead(company="ACME"), cfg=cfg).failed_rules == ["truth.placeholder"]


# Truth: duplicates --------------------------------------------------------------------------


def test_plus_tag_duplicate_points_at_first() -> None:
    first = make_lead("L1", 0, email="ops.team@brightfield.com")
    later = make_lead("L2", 5, email="Ops.Team+promo@brightfield.com")
    results = validate_batch([first, later], config(), {})
    assert results[0].passed is True
    assert results[1].failed_rules == ["truth.duplicate"]
    assert results[1].duplicate_of == "L1"
    assert results[0].email_key == results[1].email_key


def test_gmail_dots_duplicate() -> None:
    cfg = config({"icp": {"b2b": {"require_business_domain": False}}})
    first = make_lead("L1", 0, email="ops.team@gmail.com")
    later = make_lead("L2", 5, email="opsteam@googlemail.com")
    results = validate_batch([first, later], cfg, {})
    assert results[1].failed_rules == ["truth.duplicate"]
    assert results[1].duplicate_of == "L1"


def test_dots_kept_for_other_providers() -> None:
    first = make_lead("L1", 0, email="ops.team@brightfield.com")
    other = make_lead("L2", 5, email="opsteam@brightfield.com")
    results = validate_batch([first, other], config(), {})
    assert results[1].passed is True
    assert results[1].duplicate_of is None


def test_first_record_wins_any_input_order() -> None:
    later = make_lead("L9", 30, email="ops.team@brightfield.com")
    first = make_lead("L5", 10, email="OPS.TEAM@brightfield.com")
    results = validate_batch([later, first], config(), {})
    by_id = {r.lead_id: r for r in results}
    assert by_id["L5"].passed is True
    assert by_id["L9"].duplicate_of == "L5"


def test_same_instant_ordered_by_lead_id() -> None:
    b = make_lead("L2", 0, email="ops.team@brightfield.com")
    a = make_lead("L1", 0, email="ops.team+x@brightfield.com")
    results = validate_batch([b, a], config(), {})
    assert results[0].duplicate_of == "L1"
    assert results[1].duplicate_of is None


def test_cross_week_duplicate_uses_known_keys() -> None:
    lead = make_lead("L7", email="ops.team+news@brightfield.com")
    known = {email_key("ops.team@brightfield.com"): "W1-L3"}
    result = validate_batch([lead], config(), known)[0]
    assert result.failed_rules == ["truth.duplicate"]
    assert result.duplicate_of == "W1-L3"


def test_known_key_of_same_lead_is_not_duplicate() -> None:
    lead = make_lead("L7")
    result = validate_batch([lead], config(), {email_key(lead.email): "L7"})[0]
    assert result.passed is True


def test_duplicate_across_sources() -> None:
    first = make_lead("L1", 0, source="webform")
    later = make_lead("L2", 5, source="partner_feed", email=first.email.upper())
    results = validate_batch([first, later], config(), {})
    assert results[1].duplicate_of == "L1"


def test_duplicate_lead_stays_a_lead() -> None:
    first = make_lead("L1", 0)
    later = make_lead("L2", 5, email=first.email)
    results = validate_batch([first, later], config(), {})
    assert len(results) == 2
    assert results[1].passed is False


# Value --------------------------------------------------------------------------------------


def test_free_mail_fails_business_domain_for_b2b() -> None:
    result = validate_one(make_lead(email="ops.team@gmail.com"))
    assert result.failed_rules == ["value.business_domain"]


def test_free_mail_not_applicable_for_b2c() -> None:
    result = validate_one(make_lead(motion="b2c", email="ops.team@gmail.com"))
    assert result.passed is True
    for name in ("value.business_domain", "value.company_size", "value.industry", "value.role"):
        assert name in result.not_applicable_rules


def test_company_below_min_employees_fails() -> None:
    assert validate_one(make_lead(employees=9)).failed_rules == ["value.company_size"]
    assert validate_one(make_lead(employees=10)).passed is True


def test_blank_employees_fails_company_size() -> None:
    result = validate_one(make_lead("L1", employees=None), make_lead("L2"))
    assert result.failed_rules == ["value.company_size"]


def test_employees_not_provided_is_not_applicable() -> None:
    result = validate_one(make_lead("L1", employees=None), make_lead("L2", employees=None))
    assert result.passed is True
    assert "value.company_size" in result.not_applicable_rules


def test_industry_matched_after_normalising() -> None:
    cfg = config({"icp": {"b2b": {"industries": ["Financial Services", "software"]}}})
    assert validate_one(make_lead(industry="financial_services"), cfg=cfg).passed is True
    assert validate_one(make_lead(industry="Financial Services."), cfg=cfg).passed is True
    result = validate_one(make_lead(industry="Retail"), cfg=cfg)
    assert result.failed_rules == ["value.industry"]


def test_role_matched_as_whole_words() -> None:
    cfg = config({"icp": {"b2b": {"roles": ["marketing", "chief financial officer"]}}})
    assert validate_one(make_lead(title="VP, Marketing"), cfg=cfg).passed is True
    assert validate_one(make_lead(title="Chief Financial Officer"), cfg=cfg).passed is True
    assert validate_one(make_lead(title="Marketing, VP"), cfg=cfg).passed is True
    # "marketingops" is one word, not the role "marketing".
    failed = validate_one(make_lead(title="MarketingOps Analyst"), cfg=cfg)
    assert failed.failed_rules == ["value.role"]


# Not applicable -----------------------------------------------------------------------------


def test_source_without_contact_fields_is_not_evaluated() -> None:
    bare = {name: None for name in ("email", "phone", "country", "company", "industry")}
    bare.update(employees=None, title=None, email_opt_out=None, consent=None)
    leads = [make_lead(f"L{i}", i, source="olist_mql", **bare) for i in range(3)]
    results = validate_batch(leads, config(), {})
    for result in results:
        assert result.passed is None
        assert result.failed_rules == []
        assert set(result.not_applicable_rules) == ALL_RULES
        assert result.email_key is None


def test_provided_fields_judged_per_source() -> None:
    # The webform source provides phones and the trade-show source does not, so truth.phone
    # is n/a for the trade-show lead only.
    form = make_lead("L1", 0, source="webform")
    event = make_lead("L2", 1, source="trade_show", phone=None)
    results = validate_batch([form, event], config(), {})
    assert "truth.phone" not in results[0].not_applicable_rules
    assert "truth.phone" in results[1].not_applicable_rules


def test_source_with_only_opt_out_flags() -> None:
    bare = {name: None for name in ("email", "phone", "country", "company", "industry")}
    bare.update(employees=None, title=None, consent=None)
    leads = [
        make_lead("L1", 0, source="x_education", email_opt_out=False, **bare),
        make_lead("L2", 1, source="x_education", email_opt_out=True, **bare),
    ]
    results = validate_batch(leads, config(), {})
    assert results[0].passed is True
    assert results[1].failed_rules == ["compliance.email_opt_out"]
    assert "compliance.privacy_fields" in results[0].not_applicable_rules


# Disabled rules -----------------------------------------------------------------------------


def test_rule_disabled_by_default_list() -> None:
    cfg = config({"disabled_rules": {"default": ["truth.phone"]}})
    result = validate_one(make_lead(phone="12345"), cfg=cfg)
    assert result.passed is True
    assert "truth.phone" not in result.failed_rules
    assert "truth.phone" not in result.not_applicable_rules


def test_rule_disabled_per_source_type() -> None:
    cfg = config({"disabled_rules": {"default": [], "source_types": {"events": ["truth.phone"]}}})
    event = make_lead("L1", 0, source="trade_show_berlin", phone="12345")
    form = make_lead("L2", 1, source="webform", phone="12345")
    results = validate_batch([event, form], cfg, {})
    assert results[0].passed is True
    assert results[1].failed_rules == ["truth.phone"]


def test_rule_disabled_per_motion() -> None:
    cfg = config({"disabled_rules": {"default": [], "motions": {"b2b": ["compliance.consent"]}}})
    assert validate_one(make_lead(consent=False), cfg=cfg).passed is True
    b2c = make_lead(motion="b2c", consent=False)
    assert validate_one(b2c, cfg=cfg).failed_rules == ["compliance.consent"]


def test_source_override_replaces_motion_list() -> None:
    cfg = config(
        {
            "disabled_rules": {
                "default": [],
                "motions": {"b2b": ["truth.phone"]},
                "sources": {"webform": []},
            }
        }
    )
    assert validate_one(make_lead(phone="12345"), cfg=cfg).failed_rules == ["truth.phone"]


def test_disabled_duplicate_rule_sets_no_pointer() -> None:
    cfg = config({"disabled_rules": {"default": ["truth.duplicate"]}})
    first = make_lead("L1", 0)
    later = make_lead("L2", 5, email=first.email)
    results = validate_batch([first, later], cfg, {})
    assert results[1].passed is True
    assert results[1].duplicate_of is None


def test_unknown_disabled_rule_rejected() -> None:
    # The configuration is checked at load, before any lead is validated.
    with pytest.raises(ValueError, match=r"truth\.phones"):
        config({"disabled_rules": {"default": ["truth.phones"]}})


def test_unknown_privacy_field_rejected() -> None:
    with pytest.raises(ValueError, match="postcode"):
        config({"required_privacy_fields": ["postcode"]})


# Rule version and reproducibility -----------------------------------------------------------


def test_result_names_effective_rule_version() -> None:
    cfg = config()
    result = validate_one(make_lead(), cfg=cfg)
    assert result.rule_version == effective_rule_version(cfg)
    assert result.rule_version == f"2026.1+{rule_set_fingerprint(cfg)}"
    assert len(result.rule_version) <= 32


def test_fingerprint_stable_for_equal_config() -> None:
    assert rule_set_fingerprint(config()) == rule_set_fingerprint(config())


@pytest.mark.parametrize(
    "overrides",
    [
        {"allowed_countries": ["US"]},
        {"placeholder_values": ["test"]},
        {"free_email_domains": ["gmail.com"]},
        {"icp": {"b2b": {"min_employees": 50}}},
        {"disabled_rules": {"default": ["value.role"]}},
        {"default_phone_region": "DE"},
    ],
)
def test_fingerprint_changes_with_rule_config(overrides: dict[str, Any]) -> None:
    assert rule_set_fingerprint(config(overrides)) != rule_set_fingerprint(config())


def test_fingerprint_ignores_thresholds() -> None:
    assert rule_set_fingerprint(config({"threshold": {"default": 0.5}})) == rule_set_fingerprint(
        config()
    )


def test_rule_set_description_names_libraries() -> None:
    description = rule_set_description(config())
    assert set(description["libraries"]) == {
        "email-validator",
        "phonenumbers",
        "disposable-email-domains",
    }
    assert [r["name"] for r in description["rules"]] == [r.name for r in RULES]


def test_too_long_rule_version_rejected() -> None:
    with pytest.raises(ValueError, match="rule_version"):
        effective_rule_version(config({"rule_version": "x" * 20}))


def test_results_reproducible_under_shuffling() -> None:
    leads = [
        make_lead("L1", 0),
        make_lead("L2", 1, email="OPS.L1+x@brightfield.com"),
        make_lead("L3", 2, phone="12345", company="asdf"),
        make_lead("L4", 3, consent=None),
        make_lead("L5", 4, email="ops@mailinator.com", country="CN"),
    ]
    expected = {r.lead_id: r for r in validate_batch(leads, config(), {})}
    shuffled = leads[:]
    random.Random(7).shuffle(shuffled)
    again = {r.lead_id: r for r in validate_batch(shuffled, config(), {})}
    assert again == expected


def test_stored_record_revalidates_to_same_result() -> None:
    lead = make_lead(company="xxx", phone="000000")
    first = validate_batch([lead], config(), {})[0]
    copy = replace(lead)
    assert validate_batch([copy], config(), {})[0] == first
