"""Public data-set detection and conversion to fixtures.

Tests marked `dataset` read the public data sets from CADENCE_SHARED_DATA, else
../shared/data next to the repository, and skip when a set is absent. Expected counts are
computed here from the CSV files with the csv module, independently of the converters.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import shared_data_dir

from cadence_pipeline.datasets import DatasetError, convert, detect
from cadence_pipeline.governance.records import normalise_source
from cadence_pipeline.governance.weeks import week_key

OLIST = "olist-marketing-funnel"
MAVEN = "maven-crm-sales-opportunities"
X_EDUCATION = "x-education-leads"
MQL_FILE = "olist_marketing_qualified_leads_dataset.csv"
DEALS_FILE = "olist_closed_deals_dataset.csv"


def data_set(name: str) -> Path:
    folder = shared_data_dir() / name
    if not folder.is_dir():
        pytest.skip(
            f"public data set {name} not found at {folder}; set CADENCE_SHARED_DATA to the "
            "folder holding it"
        )
    return folder


def _instant(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("+0000", "+00:00").replace("Z", "+00:00"))


def salesforce_records(fixtures: Path) -> list[dict]:
    lines = (fixtures / "salesforce" / "Lead.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def rejected(fixtures: Path) -> list[dict[str, str]]:
    with (fixtures / "rejected_rows.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


# Detection -------------------------------------------------------------------------------


@pytest.mark.dataset
@pytest.mark.parametrize(
    ("name", "kind"), [(OLIST, "olist"), (MAVEN, "maven"), (X_EDUCATION, "x_education")]
)
def test_detect_public_sets(name: str, kind: str) -> None:
    assert detect(data_set(name)) == kind


def test_detect_unrecognised_folder(tmp_path: Path) -> None:
    (tmp_path / "customers.csv").write_text("id\n1\n")
    with pytest.raises(DatasetError) as caught:
        detect(tmp_path)
    message = str(caught.value)
    assert MQL_FILE in message
    assert "sales_pipeline.csv" in message
    assert "Leads.csv" in message


def test_detect_missing_path(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not found"):
        detect(tmp_path / "absent")


def test_detect_is_case_insensitive(tmp_path: Path) -> None:
    (tmp_path / "leads.csv").write_text("x\n")
    assert detect(tmp_path) == "x_education"


# Olist -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def olist_run(tmp_path_factory: pytest.TempPathFactory):
    folder = data_set(OLIST)
    fixtures = tmp_path_factory.mktemp("olist")
    return folder, fixtures, convert(folder, fixtures)


@pytest.mark.dataset
def test_olist_leads_per_week_and_origin(olist_run) -> None:
    folder, fixtures, summary = olist_run
    expected: Counter[tuple[str, str]] = Counter()
    with (folder / MQL_FILE).open(newline="") as handle:
        for row in csv.DictReader(handle):
            day = datetime.fromisoformat(row["first_contact_date"]).replace(tzinfo=UTC)
            expected[(week_key(day), normalise_source(row["origin"].replace(" ", "_")))] += 1
    actual = Counter(
        (week_key(_instant(record["CreatedDate"])), normalise_source(record["LeadSource"]))
        for record in salesforce_records(fixtures)
    )
    assert actual == expected
    assert summary.leads_written == 8000
    assert sum(count for (_, source), count in expected.items() if source == "unspecified") == 60


@pytest.mark.dataset
def test_olist_wins_per_week(olist_run) -> None:
    folder, fixtures, summary = olist_run
    expected: Counter[str] = Counter()
    with (folder / DEALS_FILE).open(newline="") as handle:
        for row in csv.DictReader(handle):
            won = datetime.fromisoformat(row["won_date"]).replace(tzinfo=UTC)
            if won < summary.as_of:
                expected[week_key(won)] += 1
    actual = Counter(
        week_key(_instant(record["Won_Date__c"]))
        for record in salesforce_records(fixtures)
        if record["Won_Date__c"]
    )
    assert actual == expected
    later = [row for row in rejected(fixtures) if row["field"] == "won_date"]
    assert sum(expected.values()) + len(later) == 842
    assert summary.rejected_rows == len(rejected(fixtures))


@pytest.mark.dataset
def test_olist_span_and_fields(olist_run) -> None:
    _, fixtures, summary = olist_run
    span = summary.span(51)
    assert span.first_week == "2017-06-12"
    assert span.last_week == "2018-05-28"
    assert span.partial_last_week
    assert summary.last_record == datetime(2018, 5, 31, tzinfo=UTC)
    record = salesforce_records(fixtures)[0]
    assert record["Motion__c"] == "b2b"
    assert record["MQL_Date__c"] == record["CreatedDate"]
    for api_name in ("Email", "Phone", "Country", "Company", "Marketing_Consent__c"):
        assert record[api_name] is None


@pytest.mark.dataset
def test_olist_underscore_spelling(tmp_path: Path) -> None:
    folder = data_set(OLIST)
    original = tmp_path / "original"
    original.mkdir()
    for name in (MQL_FILE, DEALS_FILE):
        header, _, body = (folder / name).read_text().partition("\n")
        body = "\n".join(
            ",".join(
                cell.replace(" ", "_") if cell.replace(" ", "").isalpha() else cell
                for cell in line.split(",")
            )
            for line in body.splitlines()
        )
        (original / name).write_text(f"{header}\n{body}\n")
    convert(original, tmp_path / "a")
    convert(folder, tmp_path / "b")
    sources_a = Counter(r["LeadSource"] for r in salesforce_records(tmp_path / "a"))
    sources_b = Counter(r["LeadSource"] for r in salesforce_records(tmp_path / "b"))
    assert sources_a == sources_b
    assert "paid_search" in sources_a


@pytest.mark.dataset
def test_olist_timezone_shifts_midnight(tmp_path: Path) -> None:
    convert(data_set(OLIST), tmp_path, timezone="America/Sao_Paulo")
    record = salesforce_records(tmp_path)[0]
    assert record["CreatedDate"].endswith("T03:00:00.000+0000")


def test_olist_bad_rows_kept_in_rejected_rows(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    write_csv(
        data / MQL_FILE,
        ["mql_id", "first_contact_date", "landing_page_id", "origin"],
        [
            ["a1", "2018-01-02", "p1", "paid search"],
            ["", "2018-01-03", "p1", "email"],
            ["a2", "2018-13-40", "p1", "social"],
            ["a1", "2018-01-04", "p1", "email"],
            ["a3", "2018-01-05", "p1", ""],
        ],
    )
    write_csv(
        data / DEALS_FILE,
        ["mql_id", "seller_id", "won_date"],
        [
            ["a1", "s1", "2018-01-05 10:00:00"],
            ["zz", "s2", "2018-01-05 10:00:00"],
            ["a3", "s3", "yesterday"],
        ],
    )
    summary = convert(data, tmp_path / "fixtures")
    rows = rejected(tmp_path / "fixtures")
    found = {(row["file"], row["line"], row["field"]) for row in rows}
    assert found == {
        (MQL_FILE, "3", "mql_id"),
        (MQL_FILE, "4", "first_contact_date"),
        (MQL_FILE, "5", "mql_id"),
        (DEALS_FILE, "3", "mql_id"),
        (DEALS_FILE, "4", "won_date"),
    }
    assert summary.rejected_rows == 5
    assert summary.leads_written == 2
    records = {r["Id"]: r for r in salesforce_records(tmp_path / "fixtures")}
    assert records["a3"]["LeadSource"] is None
    assert records["a1"]["Won_Date__c"] == "2018-01-05T10:00:00.000+0000"
    assert all("Fix:" in row["reason"] for row in rows)


def test_olist_missing_column_names_file(tmp_path: Path) -> None:
    write_csv(tmp_path / MQL_FILE, ["mql_id", "first_contact_date"], [["a1", "2018-01-02"]])
    with pytest.raises(DatasetError) as caught:
        convert(tmp_path, tmp_path / "fixtures")
    assert "'origin'" in str(caught.value)
    assert MQL_FILE in str(caught.value)


def test_olist_without_usable_rows(tmp_path: Path) -> None:
    write_csv(
        tmp_path / MQL_FILE,
        ["mql_id", "first_contact_date", "origin"],
        [["", "2018-01-02", "email"]],
    )
    with pytest.raises(DatasetError, match="no usable MQL rows"):
        convert(tmp_path, tmp_path / "fixtures")
    assert len(rejected(tmp_path / "fixtures")) == 1


def test_convert_replaces_earlier_fixtures(tmp_path: Path) -> None:
    fixtures = tmp_path / "fixtures"
    (fixtures / "hubspot").mkdir(parents=True)
    (fixtures / "hubspot" / "contacts.jsonl").write_text("{}\n")
    (fixtures / "partner_files" / "old").mkdir(parents=True)
    write_csv(
        tmp_path / MQL_FILE,
        ["mql_id", "first_contact_date", "origin"],
        [["a1", "2018-01-02", "email"]],
    )
    convert(tmp_path, fixtures)
    assert not (fixtures / "hubspot" / "contacts.jsonl").exists()
    assert not (fixtures / "partner_files").exists()
    assert json.loads((fixtures / "manifest.json").read_text())["kind"] == "olist"


# Maven -----------------------------------------------------------------------------------


@pytest.mark.dataset
def test_maven_opportunities(tmp_path: Path) -> None:
    folder = data_set(MAVEN)
    summary = convert(folder, tmp_path)
    with (folder / "sales_pipeline.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    engaged = [row for row in rows if row["engage_date"]]
    won = [row for row in engaged if row["deal_stage"] == "Won"]
    records = salesforce_records(tmp_path)
    assert summary.kind == "maven"
    assert summary.leads_written == len(engaged)
    assert sum(1 for r in records if r["Won_Date__c"]) == len(won)
    assert summary.rejected_rows == len(rows) - len(engaged)
    assert {row["field"] for row in rejected(tmp_path)} == {"engage_date"}
    assert {r["LeadSource"] for r in records} == {"Central", "East", "West"}
    assert all(r["SAL_Date__c"] == r["CreatedDate"] for r in records)
    assert "technolgy" not in {r["Industry"] for r in records}


# X Education -----------------------------------------------------------------------------


@pytest.mark.dataset
def test_x_education_contacts(tmp_path: Path) -> None:
    folder = data_set(X_EDUCATION)
    summary = convert(folder, tmp_path / "a")
    convert(folder, tmp_path / "b")
    first = (tmp_path / "a" / "hubspot" / "contacts.jsonl").read_bytes()
    assert first == (tmp_path / "b" / "hubspot" / "contacts.jsonl").read_bytes()
    contacts = [json.loads(line) for line in first.decode().splitlines()]
    assert summary.kind == "x_education"
    assert summary.crm == "hubspot"
    assert len(contacts) == 9240
    numbers = [int(contact["id"]) for contact in contacts]
    assert numbers == sorted(numbers)
    properties = [contact["properties"] for contact in contacts]
    assert all(p["motion"] == "b2c" for p in properties)
    assert all(v is None or isinstance(v, str) for p in properties for v in p.values())
    assert sum(p["hs_email_optout"] == "true" for p in properties) == 734
    assert sum(p["hs_lifecyclestage_customer_date"] is not None for p in properties) > 3400
    assert "Select" not in {p["lead_source"] for p in properties}
    codes = Counter(p["sal_rejection_code"] for p in properties if p["sal_rejection_code"])
    assert codes["not_reachable"] > 1000
    latest = max(
        _instant(value)
        for p in properties
        for key, value in p.items()
        if value and (key.endswith("date") or key == "createdate")
    )
    assert latest < summary.as_of
    assert summary.span(26).first_week == "2019-07-08"
