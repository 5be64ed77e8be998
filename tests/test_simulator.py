"""The simulator: determinism, the as-of cut, realistic contacts and the scenarios in raw records.

Rules are checked here by an independent reading of the raw fixture records (email syntax
with email-validator, disposable domains, consent, opt-out, country, phone, placeholders,
free mail, company size, duplicates), not through cadence's own validation code.
"""

from __future__ import annotations

import csv
import dataclasses
import itertools
import json
import math
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import phonenumbers
import pytest
import yaml
from disposable_email_domains import blocklist as disposable_domains
from email_validator import EmailNotValidError, validate_email

from cadence_pipeline.governance.config import load_config
from cadence_pipeline.governance.weeks import shift_week, week_key
from cadence_pipeline.simulator import (
    CohortLaunchSpec,
    SignalClassSpec,
    SourceSpec,
    StageSpec,
    default_spec,
    generate,
)

AS_OF = datetime(2026, 11, 30, tzinfo=UTC)  # a Monday: sixteen complete weeks
MID_WEEK = datetime(2026, 11, 25, 14, 30, tzinfo=UTC)  # a Wednesday: the last week is partial
CONFIG = load_config()
SF_FIELDS = CONFIG.connectors["salesforce"]["fields"]
HS_FIELDS = CONFIG.connectors["hubspot"]["fields"]


def _instant(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("+0000", "+00:00").replace("Z", "+00:00"))


def _bool(value: object) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    return str(value).lower() == "true"


def load_leads(root: Path) -> list[dict]:
    """Read every fixture record into one dict per lead, keyed by lead field name."""
    leads = []
    for line in (root / "salesforce" / "Lead.jsonl").read_text().splitlines():
        record = json.loads(line)
        lead = {field: record.get(api) for field, api in SF_FIELDS.items()}
        lead["crm"] = "salesforce"
        leads.append(lead)
    for line in (root / "hubspot" / "contacts.jsonl").read_text().splitlines():
        record = json.loads(line)
        lead = {field: record["properties"].get(api) for field, api in HS_FIELDS.items()}
        lead["crm"] = "hubspot"
        leads.append(lead)
    for lead in leads:
        for key in (
            "created_at",
            "signal_at",
            "mql_at",
            "mql_rejected_at",
            "sal_at",
            "sal_rejected_at",
            "won_at",
        ):
            lead[key] = _instant(lead[key])
        lead["consent"] = _bool(lead["consent"])
        lead["email_opt_out"] = _bool(lead["email_opt_out"])
        lead["employees"] = int(lead["employees"]) if lead["employees"] else None
    for folder in sorted((root / "partner_files").glob("*")):
        description = yaml.safe_load((folder / "partner.yaml").read_text())
        zone = ZoneInfo(description["timezone"])
        for path in sorted(folder.glob("*.csv")):
            with path.open(encoding=description["encoding"], newline="") as handle:
                for row in csv.DictReader(handle, delimiter=description["delimiter"]):
                    lead = {
                        field: row[column] or None
                        for field, column in description["columns"].items()
                    }
                    local = datetime.strptime(lead["created_at"], description["datetime_format"])
                    lead["created_at"] = local.replace(tzinfo=zone).astimezone(UTC)
                    lead["consent"] = _bool(lead["consent"])
                    lead["email_opt_out"] = _bool(lead["email_opt_out"])
                    lead["employees"] = int(lead["employees"]) if lead["employees"] else None
                    lead.update(
                        crm="partner_files",
                        source=description["source"],
                        motion=description["motion"],
                        file=path.name,
                    )
                    for field in SF_FIELDS:
                        lead.setdefault(field, None)
                    leads.append(lead)
    return leads


def _normalised_email(email: str) -> str:
    local, _, domain = email.lower().partition("@")
    return f"{local.split('+')[0]}@{domain}"


