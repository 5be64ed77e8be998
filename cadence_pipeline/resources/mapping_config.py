"""Typed `connectors` configuration: field mappings, stage maps and pull options per source.

`load_connectors_config` validates the `connectors` section of the governance configuration
and raises `MappingConfigError` naming the offending key (for example
`connectors.salesforce.fields: 'emial' is not a lead field`). The partner-file manifest
(`partner.yaml`) is validated by the same `PartnerConfig` model.
"""

from __future__ import annotations

import codecs
from collections.abc import Mapping
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from cadence_pipeline.governance.config import MOTIONS, ConfigError
from cadence_pipeline.governance.records import Lead

# Lead attributes a source can map. `crm` and `source_type` come from the connector and
# configuration, `extra` and `signals` from the connector's own logic.
LEAD_FIELDS = tuple(
    name for name in Lead.__dataclass_fields__ if name not in {"crm", "extra", "signals"}
)
MAPPABLE_FIELDS = tuple(name for name in LEAD_FIELDS if name != "source_type")
REQUIRED_FIELDS = ("lead_id", "created_at")

# Stages a CRM status or lifecycle stage can map to. `sql` has no Lead attribute; a
# connector stores it in `Lead.extra["sql_at"]`.
STAGE_TARGETS = ("mql", "mql_rejected", "sal", "sal_rejected", "sql", "won")
# Rank of each stage in the funnel. A move to a lower rank is a regression, except a move to
# a rejection, which is a handoff outcome. Statuses mapped to no stage rank 0.
STAGE_RANK = {"mql": 1, "mql_rejected": 1, "sal": 2, "sal_rejected": 2, "sql": 3, "won": 4}
REJECTION_STAGES = ("mql_rejected", "sal_rejected")

Stage = Literal["mql", "mql_rejected", "sal", "sal_rejected", "sql", "won"]
DELIMITER_NAMES = {"comma": ",", "semicolon": ";", "tab": "\t", "pipe": "|"}
ENCODINGS = ("auto", "utf-8", "utf-8-sig", "cp1252")


