import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from cadence_pipeline.resources.warehouse import Warehouse

POSTGRES_ADMIN_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"


def _lead(lead_id: str) -> dict:
    return {
        "lead_id": lead_id,
        "crm": "salesforce",
        "source": "web_form",
        "source_type": "form",
        "motion": "b2b",
        "created_at": datetime(2026, 11, 3, 9, tzinfo=UTC),
        "account_id": None,
        "signal_class": "webinar",
        "email_key": None,
        "definition_version": "mql-v3",
    }


def _exercise(warehouse: Warehouse) -> None:
    warehouse.replace_week("leads", "2026-11-02", [_lead("a"), _lead("b")])
    warehouse.replace_week("leads", "2026-11-09", [_lead("c")])
    # Rewriting a week replaces exactly that week.
    warehouse.replace_week("leads", "2026-11-02", [_lead("a")])
    rows = warehouse.rows("leads")
    assert sorted(row["lead_id"] for row in rows) == ["a", "c"]
    created = warehouse.rows("leads", weeks=["2026-11-09"])[0]["created_at"]
    assert created == datetime(2026, 11, 3, 9, tzinfo=UTC)
    assert warehouse.weeks_present("leads") == ["2026-11-02", "2026-11-09"]
    assert len(warehouse.rows("leads", before="2026-11-09")) == 1


def test_replace_week_on_sqlite(tmp_path):
    warehouse = Warehouse(f"sqlite:///{tmp_path / 'warehouse.db'}")
    _exercise(warehouse)


@pytest.fixture
def postgres_url():
    """A fresh database on the local PostgreSQL server, dropped afterwards."""
    name = f"cadence_test_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as error:
        pytest.fail(
            f"PostgreSQL on 127.0.0.1:5432 is not reachable ({error}); start it, or deselect "
            "these tests with -m 'not postgres'"
        )
    yield f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.mark.postgres
@pytest.mark.timeout(60)
def test_replace_week_on_postgres(postgres_url):
    warehouse = Warehouse(postgres_url)
    assert warehouse.dialect == "postgresql"
    _exercise(warehouse)
    warehouse.dispose()