def rule_failures(leads: list[dict]) -> dict[int, list[str]]:
    """Return the rules each lead breaks (by index), read from the raw fields alone."""
    validation = CONFIG.validation
    allowed = set(validation.allowed_countries)
    placeholders = {value.lower() for value in validation.placeholder_values}
    free_mail = set(validation.free_email_domains)
    seen: set[str] = set()
    failures: dict[int, list[str]] = {}
    order = sorted(range(len(leads)), key=lambda i: leads[i]["created_at"])
    for index in order:
        lead = leads[index]
        broken = []
        email = lead.get("email")
        domain = email.rpartition("@")[2].lower() if email else ""
        if email:
            try:
                validate_email(email, check_deliverability=False)
            except EmailNotValidError:
                broken.append("email_syntax")
            if domain in disposable_domains:
                broken.append("disposable")
            normalised = _normalised_email(email)
            if normalised in seen:
                broken.append("duplicate")
            seen.add(normalised)
            if lead["motion"] == "b2b" and domain in free_mail:
                broken.append("free_mail")
        if lead.get("consent") is False:
            broken.append("consent")
        if lead.get("email_opt_out") is True:
            broken.append("opt_out")
        if lead.get("country") and lead["country"] not in allowed:
            broken.append("country")
        if lead.get("phone"):
            try:
                number = phonenumbers.parse(lead["phone"], lead.get("country") or "US")
                if not phonenumbers.is_valid_number(number):
                    broken.append("phone")
            except phonenumbers.NumberParseException:
                broken.append("phone")
        for field in ("company", "title"):
            if lead.get(field) and lead[field].strip().lower() in placeholders:
                broken.append("placeholder")
        if lead["motion"] == "b2b" and lead.get("employees") is not None and lead["employees"] < 10:
            broken.append("company_size")
        failures[index] = broken
    return failures