class MappingConfigError(ConfigError):
    """An invalid `connectors` configuration; `key` is the dotted path of the bad value."""

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        self.problem = problem
        super().__init__(f"{key}: {problem}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def check_zone(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"{value!r} is not an IANA time zone (example: Europe/Berlin)") from error
    return value


def check_motion(value: str | None) -> str | None:
    if value is None:
        return None
    motion = value.strip().lower()
    if motion not in MOTIONS:
        raise ValueError(f"{value!r} is not a motion; use one of {', '.join(MOTIONS)}")
    return motion


def _check_field_map(value: dict[str, str], *, allowed: tuple[str, ...]) -> dict[str, str]:
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise ValueError(f"{unknown[0]!r} is not a lead field; use one of {', '.join(allowed)}")
    missing = [name for name in REQUIRED_FIELDS if name not in value]
    if missing:
        raise ValueError(f"the required lead field {missing[0]!r} is not mapped")
    for name, source_name in value.items():
        if not isinstance(source_name, str) or not source_name.strip():
            raise ValueError(f"lead field {name!r} maps to an empty source field name")
    return {name: source_name.strip() for name, source_name in value.items()}


class StageHistoryConfig(_Strict):
    """Stage transitions read from a field-history object (Salesforce `LeadHistory`)."""

    enabled: bool = False
    object: str = "LeadHistory"
    parent_field: str = "LeadId"
    field: str = "Status"
    # Status value -> stage; a status mapped to null (e.g. "Open") is no stage and ranks 0.
    statuses: dict[str, Stage | None] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _needs_statuses_when_enabled(self) -> StageHistoryConfig:
        if self.enabled and not any(self.statuses.values()):
            raise ValueError(
                "statuses maps no status to a stage; add e.g. 'Marketing Qualified: mql', "
                "or set enabled: false"
            )
        return self


class CampaignSignalsConfig(_Strict):
    """Signals from campaign memberships: the campaign's type is the signal class."""

    enabled: bool = False
    object: str = "CampaignMember"
    lead_field: str = "LeadId"
    campaign_field: str = "CampaignId"
    date_field: str = "CreatedDate"
    responded_only: bool = False
    responded_field: str = "HasResponded"
    campaign_object: str = "Campaign"
    class_field: str = "Type"


class AccountActivityConfig(_Strict):
    """The last activity date of each lead's account, for dormancy."""

    enabled: bool = False
    object: str = "Account"
    id_field: str = "Id"
    date_field: str = "LastActivityDate"


class SalesforceMapping(_Strict):
    object: str = "Lead"
    fields: dict[str, str]
    # API fields of type Date: compared with date literals and read as calendar dates.
    date_fields: list[str] = Field(default_factory=list)
    default_motion: str | None = None
    naive_timezone: str | None = None
    # A pull whose first REST page reports more records than this switches to Bulk API 2.0.
    bulk_threshold: int = Field(10_000, ge=0)
    bulk_page_size: int = Field(50_000, ge=1)
    bulk_poll_seconds: float = Field(2.0, ge=0)
    bulk_timeout_seconds: float = Field(3600.0, gt=0)
    # Warn when Sforce-Limit-Info reports more than this share of the daily API requests used.
    api_usage_warning_share: float = Field(0.8, gt=0, le=1)
    stage_history: StageHistoryConfig = Field(default_factory=StageHistoryConfig)
    campaign_signals: CampaignSignalsConfig = Field(default_factory=CampaignSignalsConfig)
    account_activity: AccountActivityConfig = Field(default_factory=AccountActivityConfig)

    @field_validator("fields")
    @classmethod
    def _check_fields(cls, value: dict[str, str]) -> dict[str, str]:
        return _check_field_map(value, allowed=MAPPABLE_FIELDS)

    @field_validator("default_motion")
    @classmethod
    def _check_motion(cls, value: str | None) -> str | None:
        return check_motion(value)

    @field_validator("naive_timezone")
    @classmethod
    def _check_zone(cls, value: str | None) -> str | None:
        return check_zone(value)


class HubSpotMapping(_Strict):
    object: Literal["contacts"] = "contacts"
    fields: dict[str, str]
    # Properties of HubSpot type date (not datetime): calendar dates in the configured zone.
    date_properties: list[str] = Field(default_factory=list)
    default_motion: str | None = None
    naive_timezone: str | None = None
    lifecycle_property: str = "lifecyclestage"
    # Lifecycle stage value -> cadence stage; unmapped values (subscriber, lead) rank 0.
    lifecycle_stages: dict[str, Stage | None] = Field(
        default_factory=lambda: {
            "marketingqualifiedlead": "mql",
            "salesqualifiedlead": "sal",
            "opportunity": "sql",
            "customer": "won",
        }
    )
    # Read the lifecycle stage's property history (batch read, 50 contacts a request) to find
    # stage dates the `hs_lifecyclestage_*_date` properties lack, and regressions.
    property_history: bool = False
    merged_ids_property: str = "hs_merged_object_ids"
    searches_per_second: float = Field(4.0, ge=0)
    include_archived: bool = True

    @field_validator("fields")
    @classmethod
    def _check_fields(cls, value: dict[str, str]) -> dict[str, str]:
        return _check_field_map(value, allowed=MAPPABLE_FIELDS)

    @field_validator("default_motion")
    @classmethod
    def _check_motion(cls, value: str | None) -> str | None:
        return check_motion(value)

    @field_validator("naive_timezone")
    @classmethod
    def _check_zone(cls, value: str | None) -> str | None:
        return check_zone(value)


class PartnerConfig(_Strict):
    """How to read one partner's CSV drops; also the schema of `partner.yaml`."""

    source: str = Field(min_length=1)
    source_type: str | None = None
    motion: str | None = None
    owner: str | None = None
    # A Python codec name (utf-8, utf-8-sig, cp1252, ...) or `auto`: UTF-8 when the file has a
    # byte order mark or decodes as strict UTF-8, else cp1252, decided per file.
    encoding: str = "utf-8-sig"
    # One character, a name (comma, semicolon, tab, pipe) or `auto`: detect per file among
    # comma, semicolon and tab, and reject a file where more than one fits.
    delimiter: str = "auto"
    timezone: str | None = None
    datetime_format: str | None = None
    # strptime format of date-only values, read as midnight in `timezone`.
    date_format: str | None = None
    # Read numbers in date columns as Excel serial dates (1900 date system) in `timezone`.
    excel_dates: bool = False
    columns: dict[str, str]

    @field_validator("source")
    @classmethod
    def _check_source(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("is blank; name the lead source, e.g. source: partner_acme")
        return value

    @field_validator("encoding")
    @classmethod
    def _check_encoding(cls, value: str) -> str:
        if value.strip().lower() == "auto":
            return "auto"
        try:
            return codecs.lookup(value.strip()).name
        except LookupError as error:
            raise ValueError(
                f"{value!r} is an unknown codec; use auto or a Python codec name such as "
                f"{', '.join(ENCODINGS[1:])}"
            ) from error

    @field_validator("delimiter")
    @classmethod
    def _check_delimiter(cls, value: str) -> str:
        named = DELIMITER_NAMES.get(value.strip().lower()) if len(value) > 1 else None
        if value == "auto" or named:
            return named or value
        if len(value) != 1 or value in '"\r\n':
            raise ValueError(
                f"{value!r} is not one character; use a character such as ; or a name "
                f"({', '.join(DELIMITER_NAMES)}) or auto"
            )
        return value

    @field_validator("columns")
    @classmethod
    def _check_columns(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(MAPPABLE_FIELDS))
        if unknown:
            raise ValueError(
                f"{unknown[0]!r} is not a lead field; use {', '.join(MAPPABLE_FIELDS)}"
            )
        if "created_at" not in value:
            raise ValueError("must map created_at to the CSV column holding the creation time")
        return {str(name): str(column) for name, column in value.items()}

    @field_validator("motion")
    @classmethod
    def _check_motion(cls, value: str | None) -> str | None:
        return check_motion(value)

    @field_validator("timezone")
    @classmethod
    def _check_zone(cls, value: str | None) -> str | None:
        return check_zone(value)


class PartnerFilesMapping(_Strict):
    # Partner id (its folder name) -> description, used where the folder has no partner.yaml.
    partners: dict[str, PartnerConfig] = Field(default_factory=dict)


class ConnectorsConfig(_Strict):
    salesforce: SalesforceMapping | None = None
    hubspot: HubSpotMapping | None = None
    partner_files: PartnerFilesMapping = Field(default_factory=PartnerFilesMapping)


def error_key(error: ValidationError, prefix: str) -> tuple[str, str]:
    """Return (dotted key, message) of the first problem in a pydantic ValidationError."""
    first = error.errors()[0]
    parts = [prefix, *(str(part) for part in first["loc"])]
    message = str(first["msg"]).removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "is not a known key"
    elif first["type"] == "missing":
        message = "is missing"
    return ".".join(part for part in parts if part), message


def load_connectors_config(value: Mapping[str, Any] | ConnectorsConfig) -> ConnectorsConfig:
    """Validate the `connectors` section; raise MappingConfigError naming the bad key."""
    if isinstance(value, ConnectorsConfig):
        return value
    try:
        return ConnectorsConfig.model_validate(dict(value))
    except ValidationError as error:
        key, message = error_key(error, "connectors")
        raise MappingConfigError(key, message) from error


def stage_rank(stage: str | None) -> int:
    return STAGE_RANK.get(stage or "", 0)


def is_regression(previous: str | None, current: str | None) -> bool:
    """Return whether a move from stage `previous` to `current` goes back down the funnel."""
    if current in REJECTION_STAGES:
        return False
    return stage_rank(current) < stage_rank(previous)
