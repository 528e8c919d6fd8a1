"""How fast the asynchronous trial's store decides and seals answers: `python -m bench.async_trial [--json]`.

Each hearing has one open stage with `--questions` questions to both parties; every party answers every question,
`--concurrency` submissions in flight at once across hearings (answers to one hearing serialise on its row lock, as
in production). Printed: per-submission latency (p50/p95/max, ms), submissions per second, and the time to assemble
the transcript of one hearing. SQLite by default (a temp file); `--database-url postgresql+asyncpg://...` for
PostgreSQL (the database must exist and be empty or migrated).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from docket.async_trial import ConsentMethod, StageKind, Visibility
from docket.async_trial_sql import SqlAsyncTrialStore
from docket.court import NewCase, NewHearing, NewParticipant, NewPerson, Party, PartySide
from docket.court_sql import SqlCourtRecords, open_court_records
from hearing import async_trial as core
from hearing.async_trial_record import assemble


async def _hearing(court: SqlCourtRecords, store: SqlAsyncTrialStore, n: int, questions: int) -> tuple[str, list[str]]:
    now = datetime.now(UTC)
    people = [await court.create_person(NewPerson(f"p{n}-{i}")) for i in range(3)]
    case = await court.create_case(NewCase(f"(2026)测{n}号", "bench", [Party(people[1].id, PartySide.PLAINTIFF),
                                                                     Party(people[2].id, PartySide.DEFENDANT)]))
    hearing = await court.create_hearing(NewHearing(case.id, "async_trial", now, now + timedelta(hours=1),  # type: ignore[arg-type]
                                                    panel=[people[0].id], state="in_session"))
    ids = [(await court.add_participant(NewParticipant(hearing.id, p.id, role))).id
           for p, role in zip(people, ("presiding_judge", "plaintiff", "defendant"), strict=True)]
    judge, parties = ids[0], ids[1:]
    for pid, role in zip(parties, ("plaintiff", "defendant"), strict=True):
        await store.apply(hearing.id, lambda t, pid=pid, role=role: core.decide_consent(
            t, pid, given=True, method=ConsentMethod.ONLINE, note="", recorded_by=pid, recorder_role=role, at=now))
    await store.apply(hearing.id, lambda t: core.decide_open_stage(
        t, StageKind.CLAIMS_DEFENCE, Visibility.AFTER_DEADLINE, 3, by=judge, role="presiding_judge", at=now,
        due_at=now + timedelta(days=3), stage_id=f"s{n}"))
    qids = []
    for q in range(questions):
        qid = f"q{n}-{q}"
        await store.apply(hearing.id, lambda t, qid=qid: core.decide_question(
            t, f"s{n}", None, "请陈述", None, by=judge, role="presiding_judge", at=now, question_id=qid))
        qids.append(qid)
    return hearing.id, [f"{pid}|{qid}" for pid in parties for qid in qids]


async def run(url: str, hearings: int, questions: int, concurrency: int) -> dict[str, float]:
    court = await open_court_records(url, id_hash_iterations=1_000)
    store = SqlAsyncTrialStore(court.engine, court.url)
    try:
        work = []
        for n in range(hearings):
            hid, pairs = await _hearing(court, store, n, questions)
            work += [(hid, pair) for pair in pairs]
        latencies: list[float] = []
        gate = asyncio.Semaphore(concurrency)

        async def submit(hid: str, pair: str) -> None:
            pid, qid = pair.split("|")
            async with gate:
                started = time.perf_counter()
                at = datetime.now(UTC)
                outcome = await store.apply(hid, lambda t: core.decide_answer(
                    t, qid, pid, "答辩意见" * 20, None, (), at=at, answer_id=f"a-{pid}-{qid}"))
                latencies.append(time.perf_counter() - started)
                assert not isinstance(outcome, core.Refused), outcome

        began = time.perf_counter()
        await asyncio.gather(*(submit(hid, pair) for hid, pair in work))
        elapsed = time.perf_counter() - began
        t = await store.snapshot(work[0][0])
        started = time.perf_counter()
        text = assemble(t, {}, case_number="(2026)测0号", tz=ZoneInfo("Asia/Shanghai"))
        assemble_ms = (time.perf_counter() - started) * 1000
        latencies.sort()
        return {"submissions": len(latencies), "concurrency": concurrency,
                "p50_ms": statistics.median(latencies) * 1000,
                "p95_ms": latencies[int(0.95 * (len(latencies) - 1))] * 1000, "max_ms": latencies[-1] * 1000,
                "per_second": len(latencies) / elapsed, "assemble_ms": assemble_ms, "transcript_chars": len(text)}
    finally:
        await court.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="")
    parser.add_argument("--hearings", type=int, default=10)
    parser.add_argument("--questions", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        result = asyncio.run(run(url, args.hearings, args.questions, args.concurrency))
    if args.json:
        print(json.dumps(result))
        return
    backend = url.split(":", 1)[0]
    print(f"{backend}: {result['submissions']} answers sealed, {result['concurrency']} in flight: "
          f"p50 {result['p50_ms']:.1f} ms, p95 {result['p95_ms']:.1f} ms, max {result['max_ms']:.1f} ms, "
          f"{result['per_second']:.0f}/s; transcript of one hearing ({result['transcript_chars']} chars) "
          f"assembled in {result['assemble_ms']:.1f} ms")


if __name__ == "__main__":
    main()
