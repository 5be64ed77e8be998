"""Mapping of API and file records to leads: datetimes, booleans, counts, motions, errors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cadence_pipeline.governance.config import load_config
from cadence_pipeline.governance.records import RecordError
from cadence_pipeline.resources.mapping import (
    has_activity,
    lead_from_record,
    parse_bool,
    parse_instant,
    parse_int,
)

CONFIG = load_config()
SF_FIELDS = CONFIG.connectors["salesforce"]["fields"]


def instant(value, timezone="UTC", **kwargs):
    return parse_instant(
        value, field_name="CreatedDate", timezone=timezone, origin="test", record_id="r1", **kwargs
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-02T09:15:00.000+0000", datetime(2026, 11, 2, 9, 15, tzinfo=UTC)),
        ("2026-11-02T09:15:00Z", datetime(2026, 11, 2, 9, 15, tzinfo=UTC)),
        ("2026-11-02T10:15:00+01:00", datetime(2026, 11, 2, 9, 15, tzinfo=UTC)),
        ("2026-11-02T09:15:00.000Z", datetime(2026, 11, 2, 9, 15, tzinfo=UTC)),
        (1793610900000, datetime(2026, 11, 2, 9, 15, tzinfo=UTC)),
        ("1793610900000", datetime(2026, 11, 2, 9, 15, tzinfo=UTC)),
        (None, None),
        ("  ", None),
    ],
)
def test_parse_instant_formats(value, expected):
    assert instant(value) == expected


def test_parse_instant_date_only_uses_timezone():
    assert instant("2026-11-02", timezone="Europe/Berlin") == datetime(
        2026, 11, 1, 23, 0, tzinfo=UTC
    )
    assert instant("2026-11-02") == datetime(2026, 11, 2, tzinfo=UTC)


def test_parse_instant_rejects_naive():
    with pytest.raises(RecordError) as caught:
        instant("2026-11-02T09:15:00")
    assert caught.value.field_name == "CreatedDate"
    assert "without a time zone" in str(caught.value)
    assert "Fix:" in str(caught.value)


def test_parse_instant_naive_with_source_timezone():
    parsed = instant("2026-11-02T10:15:00", naive_timezone="Europe/Berlin")
    assert parsed == datetime(2026, 11, 2, 9, 15, tzinfo=UTC)


def test_parse_instant_rejects_epoch_seconds():
    with pytest.raises(RecordError, match="epoch seconds"):
        instant("1793610900")


def test_parse_instant_rejects_garbage():
    with pytest.raises(RecordError, match="not a datetime"):
        instant("next tuesday")


def test_parse_instant_with_strptime_format():
    parsed = instant("02/11/2026 09:15", naive_timezone="UTC", datetime_format="%d/%m/%Y %H:%M")
    assert parsed == datetime(2026, 11, 2, 9, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        ("true", True),
        ("Yes", True),
        ("1", True),
        (False, False),
        ("no", False),
        ("FALSE", False),
        (None, None),
        ("", None),
    ],
)
def test_parse_bool_values(value, expected):
    assert parse_bool(value, field_name="consent", origin="t", record_id="r") is expected


def test_parse_bool_rejects_other_words():
    with pytest.raises(RecordError, match="not a boolean"):
        parse_bool("maybe", field_name="consent", origin="t", record_id="r")


@pytest.mark.parametrize(
    ("value", "expected"), [(250, 250), ("1,200", 1200), ("40.0", 40), (None, None), ("", None)]
)
def test_parse_int_values(value, expected):
    assert parse_int(value, field_name="employees", origin="t", record_id="r") == expected


@pytest.mark.parametrize("value", ["-5", "12.5", "lots", True])
def test_parse_int_rejects(value):
    with pytest.raises(RecordError):
        parse_int(value, field_name="employees", origin="t", record_id="r")


def salesforce_record(**overrides):
    record = {
        "Id": "00Q000000000001",
        "CreatedDate": "2026-11-02T09:15:00.000+0000",
        "LeadSource": "Paid Search",
        "Motion__c": None,
        "Email": "jane.doe@example.com",
        "NumberOfEmployees": 120,
        "HasOptedOutOfEmail": False,
        "Marketing_Consent__c": "Yes",
        "MQL_Date__c": "2026-11-04T10:00:00.000+0000",
    }
    record.update(overrides)
    return record


def to_lead(record, **kwargs):
    return lead_from_record(
        record,
        crm="salesforce",
        fields=SF_FIELDS,
        config=CONFIG,
        origin="salesforce Lead",
        default_motion="b2b",
        **kwargs,
    )


def test_lead_from_salesforce_record():
    lead = to_lead(salesforce_record())
    assert lead.lead_id == "00Q000000000001"
    assert lead.source == "paid_search"
    assert lead.source_type == "paid_search"
    assert lead.motion == "b2b"
    assert lead.employees == 120
    assert lead.consent is True
    assert lead.email_opt_out is False
    assert lead.mql_at == datetime(2026, 11, 4, 10, tzinfo=UTC)
    assert lead.sal_at is None


def test_lead_motion_from_record():
    assert to_lead(salesforce_record(Motion__c="B2C")).motion == "b2c"


def test_lead_unknown_motion_names_field_and_values():
    with pytest.raises(RecordError) as caught:
        to_lead(salesforce_record(Motion__c="enterprise"))
    message = str(caught.value)
    assert caught.value.field_name == "Motion__c"
    assert "b2b, b2c" in message
    assert "00Q000000000001" in message


def test_lead_missing_created_date():
    with pytest.raises(RecordError) as caught:
        to_lead(salesforce_record(CreatedDate=None))
    assert caught.value.field_name == "CreatedDate"
    assert "missing" in caught.value.problem


def test_lead_missing_id():
    with pytest.raises(RecordError) as caught:
        to_lead(salesforce_record(Id=None))
    assert caught.value.field_name == "Id"


def test_lead_error_masks_personal_value():
    with pytest.raises(RecordError) as caught:
        to_lead(salesforce_record(NumberOfEmployees="jane.doe@example.com"))
    message = str(caught.value)
    assert "jane.doe@example.com" not in message
    assert "j***@e***" in message


def test_lead_blank_source_is_unspecified():
    assert to_lead(salesforce_record(LeadSource="  ")).source == "unspecified"


def test_has_activity_half_open_window():
    lead = to_lead(salesforce_record())
    created = datetime(2026, 11, 2, 9, 15, tzinfo=UTC)
    assert has_activity(lead, created, datetime(2026, 11, 3, tzinfo=UTC))
    assert not has_activity(lead, datetime(2026, 11, 1, tzinfo=UTC), created)
    assert has_activity(lead, datetime(2026, 11, 4, tzinfo=UTC), datetime(2026, 11, 5, tzinfo=UTC))


def test_lead_json_keeps_signals():
    from cadence_pipeline.governance.records import lead_from_json, lead_to_json

    lead = to_lead(salesforce_record())
    lead.signals = [
        ("Webinar", datetime(2026, 11, 3, 10, tzinfo=UTC)),
        ("Content Syndication", datetime(2026, 11, 5, 10, tzinfo=UTC)),
    ]
    restored = lead_from_json(lead_to_json(lead))
    assert restored.signals == lead.signals
    assert restored == lead
