"""Generate a seeded demand engine as API-native fixture records.

`generate` writes Salesforce leads (B2B), HubSpot contacts (B2C) and the daily CSV files of
the scenario partner, for `weeks` ISO weeks ending with the week holding `as_of`. Nothing
carries a date after `as_of`: stage changes that would happen later are left off, as a CRM
queried at `as_of` would show them.

Random draws within each group of leads (one source, one week, one signal class) are
stratified: n uniforms take one value from each of n equal slices of [0, 1). Counts in a
group then sit within one of their expected value, so weekly series stay near the model
and only the scenarios move the governance measures.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from cadence_pipeline.governance.records import Lead
from cadence_pipeline.governance.weeks import WeekSpan, shift_week, span_for, week_bounds, week_key
from cadence_pipeline.simulator.contacts import B2B_ONLY_KINDS, ContactFactory
from cadence_pipeline.simulator.fixtures import FixtureWriter, PartnerDelivery
from cadence_pipeline.simulator.spec import (
    CohortLaunchSpec,
    EngineSpec,
    PartnerRolloutSpec,
    SourceSpec,
    default_spec,
)

logger = logging.getLogger(__name__)

__all__ = ["SimulationSummary", "default_spec", "generate"]

_DAY = timedelta(days=1)
_PARTNER_COLUMNS = {
    "lead_id": "Lead Ref",
    "created_at": "Submitted",
    "email": "Email Address",
    "phone": "Phone Number",
    "country": "Country Code",
    "company": "Company Name",
    "industry": "Industry",
    "employees": "Company Size",
    "title": "Job Title",
    "consent": "Marketing Consent",
    "email_opt_out": "Email Opt Out",
}


@dataclass(frozen=True)
class SourceFacts:
    source_id: str
    crm: str
    source_type: str
    motion: str
    owner: str


@dataclass(frozen=True)
class PartnerFacts:
    """Placement of the validation-rollback partner in the generated data."""

    partner_id: str
    source_id: str
    source_type: str
    owner: str
    first_delivery_at: datetime
    first_week: str
    resumed_at: datetime
    leads_first_72h: int


@dataclass(frozen=True)
class CohortFacts:
    """Placement of the signal-noise-creep cohort in the generated data."""

    signal_class: str
    motion: str
    host_source: str
    go_live_week: str
    qualification_rate: float
    signals_first_week: int


@dataclass(frozen=True)
class SimulationSummary:
    """Result of `generate`: span, counts per CRM, sources and the scenario facts."""

    as_of: datetime
    seed: int
    weeks: int
    first_week: str
    last_week: str
    last_complete_week: str
    reviewed_weeks: tuple[str, ...]
    last_record: datetime
    counts: dict[str, int]
    sources: tuple[SourceFacts, ...]
    partner: PartnerFacts | None
    cohort: CohortFacts | None
    novel_codes: tuple[str, ...] = ()
    inflation_week: str | None = None

    def span(self, timezone: str = "UTC") -> WeekSpan:
        """Return the span of weeks the generated data covers, as `cadence demo` computes it."""
        return span_for(self.last_record, self.weeks, self.as_of, timezone)

    def source_config(self) -> dict[str, dict[str, str]]:
        """Return a governance `sources` block (type, motion, owner) for the generated sources."""
        return {
            facts.source_id: {
                "source_type": facts.source_type,
                "motion": facts.motion,
                "owner": facts.owner,
            }
            for facts in self.sources
        }

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _stratified(rng: np.random.Generator, n: int) -> np.ndarray:
    """Return n uniforms on [0, 1), one from each slice [i/n, (i+1)/n), in random order."""
    return (rng.permutation(n) + rng.random(n)) / max(n, 1)


def _categorical(rng: np.random.Generator, weights: Mapping[str, float], n: int) -> list[str]:
    """Draw n keys by weight with stratified uniforms, so counts match the weights closely."""
    keys = list(weights)
    cumulative = np.cumsum(np.array([weights[key] for key in keys], dtype=float))
    cumulative /= cumulative[-1]
    indexes = np.searchsorted(cumulative, _stratified(rng, n), side="right")
    return [keys[min(index, len(keys) - 1)] for index in indexes]


def _truncated_exponential(uniforms: np.ndarray, mean: float, limit: float) -> np.ndarray:
    """Map uniforms to an exponential with `mean`, truncated at `limit` (inverse CDF)."""
    mass = 1.0 - math.exp(-limit / mean)
    return -mean * np.log1p(-uniforms * mass)


@dataclass
class _Timeline:
    as_of: datetime
    first_week: str
    last_week: str
    last_complete_week: str
    weeks: list[str]
    lead_in: list[str]

    @classmethod
    def build(cls, as_of: datetime, weeks: int, lead_in_weeks: int = 0) -> _Timeline:
        last_week = week_key(as_of - timedelta(microseconds=1))
        _, last_end = week_bounds(last_week)
        last_complete = last_week if as_of >= last_end else shift_week(last_week, -1)
        first_week = shift_week(last_week, -(weeks - 1))
        keys = [shift_week(first_week, offset) for offset in range(weeks)]
        lead_in = [shift_week(first_week, -offset) for offset in range(lead_in_weeks, 0, -1)]
        return cls(as_of, first_week, last_week, last_complete, keys, lead_in)

    def monday(self, weeks_before_last_complete: int) -> datetime:
        start, _ = week_bounds(shift_week(self.last_complete_week, -weeks_before_last_complete))
        return start

    def contains(self, moment: datetime) -> bool:
        """True for instants from the first lead-in week up to the as-of instant."""
        first = self.lead_in[0] if self.lead_in else self.first_week
        return week_bounds(first)[0] <= moment < self.as_of


@dataclass
class _Draft:
    """A lead under construction, before stage dates are censored at the as-of instant."""

    lead: Lead
    week: str
    failure: str | None = None
    group: tuple[str, str, str] = ("", "", "")
    extra: dict[str, Any] = field(default_factory=dict)


class _Generator:
    def __init__(self, spec: EngineSpec, timeline: _Timeline, seed: int) -> None:
        self.spec = spec
        self.timeline = timeline
        self.rng = np.random.default_rng(seed)
        self.contacts = ContactFactory(self.rng, spec.accounts)
        self.sf_counter = 0
        self.hs_counter = 51_000_000
        self.cohort_start = (
            timeline.monday(spec.cohort.weeks_before_last_complete) if spec.cohort else None
        )
        self.inflation_start = (
            timeline.monday(spec.inflation.weeks_before_last_complete) if spec.inflation else None
        )

    # Identifiers -------------------------------------------------------------------------

    def _salesforce_id(self) -> str:
        """Return an 18-character Salesforce Lead id (prefix 00Q) with its case-check suffix."""
        self.sf_counter += 1
        body = "00Q5g00000" + np.base_repr(self.sf_counter, 36).rjust(5, "0").upper()
        suffix = ""
        for chunk in range(3):
            bits = sum(
                1 << i for i, char in enumerate(body[chunk * 5 : chunk * 5 + 5]) if char.isupper()
            )
            suffix += "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"[bits]
        return body + suffix

    def _hubspot_id(self) -> str:
        self.hs_counter += 1
        return str(self.hs_counter)

    # Volumes and timestamps ----------------------------------------------------------------

    def _seasonality(self, week: str) -> float:
        iso_week = date.fromisoformat(week).isocalendar().week
        phase = 2 * math.pi * (iso_week - self.spec.seasonal_peak_iso_week) / 52
        factor = 1 + self.spec.seasonal_amplitude * math.cos(phase)
        return factor * self.spec.seasonal_factors.get(iso_week, 1.0)

    def _weekly_count(self, base: float, week: str) -> int:
        noise = 1 + self.spec.volume_noise * (2 * self.rng.random() - 1)
        return max(0, round(base * self._seasonality(week) * noise))

    def _timestamps(self, week: str, motion: str, n: int) -> list[datetime]:
        start, _ = week_bounds(week)
        profile = self.spec.weekday_profile[motion]
        days = _categorical(self.rng, {str(day): profile[day] for day in range(7)}, n)
        first_hour, last_hour = self.spec.active_hours[motion]
        seconds = self.rng.uniform(first_hour * 3600, last_hour * 3600, n)
        moments = [
            start + timedelta(days=int(day), seconds=int(second))
            for day, second in zip(days, seconds, strict=True)
        ]
        return sorted(moments)

    # Leads of the established sources ------------------------------------------------------

    def source_leads(self, source: SourceSpec) -> list[_Draft]:
        drafts: list[_Draft] = []
        crm = self.spec.crm_by_motion[source.motion]
        failure_mix = {
            kind: weight
            for kind, weight in source.failure_mix.items()
            if source.motion == "b2b" or kind not in B2B_ONLY_KINDS
        }
        for week in self.timeline.lead_in + self.timeline.weeks:
            n = self._weekly_count(source.weekly_leads, week)
            moments = self._timestamps(week, source.motion, n)
            classes = self._classes_for(source, week, moments)
            passes = _stratified(self.rng, n) < source.pass_rate
            failures = iter(_categorical(self.rng, failure_mix, int((~passes).sum())))
            for moment, signal_class, passed in zip(moments, classes, passes, strict=True):
                failure = None if passed else next(failures)
                drafts.append(self._draft(source, crm, moment, signal_class, failure, week))
        return drafts

    def _classes_for(self, source: SourceSpec, week: str, moments: list[datetime]) -> list[str]:
        cohort = self.spec.cohort
        n = len(moments)
        classes = _categorical(self.rng, source.signal_classes, n)
        if cohort is None or cohort.host_source != source.source_id:
            return classes
        assert self.cohort_start is not None
        eligible = [i for i, moment in enumerate(moments) if moment >= self.cohort_start]
        if not eligible:
            return classes
        live_share = len(eligible) / n
        cohort_count = self._weekly_count(cohort.weekly_signals * live_share, week)
        chosen = self.rng.choice(eligible, size=min(cohort_count, len(eligible)), replace=False)
        for index in chosen:
            classes[int(index)] = cohort.signal_class
        return classes

    def _draft(
        self,
        source: SourceSpec | PartnerRolloutSpec,
        crm: str,
        moment: datetime,
        signal_class: str | None,
        failure: str | None,
        week: str,
    ) -> _Draft:
        contact = (
            self.contacts.b2b(failure) if source.motion == "b2b" else self.contacts.b2c(failure)
        )
        lead_id = self._hubspot_id() if crm == "hubspot" else self._salesforce_id()
        lead = Lead(
            lead_id=lead_id,
            crm=crm,
            source=source.source_id,
            motion=source.motion,
            created_at=moment,
            source_type=source.source_type,
            signal_class=signal_class,
            signal_at=moment if signal_class else None,
            **contact,
        )
        return _Draft(
            lead=lead,
            week=week,
            failure=failure,
            group=(source.source_id, week, signal_class or ""),
        )

    # Stages ---------------------------------------------------------------------------------

    def _qualification_rate(self, signal_class: str, motion: str) -> float:
        cohort = self.spec.cohort
        if cohort is not None and signal_class == cohort.signal_class:
            rates = [
                spec.qualification_rate
                for spec in self.spec.signal_classes.values()
                if spec.motion == motion
            ]
            return float(np.mean(rates)) * cohort.relative_rate
        return self.spec.signal_classes[signal_class].qualification_rate

    def _acceptance(self, motion: str, moment: datetime) -> tuple[float, dict[str, float], str]:
        """Return SAL acceptance rate, SAL rejection-code mix and definition version at `moment`."""
        stages = self.spec.stages
        acceptance = stages.sal_acceptance[motion]
        codes = dict(stages.sal_rejection_codes)
        version = stages.definition_version
        inflation = self.spec.inflation
        if inflation is None or inflation.motion != motion or moment < self.inflation_start:
            return acceptance, codes, version
        end, _ = week_bounds(self.timeline.last_complete_week)
        end += timedelta(days=7)
        progress = min(1.0, (moment - self.inflation_start) / (end - self.inflation_start))
        acceptance += (inflation.end_acceptance - acceptance) * progress
        start_share = codes.get(inflation.code, 0.0) / sum(codes.values())
        share = start_share + (inflation.end_code_share - start_share) * progress
        others = {code: weight for code, weight in codes.items() if code != inflation.code}
        scale = (1 - share) / sum(others.values())
        codes = {code: weight * scale for code, weight in others.items()}
        codes[inflation.code] = share
        return acceptance, codes, inflation.new_definition_version

    def add_stages(self, drafts: list[_Draft]) -> None:
        stages = self.spec.stages
        groups: dict[tuple[str, str, str], list[_Draft]] = defaultdict(list)
        for draft in drafts:
            if draft.lead.signal_class is not None:
                groups[draft.group].append(draft)
        # SAL and won decisions are drawn per motion and creation week, groups large enough
        # for stratification to keep weekly SAL and won counts close to their expectation.
        handoff_groups: dict[tuple[str, str], list[_Draft]] = defaultdict(list)
        for members in groups.values():
            first = members[0].lead
            assert first.signal_class is not None
            rate = self._qualification_rate(first.signal_class, first.motion)
            qualifies = _stratified(self.rng, len(members)) < rate
            qualified = [d for d, ok in zip(members, qualifies, strict=True) if ok]
            others = [d for d, ok in zip(members, qualifies, strict=True) if not ok]
            delays = _truncated_exponential(
                _stratified(self.rng, len(qualified)), stages.mean_days_to_mql, stages.window_days
            )
            for draft, delay in zip(qualified, delays, strict=True):
                draft.lead.mql_at = draft.lead.created_at + timedelta(days=float(delay))
            self._reject_before_mql(others)
            handoff_groups[(first.motion, members[0].week)].extend(qualified)
        for members in handoff_groups.values():
            self._decide_sal(sorted(members, key=lambda d: d.lead.created_at))

    def _reject_before_mql(self, drafts: list[_Draft]) -> None:
        stages = self.spec.stages
        rejected = [
            d
            for d, u in zip(drafts, _stratified(self.rng, len(drafts)), strict=True)
            if u < stages.mql_rejection_share
        ]
        codes = _categorical(self.rng, stages.mql_rejection_codes, len(rejected))
        delays = _stratified(self.rng, len(rejected)) * stages.max_days_to_mql_rejection
        for draft, code, delay in zip(rejected, codes, delays, strict=True):
            draft.lead.mql_rejected_at = draft.lead.created_at + timedelta(days=0.5 + float(delay))
            draft.lead.mql_rejection_code = code

    def _decide_sal(self, drafts: list[_Draft]) -> None:
        stages = self.spec.stages
        n = len(drafts)
        decisions = _stratified(self.rng, n)
        code_draws = self.rng.random(n)
        delays = _truncated_exponential(
            _stratified(self.rng, n), stages.mean_days_mql_to_sal, stages.max_days_mql_to_sal
        )
        accepted: list[_Draft] = []
        for draft, decision, code_draw, delay in zip(
            drafts, decisions, code_draws, delays, strict=True
        ):
            lead = draft.lead
            assert lead.mql_at is not None
            acceptance, codes, version = self._acceptance(lead.motion, lead.mql_at)
            lead.definition_version = version
            decided_at = lead.mql_at + timedelta(days=float(delay))
            if decision < acceptance:
                lead.sal_at = decided_at
                accepted.append(draft)
                continue
            keys = list(codes)
            cumulative = np.cumsum([codes[key] for key in keys]) / sum(codes.values())
            index = min(int(np.searchsorted(cumulative, code_draw, side="right")), len(keys) - 1)
            lead.sal_rejected_at = decided_at
            lead.sal_rejection_code = keys[index]
        self._decide_won(accepted)

    def _decide_won(self, drafts: list[_Draft]) -> None:
        stages = self.spec.stages
        if not drafts:
            return
        motion = drafts[0].lead.motion
        wins = _stratified(self.rng, len(drafts)) < stages.won_rate[motion]
        won = [d for d, ok in zip(drafts, wins, strict=True) if ok]
        delays = _truncated_exponential(
            _stratified(self.rng, len(won)),
            stages.mean_days_sal_to_won[motion],
            stages.max_days_sal_to_won,
        )
        for draft, delay in zip(won, delays, strict=True):
            assert draft.lead.sal_at is not None
            draft.lead.won_at = draft.lead.sal_at + timedelta(days=float(delay))

    def add_novel_codes(self, drafts: list[_Draft]) -> list[str]:
        """Relabel a few rejections in the configured weeks with codes that have no route."""
        used: list[str] = []
        for novel in self.spec.novel_codes:
            week = shift_week(self.timeline.last_complete_week, -novel.weeks_before_last_complete)
            start, end = week_bounds(week)
            attribute = f"{novel.stage}_rejected_at"
            candidates = [
                d
                for d in drafts
                if (moment := getattr(d.lead, attribute)) is not None and start <= moment < end
            ]
            if not candidates:
                logger.warning(
                    "no %s rejection in week %s to carry code %s", novel.stage, week, novel.code
                )
                continue
            chosen = self.rng.choice(
                len(candidates), size=min(novel.count, len(candidates)), replace=False
            )
            for index in chosen:
                setattr(candidates[int(index)].lead, f"{novel.stage}_rejection_code", novel.code)
            used.append(novel.code)
        return used

    # Scenario 1: the partner ------------------------------------------------------------------

    def partner_leads(self, partner: PartnerRolloutSpec) -> tuple[list[_Draft], PartnerFacts]:
        zone = ZoneInfo(partner.timezone)
        start = self.timeline.monday(partner.weeks_before_last_complete) + timedelta(
            days=partner.start_weekday, hours=partner.start_hour
        )
        launch_end = start + timedelta(hours=partner.launch_hours)
        resumed_at = launch_end + timedelta(days=partner.pause_days)
        failure_mix = {
            kind: weight
            for kind, weight in partner.launch_failure_mix.items()
            if partner.motion == "b2b" or kind not in B2B_ONLY_KINDS
        }
        drafts: list[_Draft] = []

        # Launch: leads spread evenly over the first launch_hours.
        launch_days = partner.launch_hours / 24
        launch_n = round(partner.launch_daily_leads * launch_days)
        launch_times = sorted(
            start + timedelta(hours=float(h))
            for h in _stratified(self.rng, launch_n) * partner.launch_hours
        )
        passes = _stratified(self.rng, launch_n) < partner.launch_pass_rate
        failures = iter(_categorical(self.rng, failure_mix, int((~passes).sum())))
        for moment, passed in zip(launch_times, passes, strict=True):
            drafts.append(self._partner_draft(partner, moment, None if passed else next(failures)))

        # Re-onboarded: daily deliveries from resumed_at until the as-of instant.
        day = 0
        while (day_start := resumed_at + day * _DAY) < self.timeline.as_of:
            progress = min(1.0, day / max(partner.recovery_days - 1, 1))
            rate = (
                partner.resume_pass_rate
                + (partner.recovered_pass_rate - partner.resume_pass_rate) * progress
            )
            noise = 1 + self.spec.volume_noise * (2 * self.rng.random() - 1)
            n = max(0, round(partner.resumed_daily_leads * noise))
            hours = _stratified(self.rng, n) * 11  # 11 hours of deliveries per day
            day_passes = _stratified(self.rng, n) < rate
            day_failures = iter(_categorical(self.rng, failure_mix, int((~day_passes).sum())))
            for hour, passed in zip(sorted(hours), day_passes, strict=True):
                moment = day_start + timedelta(hours=float(hour))
                failure = None if passed else next(day_failures)
                drafts.append(self._partner_draft(partner, moment, failure))
            day += 1

        # The partner CSV carries minutes only; truncate so the CSV and the facts agree.
        for draft in drafts:
            draft.lead.created_at = draft.lead.created_at.replace(second=0, microsecond=0)
            draft.extra["local_date"] = draft.lead.created_at.astimezone(zone).date()
        first_week = week_key(start)
        facts = PartnerFacts(
            partner_id=partner.partner_id,
            source_id=partner.source_id,
            source_type=partner.source_type,
            owner=partner.owner,
            first_delivery_at=min(d.lead.created_at for d in drafts),
            first_week=first_week,
            resumed_at=resumed_at,
            leads_first_72h=launch_n,
        )
        return drafts, facts

    def _partner_draft(
        self, partner: PartnerRolloutSpec, moment: datetime, failure: str | None
    ) -> _Draft:
        draft = self._draft(partner, "partner_files", moment, None, failure, week_key(moment))
        draft.lead.lead_id = f"{partner.partner_id.upper()[:3]}-{self.sf_counter:07d}"
        return draft


def _censor(lead: Lead, as_of: datetime) -> None:
    """Remove stage dates after `as_of`; a later stage is after an earlier one, so it goes too."""
    for name in ("mql", "sal", "won", "mql_rejected", "sal_rejected"):
        moment = getattr(lead, f"{name}_at")
        if moment is not None and moment >= as_of:
            setattr(lead, f"{name}_at", None)
            if name.endswith("rejected"):
                setattr(lead, f"{name.removesuffix('_rejected')}_rejection_code", None)
    if lead.mql_at is None:
        lead.sal_at = lead.sal_rejected_at = lead.won_at = None
        lead.sal_rejection_code = None
        lead.definition_version = None
    if lead.sal_at is None:
        lead.won_at = None


def _partner_description(partner: PartnerRolloutSpec) -> dict[str, Any]:
    return {
        "source": partner.source_id,
        "source_type": partner.source_type,
        "motion": partner.motion,
        "owner": partner.owner,
        "encoding": partner.encoding,
        "delimiter": partner.delimiter,
        "timezone": partner.timezone,
        "datetime_format": partner.datetime_format,
        "columns": dict(_PARTNER_COLUMNS),
    }


def _partner_row(lead: Lead, partner: PartnerRolloutSpec) -> dict[str, str]:
    zone = ZoneInfo(partner.timezone)
    row: dict[str, str] = {}
    for attribute, column in _PARTNER_COLUMNS.items():
        value = getattr(lead, attribute)
        if isinstance(value, datetime):
            text = value.astimezone(zone).strftime(partner.datetime_format)
        elif isinstance(value, bool):
            text = "true" if value else "false"
        elif value is None:
            text = ""
        else:
            text = str(value)
        row[column] = text
    return row


def _partner_deliveries(drafts: list[_Draft], partner: PartnerRolloutSpec) -> list[PartnerDelivery]:
    by_day: dict[date, list[dict[str, str]]] = defaultdict(list)
    for draft in sorted(drafts, key=lambda d: d.lead.created_at):
        by_day[draft.extra["local_date"]].append(_partner_row(draft.lead, partner))
    return [
        PartnerDelivery(f"{partner.partner_id}_{day:%Y%m%d}.csv", rows)
        for day, rows in sorted(by_day.items())
    ]


def _cohort_facts(
    cohort: CohortLaunchSpec, drafts: list[_Draft], generator: _Generator, spec: EngineSpec
) -> CohortFacts:
    assert generator.cohort_start is not None
    go_live_week = week_key(generator.cohort_start)
    host = next(source for source in spec.sources if source.source_id == cohort.host_source)
    first_week = [
        d for d in drafts if d.lead.signal_class == cohort.signal_class and d.week == go_live_week
    ]
    return CohortFacts(
        signal_class=cohort.signal_class,
        motion=host.motion,
        host_source=cohort.host_source,
        go_live_week=go_live_week,
        qualification_rate=generator._qualification_rate(cohort.signal_class, host.motion),
        signals_first_week=len(first_week),
    )


def generate(
    fixtures_dir: Path,
    *,
    as_of: datetime,
    weeks: int = 16,
    seed: int = 7,
    spec: EngineSpec | None = None,
) -> SimulationSummary:
    """Write a simulated demand engine under `fixtures_dir` and return what was written.

    `as_of` is the CRM's "now" (an aware instant; naive values are read as UTC). The data
    covers `weeks` ISO weeks ending with the week holding `as_of`; the last
    `spec.reviewed_weeks` complete weeks are the reviewed weeks, the earlier ones warm-up.
    The same seed, as-of and spec always write the same files.
    """
    spec = spec or default_spec()
    spec.validate()
    if as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=UTC)
    as_of = as_of.astimezone(UTC)
    if weeks < 1:
        raise ValueError(f"weeks must be at least 1, got {weeks}")
    timeline = _Timeline.build(as_of, weeks, spec.lead_in_weeks)
    generator = _Generator(spec, timeline, seed)

    drafts: list[_Draft] = []
    for source in spec.sources:
        drafts.extend(generator.source_leads(source))
    drafts = [d for d in drafts if timeline.contains(d.lead.created_at)]
    drafts.sort(key=lambda d: d.lead.created_at)
    generator.add_stages(drafts)
    for draft in drafts:
        _censor(draft.lead, as_of)
    novel_codes = generator.add_novel_codes(drafts)

    partner_drafts: list[_Draft] = []
    partner_facts: PartnerFacts | None = None
    partner = spec.partner
    if partner is not None:
        start = timeline.monday(partner.weeks_before_last_complete)
        if start < week_bounds(shift_week(timeline.first_week, 1))[0]:
            logger.warning(
                "partner %s would start in or before the first week %s; %d weeks are too few "
                "for the validation-rollback scenario, so it is left out",
                partner.source_id,
                timeline.first_week,
                weeks,
            )
        else:
            partner_drafts, partner_facts = generator.partner_leads(partner)
            partner_drafts = [d for d in partner_drafts if timeline.contains(d.lead.created_at)]

    cohort_facts: CohortFacts | None = None
    if spec.cohort is not None:
        assert generator.cohort_start is not None
        if generator.cohort_start < week_bounds(timeline.first_week)[0]:
            logger.warning(
                "cohort %s would go live before the first week; it is left out",
                spec.cohort.signal_class,
            )
        else:
            cohort_facts = _cohort_facts(spec.cohort, drafts, generator, spec)

    writer = FixtureWriter(fixtures_dir)
    writer.reset()
    counts = {
        "salesforce": writer.write_salesforce(d.lead for d in drafts if d.lead.crm == "salesforce"),
        "hubspot": writer.write_hubspot(d.lead for d in drafts if d.lead.crm == "hubspot"),
        "partner_files": 0,
    }
    if partner is not None and partner_drafts:
        counts["partner_files"] = writer.write_partner(
            partner.partner_id,
            _partner_description(partner),
            _partner_deliveries(partner_drafts, partner),
        )

    all_leads = [d.lead for d in drafts + partner_drafts]
    last_record = max(_latest(lead) for lead in all_leads)
    reviewed_count = min(spec.reviewed_weeks, weeks)
    reviewed = tuple(
        shift_week(timeline.last_complete_week, -offset)
        for offset in reversed(range(reviewed_count))
    )
    reviewed = tuple(week for week in reviewed if week >= timeline.first_week)
    sources = [
        SourceFacts(s.source_id, spec.crm_by_motion[s.motion], s.source_type, s.motion, s.owner)
        for s in spec.sources
    ]
    if partner_facts is not None and partner is not None:
        sources.append(
            SourceFacts(
                partner.source_id,
                "partner_files",
                partner.source_type,
                partner.motion,
                partner.owner,
            )
        )
    summary = SimulationSummary(
        as_of=as_of,
        seed=seed,
        weeks=weeks,
        first_week=timeline.first_week,
        last_week=timeline.last_week,
        last_complete_week=timeline.last_complete_week,
        reviewed_weeks=reviewed,
        last_record=last_record,
        counts=counts,
        sources=tuple(sources),
        partner=partner_facts,
        cohort=cohort_facts,
        novel_codes=tuple(novel_codes),
        inflation_week=(week_key(generator.inflation_start) if generator.inflation_start else None),
    )
    writer.write_manifest({"kind": "simulator", "summary": summary.to_dict()})
    logger.info("simulated %d weeks to %s (seed %d): %s", weeks, as_of.isoformat(), seed, counts)
    return summary


def _latest(lead: Lead) -> datetime:
    moments = [
        lead.created_at,
        lead.mql_at,
        lead.mql_rejected_at,
        lead.sal_at,
        lead.sal_rejected_at,
        lead.won_at,
    ]
    return max(moment for moment in moments if moment is not None)
