"""The connectors configuration: validation with errors that name the key, stage ranks."""

from __future__ import annotations

import pytest

from cadence_pipeline.governance.config import load_config
from cadence_pipeline.resources.mapping_config import (
    ConnectorsConfig,
    MappingConfigError,
    is_regression,
    load_connectors_config,
)

DEFAULTS = load_config().connectors
SF_FIELDS = {"lead_id": "Id", "created_at": "CreatedDate"}


def error_for(data: dict) -> MappingConfigError:
    with pytest.raises(MappingConfigError) as caught:
        load_connectors_config(data)
    return caught.value


def test_packaged_defaults_validate():
    config = load_connectors_config(DEFAULTS)
    assert config.salesforce.fields["lead_id"] == "Id"
    assert config.salesforce.bulk_threshold == 10_000
    assert config.hubspot.lifecycle_stages["customer"] == "won"
    assert config.partner_files.partners == {}


def test_validated_config_passes_through():
    config = load_connectors_config(DEFAULTS)
    assert load_connectors_config(config) is config
    assert isinstance(config, ConnectorsConfig)


@pytest.mark.parametrize(
    ("data", "key", "fragment"),
    [
        (
            {"salesforce": {"fields": {**SF_FIELDS, "emial": "Email"}}},
            "connectors.salesforce.fields",
            "'emial' is not a lead field",
        ),
        (
            {"hubspot": {"fields": {"lead_id": "hs_object_id"}}},
            "connectors.hubspot.fields",
            "'created_at' is not mapped",
        ),
        (
            {"salesforce": {"fields": {**SF_FIELDS, "email": " "}}},
            "connectors.salesforce.fields",
            "empty source field name",
        ),
        (
            {"salesforce": {"fields": SF_FIELDS, "default_motion": "enterprise"}},
            "connectors.salesforce.default_motion",
            "not a motion",
        ),
        (
            {"salesforce": {"fields": SF_FIELDS, "naive_timezone": "Mars/Base"}},
            "connectors.salesforce.naive_timezone",
            "IANA",
        ),
        (
            {"salesforce": {"fields": SF_FIELDS, "stage_history": {"statuses": {"Won": "win"}}}},
            "connectors.salesforce.stage_history.statuses.Won",
            "Input should be",
        ),
        (
            {"salesforce": {"fields": SF_FIELDS, "stage_history": {"enabled": True}}},
            "connectors.salesforce.stage_history",
            "statuses maps no status",
        ),
        (
            {"hubspot": {"fields": SF_FIELDS, "lifecycle_stages": {"customer": "closed"}}},
            "connectors.hubspot.lifecycle_stages.customer",
            "Input should be",
        ),
        (
            {"salesforce": {"fields": SF_FIELDS, "bulk_treshold": 5}},
            "connectors.salesforce.bulk_treshold",
            "not a known key",
        ),
        ({"pipedrive": {}}, "connectors.pipedrive", "not a known key"),
        (
            {"partner_files": {"partners": {"acme": {"source": "acme", "columns": {}}}}},
            "connectors.partner_files.partners.acme.columns",
            "created_at",
        ),
        (
            {"hubspot": {"fields": SF_FIELDS, "object": "deals"}},
            "connectors.hubspot.object",
            "contacts",
        ),
    ],
)
def test_errors_name_the_key(data, key, fragment):
    error = error_for(data)
    assert error.key == key
    assert fragment in str(error)
    assert str(error).startswith(key)


def test_error_is_a_config_error():
    from cadence_pipeline.governance.config import ConfigError

    assert isinstance(error_for({"pipedrive": {}}), ConfigError)


@pytest.mark.parametrize(
    ("previous", "current", "expected"),
    [
        ("mql", None, True),
        ("sal", "mql", True),
        ("won", "sql", True),
        ("mql", "sal", False),
        (None, "mql", False),
        ("mql", "mql_rejected", False),
        ("sal", "sal_rejected", False),
        ("sal_rejected", "mql", True),
    ],
)
def test_regression_rank(previous, current, expected):
    assert is_regression(previous, current) is expected
