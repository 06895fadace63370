"""The configuration kept in memory (domain/reference.py): this process's changes at once, other
processes' changes read again beside the requests, never in their way."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import update

from feedback.db import Database
from feedback.domain import reference
from feedback.models import Site


async def rename_elsewhere(db: Database, code: str, name: str) -> None:
    """A change made by another process: straight on the database, no session of this one."""
    async with db.write_engine.begin() as connection:
        await connection.execute(update(Site.__table__).where(Site.__table__.c.code == code).values(name=name))


async def test_a_change_made_here_is_read_at_once(db: Database) -> None:
    assert (await reference.read(db)).site("BKO-C4-LAF") is not None
    async with db.write() as session, session.begin():
        await session.execute(update(Site).where(Site.code == "BKO-C4-LAF").values(name="CSCOM renommé"))
    assert (await reference.read(db)).site("BKO-C4-LAF").name == "CSCOM renommé"  # type: ignore[union-attr]


async def test_another_process_change_is_read_again_beside_the_requests(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = (await reference.read(db)).site("BKO-C4-LAF")
    assert before is not None
    await rename_elsewhere(db, "BKO-C4-LAF", "Nom venu d'ailleurs")
    # Within MAX_AGE: the reading of a moment ago.
    assert (await reference.read(db)).site("BKO-C4-LAF").name == before.name  # type: ignore[union-attr]

    monkeypatch.setattr(reference, "MAX_AGE", 0.0)
    loads = 0
    real_load = reference.load

    async def counting_load(session: object) -> reference.Reference:
        nonlocal loads
        loads += 1
        return await real_load(session)  # type: ignore[arg-type]

    monkeypatch.setattr(reference, "load", counting_load)
    # Older than MAX_AGE: every request in flight still gets the old reading at once, and one
    # task (not one per request) reads the configuration again.
    readings = await asyncio.gather(*(reference.read(db) for _ in range(16)))
    assert {r.site("BKO-C4-LAF").name for r in readings} == {before.name}  # type: ignore[union-attr]
    await asyncio.gather(*list(reference._tasks))
    assert loads == 1 and not reference._refreshing
    assert (await reference.read(db)).site("BKO-C4-LAF").name == "Nom venu d'ailleurs"  # type: ignore[union-attr]
    await asyncio.gather(*list(reference._tasks))  # the reading that one started (MAX_AGE is 0)


async def test_a_write_transaction_waits_only_when_no_reading_is_on_its_way(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    await reference.read(db)
    await rename_elsewhere(db, "BKO-C4-LAF", "Encore un autre nom")
    monkeypatch.setattr(reference, "MAX_AGE", 0.0)
    # No refresh in flight: the writer's session reads the configuration itself.
    async with db.write() as session, session.begin():
        assert (await reference.current(session)).site("BKO-C4-LAF").name == "Encore un autre nom"  # type: ignore[union-attr]
