"""The hash-chained audit log: the pure chain, tampering found on both backends, concurrent appends, the CLI."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from docket.audit import (
    GENESIS_HASH,
    AuditEvent,
    AuditLog,
    BreakReason,
    ChainChecker,
    SqlAuditLog,
    canonical_details,
    canonical_json,
    entry_hash,
    seal,
)
from docket.migrate import upgrade
from docket.sql import make_engine
from tests.conftest import ROOT

HEARING = str(Path(sys.executable).parent / "hearing")
AT = datetime(2026, 6, 1, 9, 0, 0, 123456, tzinfo=UTC)


def event(i: int = 0, **details: object) -> AuditEvent:
    return AuditEvent(f"staff-{i}", "clerk", "participant.admitted", f"hearing:h{i}",
                      details or {"participant": f"p{i}", "n": i})


# ---- the pure chain -------------------------------------------------------------------------------------


def test_hash_is_sha256_over_canonical_json_including_prev_hash() -> None:
    entry = seal(event(1, b=2, a=["x", None, True]), seq=1, at=AT, prev_hash=GENESIS_HASH)
    body = ('{"action":"participant.admitted","actor_id":"staff-1","actor_role":"clerk",'
            '"at":"2026-06-01T09:00:00.123456Z","details":{"a":["x",null,true],"b":2},'
            f'"prev_hash":"{GENESIS_HASH}","seq":1,"subject":"hearing:h1"}}')
    assert entry.hash == hashlib.sha256(body.encode()).hexdigest()
    assert entry.details == {"a": ["x", None, True], "b": 2}
    again = seal(event(1, b=2, a=["x", None, True]), seq=1, at=AT, prev_hash="1" * 64)
    assert again.hash != entry.hash  # the predecessor is part of what is hashed


@pytest.mark.parametrize("details", [
    {"name": "张三"}, {"nested": {"id_document": "x"}}, {"Bad-Key": 1}, {"score": 1.5}, {"when": AT},
    {"big": "x" * 5000},
])
def test_details_refuse_personal_data_floats_and_odd_keys(details: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        canonical_details(details)


def test_details_allow_ids_and_codes() -> None:
    assert canonical_details({"to": "closed", "from": "in_session", "ids": ("p1", "p2")}) == (
        '{"from":"in_session","ids":["p1","p2"],"to":"closed"}'
    )
    with pytest.raises(ValueError, match="actor_role"):
        seal(AuditEvent("s", "", "a", "x"), seq=1, at=AT, prev_hash=GENESIS_HASH)
    with pytest.raises(ValueError, match="aware"):
        seal(event(), seq=1, at=AT.replace(tzinfo=None), prev_hash=GENESIS_HASH)


def _chain(n: int) -> list[tuple]:  # type: ignore[type-arg]
    rows, prev = [], GENESIS_HASH
    for seq in range(1, n + 1):
        e = seal(event(seq), seq=seq, at=AT, prev_hash=prev)
        rows.append([e.seq, e.at, e.actor_id, e.actor_role, e.action, e.subject, canonical_json(e.details),
                     e.prev_hash, e.hash])
        prev = e.hash
    return rows


def _check(rows: list, head: tuple[int, str]):  # type: ignore[no-untyped-def,type-arg]
    checker = ChainChecker()
    for r in rows:
        if checker.feed(*r):
            break
    return checker.finish(*head)


@settings(max_examples=100, deadline=None)
@given(n=st.integers(1, 12), data=st.data())
def test_any_single_change_is_found_at_its_entry(n: int, data: st.DataObject) -> None:
    rows = _chain(n)
    head = (rows[-1][0], rows[-1][8])
    assert _check(rows, head) is None
    victim = data.draw(st.integers(0, n - 1))
    change = data.draw(st.sampled_from(["edit", "delete", "reorder_time", "prev", "forge"]))
    tampered = [list(r) for r in rows]
    if change == "edit":
        tampered[victim][6] = '{"participant":"someone-else"}'
        expected = (victim + 1, BreakReason.HASH_MISMATCH)
    elif change == "delete":
        del tampered[victim]
        expected = (victim + 1, BreakReason.GAP)
    elif change == "reorder_time":
        tampered[victim][1] = datetime(2020, 1, 1, tzinfo=UTC)
        expected = (victim + 1, BreakReason.HASH_MISMATCH)
    elif change == "prev":
        tampered[victim][7] = "f" * 64
        expected = (victim + 1, BreakReason.HASH_MISMATCH)
    else:  # rewrite an entry and recompute its own hash: the next link (or the head) no longer fits
        r = tampered[victim]
        r[6] = '{"participant":"forged"}'
        r[8] = entry_hash(seq=r[0], at=r[1], actor_id=r[2], actor_role=r[3], action=r[4], subject=r[5],
                          details=json.loads(r[6]), prev_hash=r[7])
        expected = ((victim + 2, BreakReason.PREV_MISMATCH) if victim + 1 < n
                    else (victim + 1, BreakReason.HEAD_MISMATCH))
    broken = _check(tampered, head)
    assert broken is not None and (broken.seq, broken.reason) == expected, broken


# ---- on the database ------------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def audit_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'audit.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
async def audit(audit_url: str) -> AsyncIterator[SqlAuditLog]:
    await upgrade(audit_url)
    log = SqlAuditLog.open(audit_url)
    try:
        yield log
    finally:
        await log.close()


async def _raw(log: SqlAuditLog, sql: str, **params: object) -> None:
    async with log.engine.begin() as conn:
        await conn.execute(text(sql), params)


async def test_append_read_and_verify(audit: SqlAuditLog) -> None:
    assert isinstance(audit, AuditLog)
    assert await audit.check() == (await audit.check())  # empty and intact
    assert (await audit.check()).entries == 0 and await audit.verify() is None
    first = await audit.append(event(1))
    second = await audit.append(event(2, to="closed"))
    assert (first.seq, second.seq) == (1, 2)
    assert first.prev_hash == GENESIS_HASH and second.prev_hash == first.hash
    assert first.at.tzinfo is not None
    assert await audit.entries() == [first, second]
    assert await audit.entries(after_seq=1, limit=5) == [second]
    assert await audit.head() == (2, second.hash)
    report = await audit.check()
    assert report.entries == 2 and report.broken is None
    with pytest.raises(ValueError, match="personal data"):
        await audit.append(event(3, name="张三"))
    assert await audit.count() == 2  # the refused append left nothing


async def test_an_edited_entry_is_found_at_its_seq(audit: SqlAuditLog) -> None:
    for i in range(1, 6):
        await audit.append(event(i))
    await _raw(audit, "UPDATE audit_log SET details = :d WHERE seq = 3", d='{"n":3,"participant":"p9"}')
    broken = await audit.verify()
    assert broken is not None and broken.seq == 3 and broken.reason is BreakReason.HASH_MISMATCH


async def test_an_edited_actor_is_found(audit: SqlAuditLog) -> None:
    for i in range(1, 4):
        await audit.append(event(i))
    await _raw(audit, "UPDATE audit_log SET actor_role = 'presiding_judge' WHERE seq = 2")
    broken = await audit.verify()
    assert broken is not None and (broken.seq, broken.reason) == (2, BreakReason.HASH_MISMATCH)


async def test_a_deleted_entry_is_found(audit: SqlAuditLog) -> None:
    for i in range(1, 6):
        await audit.append(event(i))
    await _raw(audit, "DELETE FROM audit_log WHERE seq = 2")
    report = await audit.check()
    assert report.broken is not None and (report.broken.seq, report.broken.reason) == (2, BreakReason.GAP)
    assert report.entries == 1


async def test_deleting_the_newest_entries_is_found_through_the_head(audit: SqlAuditLog) -> None:
    for i in range(1, 5):
        await audit.append(event(i))
    await _raw(audit, "DELETE FROM audit_log WHERE seq >= 3")
    broken = await audit.verify()
    assert broken is not None and (broken.seq, broken.reason) == (3, BreakReason.GAP)
    assert "head records 4" in broken.detail


async def test_a_forged_head_is_found(audit: SqlAuditLog) -> None:
    await audit.append(event(1))
    await _raw(audit, f"UPDATE audit_head SET hash = '{'a' * 64}'")
    broken = await audit.verify()
    assert broken is not None and broken.reason is BreakReason.HEAD_MISMATCH


async def test_verify_walks_long_chains_in_batches(audit: SqlAuditLog, monkeypatch: pytest.MonkeyPatch) -> None:
    import docket.audit

    monkeypatch.setattr(docket.audit, "_BATCH", 3)
    for i in range(1, 11):
        await audit.append(event(i))
    assert (await audit.check()).entries == 10
    await _raw(audit, "DELETE FROM audit_log WHERE seq = 7")
    broken = await audit.verify()
    assert broken is not None and (broken.seq, broken.reason) == (7, BreakReason.GAP)


async def test_concurrent_appends_make_one_chain(audit_url: str, audit: SqlAuditLog) -> None:
    n = 50 if audit_url.startswith("postgresql") else 20
    logs = [audit] + [SqlAuditLog.open(audit_url) for _ in range(2)]  # several engines: like several processes
    try:
        entries = await asyncio.gather(*(logs[i % len(logs)].append(event(i)) for i in range(n)))
    finally:
        for log in logs[1:]:
            await log.close()
    assert sorted(e.seq for e in entries) == list(range(1, n + 1))
    assert len({e.prev_hash for e in entries}) == n  # nobody shares a predecessor: no fork
    report = await audit.check()
    assert report.entries == n and report.broken is None


# ---- the command ----------------------------------------------------------------------------------------


def _cli(var: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "HEARING_", "REDIS_", "S3_"))}
    env.update(HEARING_VAR_DIR=str(var), HEARING_ENV="test")
    return subprocess.run([HEARING, "verify-audit"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_hearing_verify_audit(tmp_path: Path) -> None:
    var = tmp_path / "var"
    done = _cli(var)
    assert done.returncode == 2 and "hearing migrate" in done.stderr  # no database yet: says what to do
    url = f"sqlite+aiosqlite:///{(var / 'hearing.db').resolve()}"

    async def seed() -> None:
        await upgrade(url)
        log = SqlAuditLog.open(url)
        try:
            for i in range(1, 5):
                await log.append(event(i))
        finally:
            await log.close()

    asyncio.run(seed())
    done = _cli(var)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "audit chain intact: 4 entries"

    async def tamper() -> None:
        engine = make_engine(url)
        try:
            async with engine.begin() as conn:
                await conn.execute(text("UPDATE audit_log SET subject = 'hearing:other' WHERE seq = 3"))
        finally:
            await engine.dispose()

    asyncio.run(tamper())
    done = _cli(var)
    assert done.returncode == 1
    assert "entry 3" in done.stdout and "hash_mismatch" in done.stdout and "2 entries before it" in done.stdout
