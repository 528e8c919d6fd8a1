"""Short codes for join links (issue 15, item 6): the pure rules, and the API on SQLite and PostgreSQL —
issued with each link (code + QR), resolved to the same seat, withdrawn and expired with the link, wrong guesses
limited per address."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import update

from docket.tables import issued_tokens
from hearing.seat_codes import (
    ALPHABET,
    CODE_BITS,
    CODE_LENGTH,
    GuessLimiter,
    display,
    lookup_key,
    new_code,
    normalise,
    seal,
    unseal,
)
from tests.test_staff_api import Api, _api, _case_and_trial, _error


@pytest.fixture
async def api(court_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    """The app with its staff accounts (tests/test_staff_api.py), on SQLite, then on PostgreSQL."""
    async for a in _api(tmp_path, court_url):
        yield a

# ---- pure ---------------------------------------------------------------------------------------------------


def test_codes_are_unguessable_and_readable() -> None:
    assert CODE_BITS >= 40
    assert not set("01ILOU") & set(ALPHABET)  # nothing that reads like another letter or digit
    codes = {new_code() for _ in range(2000)}
    assert len(codes) == 2000 and all(len(c) == CODE_LENGTH and set(c) <= set(ALPHABET) for c in codes)
    code = new_code()
    shown = display(code)
    assert shown[5] == "-" and len(shown) == 11
    assert normalise(shown) == code and normalise(f"  {shown.lower()[:3]} {shown.lower()[3:]} ") == code
    assert normalise(code[:-1]) is None and normalise(code[:-1] + "O") is None


def test_the_token_is_sealed_under_the_code() -> None:
    code, other = new_code(), new_code()
    sealed = seal(code, "header.payload.signature")
    assert "payload" not in sealed and unseal(code, sealed) == "header.payload.signature"
    try:
        unseal(other, sealed)
    except Exception as exc:  # cryptography's InvalidTag
        assert type(exc).__name__ == "InvalidTag"
    else:
        raise AssertionError("another code opened the seal")
    assert lookup_key(b"k" * 32, code) != lookup_key(b"j" * 32, code)


@given(st.lists(st.tuples(st.sampled_from(["a", "b"]), st.floats(0, 5000)), max_size=80))
def test_guess_limiter_never_allows_more_misses_than_the_limit_in_a_window(events: list[tuple[str, float]]) -> None:
    limiter = GuessLimiter(limit=3, window=100.0)
    allowed: dict[str, list[float]] = {"a": [], "b": []}
    for address, now in sorted(events, key=lambda e: e[1]):
        if limiter.blocked(address, now) is None:
            limiter.missed(address, now)
            allowed[address].append(now)
        else:
            assert limiter.blocked(address, now) > 0  # type: ignore[operator]
    for times in allowed.values():
        for i, t in enumerate(times):
            assert sum(1 for u in times[: i + 1] if u > t - 100.0) <= 3


# ---- the API ------------------------------------------------------------------------------------------------


async def _issue(api: Api, hid: str, pid: str) -> dict:
    r = await api.call("POST", f"/api/hearings/{hid}/participants/{pid}/link", "clerk")
    assert r.status_code == 201, r.text
    return r.json()


async def _seat(api: Api) -> tuple[str, str]:
    await api.login("clerk")
    made = await _case_and_trial(api)
    hid = made["hearing"]["id"]
    pid = (await api.call("POST", f"/api/hearings/{hid}/participants", "clerk", json={
        "person_id": made["plaintiff"]["id"], "role": "plaintiff"})).json()["id"]
    return hid, pid


async def test_a_link_comes_with_a_code_that_opens_the_same_seat(api: Api) -> None:
    hid, pid = await _seat(api)
    link = await _issue(api, hid, pid)
    short = link["short_code"]
    base = api.services.settings.base_url
    assert short["code_url"] == f"{base}/c#{short['code']}" and normalise(short["code"]) is not None
    assert "<svg" in short["qr_svg"] and "<script" not in short["qr_svg"]
    r = await api.client.post("/api/seat-codes/resolve", json={"code": short["code"].lower().replace("-", " ")})
    assert r.status_code == 200, r.text
    assert r.json() == {"url": link["url"]} and r.headers["cache-control"] == "no-store"
    claims = api.services.tokens.verify_join(r.json()["url"].split("#token=", 1)[1], hid)
    assert claims.participant_id == pid and claims.jti == link["token_id"]


async def test_a_withdrawn_or_expired_code_says_so(api: Api) -> None:
    hid, pid = await _seat(api)
    first = await _issue(api, hid, pid)
    second = await _issue(api, hid, pid)  # withdraws the first link, and with it its code
    _error(await api.client.post("/api/seat-codes/resolve", json={"code": first["short_code"]["code"]}), 410,
           "seat_code_withdrawn")
    r = await api.client.post("/api/seat-codes/resolve", json={"code": second["short_code"]["code"]})
    assert r.status_code == 200 and r.json()["url"] == second["url"]
    async with api.services.court.engine.begin() as conn:  # the link's time runs out
        await conn.execute(update(issued_tokens).where(issued_tokens.c.jti == second["token_id"])
                           .values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    _error(await api.client.post("/api/seat-codes/resolve", json={"code": second["short_code"]["code"]}), 410,
           "seat_code_expired")


async def test_wrong_codes_are_limited_per_address(api: Api) -> None:
    hid, pid = await _seat(api)
    link = await _issue(api, hid, pid)
    body = _error(await api.client.post("/api/seat-codes/resolve", json={"code": "ABC"}), 422, "seat_code_malformed")
    assert body["length"] == CODE_LENGTH
    _error(await api.client.post("/api/seat-codes/resolve", json={"code": "x" * 65}), 422, "invalid_request")
    limit = GuessLimiter().limit
    for _ in range(limit):
        wrong = new_code()
        _error(await api.client.post("/api/seat-codes/resolve", json={"code": wrong}), 404, "seat_code_unknown")
    r = await api.client.post("/api/seat-codes/resolve", json={"code": link["short_code"]["code"]})
    body = _error(r, 429, "seat_code_rate_limited")  # even the right code waits: guessing is what is limited
    assert int(r.headers["retry-after"]) == body["retry_after"] > 0
    assert body["minutes"] == math.ceil(body["retry_after"] / 60)


async def test_the_join_page_can_ask_whether_its_link_still_works(api: Api) -> None:
    import time

    from signaling.tokens import TokenService

    hid, pid = await _seat(api)
    first = await _issue(api, hid, pid)
    token = first["url"].split("#token=", 1)[1]

    async def status(t: str) -> tuple[int, dict]:
        r = await api.client.get("/api/links/status", headers={"Authorization": f"Bearer {t}"})
        return r.status_code, r.json()

    code, body = await status(token)
    assert code == 200 and body["state"] == "valid"
    await _issue(api, hid, pid)  # a newer link withdraws it
    assert await status(token) == (410, {**(await status(token))[1], "error": "link_withdrawn"})
    old = TokenService(api.services.settings.signing_secret(), clock=lambda: time.time() - 7200).issue_join(
        room_id=hid, role="plaintiff", name="张原告", grants={"publish", "subscribe"}, ttl_seconds=60)[0]
    code, body = await status(old)
    assert (code, body["error"]) == (410, "link_expired")
    for bad in ("", "not-a-token", token[:-4] + "AAAA"):
        code, body = await status(bad)
        assert (code, body["error"]) == (401, "link_invalid"), bad


async def test_the_short_code_routes_are_documented_and_need_no_login(api: Api) -> None:
    spec = (await api.client.get("/openapi.json")).json()
    for method, path in (("post", "/api/seat-codes/resolve"), ("get", "/api/links/status")):
        op = spec["paths"][path][method]
        assert op.get("tags") and not op.get("security"), (method, path)


def test_guess_limiter_blocked_is_positive_even_where_the_subtraction_rounds_to_zero() -> None:
    limiter = GuessLimiter(limit=1, window=100.0)
    first, now = 929.5313294735885, 1029.5313294735884  # first + 100 - now rounds to 0.0 in floating point
    limiter.missed("a", first)
    assert first > now - 100.0  # inside the window
    assert (limiter.blocked("a", now) or 0) > 0
