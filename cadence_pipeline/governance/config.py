"""Typed governance configuration: packaged defaults overridden by the operator's file.

Resolution order for the file: `CADENCE_CONFIG` if set, else `$CADENCE_HOME/governance.yaml`
if it exists, deep-merged over the packaged `defaults.yaml`. Scoped numbers resolve most
specific first: source, then source type, then motion, then the default.
"""

from __future__ import annotations

from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

T = TypeVar("T")

MOTIONS = ("b2b", "b2c")
SEATS = (
    "chair",
    "revops_lead",
    "data_lead",
    "signal_architecture_owner",
    "sales_liaison",
    "b2c_lead",
)


class ConfigError(ValueError):
    """The governance configuration is invalid; the message names the file and the field."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Scoped(_Model, Generic[T]):
    """A number with optional overrides per source, source type and motion."""

    default: T
    motions: dict[str, T] = Field(default_factory=dict)
    source_types: dict[str, T] = Field(default_factory=dict)
    sources: dict[str, T] = Field(default_factory=dict)

    def resolve(
        self, source: str | None = None, source_type: str | None = None, motion: str | None = None
    ) -> T:
        """Return the most specific value: source, then source type, then motion."""
        if source is not None and source in self.sources:
            return self.sources[source]
        if source_type is not None and source_type in self.source_types:
            return self.source_types[source_type]
        if motion is not None and motion in self.motions:
            return self.motions[motion]
        return self.default


class Seat(_Model):
    title: str
    slack_user_id: str | None = None


class PipelineConfig(_Model):
    tolerance: float = Field(0.15, gt=0, lt=1)
    trailing_weeks: int = Field(4, ge=1)
    min_trailing_leads: int = Field(20, ge=0)
    # A week outside the tolerance is a breach only when a test rejects "same as the
    # trailing weeks" at this level; 1.0 turns the test off.
    noise_alpha: float = Field(0.05, gt=0, le=1)
    # Seasonal factor per ISO week number (1-53); a week's value is divided by its factor
    # before it is compared with the deseasonalised trailing average. Missing weeks are 1.0.
    seasonal_factors: dict[int, float] = Field(default_factory=dict)
    owner: str = "revops_lead"

    @field_validator("seasonal_factors")
    @classmethod
    def _check_factors(cls, value: dict[int, float]) -> dict[int, float]:
        for week, factor in value.items():
            if not 1 <= week <= 53:
                raise ValueError(f"ISO week number {week} is outside 1..53")
            if factor <= 0:
                raise ValueError(f"seasonal factor for week {week} must be positive, got {factor}")
        return value


class IcpConfig(_Model):
    """Ideal customer profile for the value rules of one motion. Empty lists mean any."""

    require_business_domain: bool = False
    industries: list[str] = Field(default_factory=list)
    min_employees: int | None = Field(None, ge=0)
    roles: list[str] = Field(default_factory=list)


class ValidationConfig(_Model):
    rule_version: str = "2026.1"
    threshold: Scoped[float]
    new_source_threshold: Scoped[float]
    onboarding_hours: int = Field(72, ge=1)
    first_sample_size: int = Field(50, ge=1)
    confidence: float = Field(0.95, gt=0, lt=1)
    low_volume_leads: int = Field(20, ge=0)
    weeks_below_to_escalate: int = Field(2, ge=1)
    allowed_countries: list[str] = Field(default_factory=list)
    default_phone_region: str = "US"
    placeholder_values: list[str] = Field(default_factory=list)
    free_email_domains: list[str] = Field(default_factory=list)
    icp: dict[str, IcpConfig] = Field(default_factory=dict)
    # Rules switched off per motion or source type, by rule name (e.g. "value.role").
    disabled_rules: Scoped[list[str]] = Field(default_factory=lambda: Scoped[list[str]](default=[]))
    # Country spellings the built-in lookup (ISO 3166-1 alpha-2 codes and country names from
    # phonenumbers' locale data) does not know, mapped to alpha-2 codes, e.g. {"USA": "US"}.
    country_aliases: dict[str, str] = Field(default_factory=dict)
    # Lead fields that compliance.privacy_fields requires on every lead with contact data.
    required_privacy_fields: list[str] = Field(default_factory=lambda: ["country"])
    # Domains treated as disposable in addition to the disposable-email-domains blocklist.
    extra_disposable_domains: list[str] = Field(default_factory=list)
    owner: str = "data_lead"


class SignalClassConfig(_Model):
    motion: str
    expected_rate: float = Field(gt=0, le=1)


class SignalConfig(_Model):
    window_days: int = Field(14, ge=1)
    # Mean days from a signal to qualification in the model. The expected rate at an age
    # below the window follows an exponential curve truncated at the window.
    mean_days_to_qualify: float = Field(4.0, gt=0)
    drop_tolerance: float = Field(0.20, gt=0, lt=1)
    # A drop is flagged only when a one-sided test puts the shortfall under this p-value.
    alpha: float = Field(0.05, gt=0, lt=1)
    min_signals: int = Field(20, ge=1)
    dormancy_days: int = Field(30, ge=1)
    qualifying_stage: str = "mql"
    expected_rate: Scoped[float]
    classes: dict[str, SignalClassConfig] = Field(default_factory=dict)
    owner: str = "signal_architecture_owner"


class RejectionRoute(_Model):
    route: str
    owner: str | None = None
    definition_mismatch: bool = False


class HandoffConfig(_Model):
    owner_sla_hours: int = Field(24, ge=1)
    routes: dict[str, RejectionRoute] = Field(default_factory=dict)
    owner: str = "sales_liaison"


class SourceConfig(_Model):
    source_type: str | None = None
    motion: str | None = None
    owner: str | None = None
    established: bool = False
    status: str | None = None


class SlackConfig(_Model):
    channel: str = "#demand-governance"
    max_blocks: int = Field(50, ge=1, le=50)


class GovernanceConfig(_Model):
    timezone: str = "UTC"
    # First week of the weekly partitions in live mode; empty: 16 weeks before today.
    history_start: date | None = None
    pipeline: PipelineConfig = Field(default_factory=PipelineConfig)
    validation: ValidationConfig
    signals: SignalConfig
    handoffs: HandoffConfig = Field(default_factory=HandoffConfig)
    sources: dict[str, SourceConfig] = Field(default_factory=dict)
    # Source type by a keyword in the source id, used for sources not listed in `sources`.
    source_type_keywords: dict[str, str] = Field(default_factory=dict)
    seats: dict[str, Seat] = Field(default_factory=dict)
    slack: SlackConfig = Field(default_factory=SlackConfig)
    connectors: dict[str, Any] = Field(default_factory=dict)

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown IANA timezone {value!r} (example: Europe/Berlin)") from error
        return value

    def source_type(self, source: str) -> str:
        """Return the configured type of a source, else one inferred from its id."""
        configured = self.sources.get(source)
        if configured is not None and configured.source_type:
            return configured.source_type
        for keyword, source_type in self.source_type_keywords.items():
            if keyword in source:
                return source_type
        return "other"

    def seat_mention(self, seat: str) -> str:
        """Return a Slack mention for a seat, or its title when no user id is configured."""
        configured = self.seats.get(seat)
        if configured is None:
            return seat
        if configured.slack_user_id:
            return f"<@{configured.slack_user_id}>"
        return configured.title


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Merge `override` into a copy of `base`; nested mappings merge, other values replace."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from error
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping, got {type(data).__name__}")
    return data


def packaged_defaults() -> dict[str, Any]:
    text = resources.files("cadence_pipeline.governance").joinpath("defaults.yaml").read_text()
    return yaml.safe_load(text)


def load_config(
    path: Path | None = None, overrides: dict[str, Any] | None = None
) -> GovernanceConfig:
    """Load the packaged defaults, merge the file at `path` (if any) and `overrides`, validate."""
    data = packaged_defaults()
    origin = "packaged defaults.yaml"
    if path is not None:
        data = deep_merge(data, _read_yaml(path))
        origin = str(path)
    if overrides:
        data = deep_merge(data, overrides)
    try:
        config = GovernanceConfig.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc'])}: {item['msg']}"
            for item in error.errors()
        )
        raise ConfigError(f"{origin}: invalid governance configuration: {problems}") from error
    # The field mappings and rule names are checked here too, so a bad value fails at load
    # and not in the middle of a run. The imports are local: those modules import this one.
    from cadence_pipeline.governance.validation import check_rule_config, effective_rule_version
    from cadence_pipeline.resources.mapping_config import load_connectors_config

    try:
        load_connectors_config(config.connectors)
        check_rule_config(config.validation)
        effective_rule_version(config)
        _check_ranges(config)
    except (ConfigError, ValueError) as error:
        raise ConfigError(f"{origin}: invalid governance configuration: {error}") from error
    return config


def _scoped_values(scoped: Scoped[Any]) -> list[tuple[str, Any]]:
    values = [("default", scoped.default)]
    for scope in ("motions", "source_types", "sources"):
        values += [(f"{scope}.{key}", value) for key, value in getattr(scoped, scope).items()]
    return values


def _check_ranges(config: GovernanceConfig) -> None:
    """Reject shares outside (0, 1] and motions other than b2b and b2c, naming the key."""
    shares = {
        "validation.threshold": config.validation.threshold,
        "validation.new_source_threshold": config.validation.new_source_threshold,
        "signals.expected_rate": config.signals.expected_rate,
    }
    for name, scoped in shares.items():
        for key, value in _scoped_values(scoped):
            if not 0 < value <= 1:
                raise ValueError(f"{name}.{key} is {value}; use a share between 0 and 1")
    motion_keys = {
        "validation.threshold.motions": config.validation.threshold.motions,
        "validation.new_source_threshold.motions": config.validation.new_source_threshold.motions,
        "signals.expected_rate.motions": config.signals.expected_rate.motions,
        "validation.icp": config.validation.icp,
    }
    for name, mapping in motion_keys.items():
        for motion in mapping:
            if motion not in MOTIONS:
                raise ValueError(f"{name} names motion {motion!r}; use one of {MOTIONS}")
    for name, signal_class in config.signals.classes.items():
        if signal_class.motion not in MOTIONS:
            raise ValueError(
                f"signals.classes.{name}.motion is {signal_class.motion!r}; use one of {MOTIONS}"
            )
    for name, source in config.sources.items():
        if source.motion is not None and source.motion not in MOTIONS:
            raise ValueError(f"sources.{name}.motion is {source.motion!r}; use one of {MOTIONS}")
