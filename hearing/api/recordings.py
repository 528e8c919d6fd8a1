"""Hearing recordings through the staff API: what was recorded, and presigned URLs to play it.

GET /api/hearings/{id}/recording summarises the manifest (tracks, pauses with reason and who, time in session) and
says whether it verifies; GET …/recording/tracks/{track_id}/segments lists a track's segments with presigned URLs
that expire in minutes, so the browser fetches the stored bytes straight from the object store (or the local
store's signed /objects route) and a leaked URL soon stops working. Every listing of URLs is audited
(`recording.viewed`). Retention: recordings cannot be deleted through the API — there is no DELETE route here,
and none under /objects.

Who: staff who may see the hearing (hearings.view_all, or on its panel or among its participants), as for the
hearing's detail.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from docket.audit import AuditEvent
from docket.court import Hearing
from hearing.api.deps import AUDIT_ROLE, ERROR_RESPONSES, ApiContext, ApiError, ApiRoute, StaffDeps
from hearing.staff_auth import Permission, StaffPrincipal, involved
from recordings.export import check_recording, summarize
from recordings.manifest import load
from recordings.objectstore import ObjectStore, ObjectStoreError

URL_LIFETIME = timedelta(minutes=10)
MAX_PAGE = 2000
_TRACK_ID = re.compile(r"^[A-Za-z0-9_\-]{1,64}\.(audio|video)\.[A-Za-z0-9_\-]{1,32}$")


def _iso(us: int) -> datetime:
    return datetime.fromtimestamp(us / 1_000_000, UTC)


class BreakOut(BaseModel):
    seq: int
    reason: str
    detail: str


class TrackOut(BaseModel):
    track_id: str
    participant_id: str
    kind: str
    codec: str
    segments: int
    duration_seconds: float
    first_at: datetime = Field(description="Wall-clock time of the track's first recorded frame")


class PauseOut(BaseModel):
    reason: str
    actor_id: str
    at: datetime
    resumed_at: datetime | None
    resumed_by: str | None


class RecordingOut(BaseModel):
    hearing_id: str
    recording_start: datetime
    stopped: bool = Field(description="False while recording, or when the chain's last entries are missing")
    in_session_seconds: float
    verified: bool
    verification: str = Field(description="'full' (every SHA-256 recomputed) or 'chain_and_sizes'")
    first_break: BreakOut | None
    tracks: list[TrackOut]
    pauses: list[PauseOut]


class SegmentOut(BaseModel):
    seq: int
    index: int
    start_us: int = Field(description="From the recording start (of its run)")
    end_us: int
    start_at: datetime
    size: int
    sha256: str
    url: str


class SegmentsOut(BaseModel):
    hearing_id: str
    track_id: str
    kind: str
    codec: str
    expires_at: datetime = Field(description="The URLs stop working then: list again for fresh ones")
    segments: list[SegmentOut]
    next_after_seq: int | None = Field(description="Pass as after_seq for the next page; null on the last page")


def recordings_router(ctx: ApiContext, deps: StaffDeps) -> APIRouter:
    router = APIRouter(route_class=ApiRoute, tags=["recordings"], responses=ERROR_RESPONSES)

    def store_of(request: Request) -> ObjectStore:
        # ApiContext has no object store yet; the app keeps its services on app.state (app/factory.py).
        store = getattr(ctx, "objects", None) or getattr(getattr(request.app.state, "services", None), "objects", None)
        if store is None:
            raise ApiError(503, "objects_unavailable", "the recordings store is not configured on this server")
        return store

    async def visible_hearing(principal: StaffPrincipal, hearing_id: str) -> Hearing:
        hearing = await ctx.court.get_hearing(hearing_id)
        participants = await ctx.court.list_participants(hearing.id)
        if not principal.may(Permission.VIEW_ALL_HEARINGS) and not involved(principal, hearing, participants):
            raise ApiError(403, "forbidden",
                           f"you are not on hearing {hearing.id} (panel or participant), and seeing every hearing's "
                           f"recording needs the permission {Permission.VIEW_ALL_HEARINGS.value}",
                           missing_permission=Permission.VIEW_ALL_HEARINGS.value)
        return hearing

    def no_recording(hearing_id: str) -> ApiError:
        return ApiError(404, "no_recording", f"hearing {hearing_id} has no recording: hearings are recorded only "
                                             "while in session", id=hearing_id)

    def store_error(exc: ObjectStoreError) -> ApiError:
        return ApiError(503, "objects_unavailable", f"the recordings store did not answer ({exc}); try again shortly")

    @router.get("/hearings/{hearing_id}/recording", response_model=RecordingOut,
                responses={404: {"description": "No such hearing, or it was never recorded"}})
    async def get_recording(request: Request, hearing_id: str,
                            full: bool = Query(False, description="Recompute every segment's SHA-256 (slow)"),
                            principal: StaffPrincipal = Depends(deps.current)) -> RecordingOut:
        """The recording's tracks, pauses and time in session, and whether its manifest verifies."""
        hearing = await visible_hearing(principal, hearing_id)
        try:
            entries, broken = await check_recording(store_of(request), hearing.id, full=full)
        except ObjectStoreError as exc:
            raise store_error(exc) from None
        if not entries:
            raise no_recording(hearing.id)
        s = summarize(hearing.id, entries)
        return RecordingOut(
            hearing_id=hearing.id, recording_start=_iso(s.recording_start_us), stopped=s.stopped,
            in_session_seconds=s.in_session_us / 1e6, verified=broken is None,
            verification="full" if full else "chain_and_sizes",
            first_break=BreakOut(seq=broken.seq, reason=broken.reason.value, detail=broken.detail) if broken else None,
            tracks=[TrackOut(track_id=t.track_id, participant_id=t.participant_id, kind=t.kind, codec=t.codec,
                             segments=len(t.segments), duration_seconds=t.duration_us / 1e6,
                             first_at=_iso(min(x.start_abs_us for x in t.segments)))
                    for t in sorted(s.tracks.values(), key=lambda t: (t.participant_id, t.kind, t.track_id))],
            pauses=[PauseOut(reason=p.reason, actor_id=p.actor_id, at=_iso(p.at_us), resumed_by=p.resumed_by,
                             resumed_at=_iso(p.resumed_at_us) if p.resumed_at_us is not None else None)
                    for p in s.pauses],
        )

    @router.get("/hearings/{hearing_id}/recording/tracks/{track_id}/segments", response_model=SegmentsOut,
                responses={404: {"description": "No such hearing, recording or track"}})
    async def list_segments(request: Request, hearing_id: str, track_id: str,
                            after_seq: int = Query(0, ge=0, description="Only segments after this manifest seq"),
                            limit: int = Query(500, ge=1, le=MAX_PAGE),
                            principal: StaffPrincipal = Depends(deps.current)) -> SegmentsOut:
        """A track's segments in order, each with a presigned URL for playback; audited as recording.viewed."""
        hearing = await visible_hearing(principal, hearing_id)
        if not _TRACK_ID.match(track_id):
            raise ApiError(422, "invalid_request", f"{track_id!r} is not a track id: they look like "
                                                   "PARTICIPANT.video.MID or PARTICIPANT.audio.MID")
        store = store_of(request)
        try:
            summary = summarize(hearing.id, await load(store, hearing.id))
        except ObjectStoreError as exc:
            raise store_error(exc) from None
        if not summary.tracks:
            raise no_recording(hearing.id)
        track = summary.tracks.get(track_id)
        if track is None:
            raise ApiError(404, "not_found", f"the recording of hearing {hearing.id} has no track {track_id}; "
                                             "GET /api/hearings/{id}/recording lists its tracks", id=track_id)
        ordered = sorted((x for x in track.segments if x.seq > after_seq), key=lambda x: x.seq)
        page, more = ordered[:limit], len(ordered) > limit
        expires_at = datetime.now(UTC) + URL_LIFETIME
        try:
            urls = [await store.presigned_get(x.key, URL_LIFETIME) for x in page]
        except ObjectStoreError as exc:
            raise store_error(exc) from None
        await ctx.audit.append(AuditEvent(principal.id, AUDIT_ROLE, "recording.viewed", f"hearing:{hearing.id}", {
            "hearing_id": hearing.id, "track_id": track_id, "segments": len(page),
            "first_seq": page[0].seq if page else None, "expires_seconds": int(URL_LIFETIME.total_seconds()),
        }))
        return SegmentsOut(
            hearing_id=hearing.id, track_id=track_id, kind=track.kind, codec=track.codec,
            expires_at=expires_at.replace(microsecond=0),
            segments=[SegmentOut(seq=x.seq, index=x.index, start_us=x.start_abs_us - x.epoch_us,
                                 end_us=x.end_abs_us - x.epoch_us, start_at=_iso(x.start_abs_us), size=x.size,
                                 sha256=x.sha256, url=url) for x, url in zip(page, urls, strict=True)],
            next_after_seq=page[-1].seq if more else None,
        )

    return router
