"""The FastAPI app factory: routes for health, readiness, metrics, signalling, objects and the web client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.services import Services, build_services, start_services, stop_services
from app.settings import Settings, load_settings
from docket.facts_follower import FactsFollower
from docket.facts_sql import SqlFactRecords
from docket.staff_sql import SqlHearingRooms, SqlStaffStore
from hearing.api import ApiContext, staff_api_router
from hearing.api.in_hearing import InHearingContext, in_hearing_router
from hearing.staff_auth import StaffAuth
from integrity.api import IntegrityContext, integrity_router
from integrity.ratelimit import RedisQueryLimiter
from integrity.service import IntegrityService
from integrity.signing import CodeSigner
from points.api import PersonTokens, PointsContext, points_router
from points.service import PointsService
from points.store_sql import SqlPointsStore
from recordings.local_http import local_objects_router
from recordings.local_store import LocalObjectStore
from signaling.edge import signaling_router

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
READY_TIMEOUT = 3.0


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    settings = settings or load_settings()
    services = services or build_services(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not services.started:
            await start_services(services)
        await follower.start()  # after the migrations: it catches up in the background
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
        """Ready: the database, the room bus and the object store all answer."""
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
        base_url=settings.base_url, lobby=services.hub.rules,  # type: ignore[arg-type]
        facts=SqlFactRecords(services.court.engine, services.court.url),
        end_sessions=lambda room, jti: services.hub.end_sessions_of_token(
            room, jti, "this link was withdrawn by the court: a newer one was issued"),
    )))
    app.include_router(in_hearing_router(InHearingContext(
        court=services.court, records=services.records, tokens=services.tokens, exhibits=services.exhibits,
        transcripts=services.transcripts, hub=services.hub,
    )))
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
    # persisted cursor; both handlers are idempotent, so several instances may follow at once.
    follower = FactsFollower(SqlFactRecords(services.court.engine, services.court.url), points_store,
                             [integrity.recompute, points.reconcile])
    app.state.facts_follower = follower
    app.include_router(integrity_router(IntegrityContext(integrity, services.court, staff_auth, settings.base_url)))
    if isinstance(services.objects, LocalObjectStore):
        app.include_router(local_objects_router(services.objects))

    @app.get("/", include_in_schema=False)
    async def index() -> RedirectResponse:
        return RedirectResponse("/join")

    @app.get("/join", include_in_schema=False)
    async def join_page() -> FileResponse:
        return FileResponse(WEB_DIR / "join.html", headers={"Cache-Control": "no-store"})

    @app.get("/staff", include_in_schema=False)
    async def staff_page() -> FileResponse:
        return FileResponse(WEB_DIR / "staff.html", headers={"Cache-Control": "no-store"})

    @app.get("/points", include_in_schema=False)
    async def points_page() -> FileResponse:
        return FileResponse(WEB_DIR / "points" / "index.html", headers={"Cache-Control": "no-store"})

    @app.get("/integrity", include_in_schema=False)
    async def integrity_page() -> FileResponse:
        return FileResponse(WEB_DIR / "integrity" / "index.html", headers={"Cache-Control": "no-store"})

    app.mount("/static", StaticFiles(directory=WEB_DIR), name="static")
    return app
