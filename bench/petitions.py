"""Petition benchmark: `python -m bench.petitions [--petitions 300] [--database-url URL] [--json]`.

What the petition register costs, so a court can size it (the clip upload's throughput and resume overhead on a
rate-limited link are `python -m bench.clips`, the shared upload's own bench):
  * `file`: one filing through `PetitionService.file` — the calendar read, the per-court counter, the row, its
    history event, the hash-chained audit entry and two scheduled jobs, in one transaction (latency p50/p95);
  * `move`: a triage, a contact or a reply (lock, rules, update, event, audit, jobs) (p50/p95);
  * `board`: listing every petition with its traffic light (ms for the whole register);
  * `rates`: the three rates per month and per handler over every petition (ms);
  * `deadline`: one working-day deadline on the real calendar (µs; pure).
Runs on a fresh SQLite file by default, or on the PostgreSQL database given (its tables are created by migrating it;
use a scratch database). Prints one JSON object with `--json`, else a table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from docket.court_sql import open_court_records
from docket.staff import NewStaff, StaffRole
from docket.staff_sql import SqlStaffStore
from docket.workdays import WorkdayCalendar
from petitions.deadlines import due_at
from petitions.rules import Category, ContactChannel, HandlerKind, Outcome
from petitions.service import Filing, PetitionService

CATEGORIES = list(Category)


def _ms(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"p50": round(statistics.median(ordered) * 1000, 2),
            "p95": round(ordered[max(0, int(len(ordered) * 0.95) - 1)] * 1000, 2)}


async def run(petitions: int, database_url: str) -> dict[str, Any]:
    court = await open_court_records(database_url, id_hash_iterations=1_000)
    try:
        clock_at = [datetime(2026, 6, 1, 1, 0, tzinfo=UTC)]
        service = PetitionService(court.engine, court.url, code_key=b"b" * 32, clock=lambda: clock_at[0])
        staff = SqlStaffStore(court.engine)
        clerk = (await staff.create_staff(NewStaff("bench-clerk", "clerk", frozenset({StaffRole.CLERK}), "x"))).id
        judges = [(await staff.create_staff(NewStaff(f"bench-judge-{i}", f"judge {i}", frozenset({StaffRole.JUDGE}),
                                                     "x"))).id for i in range(5)]
        filing, moving, ids = [], [], []
        for i in range(petitions):
            clock_at[0] += timedelta(minutes=30)
            t0 = time.perf_counter()
            record, _ = await service.file(Filing("main", CATEGORIES[i % len(CATEGORIES)], f"bench petition {i}",
                                                  "张三", "13800000000"))
            filing.append(time.perf_counter() - t0)
            ids.append(record.id)
        for i, pid in enumerate(ids):
            judge = judges[i % len(judges)]
            steps: list[Callable[[], Awaitable[Any]]] = [partial(
                service.triage, pid, actor_id=clerk, handler_id=judge, handler_kind=HandlerKind.JUDGE)]
            if i % 2 == 0:
                steps.append(partial(service.contact, pid, actor_id=judge, channel=ContactChannel.PHONE,
                                     note="called"))
            if i % 4 == 0:
                steps.append(partial(service.reply, pid, actor_id=judge, outcome=Outcome.RESOLVED,
                                     resolution="done", reply_text="answer"))
            for step in steps:
                t0 = time.perf_counter()
                await step()
                moving.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        board = await service.list()
        lights = [r.light(clock_at[0]) for r in board]
        board_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        months, split = await service.rates()
        rates_s = time.perf_counter() - t0
        calendar = WorkdayCalendar()
        t0 = time.perf_counter()
        n = 2000
        start = datetime(2026, 9, 25, 3, tzinfo=UTC)
        for k in range(n):
            due_at(calendar, start + timedelta(hours=k % 200), 5)
        deadline_us = (time.perf_counter() - t0) / n * 1e6
        return {
            "backend": court.engine.dialect.name, "petitions": petitions, "file_ms": _ms(filing),
            "move_ms": _ms(moving), "moves": len(moving), "board_ms": round(board_s * 1000, 1),
            "board_rows": len(lights), "rates_ms": round(rates_s * 1000, 1), "rate_groups": len(split),
            "months": len(months), "deadline_us": round(deadline_us, 1),
        }
    finally:
        await court.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--petitions", type=int, default=300)
    parser.add_argument("--database-url", default="", help="a scratch PostgreSQL database; default a temp SQLite")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        result = asyncio.run(run(args.petitions, url))
    if args.json:
        print(json.dumps(result))
    else:
        print(f"backend {result['backend']}, {result['petitions']} petitions")
        print(f"  file      p50 {result['file_ms']['p50']} ms   p95 {result['file_ms']['p95']} ms")
        print(f"  move      p50 {result['move_ms']['p50']} ms   p95 {result['move_ms']['p95']} ms "
              f"({result['moves']} moves)")
        print(f"  board     {result['board_ms']} ms for {result['board_rows']} rows with their lights")
        print(f"  rates     {result['rates_ms']} ms ({result['rate_groups']} month×handler groups)")
        print(f"  deadline  {result['deadline_us']} µs per 5-working-day deadline")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
