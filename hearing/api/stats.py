"""Hearing statistics: GET /api/stats — hearings held and minutes in session, by kind, optionally between dates.

Computed from the audit log's `procedure.transition` entries (subject `hearing:<id>`, details from/to/kind), not
from the hearings table: the log holds every move with its time, is what auditors trust, and cannot be edited
unnoticed. A hearing is *held* when it reaches closed (闭庭; sealed comes after); it counts in the range its close
falls in. *Minutes in session* sum the in_session intervals (开庭 to recess or close), clipped to the range; a
hearing in session now counts up to now.

`session_stats` is pure; the router reads the log in batches and hands it the transitions.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from docket.audit import AuditEntry, AuditLog
from hearing.api.deps import ERROR_RESPONSES, ApiContext, ApiError, ApiRoute, StaffDeps
from hearing.kinds import KIND_LABELS, HearingKind, ProcedureState
from hearing.staff_auth import Permission, StaffPrincipal

TRANSITION_ACTION = "procedure.transition"
HELD_STATES = frozenset({ProcedureState.CLOSED.value, ProcedureState.RECORD_SEALED.value})
_BATCH = 1000


@dataclass(frozen=True, slots=True)
class TransitionRecord:
    hearing_id: str
    kind: HearingKind
    at: datetime
    source: str
    target: str


@dataclass(slots=True)
class KindStats:
    hearings_held: int = 0
    seconds_in_session: float = 0.0


def transitions_in(entries: Iterable[AuditEntry]) -> Iterator[TransitionRecord]:
    """The procedure transitions among audit entries (others, and malformed ones, are skipped)."""
    for e in entries:
        if e.action != TRANSITION_ACTION or not e.subject.startswith("hearing:"):
            continue
        d = e.details
        kind, source, target = d.get("kind"), d.get("from"), d.get("to")
        if not (isinstance(source, str) and isinstance(target, str) and kind in HearingKind._value2member_map_):
            continue
        yield TransitionRecord(e.subject.removeprefix("hearing:"), HearingKind(str(kind)), e.at, source, target)


def _overlap(start: datetime, end: datetime, since: datetime | None, until: datetime | None) -> float:
    lo = max(start, since) if since else start
    hi = min(end, until) if until else end
    return max(0.0, (hi - lo).total_seconds())


def session_stats(transitions: Iterable[TransitionRecord], *, now: datetime, since: datetime | None = None,
                  until: datetime | None = None) -> dict[HearingKind, KindStats]:
    """Per kind: hearings that reached closed within [since, until), and seconds in session within it."""
    stats = {k: KindStats() for k in HearingKind}
    opened: dict[str, tuple[HearingKind, datetime]] = {}
    held: dict[str, tuple[HearingKind, datetime]] = {}
    for t in sorted(transitions, key=lambda t: t.at):
        if t.source == ProcedureState.IN_SESSION.value and t.hearing_id in opened:
            kind, start = opened.pop(t.hearing_id)
            stats[kind].seconds_in_session += _overlap(start, t.at, since, until)
        if t.target == ProcedureState.IN_SESSION.value:
            opened[t.hearing_id] = (t.kind, t.at)
        if t.target in HELD_STATES and t.hearing_id not in held:
            held[t.hearing_id] = (t.kind, t.at)
    for kind, start in opened.values():
        stats[kind].seconds_in_session += _overlap(start, max(start, now), since, until)
    for kind, at in held.values():
        if (since is None or at >= since) and (until is None or at < until):
            stats[kind].hearings_held += 1
    return stats


def parse_bound(text: str | None, what: str, *, end: bool) -> datetime | None:
    """A date (a whole UTC day; `until` includes it) or a datetime with an offset; ValueError naming `what`."""
    if text is None or not text.strip():
        return None
    text = text.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime.combine(day + timedelta(days=1) if end else day, time(), UTC)
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{what} {text!r} is not a date (2026-06-01) or a datetime (2026-06-01T09:00:00+08:00)") \
            from None
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} {text!r} has no time zone; add one, e.g. +08:00 or Z")
    return value


async def read_transitions(audit: AuditLog) -> list[TransitionRecord]:
    out: list[TransitionRecord] = []
    after = 0
    while True:
        batch = await audit.entries(after, _BATCH)
        out.extend(transitions_in(batch))
        if len(batch) < _BATCH:
            return out
        after = batch[-1].seq


class KindStatsOut(BaseModel):
    kind: str
    label_zh: str
    hearings_held: int
    minutes_in_session: float


class StatsOut(BaseModel):
    since: datetime | None
    until: datetime | None
    by_kind: list[KindStatsOut]
    hearings_held: int
    minutes_in_session: float
    # Connect-a-judge calls (stations/): per station and court, waiting p50/p90, pickup rate, minutes.
    calls: dict[str, Any] | None = None


def stats_router(ctx: ApiContext, deps: StaffDeps) -> APIRouter:
    router = APIRouter(route_class=ApiRoute, tags=["statistics"], responses=ERROR_RESPONSES)

    @router.get("/stats", response_model=StatsOut)
    async def stats(
        since: str | None = Query(None, max_length=40, description="From this date (UTC day) or datetime"),
        until: str | None = Query(None, max_length=40, description="To this date (inclusive) or datetime"),
        principal: StaffPrincipal = Depends(deps.require(Permission.VIEW_STATS)),
    ) -> StatsOut:
        """Hearings held (reached closed) and minutes in session, by hearing kind, from the audit log."""
        try:
            start = parse_bound(since, "since", end=False)
            stop = parse_bound(until, "until", end=True)
        except ValueError as exc:
            raise ApiError(422, "invalid_request", str(exc)) from None
        if start and stop and stop <= start:
            raise ApiError(422, "invalid_request", "until must be after since")
        result = session_stats(await read_transitions(ctx.audit), now=ctx.auth.clock(), since=start, until=stop)
        rows = [KindStatsOut(kind=k.value, label_zh=KIND_LABELS[k][0], hearings_held=s.hearings_held,
                             minutes_in_session=round(s.seconds_in_session / 60, 1)) for k, s in result.items()]
        total_seconds = sum(s.seconds_in_session for s in result.values())
        calls = await ctx.call_stats(start, stop) if ctx.call_stats is not None else None
        return StatsOut(since=start, until=stop, by_kind=rows, hearings_held=sum(r.hearings_held for r in rows),
                        minutes_in_session=round(total_seconds / 60, 1), calls=calls)

    return router
