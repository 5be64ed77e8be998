"""Validation at source: the compliance, truth and value rules every lead is checked against.

Each rule has a name ("truth.email_syntax"), a family (the part before the dot), the lead
fields it reads and a check. A lead passes when it passes every applicable rule. A rule is
not applicable (n/a) to a lead when:

- the rule is not configured for the lead's motion (for example no ICP industries), or
- the lead's source provides none of the rule's fields in the batch (a source provides a
  field when at least one of its leads has a non-blank value for it), or
- the lead's own value is blank and the rule does not require it (see `Rule.when_blank`).

Rules disabled for a source, source type or motion (`validation.disabled_rules`) do not
run and are listed nowhere. Every result carries the effective rule version: the configured
`rule_version` plus a fingerprint of the registered rules, their configuration and the
versions of the rule data libraries, so a pass rate names exactly the rule set it was
computed under.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from cadence_pipeline.governance.config import GovernanceConfig, IcpConfig, ValidationConfig
from cadence_pipeline.governance.contact_checks import ContactChecks
from cadence_pipeline.governance.normalise import (
    clean_text,
    email_key,
    is_blank,
    normalise_label,
)
from cadence_pipeline.governance.records import CONTACT_FIELDS, Lead

logger = logging.getLogger(__name__)

FAMILIES = ("compliance", "truth", "value")

# Outcomes for a lead whose value is blank while its source provides the field.
FAIL = "fail"
NOT_APPLICABLE = "not_applicable"
PASS = "pass"

# The stored rule version must fit lead_validation.rule_version (VARCHAR(32)).
MAX_RULE_VERSION_LENGTH = 32
FINGERPRINT_LENGTH = 12

# Packages whose data decides rule outcomes, so their versions enter the fingerprint.
RULE_DATA_PACKAGES = ("email-validator", "phonenumbers", "disposable-email-domains")

_WORD = re.compile(r"\w+")
_TRUE_TEXT = frozenset({"true", "yes", "y", "1", "t"})
_FALSE_TEXT = frozenset({"false", "no", "n", "0", "f"})


@dataclass(frozen=True)
class LeadFacts:
    """The normalised values of one lead that the rules read."""

    email: str | None
    email_local: str | None
    email_domain: str | None
    email_key: str | None
    country_code: str | None
    # Contact fields with a non-blank value on this lead.
    present_fields: frozenset[str] = frozenset()


@dataclass(frozen=True)
class RuleContext:
    """Inputs of a rule check besides the lead: configuration, lookups and batch facts."""

    config: ValidationConfig
    icp: IcpConfig | None
    checks: ContactChecks
    facts: LeadFacts
    # lead_id of the first record with the same email key, when this lead is a later one.
    duplicate_of: str | None = None


RuleCheck = Callable[[Lead, RuleContext], bool | None]
ConfiguredTest = Callable[[ValidationConfig, IcpConfig | None], bool]


@dataclass(frozen=True)
class Rule:
    """One named validation rule.

    `fields` are the lead fields the rule reads. With `any_field` the rule applies to a
    source that provides any of them, else only to one that provides all. `when_blank` sets
    the outcome for a lead whose value is blank in a source that provides the field:
    FAIL (the value is required), NOT_APPLICABLE or PASS. A check returns True (pass),
    False (fail) or None (n/a for this lead). `configured` returns False where the rule's
    configuration is empty for the lead's motion, which makes the rule n/a.
    """

    name: str
    family: str
    fields: tuple[str, ...]
    check: RuleCheck
    description: str
    when_blank: str = NOT_APPLICABLE
    any_field: bool = False
    configured: ConfiguredTest | None = None

    def provided_by(self, provided_fields: set[str]) -> bool:
        """Return whether a source providing `provided_fields` gives this rule its data."""
        present = [name in provided_fields for name in self.fields]
        return any(present) if self.any_field else all(present)

    def lead_has_values(self, present_fields: frozenset[str]) -> bool:
        """Return whether a lead with values for `present_fields` carries the rule's data."""
        present = [name in present_fields for name in self.fields]
        return any(present) if self.any_field else all(present)


_REGISTRY: dict[str, Rule] = {}


