"""Recording benchmark: `python -m bench.recording [--publishers 2] [--seconds 10] [--codec vp8] [--json]`.

What recording a stream costs the server, next to what forwarding it costs.  `hearing serve` runs in its own
process (a fresh temp var dir, local object store); this process seats N recorded hearings (trials) in its SQLite
register, each with a presiding judge who publishes the pre-encoded clip plus Opus silence (`bench.sfu_clients`
publishers: nothing is encoded per frame here), and measures the server's CPU (utime+stime from /proc) in three
windows of the same length:
  * `forward-0`: the N publishers only (the SFU receives, nobody is subscribed, nothing is recorded): the baseline;
  * `forward-2`: two subscribers per room (clerks, counting RTP without decoding), then they leave;
  * `record`:    the sessions open, so each room's audio and video are recorded (no subscribers).
Δ per publisher = (window CPU − baseline CPU) ÷ N: the cost of forwarding one publisher's audio+video to two
subscribers vs the cost of recording it (the issue's target: recording costs no more than forwarding to two).
Bytes: RTP payload bytes the publishers sent while recording (aiortc's outbound `bytesSent`; on loopback nothing is
lost, so this is what the server received) vs the bytes of the
segments the manifest lists — remuxing without transcoding should add container overhead only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bench import clip
from bench.sfu import SECRET, server
from bench.sfu_clients import PING_EVERY, SETTLE, Publisher, Subscriber, cpu_seconds
from media import aiortc_glue as glue

STREAMS_PER_PUBLISHER = 2
"""Each publisher sends one audio and one video stream; per-stream figures halve the per-publisher ones."""

REQUIRED = ("publishers", "seconds", "cpu_forward0_s_per_s", "cpu_forward2_s_per_s", "cpu_record_s_per_s",
            "forward2_ms_cpu_per_s_per_publisher", "record_ms_cpu_per_s_per_publisher",
            "forward2_ms_cpu_per_s_per_stream", "record_ms_cpu_per_s_per_stream", "record_vs_forward2",
            "bytes_received", "bytes_stored", "stored_over_received", "segments")


def _log(text: str) -> None:
    print(f"[recording] {text}", file=sys.stderr, flush=True)


async def _seat(url: str, n: int) -> list[dict[str, Any]]:
    """N trials in the register, each with a presiding judge and two clerks holding bound join tokens."""
    from docket.court import NewCase, NewHearing, NewParticipant, NewPerson
    from docket.court_sql import SqlCourtRecords
    from docket.records import IssuedToken
    from docket.sql import SqlRecords
    from hearing.roles import ROLE_GRANTS, Role
    from signaling.tokens import TokenService

    court, records, tokens = SqlCourtRecords(url, id_hash_iterations=1000), SqlRecords(url), TokenService(SECRET)
    rooms = []
    try:
        for i in range(n):
            people = {"judge": Role.PRESIDING_JUDGE, "clerk1": Role.CLERK, "clerk2": Role.CLERK}
            persons = {label: await court.create_person(NewPerson(f"bench-{label}-{i}")) for label in people}
            case = await court.create_case(NewCase(f"(2026)bench{i}", "benchmark", []))
            start = datetime.now(UTC)
            room = f"bench-rec-{i}"
            hearing = await court.create_hearing(NewHearing(case.id, "trial", start, start + timedelta(hours=2),
                                                            panel=[persons["judge"].id], room_id=room,
                                                            state="lobby_open"))
            await records.create_room(room, case.case_number, "trial")
            seats: dict[str, str] = {}
            for label, role in people.items():
                p = await court.add_participant(NewParticipant(hearing.id, persons[label].id, role.value))
                token, claims = tokens.issue_join(room_id=room, role=role.value, name=label,
                                                  grants=ROLE_GRANTS[role], ttl_seconds=3600, participant_id=p.id)
                await records.record_token(IssuedToken(
                    jti=claims.jti, room_id=room, participant_id=p.id, role=role.value,
                    issued_at=datetime.fromtimestamp(claims.issued_at, UTC),
                    expires_at=datetime.fromtimestamp(claims.expires_at, UTC)))
                await court.bind_token(p.id, claims.jti)
                seats[label] = token
            rooms.append({"room": room, "hearing_id": hearing.id, **seats})
    finally:
        await court.close()
        await records.close()
    return rooms


async def _bytes_sent(pubs: list[Publisher]) -> int:
    total = 0
    for p in pubs:
        for stat in (await p.pc.getStats()).values():
            if getattr(stat, "type", "") == "outbound-rtp":
                total += int(stat.bytesSent)
    return total


async def _window(pid: int, seconds: float) -> float:
    cpu0, t0 = cpu_seconds(pid), time.monotonic()
    await asyncio.sleep(seconds)
    return (cpu_seconds(pid) - cpu0) / (time.monotonic() - t0)


async def _until(predicate: Any, limit: float, what: str) -> None:
    deadline = time.monotonic() + limit
    while not await predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


async def run(n: int, seconds: float, codec: str) -> dict[str, Any]:
    from recordings.local_store import LocalObjectStore
    from recordings.manifest import load

    glue.use_host_addresses(["127.0.0.1"])
    with server("sfu", codec) as (port, pid, log_path):
        var = log_path.parent
        rooms = await _seat(f"sqlite+aiosqlite:///{(var / 'hearing.db').resolve()}", n)
        base_url = f"ws://127.0.0.1:{port}/ws"
        pubs = [Publisher(f"{base_url}/{r['room']}", r["judge"], f"pub {r['room']}", codec) for r in rooms]
        peers: list[Any] = list(pubs)

        async def pinger() -> None:
            while True:  # the server closes signalling connections silent for WS_IDLE_TIMEOUT_SECONDS
                await asyncio.sleep(PING_EVERY)
                for p in list(peers):
                    await p.ping()

        ping = asyncio.create_task(pinger())
        store = LocalObjectStore(var / "objects", url_base="http://127.0.0.1", signing_key=b"bench")
        try:
            _log(f"{n} publishers joining...")
            for p in pubs:
                await p.start()
            await asyncio.gather(*(p.flowing() for p in pubs))
            await asyncio.sleep(SETTLE)
            _log(f"forward-0 (publishers only): measuring {seconds:g} s...")
            cpu0 = await _window(pid, seconds)

            subs = [Subscriber(f"{base_url}/{r['room']}", r[c], f"sub {r['room']} {c}")
                    for r in rooms for c in ("clerk1", "clerk2")]
            peers += subs
            for s in subs:
                await s.start()
            await asyncio.wait_for(asyncio.gather(*(s.got_frame.wait() for s in subs)), 60)
            await asyncio.sleep(SETTLE)
            _log(f"forward-2 (two subscribers per publisher): measuring {seconds:g} s...")
            cpu2 = await _window(pid, seconds)
            for s in subs:
                peers.remove(s)
                await s.close()
            await asyncio.sleep(SETTLE)

            sent0 = await _bytes_sent(pubs)
            for p in pubs:
                await p.ws.send(json.dumps({"type": "procedure", "transition": "start_session"}))

            async def recording() -> bool:
                return all([await store.list(f"recordings/{r['hearing_id']}/tracks/") for r in rooms])

            await _until(recording, 60, "the first uploaded segments")
            _log(f"record ({n} publishers recorded, audio+video): measuring {seconds:g} s...")
            cpu_rec = await _window(pid, seconds)
            for p in pubs:
                await p.ws.send(json.dumps({"type": "procedure", "transition": "close"}))
            sent1 = await _bytes_sent(pubs)

            async def stopped() -> bool:
                for r in rooms:
                    entries = await load(store, r["hearing_id"])
                    if not entries or entries[-1].type != "stop":
                        return False
                return True

            await _until(stopped, 60, "the recordings to stop and upload")
            segments = [e for r in rooms for e in await load(store, r["hearing_id"]) if e.type == "segment"]
        finally:
            ping.cancel()
            for p in peers:
                await p.close()
            await store.close()
    stored = sum(int(e.data["size"]) for e in segments)
    received = sent1 - sent0
    fwd = (cpu2 - cpu0) / n
    rec = (cpu_rec - cpu0) / n
    return {
        "publishers": n,
        "codec": codec,
        "seconds": seconds,
        "cpu_forward0_s_per_s": round(cpu0, 4),
        "cpu_forward2_s_per_s": round(cpu2, 4),
        "cpu_record_s_per_s": round(cpu_rec, 4),
        "forward2_ms_cpu_per_s_per_publisher": round(fwd * 1000, 2),
        "record_ms_cpu_per_s_per_publisher": round(rec * 1000, 2),
        "forward2_ms_cpu_per_s_per_stream": round(fwd * 1000 / STREAMS_PER_PUBLISHER, 2),
        "record_ms_cpu_per_s_per_stream": round(rec * 1000 / STREAMS_PER_PUBLISHER, 2),
        "record_vs_forward2": round(rec / fwd, 2) if fwd > 0 else None,
        "bytes_received": received,
        "bytes_stored": stored,
        "stored_over_received": round(stored / received, 4) if received else None,
        "segments": len(segments),
    }


def format_report(r: dict[str, Any]) -> str:
    n = r["publishers"]
    lines = [
        f"{'window':<12}{'server CPU s/s':>16}{'Δ/publisher ms/s':>18}",
        f"{'forward-0':<12}{r['cpu_forward0_s_per_s']:>16.3f}{'-':>18}",
        f"{'forward-2':<12}{r['cpu_forward2_s_per_s']:>16.3f}{r['forward2_ms_cpu_per_s_per_publisher']:>18.1f}",
        f"{'record':<12}{r['cpu_record_s_per_s']:>16.3f}{r['record_ms_cpu_per_s_per_publisher']:>18.1f}",
        "",
        f"{n} publishers (audio+video, {r['codec']}), {r['seconds']:g} s per window: recording one publisher costs "
        f"{r['record_ms_cpu_per_s_per_publisher']:.1f} ms CPU/s, forwarding it to two subscribers "
        f"{r['forward2_ms_cpu_per_s_per_publisher']:.1f} ms CPU/s (ratio {r['record_vs_forward2']}); per recorded "
        f"stream (audio or video) {r['record_ms_cpu_per_s_per_stream']:.1f} ms CPU/s vs "
        f"{r['forward2_ms_cpu_per_s_per_stream']:.1f} to forward it to two.",
        f"bytes: received {r['bytes_received']} (RTP payload), stored {r['bytes_stored']} in {r['segments']} "
        f"segments: stored/received = {r['stored_over_received']}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--publishers", type=int, default=2, help="recorded publishers (one room each)")
    ap.add_argument("--seconds", type=float, default=10.0, help="length of each measuring window")
    ap.add_argument("--codec", choices=sorted(clip.CODECS), default="vp8")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)
    if args.publishers < 1 or args.seconds <= 0:
        ap.error("--publishers must be >= 1 and --seconds positive")
    clip.ensure(args.codec)  # generated once, before the server is timed
    try:
        report = asyncio.run(run(args.publishers, args.seconds, args.codec))
    except RuntimeError as exc:
        _log(str(exc))
        return 1
    print(json.dumps(report) if args.json else format_report(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
