"""First to accept wins, decided by the database: 20 judges accepting 10 calls at once on PostgreSQL (and SQLite)
through the real API → each call has exactly one judge, the others are told `call_taken`."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

from tests.stations_env import stations_env


async def test_twenty_judges_ten_calls_each_call_one_judge(court_url: str, tmp_path: Path) -> None:
    async with stations_env(tmp_path, court_url, judges=20) as env:
        for i in range(1, 21):
            await env.on_duty(f"judge{i}")
        calls = []
        for n in range(10):
            r = await env.request(caller_name=f"村民{n}")
            assert r.status_code == 201 and r.json()["state"] == "waiting"
            calls.append(r.json()["id"])
            env.clock.advance(seconds=1)
        # judges 1 and 11 go for call 0, 2 and 12 for call 1, ...: two judges per call, all at once
        answers = await asyncio.gather(*(env.call("POST", f"/api/duty/calls/{calls[(i - 1) % 10]}/accept",
                                                  f"judge{i}") for i in range(1, 21)))
        outcomes = Counter((a.status_code, a.json().get("error")) for a in answers)
        assert outcomes == {(200, None): 10, (409, "call_taken"): 10}, outcomes
        winners = {a.json()["id"]: i for i, a in enumerate(answers, start=1) if a.status_code == 200}
        assert sorted(winners) == sorted(calls)
        for call_id in calls:
            call = await env.services.stations.store.get_call(call_id)  # type: ignore[union-attr]
            assert call.state.value == "in_call" and call.accepted_by == env.staff_ids[f"judge{winners[call_id]}"]
        accepts = await env.audit("call.accept")
        assert len(accepts) == 10 and {e.subject for e in accepts} == {f"call:{c}" for c in calls}
        assert await env.services.audit.verify() is None  # the chain stayed intact under the race
