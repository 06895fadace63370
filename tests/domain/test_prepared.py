"""Prepared statements (feedback.prepared) write and read exactly what Core would, on each database."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import Table, delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from feedback import prepared
from feedback.db import Database
from feedback.models import Event, FeedbackItem, OutboxMessage, Partner, PlaceStat, Site, utcnow
from feedback.models.stats import COUNTERS
from tests.staff_factories import make_item

_INSERT_EVENTS = insert(Event.__table__)
_INSERT_MESSAGES = insert(OutboxMessage.__table__)


def rows_of(session: Session, table: Table, where: Any) -> list[dict[str, Any]]:
    return [dict(row._mapping) for row in session.execute(select(table).where(where).order_by(table.c.id))]


def without_ids(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k != "id"} for row in rows]


async def test_inserts_equal_cores_defaults_and_conversions_included(db: Database) -> None:
    item = await make_item(db)
    async with db.write() as session, session.begin():
        now = utcnow().replace(microsecond=0)  # a value SQLite's format writes without a fraction

        def both(sync: Session) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
            connection = sync.connection()
            events = [
                {"item_id": item.id, "kind": "submitted", "created_at": now, "actor_label": "probe 1",
                 "public": True, "to_status": "received", "partner_id": None, "data": {"channel": "kiosk", "n": [1, 2]}},
                {"item_id": item.id, "kind": "routed", "created_at": now + timedelta(microseconds=7),
                 "actor_label": "probe 2", "public": False, "to_status": None, "partner_id": item.partner_id,
                 "data": None},
            ]
            messages = [  # status, attempts, created_at: the table's defaults
                {"channel": "email", "recipient": "a@ong.invalid", "subject": "Sujet ɛ", "body": "Corps",
                 "purpose": "assigned", "locale": "bm", "item_id": item.id, "next_attempt_at": now,
                 "message_key": f"key-{n}"} for n in range(3)
            ]
            table = Event.__table__
            probes = table.c.actor_label.like("probe%")
            connection.execute(insert(table), events)
            core = rows_of(sync, table, probes)
            connection.execute(delete(table).where(probes))
            prepared.execute_many(connection, _INSERT_EVENTS, events)
            ours = rows_of(sync, table, probes)
            assert len(ours) == 2 and without_ids(ours) == without_ids(core)

            outbox = OutboxMessage.__table__
            before = utcnow()
            prepared.execute_many(connection, _INSERT_MESSAGES, messages)
            written = rows_of(sync, outbox, outbox.c.message_key.like("key-%"))
            return written, [dict(m) for m in messages], before  # type: ignore[return-value]

        written, messages, before = await session.run_sync(both)  # type: ignore[misc]
    assert [w["message_key"] for w in written] == [m["message_key"] for m in messages]
    for row, message in zip(written, messages, strict=True):
        assert {k: row[k] for k in message} == message
        assert row["status"] == "pending" and row["attempts"] == 0
        assert before - timedelta(seconds=5) <= row["created_at"] <= utcnow()


async def test_upserts_add_to_existing_counters(db: Database) -> None:
    from feedback.domain.stats import _upsert_statement

    async with db.read() as session:
        site_id = await session.scalar(select(Site.id).limit(1))
        partner_id = await session.scalar(select(Partner.id).limit(1))
    month = date(1999, 1, 1)
    key = {"month": month, "site_id": site_id, "partner_id": partner_id, "protected": False}
    row = key | dict.fromkeys(COUNTERS, 0) | {"received": 2, "rating_sum": 5}

    def upsert(sync: Session) -> None:
        connection = sync.connection()
        statement = _upsert_statement(connection.dialect.name, PlaceStat.__table__, tuple(key), COUNTERS)
        prepared.execute_many(connection, statement, [row])
        prepared.execute_many(connection, statement, [row, row])

    async with db.write() as session, session.begin():
        await session.run_sync(upsert)
    async with db.read() as session:
        stat = (await session.execute(select(PlaceStat).where(PlaceStat.month == month))).scalar_one()
    assert (stat.received, stat.rating_sum, stat.verified) == (6, 15, 0)


@pytest.mark.parametrize("size", [1, 2, 3, 5, 16, 33])
async def test_select_in_reads_what_core_reads(db: Database, size: int) -> None:
    items = [await make_item(db) for _ in range(size)]
    codes = [i.tracking_code for i in items] + ["NOSUCHCOD"]
    table = FeedbackItem.__table__
    columns = (table.c.tracking_code, table.c.id, table.c.received_at, table.c.publish_consent, table.c.due_at)

    def both(sync: Session) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        connection = sync.connection()
        core = [tuple(r) for r in connection.execute(select(*columns).where(table.c.tracking_code.in_(codes)))]
        return sorted(prepared.select_in(connection, columns, table.c.tracking_code, codes)), sorted(core)

    async with db.write() as session, session.begin():
        ours, core = await session.run_sync(both)
    assert ours == core and len(ours) == size
    assert all(row[2].tzinfo is not None for row in ours)  # UTC-aware, as the models read them


def test_prepared_sql_is_compiled_once_per_shape() -> None:
    keys = ("item_id", "kind", "created_at")
    for dialect in (sqlite.dialect(), postgresql.asyncpg.dialect()):
        first = prepared.prepare(_INSERT_EVENTS, dialect, keys)
        assert prepared.prepare(_INSERT_EVENTS, dialect, keys) is first
        assert [k for k in first.keys if k is not None] == list(keys)  # and the defaults: public
        assert "public" in first.sql and "body" not in first.sql
    with pytest.raises(ValueError, match="not columns of event: \\['colour'\\]"):
        prepared.prepare(_INSERT_EVENTS, sqlite.dialect(), ("kind", "colour"))
