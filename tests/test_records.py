"""The records adapter and its migrations, on a real SQLite file and a real PostgreSQL database."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, text

from docket.migrate import current_revision, head_revision, upgrade
from docket.records import IssuedToken, Records, RecordsError, Room, RoomNotFound
from docket.sql import SqlRecords, make_engine, open_records
from docket.tables import metadata


@pytest.fixture(params=["sqlite", "postgres"])
def records_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database on each backend: a SQLite file under tmp_path, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'nested' / 'records.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
async def records(records_url: str) -> AsyncIterator[SqlRecords]:
    db = await open_records(records_url)
    try:
        yield db
    finally:
        await db.close()


def _token(jti: str, room_id: str = "room-1", issued_at: datetime | None = None) -> IssuedToken:
    issued = issued_at or datetime(2025, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)
    return IssuedToken(
        jti=jti,
        room_id=room_id,
        participant_id="p-42",
        role="witness",
        issued_at=issued,
        expires_at=issued + timedelta(hours=2),
    )


def _assert_utc(value: datetime | None) -> None:
    assert value is not None
    assert value.tzinfo is not None
    assert value.utcoffset() == timedelta(0)


async def test_satisfies_the_protocol(records: SqlRecords) -> None:
    assert isinstance(records, Records)


async def test_ping_on_a_working_database(records: SqlRecords) -> None:
    await records.ping()


async def test_create_get_and_list_rooms(records: SqlRecords) -> None:
    before = datetime.now(UTC)
    room = await records.create_room("room-1", "Smith v Jones", "civil")
    assert room.id == "room-1" and room.title == "Smith v Jones" and room.kind == "civil"
    _assert_utc(room.created_at)
    assert before - timedelta(seconds=1) <= room.created_at <= datetime.now(UTC) + timedelta(seconds=1)

    got = await records.get_room("room-1")
    assert got == room
    _assert_utc(got.created_at)

    await records.create_room("room-2", "R v Brown", "criminal")
    listed = await records.list_rooms()
    assert [r.id for r in listed] == ["room-1", "room-2"]
    assert all(isinstance(r, Room) for r in listed)


async def test_create_room_is_idempotent(records: SqlRecords) -> None:
    first = await records.create_room("room-1", "Smith v Jones", "civil")
    again = await records.create_room("room-1", "Another title", "family")
    assert again == first
    assert await records.list_rooms() == [first]


async def test_concurrent_creates_of_one_room_agree(records: SqlRecords) -> None:
    results = await asyncio.gather(*(records.create_room("race", f"title {i}", "civil") for i in range(8)))
    assert len({r.title for r in results}) == 1
    assert len(await records.list_rooms()) == 1


async def test_over_long_room_id_is_refused_on_both_backends(records: SqlRecords) -> None:
    with pytest.raises(RecordsError, match="1 to 64"):
        await records.create_room("x" * 65, "Too long", "civil")


async def test_get_missing_room_raises(records: SqlRecords) -> None:
    with pytest.raises(RoomNotFound):
        await records.get_room("nope")


async def test_record_and_list_tokens(records: SqlRecords) -> None:
    await records.create_room("room-1", "Smith v Jones", "civil")
    early = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
    # Given in another zone, returned in UTC: the same instant either way.
    later_elsewhere = datetime(2025, 3, 1, 11, 0, tzinfo=timezone(timedelta(hours=1)))
    await records.record_token(_token("jti-b", issued_at=later_elsewhere))
    await records.record_token(_token("jti-a", issued_at=early))

    tokens = await records.tokens_for_room("room-1")
    assert [t.jti for t in tokens] == ["jti-a", "jti-b"]
    assert tokens[0] == _token("jti-a", issued_at=early)
    assert tokens[1].issued_at == later_elsewhere
    for token in tokens:
        _assert_utc(token.issued_at)
        _assert_utc(token.expires_at)
        assert token.revoked_at is None and token.revoke_reason is None
        assert token.participant_id == "p-42" and token.role == "witness"


async def test_microseconds_survive_the_round_trip(records: SqlRecords) -> None:
    await records.create_room("room-1", "Smith v Jones", "civil")
    exact = datetime(2025, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)
    await records.record_token(_token("jti-1", issued_at=exact))
    [token] = await records.tokens_for_room("room-1")
    assert token.issued_at == exact and token.issued_at.microsecond == 123456


async def test_tokens_for_an_empty_room_and_a_missing_room(records: SqlRecords) -> None:
    await records.create_room("room-1", "Smith v Jones", "civil")
    assert await records.tokens_for_room("room-1") == []
    with pytest.raises(RoomNotFound):
        await records.tokens_for_room("nope")


async def test_record_token_for_missing_room_raises(records: SqlRecords) -> None:
    with pytest.raises(RoomNotFound):
        await records.record_token(_token("jti-1", room_id="nope"))
    with pytest.raises(RoomNotFound):
        await records.get_room("nope")  # the room was not created as a side effect


async def test_record_token_twice_is_refused(records: SqlRecords) -> None:
    await records.create_room("room-1", "Smith v Jones", "civil")
    await records.record_token(_token("jti-1"))
    with pytest.raises(RecordsError, match="already recorded") as caught:
        await records.record_token(_token("jti-1"))
    assert not isinstance(caught.value, RoomNotFound)


async def test_naive_datetimes_are_refused(records: SqlRecords) -> None:
    await records.create_room("room-1", "Smith v Jones", "civil")
    aware = _token("jti-1")
    naive = dataclasses.replace(aware, issued_at=aware.issued_at.replace(tzinfo=None))
    with pytest.raises(ValueError, match="naive"):
        await records.record_token(naive)


async def test_revoke_keeps_the_first_time_and_reason(records: SqlRecords) -> None:
    await records.create_room("room-1", "Smith v Jones", "civil")
    await records.record_token(_token("jti-1"))
    await records.record_token(_token("jti-2"))
    assert await records.is_revoked("jti-1") is False

    before = datetime.now(UTC)
    assert await records.revoke_token("jti-1", "left the hearing") is True
    assert await records.is_revoked("jti-1") is True
    assert await records.is_revoked("jti-2") is False
    [first] = [t for t in await records.tokens_for_room("room-1") if t.jti == "jti-1"]
    _assert_utc(first.revoked_at)
    assert first.revoked_at is not None
    assert before - timedelta(seconds=1) <= first.revoked_at <= datetime.now(UTC) + timedelta(seconds=1)
    assert first.revoke_reason == "left the hearing"

    await asyncio.sleep(0.01)
    assert await records.revoke_token("jti-1", "second thoughts") is True
    [again] = [t for t in await records.tokens_for_room("room-1") if t.jti == "jti-1"]
    assert again.revoked_at == first.revoked_at
    assert again.revoke_reason == "left the hearing"


async def test_revoke_and_check_unknown_token(records: SqlRecords) -> None:
    assert await records.revoke_token("never-issued", "why not") is False
    assert await records.is_revoked("never-issued") is False


async def test_data_survives_reopening(records_url: str) -> None:
    db = await open_records(records_url)
    try:
        room = await db.create_room("room-1", "Smith v Jones", "civil")
    finally:
        await db.close()
    db = await open_records(records_url)  # migrating an up-to-date database is a no-op
    try:
        assert await db.get_room("room-1") == room
    finally:
        await db.close()


async def test_sqlite_uses_wal_and_foreign_keys(tmp_path: Path) -> None:
    db = await open_records(f"sqlite+aiosqlite:///{tmp_path / 'a' / 'b' / 'records.db'}")
    try:
        async with db.engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
    finally:
        await db.close()
    assert (tmp_path / "a" / "b" / "records.db").exists()


async def test_ping_unreachable_database_raises_without_password() -> None:
    db = SqlRecords("postgresql+asyncpg://postgres:s3cret-pw@127.0.0.1:1/x", connect_timeout=5)
    try:
        with pytest.raises(RecordsError) as caught:
            await db.ping()
    finally:
        await db.close()
    message = str(caught.value)
    assert "s3cret-pw" not in message
    assert "127.0.0.1:1/x" in message and "***" in message
    assert "s3cret-pw" not in repr(db)


async def test_operations_on_unreachable_database_raise_records_error() -> None:
    db = SqlRecords("postgresql+asyncpg://postgres:s3cret-pw@127.0.0.1:1/x", connect_timeout=5)
    try:
        with pytest.raises(RecordsError) as caught:
            await db.list_rooms()
    finally:
        await db.close()
    assert "s3cret-pw" not in str(caught.value)
    with pytest.raises(RecordsError) as caught:
        await upgrade("postgresql+asyncpg://postgres:s3cret-pw@127.0.0.1:1/x")
    assert "s3cret-pw" not in str(caught.value) and "127.0.0.1:1/x" in str(caught.value)


@pytest.mark.parametrize("url", ["not a url", "sqlite:///x.db", "postgresql://postgres:pw@127.0.0.1/x"])
def test_bad_urls_are_refused_clearly(url: str) -> None:
    with pytest.raises(RecordsError, match="URL") as caught:
        SqlRecords(url)
    assert "pw" not in str(caught.value).replace("postgresql", "")


async def test_upgrade_keeps_data(records_url: str) -> None:
    lines: list[str] = []
    assert await current_revision(records_url) is None
    await upgrade(records_url, "0001_rooms", progress=lines.append)
    assert await current_revision(records_url) == "0001_rooms"
    assert lines == ["applying 0001_rooms: rooms"]

    engine = make_engine(records_url)
    try:
        async with engine.begin() as conn:
            stamp = "'2024-01-02 03:04:05'" if conn.dialect.name == "sqlite" else "'2024-01-02 03:04:05+00'"
            await conn.execute(
                text(f"INSERT INTO rooms (id, title, kind, created_at) VALUES ('old-1', 'Old room', 'civil', {stamp})")
            )
    finally:
        await engine.dispose()

    await upgrade(records_url, progress=lines.append)
    assert lines[1] == "applying 0002_tokens: issued join tokens and revocation"  # later revisions follow
    assert await current_revision(records_url) == head_revision()

    db = await open_records(records_url)
    try:
        room = await db.get_room("old-1")
        assert room == Room("old-1", "Old room", "civil", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC))
        await db.record_token(_token("jti-1", room_id="old-1"))  # the new table works with the old row
        assert [t.jti for t in await db.tokens_for_room("old-1")] == ["jti-1"]
    finally:
        await db.close()


def _schema_differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


async def _differences_at(url: str, revision: str) -> list[object]:
    await upgrade(url, revision)
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_schema_differences)
    finally:
        await engine.dispose()


async def test_tables_match_the_migrated_schema(records_url: str) -> None:
    # The comparison is not vacuous: one revision short, the missing table, index and column show up.
    behind = await _differences_at(records_url, "0001_rooms")
    assert {d[0] for d in behind if isinstance(d, tuple)} >= {"add_table", "add_index", "add_column"}
    assert await _differences_at(records_url, "head") == []


async def test_instances_starting_together_migrate_once(records_url: str) -> None:
    """Several app instances may start at the same moment: all must come up on one migrated schema."""
    lines: list[str] = []
    await asyncio.gather(*(upgrade(records_url, progress=lines.append) for _ in range(4)))
    assert len([x for x in lines if x.startswith("applying 0001")]) == 1
    assert await current_revision(records_url) == head_revision()
