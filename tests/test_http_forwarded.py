"""X-Forwarded-For is believed only from TRUSTED_PROXIES (issue 14, item 1): the login throttle sees the client
behind a trusted proxy, and a client talking directly cannot pick its own address with the header."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.served import serve


def _spray(base: str, forwarded: bool) -> list[int]:
    statuses = []
    with httpx.Client(base_url=base, timeout=30) as client:
        for i in range(25):
            headers = {"X-Forwarded-For": f"203.0.113.{i + 1}"} if forwarded else {}
            r = client.post("/api/login", json={"username": f"user{i}", "password": "not-a-password"},
                            headers=headers)
            statuses.append(r.status_code)
    return statuses


def test_forwarded_addresses_only_from_trusted_proxies(tmp_path: Path) -> None:
    # Untrusted: the header is ignored, all 25 attempts come from 127.0.0.1 and the burst of 20 runs out.
    with serve(tmp_path / "direct", LOGIN_BURST="20", LOGIN_ATTEMPTS_PER_MINUTE="0.01") as server:
        statuses = _spray(server.base, forwarded=True)
        assert statuses[:20] == [401] * 20 and set(statuses[20:]) == {429}
    # Trusted (the proxy is 127.0.0.1): each forwarded client has its own bucket.
    with serve(tmp_path / "proxied", LOGIN_BURST="20", LOGIN_ATTEMPTS_PER_MINUTE="0.01",
               TRUSTED_PROXIES="127.0.0.1") as server:
        assert set(_spray(server.base, forwarded=True)) == {401}
        assert set(_spray(server.base, forwarded=False)[20:]) == {429}  # the proxy's own address still counts
