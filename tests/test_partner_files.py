"""PartnerFileConnector: manifests, encodings, delimiters, date formats, quarantine counts."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from cadence_pipeline.governance.config import load_config
from cadence_pipeline.resources.connector import FetchResult
from cadence_pipeline.resources.partner_files import PartnerFileConnector, load_manifest

CONFIG = load_config()
START = datetime(2026, 11, 2, tzinfo=UTC)
END = datetime(2026, 11, 9, tzinfo=UTC)

MANIFEST = {
    "source": "Partner Acme",
    "source_type": "partner_file",
    "motion": "b2b",
    "owner": "data_lead",
    "delimiter": ";",
    "timezone": "Europe/Berlin",
    "datetime_format": "%d.%m.%Y %H:%M",
    "columns": {
        "lead_id": "Ref",
        "created_at": "Created",
        "email": "E-Mail",
        "company": "Firma",
        "employees": "Mitarbeiter",
    },
}


def write_partner(drop: Path, partner: str, manifest: dict | None, files: dict[str, bytes]) -> None:
    folder = drop / partner
    folder.mkdir(parents=True, exist_ok=True)
    if manifest is not None:
        (folder / "partner.yaml").write_text(yaml.safe_dump(manifest), encoding="utf-8")
    for name, content in files.items():
        (folder / name).write_bytes(content)


CSV = (
    "Ref;Created;E-Mail;Firma;Mitarbeiter\n"
    "A1;02.11.2026 10:15;anna@acme-customer.de;Müller GmbH;120\n"
    "A2;01.11.2026 10:15;ben@acme-customer.de;Beta AG;40\n"
    "A3;not a date;carl@acme-customer.de;Gamma;10\n"
    "A4;03.11.2026 08:00;dora@acme-customer.de;Delta;many\n"
    ";03.11.2026 08:00;erik@acme-customer.de;Epsilon;5\n"
    "A6;04.11.2026 08:00;too;many;fields;here\n"
    "\n"
    'A7;05.11.2026 08:00;"semi;colon@acme-customer.de";Zeta;7\n'
)


def read(drop: Path, config=CONFIG) -> FetchResult:
    result = PartnerFileConnector(drop_dir=drop, config=config).read_all()
    assert_balanced(result)
    return result


def assert_balanced(result: FetchResult, *, whole_files: bool = True) -> None:
    """Every file: rows read = rows loaded + rows quarantined, and the lists agree."""
    for report in result.files:
        assert report.rows_read == report.rows_loaded + report.rows_quarantined, report
        assert len(report.quarantined) == report.rows_quarantined
    if whole_files:  # fetch_leads keeps only the leads of its window
        assert sum(report.rows_loaded for report in result.files) == len(result.leads)


@pytest.fixture
def drop(tmp_path):
    drop = tmp_path / "partner_files"
    write_partner(drop, "acme", MANIFEST, {"2026-11.csv": CSV.encode("utf-8-sig")})
    return drop


def test_fetch_reads_rows_in_window(drop):
    result = PartnerFileConnector(drop_dir=drop, config=CONFIG).fetch_leads(START, END)
    assert sorted(lead.lead_id for lead in result.leads) == ["A1", "A7"]
    lead = next(lead for lead in result.leads if lead.lead_id == "A1")
    assert lead.crm == "partner_file"
    assert lead.source == "partner_acme"
    assert lead.source_type == "partner_file"
    assert lead.motion == "b2b"
    assert lead.company == "Müller GmbH"
    assert lead.employees == 120
    assert lead.created_at == datetime(2026, 11, 2, 9, 15, tzinfo=UTC)
    assert lead.extra == {"owner": "data_lead", "partner_id": "acme"}


def test_bad_rows_name_file_and_line(drop):
    result = PartnerFileConnector(drop_dir=drop, config=CONFIG).fetch_leads(START, END)
    by_origin = {error.origin.rsplit("/", 1)[-1]: error for error in result.rejected}
    assert set(by_origin) == {"2026-11.csv:4", "2026-11.csv:5", "2026-11.csv:6", "2026-11.csv:7"}
    assert by_origin["2026-11.csv:4"].field_name == "Created"
    assert by_origin["2026-11.csv:5"].field_name == "Mitarbeiter"
    assert by_origin["2026-11.csv:6"].field_name == "Ref"
    assert by_origin["2026-11.csv:7"].field_name == "row"
    assert all("acme-customer.de" not in str(error) for error in result.rejected)


def test_rows_outside_window_are_not_rejects(drop):
    result = read(drop)
    assert len(result.leads) == 3
    assert len(result.rejected) == 4
    report = result.files[0]
    assert (report.rows_read, report.rows_loaded, report.rows_quarantined) == (7, 3, 4)
    assert [row.line for row in report.quarantined] == [4, 5, 6, 7]
    assert report.delimiter == ";"


def test_missing_column_rejects_file(tmp_path):
    drop = tmp_path / "drop"
    write_partner(drop, "acme", MANIFEST, {"a.csv": b"Ref;Created\nA1;02.11.2026 10:15\n"})
    result = read(drop)
    assert result.leads == []
    assert len(result.rejected) == 1
    assert result.rejected[0].field_name in {"E-Mail", "Firma", "Mitarbeiter"}
    for column in ("E-Mail", "Firma", "Mitarbeiter"):
        assert column in result.rejected[0].problem
    assert result.rejected[0].origin.endswith("a.csv:2")
    report = result.files[0]
    assert report.file_error.startswith("Firma is not a column")
    assert (report.rows_read, report.rows_quarantined) == (1, 1)


def test_wrong_encoding_names_line(tmp_path):
    drop = tmp_path / "drop"
    manifest = dict(MANIFEST, encoding="utf-8")
    content = "Ref;Created;E-Mail;Firma;Mitarbeiter\nA1;02.11.2026 10:15;x@y.de;Müller;1\n"
    write_partner(drop, "acme", manifest, {"a.csv": content.encode("cp1252")})
    result = read(drop)
    assert result.rejected[0].field_name == "encoding"
    assert result.rejected[0].origin.endswith("a.csv:2")
    assert "0xFC" in result.rejected[0].problem


def test_bad_manifest_rejects_files_but_not_other_partners(tmp_path, drop):
    write_partner(drop, "broken", {"source": "x", "colums": {}}, {"b.csv": b"a\n1\n"})
    result = PartnerFileConnector(drop_dir=drop, config=CONFIG).fetch_leads(START, END)
    assert len(result.leads) == 2
    assert_balanced(result, whole_files=False)
    broken = [error for error in result.rejected if error.record_id == "broken:b.csv"]
    assert broken[0].field_name == "colums"
    report = next(report for report in result.files if report.source_id == "broken")
    assert (report.rows_read, report.rows_loaded, report.rows_quarantined) == (1, 0, 1)


def test_missing_manifest(tmp_path):
    drop = tmp_path / "drop"
    write_partner(drop, "acme", None, {"a.csv": b"x\n"})
    result = read(drop)
    assert result.rejected[0].field_name == "partner.yaml"
    assert "missing" in result.rejected[0].problem


def test_naive_datetimes_need_manifest_timezone(tmp_path):
    drop = tmp_path / "drop"
    manifest = {key: value for key, value in MANIFEST.items() if key != "timezone"}
    content = "Ref;Created;E-Mail;Firma;Mitarbeiter\nA1;02.11.2026 10:15;x@y.de;F;1\n"
    write_partner(drop, "acme", manifest, {"a.csv": content.encode()})
    result = read(drop)
    assert result.leads == []
    assert "without a time zone" in result.rejected[0].problem


def test_ids_from_file_and_line_without_id_column(tmp_path):
    drop = tmp_path / "drop"
    columns = {key: value for key, value in MANIFEST["columns"].items() if key != "lead_id"}
    manifest = dict(MANIFEST, columns=columns)
    content = "Created;E-Mail;Firma;Mitarbeiter\n02.11.2026 10:15;x@y.de;F;1\n"
    write_partner(drop, "acme", manifest, {"week45.csv": content.encode()})
    result = read(drop)
    assert [lead.lead_id for lead in result.leads] == ["acme:week45:2"]


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"motion": "b2x"}, "motion"),
        ({"timezone": "Mars/Base"}, "timezone"),
        ({"delimiter": ";;"}, "delimiter"),
        ({"encoding": "klingon"}, "encoding"),
        ({"excel_dates": "sometimes"}, "excel_dates"),
        ({"columns": {"created_at": "C", "emial": "E"}}, "columns"),
        ({"source": ""}, "source"),
        ({"columns": {"email": "E"}}, "columns"),
    ],
)
def test_manifest_checks(tmp_path, change, key):
    write_partner(tmp_path, "acme", dict(MANIFEST, **change), {})
    with pytest.raises(ValueError) as caught:
        load_manifest(tmp_path / "acme")
    assert caught.value.key == key


# Encodings.

PLAIN = {
    "source": "Partner Acme",
    "motion": "b2b",
    "timezone": "Europe/Berlin",
    "columns": {"lead_id": "Ref", "created_at": "Created", "company": "Firma"},
}
ROWS = "Ref;Created;Firma\nA1;2026-11-02T10:15:00+01:00;Müller GmbH\nA2;2026-11-03;Café Zoë\n"


@pytest.mark.parametrize(
    ("encoding", "content"),
    [
        ("utf-8", ROWS.encode("utf-8")),
        ("utf-8", ROWS.encode("utf-8-sig")),
        ("utf-8-sig", ROWS.encode("utf-8")),
        ("utf-8-sig", ROWS.encode("utf-8-sig")),
        ("cp1252", ROWS.encode("cp1252")),
        ("auto", ROWS.encode("utf-8")),
        ("auto", ROWS.encode("utf-8-sig")),
        ("auto", ROWS.encode("cp1252")),
    ],
)
def test_encodings_read_the_same(tmp_path, encoding, content):
    write_partner(tmp_path, "acme", dict(PLAIN, encoding=encoding), {"a.csv": content})
    result = read(tmp_path)
    assert result.rejected == []
    assert sorted(lead.company for lead in result.leads) == ["Café Zoë", "Müller GmbH"]
    assert result.files[0].rows_read == 2


def test_auto_encoding_reports_choice(tmp_path):
    write_partner(tmp_path, "acme", dict(PLAIN, encoding="auto"), {"a.csv": ROWS.encode("cp1252")})
    assert read(tmp_path).files[0].encoding == "cp1252"


def test_bom_with_cp1252_rejects_file(tmp_path):
    content = ROWS.encode("utf-8-sig")
    write_partner(tmp_path, "acme", dict(PLAIN, encoding="cp1252"), {"a.csv": content})
    result = read(tmp_path)
    assert result.leads == []
    assert result.files[0].rows_quarantined == 2
    assert "byte order mark" in result.rejected[0].problem


def test_bad_byte_quarantines_only_its_row(tmp_path):
    content = ROWS.encode("utf-8") + "A3;2026-11-04;Gärtner\n".encode("cp1252")
    write_partner(tmp_path, "acme", dict(PLAIN, encoding="utf-8"), {"a.csv": content})
    result = read(tmp_path)
    assert sorted(lead.lead_id for lead in result.leads) == ["A1", "A2"]
    assert [row.line for row in result.files[0].quarantined] == [4]
    assert result.files[0].quarantined[0].field_name == "encoding"


# Delimiters.


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_delimiter_detected(tmp_path, delimiter):
    content = ROWS.replace(";", delimiter).encode("utf-8")
    write_partner(tmp_path, "acme", PLAIN, {"a.csv": content})
    result = read(tmp_path)
    assert len(result.leads) == 2
    assert result.files[0].delimiter == delimiter


@pytest.mark.parametrize(("name", "character"), [("tab", "\t"), ("semicolon", ";")])
def test_delimiter_by_name(tmp_path, name, character):
    content = ROWS.replace(";", character).encode("utf-8")
    write_partner(tmp_path, "acme", dict(PLAIN, delimiter=name), {"a.csv": content})
    assert len(read(tmp_path).leads) == 2


def test_quoted_delimiter_is_not_ambiguous(tmp_path):
    content = b'Ref,Created,Firma\nA1,2026-11-02,"Alpha; Beta"\nA2,2026-11-03,"Gamma;Delta"\n'
    write_partner(tmp_path, "acme", PLAIN, {"a.csv": content})
    result = read(tmp_path)
    assert sorted(lead.company for lead in result.leads) == ["Alpha; Beta", "Gamma;Delta"]


def test_ambiguous_delimiter_rejects_file(tmp_path):
    manifest = dict(PLAIN, columns={"created_at": "Created"})
    # Comma and semicolon both give two columns, one of them "Created", on every row.
    content = b"Created;x,Created\n2026-11-02;a,2026-11-03\n2026-11-04;b,2026-11-05\n"
    write_partner(tmp_path, "acme", manifest, {"a.csv": content})
    result = read(tmp_path)
    report = result.files[0]
    assert result.leads == []
    assert report.rows_quarantined == 2
    assert "ambiguous" in report.file_error
    assert "comma and semicolon" in report.file_error
    assert result.rejected[0].fix.startswith("set delimiter:")


def test_undetectable_delimiter_rejects_file(tmp_path):
    content = b"Ref|Created|Firma\nA1|2026-11-02|X\n"
    write_partner(tmp_path, "acme", PLAIN, {"a.csv": content})
    result = read(tmp_path)
    assert result.leads == []
    assert "could not be detected" in result.files[0].file_error


def test_quote_error_quarantines_and_continues(tmp_path):
    content = b'Ref;Created;Firma\nA1;2026-11-02;"Open\nA2;2026-11-03;"x"y\nA3;2026-11-04;Z\n'
    write_partner(tmp_path, "acme", dict(PLAIN, delimiter=";"), {"a.csv": content})
    result = read(tmp_path)
    report = result.files[0]
    assert report.rows_read == report.rows_loaded + report.rows_quarantined
    assert report.rows_quarantined >= 1
    assert all(row.field_name == "row" for row in report.quarantined)


# Dates.


def date_file(tmp_path, values: list[str], **manifest) -> FetchResult:
    lines = ["Ref;Created;Firma"] + [f"R{i};{value};F" for i, value in enumerate(values)]
    write_partner(tmp_path, "acme", dict(PLAIN, **manifest), {"a.csv": "\n".join(lines).encode()})
    return read(tmp_path)


def test_datetime_format_is_not_guessed(tmp_path):
    result = date_file(
        tmp_path,
        ["02.11.2026 10:15", "2026-11-02T10:15:00Z", "11.02.2026 10:15"],
        datetime_format="%d.%m.%Y %H:%M",
    )
    created = {lead.lead_id: lead.created_at for lead in result.leads}
    assert created == {
        "R0": datetime(2026, 11, 2, 9, 15, tzinfo=UTC),
        "R2": datetime(2026, 2, 11, 9, 15, tzinfo=UTC),
    }
    assert [error.record_id for error in result.rejected] == ["R1"]
    assert "'%d.%m.%Y %H:%M'" in result.rejected[0].problem


def test_date_format_is_calendar_date(tmp_path):
    result = date_file(
        tmp_path,
        ["02.11.2026 10:15", "03/11/2026"],
        datetime_format="%d.%m.%Y %H:%M",
        date_format="%d/%m/%Y",
    )
    created = {lead.lead_id: lead.created_at for lead in result.leads}
    assert created["R1"] == datetime(2026, 11, 2, 23, 0, tzinfo=UTC)  # midnight in Berlin


@pytest.mark.parametrize(
    ("serial", "expected"),
    [
        ("46328", datetime(2026, 11, 1, 23, 0, tzinfo=UTC)),  # 2026-11-02, Berlin midnight
        ("46328.5", datetime(2026, 11, 2, 11, 0, tzinfo=UTC)),  # noon in Berlin
        ("46328.427083333336", datetime(2026, 11, 2, 9, 15, tzinfo=UTC)),
    ],
)
def test_excel_serial_dates(tmp_path, serial, expected):
    result = date_file(tmp_path, [serial], excel_dates=True)
    assert [lead.created_at for lead in result.leads] == [expected]


def test_excel_serial_out_of_range(tmp_path):
    result = date_file(tmp_path, ["12", "46328"], excel_dates=True)
    assert [lead.lead_id for lead in result.leads] == ["R1"]
    assert "Excel serial" in result.rejected[0].problem


def test_excel_serial_off_reads_iso_only(tmp_path):
    result = date_file(tmp_path, ["46328", "2026-11-02"])
    assert [lead.lead_id for lead in result.leads] == ["R1"]
    assert [error.record_id for error in result.rejected] == ["R0"]


def test_iso_dates_without_format(tmp_path):
    result = date_file(tmp_path, ["2026-11-02T10:15:00+01:00", "2026-11-02 10:15", "2026-11-02"])
    created = {lead.lead_id: lead.created_at for lead in result.leads}
    assert created["R0"] == datetime(2026, 11, 2, 9, 15, tzinfo=UTC)
    assert created["R1"] == datetime(2026, 11, 2, 9, 15, tzinfo=UTC)  # naive: partner zone
    assert created["R2"] == datetime(2026, 11, 1, 23, 0, tzinfo=UTC)


# Counts and configuration.


def test_every_file_balances(tmp_path, drop):
    write_partner(drop, "beta", dict(PLAIN, encoding="auto"), {"b.csv": ROWS.encode("cp1252")})
    write_partner(drop, "gamma", None, {"c.csv": b"a,b\n1,2\n3,4\n"})
    result = read(drop)
    assert {report.source_id for report in result.files} == {"acme", "beta", "gamma"}
    gamma = next(report for report in result.files if report.source_id == "gamma")
    assert (gamma.rows_read, gamma.rows_quarantined) == (2, 2)


def test_partner_described_in_config(tmp_path):
    config = load_config(overrides={"connectors": {"partner_files": {"partners": {"acme": PLAIN}}}})
    write_partner(tmp_path, "acme", None, {"a.csv": ROWS.encode()})
    result = read(tmp_path, config)
    assert len(result.leads) == 2


def test_read_path_reads_one_file(drop):
    connector = PartnerFileConnector(drop_dir=drop, config=CONFIG)
    result = connector.read_path(drop / "acme" / "2026-11.csv")
    assert_balanced(result)
    assert len(result.files) == 1
    assert len(result.leads) == 3
