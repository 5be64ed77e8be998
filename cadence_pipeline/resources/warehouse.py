"""The warehouse contract tables and partition-replacing writes, on SQLite and Postgres.

Every weekly table carries a `week` column (the ISO date of its Monday). A write replaces
exactly one week of one table inside one transaction, so reruns and backfills never
duplicate rows and a failed write leaves the previous partition in place.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    select,
)
from sqlalchemy.engine import Engine, make_url

log = logging.getLogger(__name__)

metadata = MetaData()


def _week() -> Column:
    return Column("week", String(10), nullable=False, index=True)


raw_leads = Table(
    "raw_leads",
    metadata,
    _week(),
    Column("lead_id", String(64), nullable=False),
    Column("crm", String(32), nullable=False),
    Column("source", String(128), nullable=False),
    Column("created_week", String(10), nullable=False),
    Column("record", Text, nullable=False),
)

snapshot_records = Table(
    "snapshot_records",
    metadata,
    Column("crm", String(32), primary_key=True),
    Column("lead_id", String(64), primary_key=True),
    Column("record", Text, nullable=False),
    Column("first_activity_at", DateTime(timezone=True), nullable=False),
    Column("last_activity_at", DateTime(timezone=True), nullable=False),
    Column("is_deleted", Boolean, nullable=False),
    Column("synced_at", DateTime(timezone=True), nullable=False),
)

sync_state = Table(
    "sync_state",
    metadata,
    Column("crm", String(32), primary_key=True),
    Column("synced_until", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

partner_file_loads = Table(
    "partner_file_loads",
    metadata,
    _week(),
    Column("source_id", String(128), nullable=False),
    Column("file", Text, nullable=False),
    Column("rows_read", Integer, nullable=False),
    Column("rows_loaded", Integer, nullable=False),
    Column("rows_quarantined", Integer, nullable=False),
    Column("file_error", Text),
)

rejected_records = Table(
    "rejected_records",
    metadata,
    _week(),
    Column("crm", String(32), nullable=False),
    Column("origin", Text, nullable=False),
    Column("record_id", String(128), nullable=False),
    Column("field", String(128), nullable=False),
    Column("reason", Text, nullable=False),
)

ingest_runs = Table(
    "ingest_runs",
    metadata,
    _week(),
    Column("crm", String(32), nullable=False),
    Column("records", Integer, nullable=False),
    Column("rejected", Integer, nullable=False),
    Column("requests", Integer, nullable=False),
    Column("pages", Integer, nullable=False),
    Column("completed_at", DateTime(timezone=True), nullable=False),
)

weekly_findings = Table(
    "weekly_findings",
    metadata,
    _week(),
    Column("block", String(32), nullable=False),
    Column("rule", String(64), nullable=False),
    Column("subject", String(256), nullable=False),
    Column("owner", String(64)),
    Column("escalated_to", String(16)),
    Column("drift_mode", String(64)),
    Column("raised_in", String(16), nullable=False),
    Column("summary", Text, nullable=False),
    Column("evidence", Text),
)

leads = Table(
    "leads",
    metadata,
    Column("lead_id", String(64), nullable=False),
    Column("crm", String(32), nullable=False),
    Column("source", String(128), nullable=False),
    Column("source_type", String(64)),
    Column("motion", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    _week(),
    Column("account_id", String(128)),
    Column("signal_class", String(128)),
    Column("email_key", String(64)),
    Column("definition_version", String(64)),
    Column("source_owner", String(64)),
)

lead_events = Table(
    "lead_events",
    metadata,
    _week(),
    Column("lead_id", String(64), nullable=False),
    Column("crm", String(32), nullable=False),
    Column("source", String(128), nullable=False),
    Column("motion", String(16), nullable=False),
    Column("stage", String(32), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("lead_created_at", DateTime(timezone=True), nullable=False),
    Column("rejection_code", String(128)),
    Column("definition_version", String(64)),
    Column("mql_at", DateTime(timezone=True)),
    Column("sal_at", DateTime(timezone=True)),
)

signals = Table(
    "signals",
    metadata,
    _week(),
    Column("lead_id", String(64), nullable=False),
    Column("signal_class", String(128), nullable=False),
    Column("motion", String(16), nullable=False),
    Column("account_id", String(128)),
    Column("signal_at", DateTime(timezone=True), nullable=False),
    Column("qualified_at", DateTime(timezone=True)),
)

lead_validation = Table(
    "lead_validation",
    metadata,
    Column("lead_id", String(64), nullable=False),
    _week(),
    Column("source", String(128), nullable=False),
    Column("passed", Boolean),
    Column("failed_rules", Text, nullable=False, default=""),
    Column("not_applicable_rules", Text, nullable=False, default=""),
    Column("rule_version", String(32), nullable=False),
    Column("duplicate_of", String(64)),
)

validation_pass_rate = Table(
    "validation_pass_rate",
    metadata,
    _week(),
    Column("source", String(128), nullable=False),
    Column("source_type", String(64)),
    Column("motion", String(16)),
    Column("leads", Integer, nullable=False),
    Column("evaluated", Integer, nullable=False),
    Column("passed", Integer),
    Column("pass_rate", Float),
    Column("ci_low", Float),
    Column("ci_high", Float),
    Column("threshold", Float),
    Column("status", String(32), nullable=False),
    Column("established", Boolean),
    Column("rule_version", String(32), nullable=False),
    Column("note", Text),
)

pipeline_variance = Table(
    "pipeline_variance",
    metadata,
    _week(),
    Column("motion", String(16), nullable=False),
    Column("metric", String(64), nullable=False),
    Column("value", Float),
    Column("base", Integer),
    Column("seasonal_factor", Float),
    Column("trailing_4w_avg", Float),
    Column("trailing_base", Integer),
    Column("trailing_weeks", Integer),
    Column("variance", Float),
    Column("within_tolerance", Boolean),
    Column("status", String(32), nullable=False),
    Column("p_value", Float),
)

signal_class_performance = Table(
    "signal_class_performance",
    metadata,
    _week(),
    Column("signal_class", String(128), nullable=False),
    Column("motion", String(16), nullable=False),
    Column("signals", Integer, nullable=False),
    Column("qualified", Integer, nullable=False),
    Column("qualification_rate", Float),
    Column("expected_rate", Float),
    Column("change", Float),
    Column("provisional", Boolean, nullable=False),
    Column("observed_at", DateTime(timezone=True), nullable=False),
    Column("first_week", String(10)),
    Column("status", String(32), nullable=False),
)

dormancy = Table(
    "dormancy",
    metadata,
    _week(),
    Column("subject_type", String(16), nullable=False),
    Column("subject", String(128), nullable=False),
    Column("motion", String(16), nullable=False),
    Column("last_signal_at", DateTime(timezone=True), nullable=False),
    Column("days_dark", Integer, nullable=False),
)

handoff_rejections = Table(
    "handoff_rejections",
    metadata,
    _week(),
    Column("stage", String(16), nullable=False),
    Column("rejection_code", String(128), nullable=False),
    Column("count", Integer, nullable=False),
    Column("share", Float),
    Column("remediation_route", String(128)),
    Column("owner", String(64)),
    Column("status", String(32), nullable=False),
    Column("first_seen_at", DateTime(timezone=True)),
)

escalations = Table(
    "escalations",
    metadata,
    Column("escalation_id", String(64), nullable=False),
    _week(),
    Column("raised_in", String(16), nullable=False),
    Column("escalated_to", String(16)),
    Column("rule", String(64), nullable=False),
    Column("drift_mode", String(64)),
    Column("subject", String(256), nullable=False),
    Column("owner", String(64)),
    Column("status", String(32), nullable=False),
    Column("first_week", String(10), nullable=False),
    Column("occurrences", Integer, nullable=False),
    Column("summary", Text, nullable=False),
    Column("evidence", Text),
)

digests = Table(
    "digests",
    metadata,
    Column("cadence", String(16), nullable=False),
    Column("period", String(10), nullable=False),
    Column("channel", String(128), nullable=False),
    Column("target", String(16), nullable=False),
    Column("posted_at", DateTime(timezone=True)),
    Column("message_ts", String(64)),
    Column("content_hash", String(64), nullable=False),
    Column("markdown_path", Text),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
)

source_registry = Table(
    "source_registry",
    metadata,
    Column("source", String(128), primary_key=True),
    Column("source_type", String(64)),
    Column("motion", String(16)),
    Column("owner", String(64)),
    Column("first_seen_at", DateTime(timezone=True), nullable=False),
    Column("first_week", String(10), nullable=False),
    Column("established", Boolean, nullable=False),
    Column("status", String(16)),
    Column("status_since", DateTime(timezone=True)),
    Column("note", Text),
    Column("updated_at", DateTime(timezone=True)),
)

source_alerts = Table(
    "source_alerts",
    metadata,
    Column("source", String(128), nullable=False),
    Column("decided_at", DateTime(timezone=True), nullable=False),
    Column("owner", String(64)),
    Column("channel", String(128), nullable=False),
    Column("target", String(16), nullable=False),
    Column("posted_at", DateTime(timezone=True)),
    Column("message_ts", String(64)),
    Column("text", Text, nullable=False),
)

definition_register = Table(
    "definition_register",
    metadata,
    Column("kind", String(64), nullable=False),
    Column("version", String(64), nullable=False),
    Column("first_week", String(10), nullable=False),
    Column("owner", String(64)),
    Column("description", Text, nullable=False),
    Column("registered_at", DateTime(timezone=True), nullable=False),
)

TABLES: dict[str, Table] = {table.name: table for table in metadata.sorted_tables}


def _utc(value: datetime | None) -> datetime | None:
    """Return a datetime as aware UTC; SQLite hands back naive values that were stored as UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Warehouse:
    """The contract tables behind one SQLAlchemy engine (SQLite file or Postgres)."""

    def __init__(self, url: str, engine: Engine | None = None):
        self.url = url
        parsed = make_url(url)
        on_disk = parsed.database not in (None, "", ":memory:")
        if engine is None and parsed.get_backend_name() == "sqlite" and on_disk:
            # SQLite creates the file but not its folder (a fresh CADENCE_HOME).
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        self.engine = engine or create_engine(url, future=True, pool_pre_ping=True)
        self._schema_ready = False

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def ensure_schema(self) -> None:
        """Create missing contract tables; existing tables and their rows are left alone."""
        if not self._schema_ready:
            metadata.create_all(self.engine)
            self._schema_ready = True

    def replace_week(
        self, table_name: str, week: str, rows: Iterable[Mapping[str, Any]], **scope: Any
    ) -> int:
        """Replace one week of one table with `rows` in a single transaction; return the count.

        `scope` narrows the replaced slice to rows whose columns equal the given values, for
        example one block of `weekly_findings`. The rows must carry the same values.
        """
        self.ensure_schema()
        table = TABLES[table_name]
        payload = [{**row, **scope, "week": week} for row in rows]
        condition = table.c.week == week
        for column, value in scope.items():
            condition = condition & (table.c[column] == value)
        with self.engine.begin() as connection:
            connection.execute(delete(table).where(condition))
            if payload:
                connection.execute(table.insert(), payload)
        log.debug("replaced %s week %s with %d rows", table_name, week, len(payload))
        return len(payload)

    def rows(
        self,
        table_name: str,
        weeks: Sequence[str] | None = None,
        *,
        since: str | None = None,
        before: str | None = None,
        columns: Sequence[str] | None = None,
        **equals: Any,
    ) -> list[dict[str, Any]]:
        """Return rows of a table as dicts, with datetimes as aware UTC values.

        Filters: `weeks` (a list of week keys), `since` (weeks on or after), `before`
        (weeks strictly before) and column equality for any other keyword. `columns`
        limits the columns read, which matters for reads over many weeks.
        """
        self.ensure_schema()
        table = TABLES[table_name]
        selected = [table.c[name] for name in columns] if columns else list(table.c)
        query = select(*selected)
        if weeks is not None:
            query = query.where(table.c.week.in_(list(weeks)))
        if since is not None:
            query = query.where(table.c.week >= since)
        if before is not None:
            query = query.where(table.c.week < before)
        for column, value in equals.items():
            query = query.where(table.c[column] == value)
        names = [column.name for column in selected]
        instants = [column.name for column in selected if isinstance(column.type, DateTime)]
        with self.engine.connect() as connection:
            records = [dict(zip(names, row, strict=True)) for row in connection.execute(query)]
        for record in records:
            for name in instants:
                record[name] = _utc(record[name])
        return records

    def distinct(self, table_name: str, column: str, *, before: str | None = None) -> list[Any]:
        """Return the distinct values of one column, optionally over weeks before `before`."""
        self.ensure_schema()
        table = TABLES[table_name]
        query = select(table.c[column]).distinct()
        if before is not None:
            query = query.where(table.c.week < before)
        with self.engine.connect() as connection:
            return sorted(row[0] for row in connection.execute(query) if row[0] is not None)

    def frame(
        self, table_name: str, weeks: Sequence[str] | None = None, **filters: Any
    ) -> pd.DataFrame:
        """Return the same rows as `rows`, as a DataFrame with the table's columns."""
        records = self.rows(table_name, weeks=weeks, **filters)
        columns = filters.get("columns") or list(TABLES[table_name].c.keys())
        return pd.DataFrame.from_records(records, columns=columns)

    def weeks_present(self, table_name: str) -> list[str]:
        self.ensure_schema()
        table = TABLES[table_name]
        with self.engine.connect() as connection:
            result = connection.execute(select(table.c.week).distinct().order_by(table.c.week))
            return [row[0] for row in result]

    def upsert_source(self, row: Mapping[str, Any]) -> None:
        """Insert a source into the registry, or update the columns given for it."""
        self.ensure_schema()
        table = source_registry
        with self.engine.begin() as connection:
            existing = connection.execute(
                select(table.c.source).where(table.c.source == row["source"])
            ).first()
            if existing is None:
                connection.execute(table.insert(), [dict(row)])
            else:
                values = {key: value for key, value in row.items() if key != "source"}
                connection.execute(
                    table.update().where(table.c.source == row["source"]).values(**values)
                )

    def synced_until(self, crm: str) -> datetime | None:
        """Return the end of the last completed snapshot sync of a CRM, or None."""
        self.ensure_schema()
        with self.engine.connect() as connection:
            row = connection.execute(
                select(sync_state.c.synced_until).where(sync_state.c.crm == crm)
            ).first()
        return _utc(row[0]) if row else None

    def apply_snapshot(
        self,
        crm: str,
        records: Sequence[Mapping[str, Any]],
        merged_ids: Iterable[str],
        synced_until: datetime,
    ) -> None:
        """Upsert records into the snapshot, drop merged-away ids and move the cursor.

        One transaction: a failed write leaves the snapshot and its cursor as they were,
        so the next sync pulls the same window again.
        """
        self.ensure_schema()
        table = snapshot_records
        ids = [record["lead_id"] for record in records] + list(merged_ids)
        with self.engine.begin() as connection:
            for offset in range(0, len(ids), 500):
                chunk = ids[offset : offset + 500]
                connection.execute(
                    delete(table).where((table.c.crm == crm) & table.c.lead_id.in_(chunk))
                )
            if records:
                connection.execute(table.insert(), [{**record, "crm": crm} for record in records])
            connection.execute(delete(sync_state).where(sync_state.c.crm == crm))
            connection.execute(
                sync_state.insert(),
                [{"crm": crm, "synced_until": synced_until, "updated_at": datetime.now(UTC)}],
            )

    def snapshot_overlapping(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """Return live snapshot records whose activity span overlaps [start, end)."""
        self.ensure_schema()
        table = snapshot_records
        query = select(table.c.crm, table.c.lead_id, table.c.record).where(
            (table.c.is_deleted == False)  # noqa: E712 - SQL comparison, not Python
            & (table.c.first_activity_at < end)
            & (table.c.last_activity_at >= start)
        )
        with self.engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]

    def register_definition(
        self, kind: str, version: str, week: str, owner: str | None, description: str
    ) -> bool:
        """Record a definition version the first time a week uses it; return True if new.

        A version seen again in an earlier week (a backfill) moves its first week back.
        """
        self.ensure_schema()
        table = definition_register
        match = (table.c.kind == kind) & (table.c.version == version)
        with self.engine.begin() as connection:
            existing = connection.execute(select(table.c.first_week).where(match)).first()
            if existing is None:
                connection.execute(
                    table.insert(),
                    [
                        {
                            "kind": kind,
                            "version": version,
                            "first_week": week,
                            "owner": owner,
                            "description": description,
                            "registered_at": datetime.now(UTC),
                        }
                    ],
                )
                return True
            if week < existing[0]:
                connection.execute(table.update().where(match).values(first_week=week))
            return False

    def insert_row(self, table_name: str, row: Mapping[str, Any]) -> None:
        """Append one row to a table that is not partitioned by week."""
        self.ensure_schema()
        with self.engine.begin() as connection:
            connection.execute(TABLES[table_name].insert(), [dict(row)])

    def insert_digest(self, row: Mapping[str, Any]) -> None:
        self.ensure_schema()
        with self.engine.begin() as connection:
            connection.execute(
                delete(digests).where(
                    (digests.c.cadence == row["cadence"])
                    & (digests.c.period == row["period"])
                    & (digests.c.channel == row["channel"])
                )
            )
            connection.execute(digests.insert(), [dict(row)])

    def dispose(self) -> None:
        self.engine.dispose()
