"""PartnerFileConnector: manifests, strict row parsing, window filtering and rejects."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from cadence_pipeline.governance.config import load_config
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
    result = PartnerFileConnector(drop_dir=drop, config=CONFIG).read_all()
    assert len(result.leads) == 3
    assert len(result.rejected) == 4


def test_missing_column_rejects_file(tmp_path):
    drop = tmp_path / "drop"
    write_partner(drop, "acme", MANIFEST, {"a.csv": b"Ref;Created\nA1;02.11.2026 10:15\n"})
    result = PartnerFileConnector(drop_dir=drop, config=CONFIG).read_all()
    assert result.leads == []
    assert len(result.rejected) == 1
    assert result.rejected[0].field_name in {"E-Mail", "Firma", "Mitarbeiter"}
    for column in ("E-Mail", "Firma", "Mitarbeiter"):
        assert column in result.rejected[0].problem
    assert "a.csv:1" in result.rejected[0].origin


def test_wrong_encoding_names_line(tmp_path):
    drop = tmp_path / "drop"
    manifest = dict(MANIFEST, encoding="utf-8")
    content = "Ref;Created;E-Mail;Firma;Mitarbeiter\nA1;02.11.2026 10:15;x@y.de;Müller;1\n"
    write_partner(drop, "acme", manifest, {"a.csv": content.encode("cp1252")})
    result = PartnerFileConnector(drop_dir=drop, config=CONFIG).read_all()
    assert result.rejected[0].field_name == "encoding"
    assert result.rejected[0].origin.endswith("a.csv:2")


def test_bad_manifest_rejects_files_but_not_other_partners(tmp_path, drop):
    write_partner(drop, "broken", {"source": "x", "colums": {}}, {"b.csv": b"a\n1\n"})
    result = PartnerFileConnector(drop_dir=drop, config=CONFIG).fetch_leads(START, END)
    assert len(result.leads) == 2
    broken = [error for error in result.rejected if error.record_id == "broken:b.csv"]
    assert broken[0].field_name == "colums"


def test_missing_manifest(tmp_path):
    drop = tmp_path / "drop"
    write_partner(drop, "acme", None, {"a.csv": b"x\n"})
    result = PartnerFileConnector(drop_dir=drop, config=CONFIG).read_all()
    assert result.rejected[0].field_name == "partner.yaml"
    assert "missing" in result.rejected[0].problem


def test_naive_datetimes_need_manifest_timezone(tmp_path):
    drop = tmp_path / "drop"
    manifest = {key: value for key, value in MANIFEST.items() if key != "timezone"}
    content = "Ref;Created;E-Mail;Firma;Mitarbeiter\nA1;02.11.2026 10:15;x@y.de;F;1\n"
    write_partner(drop, "acme", manifest, {"a.csv": content.encode()})
    result = PartnerFileConnector(drop_dir=drop, config=CONFIG).read_all()
    assert result.leads == []
    assert "without a time zone" in result.rejected[0].problem


def test_ids_from_file_and_line_without_id_column(tmp_path):
    drop = tmp_path / "drop"
    columns = {key: value for key, value in MANIFEST["columns"].items() if key != "lead_id"}
    manifest = dict(MANIFEST, columns=columns)
    content = "Created;E-Mail;Firma;Mitarbeiter\n02.11.2026 10:15;x@y.de;F;1\n"
    write_partner(drop, "acme", manifest, {"week45.csv": content.encode()})
    result = PartnerFileConnector(drop_dir=drop, config=CONFIG).read_all()
    assert [lead.lead_id for lead in result.leads] == ["acme:week45:2"]


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"motion": "b2x"}, "motion"),
        ({"timezone": "Mars/Base"}, "timezone"),
        ({"delimiter": ";;"}, "delimiter"),
        ({"encoding": "klingon"}, "encoding"),
        ({"source": ""}, "source"),
        ({"columns": {"email": "E"}}, "columns"),
    ],
)
def test_manifest_checks(tmp_path, change, key):
    write_partner(tmp_path, "acme", dict(MANIFEST, **change), {})
    with pytest.raises(ValueError) as caught:
        load_manifest(tmp_path / "acme")
    assert caught.value.key == key