def rule(
    name: str,
    *,
    fields: Iterable[str],
    when_blank: str = NOT_APPLICABLE,
    any_field: bool = False,
    configured: ConfiguredTest | None = None,
) -> Callable[[RuleCheck], RuleCheck]:
    """Register the decorated check as rule `name`, described by its docstring's first line."""
    family = name.split(".", 1)[0]
    if family not in FAMILIES or "." not in name:
        raise ValueError(f"rule name {name!r} must be '<family>.<rule>' with family in {FAMILIES}")
    field_names = tuple(fields)
    unknown = [f for f in field_names if f not in CONTACT_FIELDS]
    if unknown:
        raise ValueError(f"rule {name!r} reads {unknown}, which are not in CONTACT_FIELDS")
    if when_blank not in (FAIL, NOT_APPLICABLE, PASS):
        raise ValueError(f"rule {name!r}: when_blank must be FAIL, NOT_APPLICABLE or PASS")
    if name in _REGISTRY:
        raise ValueError(f"rule {name!r} is registered twice")

    def register(check: RuleCheck) -> RuleCheck:
        doc = (check.__doc__ or "").strip()
        if not doc:
            raise ValueError(f"rule {name!r} needs a docstring: its first line describes the rule")
        description = doc.splitlines()[0]
        _REGISTRY[name] = Rule(
            name=name,
            family=family,
            fields=field_names,
            check=check,
            description=description,
            when_blank=when_blank,
            any_field=any_field,
            configured=configured,
        )
        return check

    return register


