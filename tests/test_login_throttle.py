"""Login throttling per client address (issue 14, item 8): the pure buckets, and the login route spraying 40
usernames from one address, while the judge logs in from their own address undisturbed; the password policy."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.factory import create_app
from app.services import build_services, start_services, stop_services
from app.settings import load_settings
from hearing.login_throttle import LoginThrottle
from hearing.staff_auth import StaffAuth, cheap_hasher, common_passwords, password_problem
from tests.conftest import free_port

# ---- the pure throttle ------------------------------------------------------------------------------------


@given(st.lists(st.tuples(st.sampled_from(["10.0.0.1", "10.0.0.2"]), st.sampled_from(["a", "b", "judge"]),
                          st.floats(0, 5)), max_size=200))
@settings(max_examples=200, deadline=None)
def test_never_more_than_burst_plus_rate(attempts: list[tuple[str, str, float]]) -> None:
    throttle = LoginThrottle(per_minute=6, burst=5)
    now = 0.0
    allowed: dict[str, int] = {}
    for address, user, gap in attempts:
        now += gap
        if throttle.attempt(address, user, now) is None:
            allowed[address] = allowed.get(address, 0) + 1
    for count in allowed.values():
        assert count <= 5 + now * 6 / 60 + 1e-6


@given(st.integers(1, 60), st.integers(1, 30))
@settings(max_examples=100, deadline=None)
def test_waiting_as_told_always_works(per_minute: int, burst: int) -> None:
    throttle = LoginThrottle(per_minute=per_minute, burst=burst)
    now = 0.0
    for i in range(200):
        throttled = throttle.attempt("10.0.0.9", f"user{i}", now)
        if throttled is not None:
            assert throttled.retry_after >= 1
            now += throttled.retry_after
            assert throttle.attempt("10.0.0.9", f"user{i}", now) is None


def test_other_addresses_are_never_throttled_by_an_attacker() -> None:
    throttle = LoginThrottle(per_minute=10, burst=20)
    for i in range(500):
        throttle.attempt("203.0.113.66", "judge" if i % 2 else f"spray{i}", float(i) / 100)
    assert throttle.attempt("203.0.113.66", "judge", 5.0) is not None
    assert throttle.attempt("198.51.100.7", "judge", 5.0) is None  # the judge, from the court's own address


def test_memory_is_bounded() -> None:
    throttle = LoginThrottle(per_minute=10, burst=20, max_keys=1000)
    for i in range(5000):
        throttle.attempt(f"10.1.{i // 250}.{i % 250}", "x", 0.0)
    assert len(throttle) == 1000


# ---- the password policy ----------------------------------------------------------------------------------


@pytest.mark.parametrize("password", ["short", "1234567890", "Password123", "qwertyuiop", "woaini1314520",
                                      "aaaaaaaaaaaa", "abababababab", "abcdefghijkl", "9876543210"])
def test_common_and_short_passwords_are_refused(password: str) -> None:
    assert password_problem(password) is not None


def test_a_good_password_passes_and_the_list_ships() -> None:
    assert password_problem("correct horse battery staple") is None
    assert password_problem("法院2026年第一次庭审") is None
    assert len(common_passwords()) > 50


# ---- the login route ---------------------------------------------------------------------------------------

PASSWORD = "a long and private passphrase"


@pytest.fixture
async def app_client(tmp_path: Path) -> AsyncIterator[tuple[object, StaffAuth]]:
    settings = load_settings(HEARING_PORT=free_port(), HEARING_VAR_DIR=tmp_path / "var", hearing_env="test",
                             HEARING_TOKEN_SECRET="t" * 40, database_url="", redis_url="", s3_endpoint="",
                             media_enabled=False, LOGIN_ATTEMPTS_PER_MINUTE=0.1, LOGIN_BURST=20)
    services = build_services(settings)
    await start_services(services)
    app = create_app(settings, services)
    auth: StaffAuth = app.state.staff_auth
    auth.hasher = cheap_hasher()
    await auth.create_account("judge", "王法官", ["judge"], PASSWORD)
    try:
        yield app, auth
    finally:
        await stop_services(services)


def _client(app: object, address: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(address, 40000)),  # type: ignore[arg-type]
                             base_url="http://testserver")


async def test_spraying_usernames_from_one_address_is_throttled_and_the_judge_is_not_locked_out(
        app_client: tuple[object, StaffAuth]) -> None:
    app, _ = app_client
    async with _client(app, "203.0.113.66") as attacker, _client(app, "198.51.100.7") as court:
        statuses = []
        for i in range(40):
            user = "judge" if i % 4 == 0 else f"clerk{i}"
            r = await attacker.post("/api/login", json={"username": user, "password": f"guess-{i}-guess"})
            statuses.append(r.status_code)
        assert statuses[:20] == [401] * 20
        assert set(statuses[20:]) == {429}
        r = await attacker.post("/api/login", json={"username": "judge", "password": PASSWORD})
        assert r.status_code == 429 and r.json()["error"] == "login_throttled"
        assert int(r.headers["Retry-After"]) == r.json()["retry_after"] >= 1
        # The judge, from the court's address, logs in at once: the guesses locked nothing.
        ok = await court.post("/api/login", json={"username": "judge", "password": PASSWORD})
        assert ok.status_code == 200, ok.text
        assert ok.headers["content-security-policy"].startswith("default-src 'self'")
