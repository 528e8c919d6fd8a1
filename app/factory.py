"""The FastAPI app factory: routes for health, readiness, metrics, signalling, objects and the web client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from fastapi import FastAPI
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.body_limits import BodyLimits
from app.http_headers import SecurityHeaders
from app.rooms import JoinPolicyByRoom, RoomRulesByRoom
from app.services import Services, build_services, start_services, stop_services
from app.settings import Settings, load_settings
from docket.facts_follower import FactsFollower, FollowerCollector
from docket.facts_sql import SqlFactRecords
from docket.notifications import SMS_KIND, sms_handler
from docket.seat_codes_sql import SqlSeatCodes
from docket.staff_sql import SqlHearingRooms, SqlStaffStore
from hearing.api import ApiContext, staff_api_router
from hearing.api.async_inbox import async_inbox_router
from hearing.api.async_trial import AsyncTrialContext, async_trial_router, clip_authorizer
from hearing.api.in_hearing import InHearingContext, in_hearing_router
from hearing.async_trial_clips import PURPOSE as CLIP_PURPOSE
from hearing.login_throttle import LoginThrottle
from hearing.seat_codes import derive_key
from hearing.staff_auth import StaffAuth
from integrity.api import IntegrityContext, integrity_router
from integrity.ratelimit import RedisQueryLimiter
from integrity.service import IntegrityService
from integrity.signing import CodeSigner
from petitions.api import CitizenTokens, PetitionsContext, petitions_router
from petitions.api import clip_authorizer as petition_clip_authorizer
from petitions.calls import PetitionCalls, is_petition_call_room
from petitions.calls import join_policy as petition_call_join_policy
from petitions.limits import FilingLimits
from petitions.service import PetitionService, ServiceConfig
from points.api import PersonTokens, PointsContext, points_router
from points.service import PointsService
from points.store_sql import SqlPointsStore
from recordings.clips import SWEEP_KIND as CLIP_SWEEP
from recordings.clips import sweep_key as clip_sweep_key
from recordings.clips_api import ClipAuthorizer, ClipsContext, clips_router
from recordings.local_http import local_objects_router
from recordings.local_store import LocalObjectStore
from signaling.edge import signaling_router
from stations.api import StationsContext, stations_router
from stations.api import clip_authorizer as station_clip_authorizer
from stations.service import CLIP_PURPOSE as STATION_CLIP_PURPOSE

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
READY_TIMEOUT = 3.0


def petition_service(settings: Settings, services: Services, tokens: CitizenTokens) -> PetitionService:
    """The video-petition service on the register's engine (the app and `hearing demo` share it)."""
    return PetitionService(services.court.engine, services.court.url, code_key=tokens.code_key,
                           objects=services.objects, config=ServiceConfig(
                               courts=settings.petition_court_names(), tz=ZoneInfo(settings.court_timezone),
                               reopen_days=settings.petition_reopen_days,
                               limits=FilingLimits(settings.petition_daily_limit_session,
                                                   settings.petition_daily_limit_phone)),
                           wake_jobs=services.jobs.wake if services.jobs is not None else None)


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    settings = settings or load_settings()
    services = services or build_services(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not services.started:
            await start_services(services)
        await follower.start()  # after the migrations: it catches up in the background
        if services.jobs is not None:  # after every handler was registered below
            await services.jobs.start()
            if services.clips is not None:  # idempotent: one sweep job per slot, whichever instance starts
                await services.jobs.schedule(CLIP_SWEEP, clip_sweep_key(datetime.now(UTC)), {}, datetime.now(UTC))
        try:
            yield
        finally:
            await follower.stop()
            await integrity.close()
            await stop_services(services)

    app = FastAPI(
        title="Hearing cloud",
        version="0.1.0",
        description="Remote hearings for courts: signalling, media relay, court procedure.",
        lifespan=lifespan,
    )
    app.state.services = services

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, str]:
        """Alive: the process answers. Load balancers restart it when this fails."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"])
    async def readyz() -> JSONResponse:
        """Ready: the database, the room bus and the object store all answer (503 while draining)."""
        if services.draining:
            return JSONResponse({"status": "draining", "checks": {}}, status_code=503)
        checks = {"database": services.records.ping, "bus": services.bus.ping, "objects": services.objects.ping}
        results: dict[str, str] = {}

        async def run(name: str) -> None:
            try:
                await asyncio.wait_for(checks[name](), READY_TIMEOUT)
                results[name] = "ok"
            except TimeoutError:
                results[name] = f"no answer within {READY_TIMEOUT:g} s"
            except Exception as exc:
                results[name] = f"{type(exc).__name__}: {exc}"[:300]

        await asyncio.gather(*(run(n) for n in checks))
        ok = all(v == "ok" for v in results.values())
        return JSONResponse({"status": "ready" if ok else "not ready", "checks": results},
                            status_code=200 if ok else 503)

    @app.get("/metrics", tags=["operations"], response_class=Response)
    async def metrics() -> Response:
        """Prometheus text format."""
        services.metrics.rooms.set(services.hub.local_rooms())
        return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.include_router(signaling_router(services.hub))
    # The staff API shares the register's engine; app.state.staff_auth lets tests inject a clock or a cheap hasher.
    staff_auth = StaffAuth(SqlStaffStore(services.court.engine), services.audit)
    app.state.staff_auth = staff_auth
    app.include_router(staff_api_router(ApiContext(
        court=services.court, records=services.records, audit=services.audit, procedure=services.procedure,
        tokens=services.tokens, auth=staff_auth, rooms=SqlHearingRooms(services.court.engine),
        base_url=settings.base_url, lobby=services.courtroom,
        facts=SqlFactRecords(services.court.engine, services.court.url),
        end_sessions=lambda room, jti: (  # with the courtroom, its holder's private rooms' sessions end too
            services.courtroom.end_sessions_of_link if services.courtroom is not None
            else services.hub.end_sessions_of_token)(
            room, jti, "this link was withdrawn by the court: a newer one was issued"),
        call_stats=(lambda since, until: services.stations.stats(datetime.now(UTC), since, until))
        if services.stations is not None else None,
        seat_codes=SqlSeatCodes(services.court.engine), seat_code_key=derive_key(settings.token_secret),
        login_throttle=LoginThrottle(settings.login_attempts_per_minute, settings.login_burst),
    )))
    app.include_router(in_hearing_router(InHearingContext(
        court=services.court, records=services.records, tokens=services.tokens, exhibits=services.exhibits,
        transcripts=services.transcripts, hub=services.hub,
    )))
    # Recorded clips (recordings/clips.py): one resumable upload for every purpose; the package owning a purpose
    # (petitions, the asynchronous trial, stations) registers its authorizer in app.state.clip_authorizers.
    clip_authorizers: dict[str, ClipAuthorizer] = {}
    app.state.clip_authorizers = clip_authorizers
    if services.clips is not None:
        app.include_router(clips_router(ClipsContext(services.clips, clip_authorizers)))
        if services.jobs is not None:  # expired uploads' chunks and parts are removed by a recurring job
            services.jobs.register(CLIP_SWEEP, services.clips.sweep_handler())
    assert services.async_trial is not None
    async_trial_ctx = AsyncTrialContext(court=services.court, records=services.records, tokens=services.tokens,
                                        service=services.async_trial)
    app.include_router(async_trial_router(async_trial_ctx))
    if services.inbox is not None:  # what waits for whom, on one page (/async/inbox)
        app.include_router(async_inbox_router(async_trial_ctx, services.inbox, staff_auth))
    clip_authorizers[CLIP_PURPOSE] = clip_authorizer(async_trial_ctx)  # recorded answers (异步审理)
    # The points exchange (多多评) reads facts and keeps its ledger on the register's engine.
    points_store = SqlPointsStore(services.court.engine, services.court.url)
    points = PointsService(SqlFactRecords(services.court.engine, services.court.url), points_store)
    app.state.points_tokens = PersonTokens.from_secret(settings.signing_secret())
    app.include_router(points_router(PointsContext(points, services.court, services.audit, app.state.points_tokens,
                                                   staff_auth, settings.base_url)))
    # The integrity code (个人诚信码): facts on the register's engine; Ed25519 key kept under var/ (mode 0600).
    # Instances sharing Redis share one agency query limit; embedded, a per-process bucket.
    integrity = IntegrityService(services.court, SqlFactRecords(services.court.engine, services.court.url),
                                 CodeSigner.load_or_create(settings.integrity_signing_key_file
                                                           or settings.var_dir / "integrity_signing_key.pem"),
                                 limiter=RedisQueryLimiter(settings.redis_url, prefix=settings.redis_prefix)
                                 if settings.redis_url else None,
                                 evidence_store=services.objects)  # appeal evidence files: the platform's store
    # New facts (outcomes, hearings, imports) recompute the code and credit points in the background, from a
    # persisted cursor; one instance at a time runs a pass (advisory lock), woken by NOTIFY on PostgreSQL.
    follower = FactsFollower(SqlFactRecords(services.court.engine, services.court.url), points_store,
                             [integrity.recompute, points.reconcile])
    app.state.facts_follower = follower
    services.metrics.registry.register(FollowerCollector(follower))  # its lag, parked facts, passes
    app.include_router(integrity_router(IntegrityContext(integrity, services.court, staff_auth, settings.base_url)))
    # Video petitions (接诉即办): the register on the court's engine; the citizens' tokens and the status-code key
    # derived from the platform secret; photos and clips in the platform's object store.
    # Reminders, 催办 and closing run on the shared scheduler; clips come through the shared clip upload.
    petition_tokens = CitizenTokens.from_secret(settings.signing_secret())
    petitions = petition_service(settings, services, petition_tokens)
    if services.jobs is not None:
        for kind, handler in petitions.job_handlers().items():
            services.jobs.register(kind, handler)
        if services.sms is not None:  # SMS to citizens through the one notifier's adapter point (docs/petitions.md);
            # without a gateway (none in production yet) SMS jobs stay pending for an instance that has one
            services.jobs.register(SMS_KIND, sms_handler(services.sms, petitions.phone_of))
    # The handler's recorded video call with the citizen: a call room under the shared call-room rules.
    petition_calls = PetitionCalls(petitions, services.tokens, services.hub, services.recorder, settings.base_url)
    if petition_calls.rules is not None:
        assert isinstance(services.hub.rules, RoomRulesByRoom) and isinstance(services.hub.join_policy,
                                                                              JoinPolicyByRoom)
        services.hub.rules.route(is_petition_call_room, petition_calls.rules)
        services.hub.join_policy.route(is_petition_call_room, petition_call_join_policy)
    app.state.petition_calls = petition_calls
    clip_authorizers["petition"] = petition_clip_authorizer(petition_tokens, staff_auth)
    app.state.petitions = petitions
    app.state.petition_tokens = petition_tokens
    app.include_router(petitions_router(PetitionsContext(petitions, petition_tokens, staff_auth, settings.base_url,
                                                         clips=services.clips, inbox=services.inbox,
                                                         calls=petition_calls)))
    # Connect-a-judge (连线法官): stations, the duty roster and the call queue.
    if services.stations is not None:
        app.state.stations = StationsContext(services.stations, staff_auth, settings.base_url)  # tests set its clock
        app.include_router(stations_router(app.state.stations))
        clip_authorizers[STATION_CLIP_PURPOSE] = station_clip_authorizer(app.state.stations)  # recorded messages
    if isinstance(services.objects, LocalObjectStore):
        app.include_router(local_objects_router(services.objects))

    @app.get("/", include_in_schema=False)
    async def index() -> RedirectResponse:
        return RedirectResponse("/join")

    @app.get("/join", include_in_schema=False)
    async def join_page() -> FileResponse:
        return FileResponse(WEB_DIR / "join.html", headers={"Cache-Control": "no-store"})

    @app.get("/c", include_in_schema=False)
    async def code_page() -> FileResponse:  # 短码: type (or scan) a join link's short code
        return FileResponse(WEB_DIR / "code.html", headers={"Cache-Control": "no-store"})

    @app.get("/staff", include_in_schema=False)
    async def staff_page() -> FileResponse:
        return FileResponse(WEB_DIR / "staff.html", headers={"Cache-Control": "no-store"})

    @app.get("/points", include_in_schema=False)
    async def points_page() -> FileResponse:
        return FileResponse(WEB_DIR / "points" / "index.html", headers={"Cache-Control": "no-store"})

    @app.get("/integrity", include_in_schema=False)
    async def integrity_page() -> FileResponse:
        return FileResponse(WEB_DIR / "integrity" / "index.html", headers={"Cache-Control": "no-store"})

    @app.get("/async", include_in_schema=False)
    async def async_trial_page() -> FileResponse:  # 异步审理: a party's or the judge's page, by their own link
        return FileResponse(WEB_DIR / "async" / "index.html", headers={"Cache-Control": "no-store"})

    @app.get("/async/inbox", include_in_schema=False)
    async def async_inbox_page() -> FileResponse:  # 待办: what waits for a party (by link) or a judge (by login)
        return FileResponse(WEB_DIR / "async" / "inbox.html", headers={"Cache-Control": "no-store"})

    @app.get("/petitions", include_in_schema=False)
    async def petitions_page() -> FileResponse:
        return FileResponse(WEB_DIR / "petitions" / "index.html", headers={"Cache-Control": "no-store"})

    @app.get("/petitions/staff", include_in_schema=False)
    async def petitions_staff_page() -> FileResponse:
        return FileResponse(WEB_DIR / "petitions" / "staff.html", headers={"Cache-Control": "no-store"})
    @app.get("/station", include_in_schema=False)
    async def station_page() -> FileResponse:
        return FileResponse(WEB_DIR / "stations" / "station.html", headers={"Cache-Control": "no-store"})

    @app.get("/duty", include_in_schema=False)
    async def duty_page() -> FileResponse:
        return FileResponse(WEB_DIR / "stations" / "duty.html", headers={"Cache-Control": "no-store"})

    app.mount("/static", StaticFiles(directory=WEB_DIR), name="static")
    # Outermost first: security headers on every answer (the 413s included); bodies capped before being read.
    app.add_middleware(BodyLimits, default_limit=settings.http_max_body_kb << 10, router_app=app)
    app.add_middleware(SecurityHeaders, extra_origins=object_store_origins(settings))
    return app


def object_store_origins(settings: Settings) -> list[str]:
    """The object store's origin when files are served from it directly (S3 presigned URLs)."""
    if not settings.s3_endpoint:
        return []
    return [f"{'https' if settings.s3_secure else 'http'}://{settings.s3_endpoint}"]
