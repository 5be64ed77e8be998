"""Parameters of a simulated demand engine. Every number the generator uses lives here.

A variant engine (other sources, rates, weeks, codes) is `default_spec()` changed with
`dataclasses.replace`; the generator reads nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from cadence_pipeline.simulator.contacts import B2B_ONLY_KINDS, FAILURE_KINDS

_ESTABLISHED_FAILURES = {
    "bad_email": 2.0,
    "disposable_email": 1.0,
    "missing_consent": 2.0,
    "opted_out": 1.0,
    "blocked_country": 1.0,
    "bad_phone": 2.0,
    "duplicate": 2.0,
    "free_mail": 2.0,
    "placeholder": 1.0,
    "small_company": 1.0,
}


@dataclass(frozen=True)
class SourceSpec:
    """A lead source that runs for the whole simulated period.

    `pass_rate` is the share of its leads that pass every validation rule; failing leads
    break one rule each, drawn from `failure_mix` (weights by failure kind). B2B sources are
    written to Salesforce, B2C sources to HubSpot.
    """

    source_id: str
    source_type: str
    motion: str
    weekly_leads: float
    pass_rate: float
    signal_classes: Mapping[str, float]
    owner: str = "revops_lead"
    failure_mix: Mapping[str, float] = field(default_factory=lambda: dict(_ESTABLISHED_FAILURES))


@dataclass(frozen=True)
class SignalClassSpec:
    """A signal class: its motion and the share of its signals that reach MQL within the window."""

    motion: str
    qualification_rate: float


@dataclass(frozen=True)
class StageSpec:
    """How leads move through MQL, SAL and won, and the rejection codes on the way."""

    window_days: int = 14
    mean_days_to_mql: float = 4.0
    # Share of the leads that do not qualify which are rejected before MQL, with a code.
    mql_rejection_share: float = 0.12
    max_days_to_mql_rejection: float = 10.0
    mql_rejection_codes: Mapping[str, float] = field(
        default_factory=lambda: {
            "duplicate_record": 0.35,
            "wrong_contact": 0.30,
            "buyer_fit_insufficient": 0.20,
            "not_reachable": 0.15,
        }
    )
    sal_acceptance: Mapping[str, float] = field(default_factory=lambda: {"b2b": 0.62, "b2c": 0.70})
    sal_rejection_codes: Mapping[str, float] = field(
        default_factory=lambda: {
            "buyer_fit_insufficient": 0.18,
            "no_budget": 0.22,
            "not_reachable": 0.20,
            "wrong_contact": 0.13,
            "competitor": 0.10,
            "duplicate_record": 0.09,
            "definition_mismatch": 0.08,
        }
    )
    mean_days_mql_to_sal: float = 2.0
    max_days_mql_to_sal: float = 10.0
    won_rate: Mapping[str, float] = field(default_factory=lambda: {"b2b": 0.30, "b2c": 0.35})
    mean_days_sal_to_won: Mapping[str, float] = field(
        default_factory=lambda: {"b2b": 12.0, "b2c": 5.0}
    )
    max_days_sal_to_won: float = 42.0
    definition_version: str = "mql-v3"


@dataclass(frozen=True)
class PartnerRolloutSpec:
    """Validation rollback: a new partner delivering daily CSV files that bypass the form.

    The partner starts `weeks_before_last_complete` weeks before the last complete week, on
    `start_weekday` (0 = Monday). For `launch_hours` its leads pass at `launch_pass_rate`.
    Then it sends nothing for `pause_days`. After the pause it delivers again at
    `resume_pass_rate`, rising linearly to `recovered_pass_rate` over `recovery_days`.
    """

    partner_id: str = "brightreach"
    source_id: str = "brightreach_syndication"
    source_type: str = "content_syndication"
    motion: str = "b2b"
    owner: str = "revops_lead"
    weeks_before_last_complete: int = 5
    start_weekday: int = 1
    start_hour: int = 9
    launch_hours: int = 72
    launch_daily_leads: int = 22
    launch_pass_rate: float = 0.41
    launch_failure_mix: Mapping[str, float] = field(
        default_factory=lambda: {
            "bad_email": 3.0,
            "disposable_email": 3.0,
            "missing_consent": 3.0,
            "free_mail": 3.0,
            "placeholder": 2.0,
        }
    )
    pause_days: int = 7
    resumed_daily_leads: int = 10
    resume_pass_rate: float = 0.62
    recovered_pass_rate: float = 0.87
    recovery_days: int = 14
    timezone: str = "Europe/London"
    delimiter: str = ";"
    encoding: str = "utf-8"
    datetime_format: str = "%d/%m/%Y %H:%M"


@dataclass(frozen=True)
class CohortLaunchSpec:
    """Signal noise creep: a new signal class that qualifies below its motion's model rate.

    From the Monday `weeks_before_last_complete` weeks before the last complete week,
    `weekly_signals` of the host source's weekly leads carry the new class, whose
    qualification rate is the motion's model rate times `relative_rate`.
    """

    signal_class: str = "paid_social_lookalike"
    host_source: str = "paid_social_meta"
    weeks_before_last_complete: int = 1
    weekly_signals: int = 400
    relative_rate: float = 0.68


@dataclass(frozen=True)
class InflationSpec:
    """MQL-threshold inflation: SAL acceptance declines after a scoring change.

    From the Monday `weeks_before_last_complete` weeks before the last complete week, MQLs
    of `motion` carry `new_definition_version`. Acceptance then falls linearly from the
    stage spec's rate to `end_acceptance` by the end of the last complete week, while the
    share of `code` among SAL rejections grows to `end_code_share`. The default engine has
    no inflation.
    """

    motion: str = "b2b"
    weeks_before_last_complete: int = 8
    end_acceptance: float = 0.51
    code: str = "buyer_fit_insufficient"
    end_code_share: float = 0.33
    new_definition_version: str = "mql-v4"


@dataclass(frozen=True)
class NovelCodeSpec:
    """A rejection code without a remediation route, used `count` times in one week."""

    code: str
    weeks_before_last_complete: int
    count: int = 3
    stage: str = "sal"


@dataclass(frozen=True)
class EngineSpec:
    """Everything the generator needs: sources, classes, stages, seasonality and scenarios."""

    sources: tuple[SourceSpec, ...]
    signal_classes: Mapping[str, SignalClassSpec]
    stages: StageSpec = field(default_factory=StageSpec)
    reviewed_weeks: int = 12
    # Weeks of leads generated before the first week of the span, so that wins and SAL
    # decisions in the first weeks come from a pipeline already in steady state.
    lead_in_weeks: int = 8
    accounts: int = 400
    # Weekly volume = weekly_leads x seasonality x (1 + volume_noise x U(-1, 1)).
    volume_noise: float = 0.03
    seasonal_amplitude: float = 0.04
    seasonal_peak_iso_week: int = 11
    # Extra factor per ISO week number (1-53), e.g. a holiday dip; mirror it in the
    # governance `pipeline.seasonal_factors` so the variance rule divides it out.
    seasonal_factors: Mapping[int, float] = field(default_factory=dict)
    # Relative lead volume per weekday (Monday first) and the UTC hours leads arrive in.
    weekday_profile: Mapping[str, tuple[float, ...]] = field(
        default_factory=lambda: {
            "b2b": (1.2, 1.25, 1.2, 1.1, 0.95, 0.15, 0.15),
            "b2c": (1.0, 1.0, 1.0, 1.0, 1.05, 0.95, 0.9),
        }
    )
    active_hours: Mapping[str, tuple[int, int]] = field(
        default_factory=lambda: {"b2b": (7, 19), "b2c": (6, 23)}
    )
    crm_by_motion: Mapping[str, str] = field(
        default_factory=lambda: {"b2b": "salesforce", "b2c": "hubspot"}
    )
    partner: PartnerRolloutSpec | None = field(default_factory=PartnerRolloutSpec)
    cohort: CohortLaunchSpec | None = field(default_factory=CohortLaunchSpec)
    inflation: InflationSpec | None = None
    novel_codes: tuple[NovelCodeSpec, ...] = (NovelCodeSpec("timing_not_right", 7),)

    def validate(self) -> None:
        """Raise ValueError naming the parameter when the spec is inconsistent."""
        ids = [source.source_id for source in self.sources]
        if len(set(ids)) != len(ids):
            raise ValueError(f"source ids must be unique, got {ids}")
        for source in self.sources:
            if source.motion not in self.crm_by_motion:
                raise ValueError(
                    f"source {source.source_id}: motion {source.motion!r} has no CRM in "
                    f"crm_by_motion {dict(self.crm_by_motion)}"
                )
            if not 0 <= source.pass_rate <= 1:
                raise ValueError(f"source {source.source_id}: pass_rate must be within 0..1")
            for signal_class in source.signal_classes:
                if signal_class not in self.signal_classes:
                    raise ValueError(
                        f"source {source.source_id}: signal class {signal_class!r} is not "
                        "defined in signal_classes"
                    )
            for kind in source.failure_mix:
                if kind not in FAILURE_KINDS:
                    raise ValueError(
                        f"source {source.source_id}: failure kind {kind!r} is not one of "
                        f"{', '.join(FAILURE_KINDS)}"
                    )
            if source.motion != "b2b" and set(source.failure_mix) <= B2B_ONLY_KINDS:
                raise ValueError(
                    f"source {source.source_id}: every failure kind in failure_mix needs B2B "
                    "fields, but the source is not B2B"
                )
        if self.cohort is not None:
            if self.cohort.host_source not in ids:
                raise ValueError(f"cohort host source {self.cohort.host_source!r} is not a source")
            if self.cohort.signal_class in self.signal_classes:
                raise ValueError(
                    f"cohort signal class {self.cohort.signal_class!r} must be new, but it is "
                    "already in signal_classes"
                )
        if self.partner is not None and self.partner.source_id in ids:
            raise ValueError(f"partner source {self.partner.source_id!r} must be a new source")


def default_spec() -> EngineSpec:
    """Return the default engine: five B2B and four B2C sources plus scenarios 1 and 3."""
    b2b_classes = {
        "pricing_page_visit": SignalClassSpec("b2b", 0.25),
        "content_download": SignalClassSpec("b2b", 0.25),
        "webinar_attendance": SignalClassSpec("b2b", 0.25),
        "intent_surge": SignalClassSpec("b2b", 0.25),
    }
    b2c_classes = {
        "trial_signup": SignalClassSpec("b2c", 0.15),
        "newsletter_engagement": SignalClassSpec("b2c", 0.15),
        "social_engagement": SignalClassSpec("b2c", 0.15),
        "retargeting_click": SignalClassSpec("b2c", 0.15),
    }
    sources = (
        SourceSpec(
            "webform_demo_request",
            "form",
            "b2b",
            120,
            0.95,
            {"pricing_page_visit": 0.7, "intent_surge": 0.3},
        ),
        SourceSpec(
            "paid_search",
            "paid_search",
            "b2b",
            95,
            0.92,
            {"pricing_page_visit": 0.4, "content_download": 0.4, "intent_surge": 0.2},
        ),
        SourceSpec(
            "webinar_series", "events", "b2b", 70, 0.90, {"webinar_attendance": 1.0}, owner="chair"
        ),
        SourceSpec(
            "content_syndication_network",
            "content_syndication",
            "b2b",
            60,
            0.89,
            {"content_download": 0.8, "intent_surge": 0.2},
        ),
        SourceSpec(
            "linkedin_ads",
            "paid_social",
            "b2b",
            80,
            0.91,
            {"content_download": 0.5, "intent_surge": 0.5},
        ),
        SourceSpec(
            "organic_search",
            "organic",
            "b2c",
            120,
            0.96,
            {"trial_signup": 0.6, "newsletter_engagement": 0.4},
            owner="b2c_lead",
        ),
        SourceSpec(
            "paid_social_meta",
            "paid_social",
            "b2c",
            450,
            0.91,
            {"social_engagement": 0.6, "retargeting_click": 0.4},
            owner="b2c_lead",
        ),
        SourceSpec(
            "email_newsletter",
            "email",
            "b2c",
            70,
            0.97,
            {"newsletter_engagement": 1.0},
            owner="b2c_lead",
        ),
        SourceSpec(
            "referral_program", "referral", "b2c", 45, 0.94, {"trial_signup": 1.0}, owner="b2c_lead"
        ),
    )
    return EngineSpec(sources=sources, signal_classes={**b2b_classes, **b2c_classes})