@pytest.fixture(scope="module")
def default_run(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("simulated")
    started = time.perf_counter()
    summary = generate(root, as_of=AS_OF)
    elapsed = time.perf_counter() - started
    leads = load_leads(root)
    return root, summary, leads, rule_failures(leads), elapsed


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_same_seed_writes_same_files(tmp_path: Path) -> None:
    generate(tmp_path / "a", as_of=AS_OF, seed=11)
    generate(tmp_path / "b", as_of=AS_OF, seed=11)
    generate(tmp_path / "c", as_of=AS_OF, seed=12)
    first = _files(tmp_path / "a")
    assert first == _files(tmp_path / "b")
    assert first["salesforce/Lead.jsonl"] != _files(tmp_path / "c")["salesforce/Lead.jsonl"]


def test_default_span_and_volume(default_run) -> None:
    _, summary, leads, _, _ = default_run
    span = summary.span()
    assert span.first_week == "2026-08-10"
    assert span.last_week == "2026-11-23"
    assert not span.partial_last_week
    assert len(summary.reviewed_weeks) == 12
    assert summary.reviewed_weeks[0] == "2026-09-07"
    per_week = Counter(week_key(lead["created_at"]) for lead in leads)
    assert min(per_week.values()) > 700
    lead_in = [shift_week(span.first_week, -offset) for offset in range(8, 0, -1)]
    assert set(per_week) == set(lead_in + span.weeks)


def test_no_date_after_as_of(tmp_path: Path) -> None:
    summary = generate(tmp_path, as_of=MID_WEEK, weeks=16)
    leads = load_leads(tmp_path)
    latest = max(value for lead in leads for value in lead.values() if isinstance(value, datetime))
    assert latest < MID_WEEK
    assert summary.last_record == latest
    assert summary.span().partial_last_week
    assert summary.span().last_week == "2026-11-23"
    assert summary.last_complete_week == "2026-11-16"


def test_record_formats(default_run) -> None:
    root, _, _, _, _ = default_run
    sf_line = json.loads((root / "salesforce" / "Lead.jsonl").read_text().splitlines()[0])
    hs_line = json.loads((root / "hubspot" / "contacts.jsonl").read_text().splitlines()[0])
    assert len(sf_line["Id"]) == 18
    assert sf_line["Id"].startswith("00Q")
    assert sf_line["CreatedDate"].endswith("+0000")
    assert sf_line["Motion__c"] == "b2b"
    assert hs_line["id"].isdigit()
    assert hs_line["createdAt"].endswith("Z")
    assert all(value is None or isinstance(value, str) for value in hs_line["properties"].values())
    assert hs_line["properties"]["motion"] == "b2c"


def test_established_sources_pass_near_standard(default_run) -> None:
    _, summary, leads, failures, _ = default_run
    partner = summary.partner.source_id
    by_source: dict[str, list[bool]] = defaultdict(list)
    for index, lead in enumerate(leads):
        if lead["source"] != partner:
            by_source[lead["source"]].append(not failures[index])
    assert len(by_source) == 9
    for source, outcomes in by_source.items():
        rate = sum(outcomes) / len(outcomes)
        assert 0.86 <= rate <= 0.98, f"{source}: pass rate {rate:.3f}"


def test_clean_contacts_parse(default_run) -> None:
    _, _, leads, failures, _ = default_run
    clean = [lead for index, lead in enumerate(leads) if not failures[index]]
    assert len(clean) > 10_000
    for lead in clean[:500]:
        validate_email(lead["email"], check_deliverability=False)
        number = phonenumbers.parse(lead["phone"], lead["country"])
        assert phonenumbers.is_valid_number(number), lead["phone"]


def test_partner_launch_fails_rules(default_run) -> None:
    _, summary, leads, failures, _ = default_run
    facts = summary.partner
    assert facts is not None
    assert facts.source_id == "brightreach_syndication"
    assert facts.owner == "revops_lead"
    assert facts.first_week in summary.reviewed_weeks[5:8]
    window_end = facts.first_delivery_at + timedelta(hours=72)
    launch = [
        i
        for i, lead in enumerate(leads)
        if lead["source"] == facts.source_id and lead["created_at"] < window_end
    ]
    assert len(launch) >= 50
    failing = sum(bool(failures[i]) for i in launch) / len(launch)
    assert failing == pytest.approx(0.59, abs=0.06)


def test_partner_absent_before_launch_then_paused(default_run) -> None:
    _, summary, leads, _, _ = default_run
    facts = summary.partner
    partner_times = sorted(
        lead["created_at"] for lead in leads if lead["source"] == facts.source_id
    )
    assert partner_times[0] == facts.first_delivery_at
    assert week_key(partner_times[0]) != summary.first_week
    gaps = [later - earlier for earlier, later in itertools.pairwise(partner_times)]
    assert max(gaps) >= timedelta(days=6)


def test_partner_recovers_to_87_percent(default_run) -> None:
    _, summary, leads, failures, _ = default_run
    facts = summary.partner
    recovered_from = facts.resumed_at + timedelta(days=14)
    late = [
        i
        for i, lead in enumerate(leads)
        if lead["source"] == facts.source_id and lead["created_at"] >= recovered_from
    ]
    assert len(late) >= 50
    passing = sum(not failures[i] for i in late) / len(late)
    assert passing == pytest.approx(0.87, abs=0.06)


def _expected_at_age(rate: float, ages_days: list[float]) -> float:
    """Model rate at each signal's age: exponential (mean 4 days) truncated at 14 days."""
    closed = 1 - math.exp(-14 / 4)
    return sum(rate * (1 - math.exp(-min(age, 14) / 4)) / closed for age in ages_days) / len(
        ages_days
    )


def _qualification_ratio(leads: list[dict], signal_class: str, week: str) -> tuple[int, float]:
    signals = [
        lead
        for lead in leads
        if lead["signal_class"] == signal_class and week_key(lead["created_at"]) == week
    ]
    qualified = sum(
        1
        for lead in signals
        if lead["mql_at"] is not None and lead["mql_at"] - lead["created_at"] <= timedelta(days=14)
    )
    ages = [(AS_OF - lead["created_at"]).total_seconds() / 86400 for lead in signals]
    expected = _expected_at_age(0.15, ages)
    return len(signals), (qualified / len(signals)) / expected


def test_cohort_qualifies_below_model(default_run) -> None:
    _, summary, leads, _, _ = default_run
    cohort = summary.cohort
    assert cohort is not None
    assert cohort.motion == "b2c"
    assert cohort.go_live_week in (
        summary.last_complete_week,
        shift_week(summary.last_complete_week, -1),
    )
    count, ratio = _qualification_ratio(leads, cohort.signal_class, cohort.go_live_week)
    assert count >= 80
    assert ratio < 0.8
    assert ratio == pytest.approx(0.68, abs=0.12)
    earlier = [
        lead
        for lead in leads
        if lead["signal_class"] == cohort.signal_class
        and week_key(lead["created_at"]) < cohort.go_live_week
    ]
    assert earlier == []


def test_other_classes_near_model(default_run) -> None:
    _, summary, leads, _, _ = default_run
    week = summary.cohort.go_live_week
    for signal_class in ("trial_signup", "newsletter_engagement", "social_engagement"):
        _, ratio = _qualification_ratio(leads, signal_class, week)
        assert 0.8 < ratio < 1.2, f"{signal_class}: {ratio:.2f} of the model"


def test_weekly_volume_within_tolerance(default_run) -> None:
    _, summary, leads, _, _ = default_run
    counts = Counter(
        (week_key(lead["created_at"]), lead["motion"])
        for lead in leads
        if lead["crm"] != "partner_files"
    )
    weeks = summary.span().weeks
    for motion in ("b2b", "b2c"):
        series = [counts[(week, motion)] for week in weeks]
        for position in range(4, len(series)):
            trailing = sum(series[position - 4 : position]) / 4
            assert abs(series[position] / trailing - 1) < 0.15, (motion, weeks[position])


def test_rejection_codes_present(default_run) -> None:
    _, summary, leads, _, _ = default_run
    codes = Counter(lead["sal_rejection_code"] for lead in leads if lead["sal_rejection_code"])
    mql_codes = Counter(lead["mql_rejection_code"] for lead in leads if lead["mql_rejection_code"])
    assert set(CONFIG.handoffs.routes) <= set(codes) | set(mql_codes)
    assert summary.novel_codes == ("timing_not_right",)
    assert 1 <= codes["timing_not_right"] <= 3
    for lead in leads:
        if lead["sal_at"] or lead["sal_rejected_at"]:
            assert lead["mql_at"] is not None
            assert (lead["sal_at"] or lead["sal_rejected_at"]) >= lead["mql_at"]
        if lead["won_at"]:
            assert lead["sal_at"] is not None and lead["won_at"] >= lead["sal_at"]


def test_variant_spec(tmp_path: Path) -> None:
    base = default_spec()
    spec = dataclasses.replace(
        base,
        sources=(
            SourceSpec("events_berlin", "events", "b2b", 150, 0.93, {"booth_scan": 1.0}),
            SourceSpec("webform_trial", "form", "b2b", 200, 0.95, {"trial_request": 1.0}),
            SourceSpec("tiktok_ads", "paid_social", "b2c", 260, 0.9, {"video_view": 1.0}),
        ),
        signal_classes={
            "booth_scan": SignalClassSpec("b2b", 0.3),
            "trial_request": SignalClassSpec("b2b", 0.3),
            "video_view": SignalClassSpec("b2c", 0.2),
        },
        stages=StageSpec(
            mql_rejection_codes={"bad_fit": 1.0},
            sal_rejection_codes={"no_budget": 0.5, "timing": 0.5},
        ),
        partner=dataclasses.replace(
            base.partner,
            partner_id="leadmesh",
            source_id="leadmesh_partner",
            weeks_before_last_complete=3,
            launch_pass_rate=0.3,
        ),
        cohort=CohortLaunchSpec(
            signal_class="tiktok_lookalike",
            host_source="tiktok_ads",
            weeks_before_last_complete=0,
            weekly_signals=120,
            relative_rate=0.5,
        ),
        novel_codes=(),
    )
    summary = generate(tmp_path, as_of=AS_OF, weeks=10, seed=3, spec=spec)
    leads = load_leads(tmp_path)
    failures = rule_failures(leads)
    assert summary.span().first_week == "2026-09-21"
    assert summary.partner.source_id == "leadmesh_partner"
    assert (tmp_path / "partner_files" / "leadmesh" / "partner.yaml").is_file()
    assert summary.cohort.go_live_week == "2026-11-23"
    assert {lead["source"] for lead in leads} == {
        "events_berlin",
        "webform_trial",
        "tiktok_ads",
        "leadmesh_partner",
    }
    window_end = summary.partner.first_delivery_at + timedelta(hours=72)
    launch = [
        i
        for i, lead in enumerate(leads)
        if lead["source"] == "leadmesh_partner" and lead["created_at"] < window_end
    ]
    assert sum(bool(failures[i]) for i in launch) / len(launch) == pytest.approx(0.7, abs=0.06)
    codes = {lead["sal_rejection_code"] for lead in leads if lead["sal_rejection_code"]}
    assert codes == {"no_budget", "timing"}


def test_short_span_leaves_scenarios_out(tmp_path: Path) -> None:
    summary = generate(tmp_path, as_of=AS_OF, weeks=3)
    assert summary.partner is None
    assert summary.cohort is not None
    assert summary.counts["partner_files"] == 0


def test_invalid_spec_names_parameter(tmp_path: Path) -> None:
    spec = dataclasses.replace(
        default_spec(),
        sources=(SourceSpec("paid_search", "paid_search", "b2b", 10, 0.9, {"unknown": 1.0}),),
        cohort=None,
    )
    with pytest.raises(ValueError, match="signal class 'unknown'"):
        generate(tmp_path, as_of=AS_OF, spec=spec)
