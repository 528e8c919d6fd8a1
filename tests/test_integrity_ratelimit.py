"""The agency query rate limit across app instances: with Redis they share one bucket per agency (real Redis on
127.0.0.1:6379), and an unreachable Redis refuses queries instead of letting them through unmetered."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date

import pytest

from docket.court import NewPerson
from docket.court_sql import SqlCourtRecords
from docket.facts_sql import SqlFactRecords
from integrity.ratelimit import LimiterUnavailable, MemoryQueryLimiter, RedisQueryLimiter
from integrity.service import IntegrityService, RateLimited, RateLimitUnavailable
from integrity.signing import CodeSigner
from tests.conftest import free_port

SLOW = 0.001  # tokens a second: no refill during a test, so the counts below are exact
BURST = 3


@pytest.fixture
async def limiters(redis_url: str, redis_prefix: str) -> AsyncIterator[tuple[RedisQueryLimiter, RedisQueryLimiter]]:
    """Two instances' limiters: separate clients, the same Redis and prefix."""
    a = RedisQueryLimiter(redis_url, prefix=redis_prefix, rate=SLOW, burst=BURST)
    b = RedisQueryLimiter(redis_url, prefix=redis_prefix, rate=SLOW, burst=BURST)
    try:
        yield a, b
    finally:
        await a.close()
        await b.close()


async def test_two_limiters_on_one_redis_share_one_bucket_per_key(
        limiters: tuple[RedisQueryLimiter, RedisQueryLimiter]) -> None:
    a, b = limiters
    assert [await a.take("agency-1"), await b.take("agency-1"), await a.take("agency-1")] == [0.0, 0.0, 0.0]
    for limiter in (a, b):  # the burst is spent, whichever instance asks
        wait = await limiter.take("agency-1")
        assert 0 < wait <= 1 / SLOW
    assert await b.take("agency-2") == 0.0  # another agency has its own bucket


async def test_an_idle_agency_s_bucket_expires_once_it_would_be_full(redis_url: str, redis_prefix: str) -> None:
    import redis.asyncio as aioredis

    limiter = RedisQueryLimiter(redis_url, prefix=redis_prefix, rate=2.0, burst=10)
    client = aioredis.Redis.from_url(redis_url)
    try:
        assert await limiter.take("a") == 0.0
        ttl = await client.pttl(f"{redis_prefix}:integrity:rate:a")
        assert 0 < ttl <= 10 / 2.0 * 1000 + 1000  # refilled after burst / rate seconds: nothing left to remember
    finally:
        await limiter.close()
        await client.aclose()


@pytest.mark.parametrize("court_url", ["sqlite"], indirect=True)
async def test_two_service_instances_sharing_redis_share_one_limit(
        court: SqlCourtRecords, limiters: tuple[RedisQueryLimiter, RedisQueryLimiter]) -> None:
    facts = SqlFactRecords(court.engine, court.url)
    signer = CodeSigner.generate()
    one, two = (IntegrityService(court, facts, signer, limiter=limiter) for limiter in limiters)
    person = (await court.create_person(NewPerson("张三", birth_date=date(1980, 1, 1)))).id
    agency, _ = await one.create_agency("市人社局", ["hiring"], actor_id="admin-1")
    other, _ = await one.create_agency("市财政局", ["hiring"], actor_id="admin-1")
    for service in (one, two, one):
        await service.query(agency, person, "hiring", "candidate check")
    for service in (two, one):
        with pytest.raises(RateLimited) as info:
            await service.query(agency, person, "hiring", "candidate check")
        assert info.value.retry_after > 0
    await two.query(other, person, "hiring", "candidate check")
    assert len(await one.queries_of(person)) == BURST + 1  # refusals recorded nothing


@pytest.mark.parametrize("court_url", ["sqlite"], indirect=True)
async def test_an_unreachable_limiter_refuses_the_query_and_records_nothing(court: SqlCourtRecords) -> None:
    dead = RedisQueryLimiter(f"redis://127.0.0.1:{free_port()}/0", timeout=0.5)
    service = IntegrityService(court, SqlFactRecords(court.engine, court.url), CodeSigner.generate(), limiter=dead)
    try:
        person = (await court.create_person(NewPerson("张三", birth_date=date(1980, 1, 1)))).id
        agency, _ = await service.create_agency("市人社局", ["hiring"], actor_id="admin-1")
        with pytest.raises(RateLimitUnavailable) as info:
            await service.query(agency, person, "hiring", "candidate check")
        assert info.value.status == 503 and isinstance(info.value.__cause__, LimiterUnavailable)
        assert await service.queries_of(person) == []
    finally:
        await service.close()


async def test_the_embedded_limiter_is_per_process() -> None:
    now = [0.0]
    a = MemoryQueryLimiter(1.0, 2, monotonic=lambda: now[0])
    b = MemoryQueryLimiter(1.0, 2, monotonic=lambda: now[0])
    assert [await a.take("x"), await a.take("x"), await b.take("x")] == [0.0, 0.0, 0.0]
    assert await a.take("x") == pytest.approx(1.0)
    now[0] += 1.0
    assert await a.take("x") == 0.0