def _as_bool(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    text = clean_text(str(value)).lower()
    if text in _TRUE_TEXT:
        return True
    if text in _FALSE_TEXT:
        return False
    return None


# Compliance ---------------------------------------------------------------------------------


@rule("compliance.consent", fields=["consent"], when_blank=FAIL)
def _consent(lead: Lead, context: RuleContext) -> bool:
    """Pass when marketing consent is recorded as given (a blank or unreadable flag fails)."""
    return _as_bool(lead.consent) is True


@rule("compliance.email_opt_out", fields=["email_opt_out"], when_blank=PASS)
def _email_opt_out(lead: Lead, context: RuleContext) -> bool:
    """Pass when the lead has not opted out of email, so it can be routed."""
    return _as_bool(lead.email_opt_out) is False


@rule(
    "compliance.country_allowed",
    fields=["country"],
    configured=lambda config, icp: bool(config.allowed_countries),
)
def _country_allowed(lead: Lead, context: RuleContext) -> bool:
    """Pass when the country is recognised and in `allowed_countries`."""
    return context.checks.country_allowed(context.facts.country_code)


@rule("compliance.privacy_fields", fields=["email", "phone"], any_field=True)
def _privacy_fields(lead: Lead, context: RuleContext) -> bool:
    """Pass when a lead with an email or phone has every `required_privacy_fields` value."""
    present = context.facts.present_fields
    return all(name in present for name in context.config.required_privacy_fields)


# Truth --------------------------------------------------------------------------------------


@rule("truth.email_syntax", fields=["email"], when_blank=FAIL)
def _email_syntax(lead: Lead, context: RuleContext) -> bool:
    """Pass when the email address is well-formed (email-validator, no network lookup)."""
    return context.facts.email is not None and context.checks.email_syntax_ok(context.facts.email)


@rule("truth.email_domain", fields=["email"])
def _email_domain(lead: Lead, context: RuleContext) -> bool | None:
    """Pass when the email domain has a public form: a dot, a letter TLD, no special use."""
    if context.facts.email_domain is None:
        return None
    return context.checks.email_domain_ok(context.facts.email_domain)


@rule("truth.disposable_domain", fields=["email"])
def _disposable_domain(lead: Lead, context: RuleContext) -> bool | None:
    """Pass when the email domain is not a disposable-mail domain."""
    if context.facts.email_domain is None:
        return None
    return not context.checks.is_disposable(context.facts.email_domain)


@rule("truth.phone", fields=["phone"])
def _phone(lead: Lead, context: RuleContext) -> bool:
    """Pass when the phone number parses and is valid for the lead's country or default region."""
    return context.checks.phone_ok(clean_text(str(lead.phone)), context.facts.country_code)


@rule("truth.placeholder", fields=["company", "title", "email"], any_field=True)
def _placeholder(lead: Lead, context: RuleContext) -> bool:
    """Pass when company, title and email local part are no placeholder or keyboard mash."""
    present = context.facts.present_fields
    for name in ("company", "title"):
        if name in present and context.checks.is_placeholder(str(getattr(lead, name))):
            return False
    local = context.facts.email_local
    return not (local and context.checks.is_placeholder_local_part(local))


@rule("truth.duplicate", fields=["email"])
def _duplicate(lead: Lead, context: RuleContext) -> bool | None:
    """Pass when no earlier lead has the same normalised email (a later record points at it)."""
    if context.facts.email_key is None:
        return None
    return context.duplicate_of is None


# Value --------------------------------------------------------------------------------------


@rule(
    "value.business_domain",
    fields=["email"],
    configured=lambda config, icp: icp is not None and icp.require_business_domain,
)
def _business_domain(lead: Lead, context: RuleContext) -> bool | None:
    """Pass when the email domain is not a free-mail domain."""
    if context.facts.email_domain is None:
        return None
    return not context.checks.is_free_mail(context.facts.email_domain)


@rule(
    "value.industry",
    fields=["industry"],
    when_blank=FAIL,
    configured=lambda config, icp: icp is not None and bool(icp.industries),
)
def _industry(lead: Lead, context: RuleContext) -> bool:
    """Pass when the industry is one of the motion's ICP industries."""
    assert context.icp is not None
    wanted = {tuple(_words(value)) for value in context.icp.industries}
    return tuple(_words(lead.industry)) in wanted


@rule(
    "value.company_size",
    fields=["employees"],
    when_blank=FAIL,
    configured=lambda config, icp: icp is not None and icp.min_employees is not None,
)
def _company_size(lead: Lead, context: RuleContext) -> bool:
    """Pass when the company has at least the motion's ICP `min_employees`."""
    assert context.icp is not None and context.icp.min_employees is not None
    employees = _as_int(lead.employees)
    return employees is not None and employees >= context.icp.min_employees


@rule(
    "value.role",
    fields=["title"],
    when_blank=FAIL,
    configured=lambda config, icp: icp is not None and bool(icp.roles),
)
def _role(lead: Lead, context: RuleContext) -> bool:
    """Pass when the job title contains one of the motion's ICP roles as whole words."""
    assert context.icp is not None
    title_words = _words(lead.title)
    return any(_contains_words(title_words, _words(role)) for role in context.icp.roles)


def _as_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    text = clean_text(str(value)).replace(",", "").replace("_", "").replace(" ", "")
    return int(text) if text.isdigit() else None


def _words(value: object) -> list[str]:
    # Words of a normalised label, without punctuation: "VP, Marketing" -> ["vp", "marketing"].
    return _WORD.findall(normalise_label(value))


def _contains_words(words: list[str], phrase: list[str]) -> bool:
    if not phrase:
        return False
    width = len(phrase)
    return any(words[i : i + width] == phrase for i in range(len(words) - width + 1))


# Every registered rule, in registration order (compliance, truth, value).
RULES: tuple[Rule, ...] = tuple(_REGISTRY.values())
RULES_BY_NAME: dict[str, Rule] = dict(_REGISTRY)


@dataclass(frozen=True)
class ValidationResult:
    """The validation outcome of one lead.

    `passed` is None when no rule applied. `failed_rules` and `not_applicable_rules` are
    sorted rule names. `duplicate_of` is set exactly when truth.duplicate failed.
    """

    lead_id: str
    source: str
    passed: bool | None
    failed_rules: list[str] = field(default_factory=list)
    not_applicable_rules: list[str] = field(default_factory=list)
    duplicate_of: str | None = None
    email_key: str | None = None
    rule_version: str = ""


def rule_set_description(config: GovernanceConfig) -> dict[str, Any]:
    """Return everything that decides rule outcomes, as JSON-ready data.

    The definition register can store it next to the effective rule version, so the
    version can be traced back to the rules, settings and library versions that ran.
    """
    rules = config.validation
    return {
        "rule_version": rules.rule_version,
        "rules": [
            {"name": r.name, "fields": list(r.fields), "when_blank": r.when_blank} for r in RULES
        ],
        "settings": {
            "allowed_countries": sorted(code.strip().upper() for code in rules.allowed_countries),
            "default_phone_region": rules.default_phone_region,
            "placeholder_values": sorted(rules.placeholder_values),
            "free_email_domains": sorted(d.lower() for d in rules.free_email_domains),
            "extra_disposable_domains": sorted(d.lower() for d in rules.extra_disposable_domains),
            "country_aliases": dict(sorted(rules.country_aliases.items())),
            "required_privacy_fields": sorted(rules.required_privacy_fields),
            "icp": {motion: icp.model_dump() for motion, icp in sorted(rules.icp.items())},
            "disabled_rules": _sorted_scopes(rules.disabled_rules.model_dump()),
        },
        "libraries": {name: _package_version(name) for name in RULE_DATA_PACKAGES},
    }


def _sorted_scopes(scoped: dict[str, Any]) -> dict[str, Any]:
    # Rule lists are sets in meaning, so their order must not change the fingerprint.
    return {
        "default": sorted(scoped["default"]),
        **{
            scope: {key: sorted(names) for key, names in sorted(scoped[scope].items())}
            for scope in ("motions", "source_types", "sources")
        },
    }


def _package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"


def rule_set_fingerprint(config: GovernanceConfig) -> str:
    """Return a short SHA-256 prefix of `rule_set_description`, so any change there changes it."""
    text = json.dumps(rule_set_description(config), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:FINGERPRINT_LENGTH]


def effective_rule_version(config: GovernanceConfig) -> str:
    """Return the version stored with each result: "<rule_version>+<fingerprint>"."""
    version = f"{config.validation.rule_version}+{rule_set_fingerprint(config)}"
    if len(version) > MAX_RULE_VERSION_LENGTH:
        raise ValueError(
            f"validation.rule_version {config.validation.rule_version!r} is too long: with its "
            f"fingerprint it must fit {MAX_RULE_VERSION_LENGTH} characters, so keep it to "
            f"{MAX_RULE_VERSION_LENGTH - FINGERPRINT_LENGTH - 1}"
        )
    return version


def check_rule_config(config: ValidationConfig) -> None:
    """Raise ValueError when the configuration names unknown rules or lead fields."""
    scoped = config.disabled_rules
    named = set(scoped.default)
    for overrides in (scoped.motions, scoped.source_types, scoped.sources):
        for names in overrides.values():
            named.update(names)
    unknown = sorted(named - set(RULES_BY_NAME))
    if unknown:
        raise ValueError(
            f"validation.disabled_rules names unknown rules {unknown}; "
            f"known rules: {', '.join(sorted(RULES_BY_NAME))}"
        )
    bad_fields = sorted(set(config.required_privacy_fields) - set(CONTACT_FIELDS))
    if bad_fields:
        raise ValueError(
            f"validation.required_privacy_fields names {bad_fields}, which are not lead "
            f"contact fields; use any of {', '.join(CONTACT_FIELDS)}"
        )


def provided_fields_by_source(
    leads: Iterable[Lead], facts: Mapping[str, LeadFacts]
) -> dict[str, set[str]]:
    """Return, per source, the contact fields at least one of its leads has a value for."""
    provided: dict[str, set[str]] = {}
    for lead in leads:
        provided.setdefault(lead.source, set()).update(facts[lead.lead_id].present_fields)
    return provided


def find_duplicates(
    leads: Sequence[Lead], keys: Mapping[str, str | None], known_email_keys: Mapping[str, str]
) -> dict[str, str]:
    """Return lead_id -> lead_id of the first record with the same email key.

    Earlier weeks (`known_email_keys`, email key -> first lead_id) come first. Within the
    batch the first record by (created_at, lead_id) wins, so the result does not depend on
    the order the leads arrive in. A lead never duplicates itself.
    """
    first_by_key: dict[str, str] = {}
    duplicates: dict[str, str] = {}
    for lead in sorted(leads, key=lambda item: (item.created_at, item.lead_id)):
        key = keys.get(lead.lead_id)
        if key is None:
            continue
        first = known_email_keys.get(key) or first_by_key.get(key)
        if first is None:
            first_by_key[key] = lead.lead_id
        elif first != lead.lead_id:
            duplicates[lead.lead_id] = first
    return duplicates


def _lead_facts(lead: Lead, checks: ContactChecks) -> LeadFacts:
    email = None if is_blank(lead.email) else clean_text(str(lead.email))
    local = domain = None
    if email is not None:
        head, separator, tail = email.rpartition("@")
        if separator and head and tail:
            local, domain = head, tail.lower().rstrip(".")
    country = None if is_blank(lead.country) else checks.country_code(lead.country)
    return LeadFacts(
        email=email,
        email_local=local,
        email_domain=domain or None,
        email_key=email_key(email),
        country_code=country,
        present_fields=frozenset(
            name for name in CONTACT_FIELDS if not is_blank(getattr(lead, name))
        ),
    )


def _contact_checks(config: ValidationConfig) -> ContactChecks:
    return ContactChecks(
        country_aliases=config.country_aliases,
        extra_disposable_domains=config.extra_disposable_domains,
        free_email_domains=config.free_email_domains,
        placeholder_values=config.placeholder_values,
        default_phone_region=config.default_phone_region,
        allowed_countries=config.allowed_countries,
    )


def _enabled_rules(
    config: GovernanceConfig, lead: Lead, cache: dict[tuple[str, str, str], tuple[Rule, ...]]
) -> tuple[Rule, ...]:
    source_type = lead.source_type or config.source_type(lead.source)
    scope = (lead.source, source_type, lead.motion)
    enabled = cache.get(scope)
    if enabled is None:
        disabled = set(config.validation.disabled_rules.resolve(*scope))
        enabled = tuple(r for r in RULES if r.name not in disabled)
        cache[scope] = enabled
    return enabled


def _apply_rule(current: Rule, lead: Lead, context: RuleContext, provided: set[str]) -> bool | None:
    """Return the outcome of one rule on one lead: True, False, or None for n/a."""
    if current.configured is not None and not current.configured(context.config, context.icp):
        return None
    if not current.provided_by(provided):
        return None
    if not current.lead_has_values(context.facts.present_fields):
        if current.when_blank == FAIL:
            return False
        if current.when_blank == PASS:
            return True
        return None
    return current.check(lead, context)


def validate_batch(
    leads: Sequence[Lead], config: GovernanceConfig, known_email_keys: Mapping[str, str]
) -> list[ValidationResult]:
    """Validate a batch of leads (usually one week) and return one result per lead, in order.

    `known_email_keys` maps the email key of each lead from earlier weeks to the lead_id of
    its first record. Which fields a source provides is judged within this batch.
    Raises ValueError when the configuration names unknown rules, fields or regions.
    """
    rules_config = config.validation
    check_rule_config(rules_config)
    version = effective_rule_version(config)
    checks = _contact_checks(rules_config)

    facts = {lead.lead_id: _lead_facts(lead, checks) for lead in leads}
    provided = provided_fields_by_source(leads, facts)
    duplicates = find_duplicates(
        leads, {lead_id: f.email_key for lead_id, f in facts.items()}, known_email_keys
    )

    scope_cache: dict[tuple[str, str, str], tuple[Rule, ...]] = {}
    failures: Counter[str] = Counter()
    results = []
    for lead in leads:
        lead_facts = facts[lead.lead_id]
        context = RuleContext(
            config=rules_config,
            icp=rules_config.icp.get(lead.motion),
            checks=checks,
            facts=lead_facts,
            duplicate_of=duplicates.get(lead.lead_id),
        )
        failed: list[str] = []
        not_applicable: list[str] = []
        enabled = _enabled_rules(config, lead, scope_cache)
        for current in enabled:
            outcome = _apply_rule(current, lead, context, provided[lead.source])
            if outcome is None:
                not_applicable.append(current.name)
            elif not outcome:
                failed.append(current.name)
        applied = len(not_applicable) < len(enabled)
        failures.update(failed)
        results.append(
            ValidationResult(
                lead_id=lead.lead_id,
                source=lead.source,
                passed=(not failed) if applied else None,
                failed_rules=sorted(failed),
                not_applicable_rules=sorted(not_applicable),
                duplicate_of=context.duplicate_of if "truth.duplicate" in failed else None,
                email_key=lead_facts.email_key,
                rule_version=version,
            )
        )

    evaluated = sum(1 for r in results if r.passed is not None)
    passed = sum(1 for r in results if r.passed)
    logger.info(
        "validated %d leads under rule version %s: %d evaluated, %d passed",
        len(results),
        version,
        evaluated,
        passed,
    )
    if failures:
        logger.debug("failures by rule: %s", dict(sorted(failures.items())))
    return results
