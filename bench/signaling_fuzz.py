"""Signalling fuzz over real WebSockets: `python -m bench.signaling_fuzz [--messages 20000] [--seed 1] [--json]`.

Runs `hearing serve` in its own process (embedded defaults) and sends malformed signalling from many connections:
broken JSON, wrong types, huge fields, unknown types, malformed SDP and ICE candidates, binary frames, deep nesting,
oversize frames, floods. Every connection must end answered with typed errors (and its session still working: a
ping answered, a good offer answered) or closed with a documented code (4008 rate limit, 4000 bad first message,
1009 oversize frame) — never 1011, never an `internal` error. Afterwards the server's open file descriptors
(/proc/PID/fd) and event-loop tasks (`hearing_asyncio_tasks` on /metrics) must return to their baseline.

Prints messages sent, errors by code, closes by code, fds/tasks before and after; exits 1 when a rule is broken.
The generator and the client side are shared with tests/test_signaling_fuzz.py (a short, in-process run).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import websockets

SECRET = "bench-signaling-fuzz-secret-" + "f" * 20
ROOM = "fuzz-room"
ALLOWED_CLOSES = frozenset({1000, 1009, 4000, 4001, 4008, 4012})
"""Documented ends of a fuzzed connection: left, oversize frame, bad first message (or its token, or its protocol
version), rate limit."""
FLOOD = 1000  # cheap messages a flooding connection sends at once: far past the burst and the strikes (60 + 60)
PER_CONNECTION = 55  # malformed messages per session: within the default burst (60), with its checks after

SAMPLE_OFFER = "\r\n".join([
    "v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "t=0 0", "a=group:BUNDLE 0", "a=msid-semantic:WMS *",
    "m=audio 9 UDP/TLS/RTP/SAVPF 111", "c=IN IP4 0.0.0.0", "a=rtcp:9 IN IP4 0.0.0.0", "a=mid:0", "a=sendrecv",
    "a=msid:s1 a1", "a=rtcp-mux", "a=rtpmap:111 opus/48000/2", "a=fmtp:111 minptime=10;useinbandfec=1",
    "a=ssrc:1234 cname:fuzz", "a=ice-ufrag:Fz12", "a=ice-pwd:fuzzpasswordfuzzpassword",
    "a=fingerprint:sha-256 " + ":".join(["5A"] * 32), "a=setup:actpass", "",
])
SDP_NOISE = ["c=IN IP4 1.2", "c=IN", "c=", "a=candidate:1 1 udp", "a=rtpmap:x", "a=fmtp:200 apt=x", "a=ssrc:x cname",
             "a=extmap:x y z", "a=rtcp:x", "a=setup:holdconn", "a=fingerprint:sha-256", "m=audio x RTP/AVP 0",
             "m=video 9 UDP/TLS/RTP/SAVPF 300", "a=mid:", "a=ice-ufrag:", "v=1", "\x00", "a=group:BUNDLE 9"]
CANDIDATE_TOKENS = ["candidate:1", "1", "0", "257", "udp", "tcp", "sctp", "2122252543", "4294967296", "-1",
                    "127.0.0.1", "::1", "1.2", "999.1.1.1", "host.example", "9", "65536", "typ", "host", "relay",
                    "bogus", "raddr", "rport", "tcptype", "so", "é", ":", "x" * 300]
TYPES = ["join", "resume", "offer", "answer", "ice-candidate", "mute", "subscription", "ping", "pong", "admit",
         "deny", "send-to-lobby", "remove", "mute-participant", "lock", "procedure", "open-private-room",
         "close-private-room", "recording"]
JUNK_VALUES: list[Any] = [None, True, 0, -1, 2**64, 1.5, "", "x", "é" * 10, [], {}, [1, [2]], {"a": {"b": 1}}]


def malformed_sdp(rng: random.Random) -> str:
    lines = SAMPLE_OFFER.split("\r\n")
    for _ in range(rng.randint(1, 4)):
        i = rng.randrange(len(lines))
        how = rng.randrange(4)
        if how == 0:
            lines[i] = lines[i][:rng.randint(0, len(lines[i]))]
        elif how == 1:
            lines.insert(i, rng.choice(SDP_NOISE))
        elif how == 2:
            lines[i] = rng.choice(SDP_NOISE)
        else:
            del lines[i]
        if not lines:
            break
    return "\r\n".join(lines)


def malformed_candidate(rng: random.Random) -> str:
    if rng.random() < 0.3:
        good = "candidate:1 1 udp 2122252543 127.0.0.1 9 typ host"
        return good[:rng.randint(0, len(good))]
    return " ".join(rng.choice(CANDIDATE_TOKENS) for _ in range(rng.randint(0, 14)))


def fuzz_message(rng: random.Random, *, max_bytes: int) -> str | bytes:
    """One malformed (or merely pointless) message; never a `leave` (that would end the session on purpose)."""
    pick = rng.randrange(12)
    if pick == 0:  # broken JSON
        text = json.dumps({"type": rng.choice(TYPES), "sdp": "v=0"})
        return text[:rng.randint(0, len(text) - 1)] + rng.choice(["", "}", "\x00", "\ud800"[:0], ",,"])
    if pick == 1:  # not an object, or no string type
        return json.dumps(rng.choice([[], "offer", 5, None, {"type": 7}, {"typ": "offer"}, {"type": None}]))
    if pick == 2:  # unknown type
        return json.dumps({"type": rng.choice(["hack", "OFFER", "leave ", "", "x" * 200, "joined", "error"])})
    if pick == 3:  # known type, wrong field types or extra fields
        msg: dict[str, Any] = {"type": rng.choice(TYPES)}
        for key in rng.sample(["sdp", "candidate", "kind", "muted", "participant_id", "token", "v", "id", "paused",
                               "locked", "transition", "participant_ids", "room_id", "on", "extra"], 3):
            msg[key] = rng.choice(JUNK_VALUES)
        return json.dumps(msg)
    if pick == 4:  # huge fields (within the frame limit: refused as too large or too long, not by closing)
        size = rng.choice([max_bytes + 10, 70_000, 2_000])
        return json.dumps({"type": rng.choice(["offer", "ice-candidate", "remove", "ping"]),
                           rng.choice(["sdp", "candidate", "participant_id"]): "a" * size})
    if pick in (5, 6):  # malformed SDP
        return json.dumps({"type": rng.choice(["offer", "answer"]), "sdp": malformed_sdp(rng)})
    if pick in (7, 8):  # malformed ICE candidates
        return json.dumps({"type": "ice-candidate", "candidate": malformed_candidate(rng),
                           "sdpMid": rng.choice(["0", "9", None]), "sdpMLineIndex": rng.choice([0, 3, None])})
    if pick == 9:  # binary frames: JSON as bytes, or noise
        return rng.choice([b'{"type":"ping"}', bytes(rng.randrange(256) for _ in range(rng.randint(0, 64)))])
    if pick == 10:  # deep nesting
        return "[" * rng.choice([1000, 20_000]) + "]" * rng.choice([0, 10])
    return json.dumps({"type": "ping", "id": rng.choice([-1, 2**60, "x", 1.5])})  # out-of-range values


@dataclass
class Tally:
    sent: int = 0  # malformed messages
    flood_sent: int = 0  # messages of floods (valid, cheap, too many)
    connections: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    closes: Counter[int | str | None] = field(default_factory=Counter)  # "client": we closed first
    alive_after: int = 0  # connections whose session answered a ping and a good offer after the fuzz
    problems: list[str] = field(default_factory=list)

    def merge(self, other: Tally) -> None:
        self.sent += other.sent
        self.flood_sent += other.flood_sent
        self.connections += other.connections
        self.errors.update(other.errors)
        self.closes.update(other.closes)
        self.alive_after += other.alive_after
        self.problems.extend(other.problems)


async def _reader(ws: Any, tally: Tally, inbox: asyncio.Queue[dict[str, Any]]) -> None:
    with contextlib.suppress(websockets.ConnectionClosed):
        async for raw in ws:
            msg = json.loads(raw)
            if msg.get("type") == "error":
                tally.errors[msg["code"]] += 1
            inbox.put_nowait(msg)


async def _expect(inbox: asyncio.Queue[dict[str, Any]], type_: str, wait: float = 30) -> dict[str, Any]:
    async with asyncio.timeout(wait):
        while True:
            msg = await inbox.get()
            if msg.get("type") == type_:
                return msg


async def fuzz_connection(url: str, token: str, rng: random.Random, count: int, mode: str, *, max_bytes: int,
                          good_offer: str | None) -> Tally:
    """One connection: `session` joins then fuzzes (and checks its session still works), `flood` joins then sends
    past the rate limit, `first` sends a malformed first message, `oversize` sends one frame past the hard limit."""
    tally = Tally(connections=1)
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    async with websockets.connect(url, max_size=2**24, ping_interval=None, open_timeout=30,
                                  close_timeout=10) as ws:
        reader = asyncio.create_task(_reader(ws, tally, inbox))
        try:
            if mode == "first":
                await ws.send(fuzz_message(rng, max_bytes=max_bytes))
                tally.sent += 1
            elif mode == "oversize":
                await ws.send(json.dumps({"type": "join", "v": 1, "token": token}))
                await _expect(inbox, "joined")
                await ws.send("x" * (4 * max_bytes + 1))
                tally.sent += 1
            elif mode == "flood":
                await ws.send(json.dumps({"type": "join", "v": 1, "token": token}))
                await _expect(inbox, "joined")
                for _ in range(FLOOD):
                    await ws.send('{"type":"pong"}')
                    tally.flood_sent += 1
            else:
                await ws.send(json.dumps({"type": "join", "v": 1, "token": token}))
                await _expect(inbox, "joined")
                for _ in range(count):
                    await ws.send(fuzz_message(rng, max_bytes=max_bytes))
                    tally.sent += 1
                if mode == "session":
                    await ws.send(json.dumps({"type": "ping", "id": 42}))
                    await _expect(inbox, "pong")
                    if good_offer is not None:  # the media side of the session survived the malformed SDP
                        await ws.send(json.dumps({"type": "offer", "sdp": good_offer}))
                        await _expect(inbox, "answer")
                    tally.alive_after += 1
                    await ws.send(json.dumps({"type": "leave"}))
        except websockets.ConnectionClosed:
            pass
        except TimeoutError:
            tally.problems.append(f"{mode}: no answer in time")
        with contextlib.suppress(TimeoutError, websockets.ConnectionClosed):
            async with asyncio.timeout(30):
                await ws.wait_closed()  # every mode ends with the server closing: leave, refusal, limit
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
    rcvd = ws.protocol.close_rcvd
    by_server = rcvd is not None and bool(ws.protocol.close_rcvd_then_sent)
    code: int | str | None = rcvd.code if by_server and rcvd is not None else "client"
    tally.closes[code] += 1
    if mode == "flood":
        if code != 4008 and not tally.errors["rate_limited"]:  # limited it must be: closed, or its excess refused
            tally.problems.append(f"flood: neither closed by the rate limit nor refused (closed: {code})")
    elif code not in ALLOWED_CLOSES:
        tally.problems.append(f"{mode}: closed with {code}")
    return tally


async def run_fuzz(ws_base: str, issue_token: Callable[[str], Awaitable[str] | str], *, messages: int, seed: int,
                   max_bytes: int = 65536, concurrency: int = 8, per_connection: int = PER_CONNECTION,
                   good_offer: str | None = None) -> Tally:
    """Send about `messages` fuzzed messages from connections of every mode, `concurrency` at a time."""
    rng = random.Random(seed)
    url = f"{ws_base}/ws/{ROOM}"
    plan = ["flood", "first", "oversize"]  # each mode at least once, whatever the seed
    planned = 2
    while planned < messages:
        mode = rng.choices(["session", "flood", "first", "oversize"], [85, 5, 7, 3])[0]
        plan.append(mode)
        planned += {"session": per_connection, "flood": 0}.get(mode, 1)
    total = Tally()
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int, mode: str) -> None:
        async with sem:
            token = issue_token(f"fuzzer {i}")
            if not isinstance(token, str):
                token = await token
            result = await fuzz_connection(url, token, random.Random(rng.random() + i), per_connection, mode,
                                           max_bytes=max_bytes, good_offer=good_offer if i % 10 == 0 else None)
            total.merge(result)

    await asyncio.gather(*(one(i, mode) for i, mode in enumerate(plan)))
    return total


# ---- the bench: a real `hearing serve` process ------------------------------------------------------------------


def _fds(pid: int) -> int:
    """Open descriptors other than the register's database files: sockets, pipes, event fds. (The SQLite
    connection pool opens a file per connection and may keep one more after a busy spell: bounded, not a leak;
    `_db_fds` reports it.)"""
    return sum(1 for f in os.listdir(f"/proc/{pid}/fd") if not _is_db(pid, f))


def _db_fds(pid: int) -> int:
    return sum(1 for f in os.listdir(f"/proc/{pid}/fd") if _is_db(pid, f))


def _is_db(pid: int, fd: str) -> bool:
    with contextlib.suppress(OSError):
        return ".db" in os.readlink(f"/proc/{pid}/fd/{fd}")
    return False


async def _tasks(base: str) -> int:
    import httpx

    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        text = (await http.get("/metrics")).text
    m = re.search(r"^hearing_asyncio_tasks (\S+)$", text, re.M)
    return int(float(m.group(1))) if m else -1


async def _settle(base: str, pid: int, fds0: int, tasks0: int, within: float) -> tuple[int, int]:
    """Resources once the grace windows of dropped participants are over (or `within` seconds passed)."""
    deadline = time.monotonic() + within
    while True:
        fds, tasks = _fds(pid), await _tasks(base)
        if (fds <= fds0 and tasks <= tasks0) or time.monotonic() > deadline:
            if os.environ.get("FUZZ_DEBUG"):
                print(sorted(os.readlink(f"/proc/{pid}/fd/{f}") for f in os.listdir(f"/proc/{pid}/fd")),
                      file=sys.stderr)
                import httpx
                async with httpx.AsyncClient(base_url=base) as http:
                    print([x for x in (await http.get("/metrics")).text.splitlines() if x.startswith("hearing_")],
                          file=sys.stderr)
            return fds, tasks
        await asyncio.sleep(0.5)


def report(t: Tally, elapsed: float, resources: dict[str, int]) -> dict[str, Any]:
    return {"bench": "signaling_fuzz", "messages_sent": t.sent, "flood_messages_sent": t.flood_sent,
            "connections": t.connections,
            "sessions_alive_after_fuzz": t.alive_after, "seconds": round(elapsed, 1),
            "errors_by_code": dict(sorted(t.errors.items())),
            "closes_by_code": {str(k): v for k, v in sorted(t.closes.items(), key=lambda kv: str(kv[0]))},
            **resources, "problems": t.problems[:20]}


async def _bench(port: int, pid: int, messages: int, seed: int) -> dict[str, Any]:
    from signaling.tokens import TokenService

    tokens = TokenService(SECRET)
    base, ws_base = f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}"

    def issue(name: str) -> str:
        return tokens.issue_join(room_id=ROOM, role="plaintiff", name=name, grants=["publish", "subscribe"],
                                 ttl_seconds=3600)[0]

    # Warm-up at full concurrency: lazy imports, and the register's connection pool at its working size.
    await run_fuzz(ws_base, issue, messages=2000, seed=seed + 1, good_offer=SAMPLE_OFFER)
    fds0, tasks0 = await _settle(base, pid, 10**9, 10**9, 0)
    fds0, tasks0 = await _settle(base, pid, fds0, tasks0, 5)
    db0 = _db_fds(pid)
    t0 = time.perf_counter()
    tally = await run_fuzz(ws_base, issue, messages=messages, seed=seed, good_offer=SAMPLE_OFFER)
    elapsed = time.perf_counter() - t0
    fds1, tasks1 = await _settle(base, pid, fds0, tasks0, 30)
    row = report(tally, elapsed, {"fds_before": fds0, "fds_after": fds1, "tasks_before": tasks0,
                                  "tasks_after": tasks1, "db_fds_before": db0, "db_fds_after": _db_fds(pid)})
    if fds1 > fds0 or tasks1 > tasks0:
        row["problems"].append("file descriptors or tasks did not return to their baseline")
    if tally.errors.get("internal"):
        row["problems"].append(f"{tally.errors['internal']} internal errors")
    return row


def main(argv: list[str] | None = None) -> int:
    from bench.server import ServerDidNotStart, hearing_server

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true", help="one JSON object")
    args = ap.parse_args(argv)
    try:
        # The default rate limits (20/s, burst 60): sessions stay within them, floods meet them (4008).
        with hearing_server(SECRET, RESUME_GRACE_SECONDS="1") as (port, proc):
            row = asyncio.run(_bench(port, proc.pid, args.messages, args.seed))
    except ServerDidNotStart as exc:
        print(exc, file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(row, ensure_ascii=False))
    else:
        print(f"messages sent     {row['messages_sent']} malformed (+{row['flood_messages_sent']} in floods) over "
              f"{row['connections']} connections in {row['seconds']} s "
              f"({row['sessions_alive_after_fuzz']} sessions checked alive afterwards)")
        print(f"errors by code    {row['errors_by_code']}")
        print(f"closes by code    {row['closes_by_code']}")
        print(f"fds before/after  {row['fds_before']} / {row['fds_after']} (sockets, pipes, event fds; database "
              f"files of the connection pool {row['db_fds_before']} / {row['db_fds_after']})")
        print(f"tasks before/after {row['tasks_before']} / {row['tasks_after']}")
        print("problems          " + ("; ".join(row["problems"]) or "none"))
    return 1 if row["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
