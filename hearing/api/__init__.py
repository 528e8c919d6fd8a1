"""The staff HTTP API under /api: login, the register, hearings and procedure, join links, statistics, recordings.

A thin shell: each module is a FastAPI router built from an `ApiContext` (the adapters app/ hands in); the rules
live in hearing.staff_auth (who may do what), hearing.join_links (who may get a link), hearing.procedure (moves)
and the register (docket). `staff_api_router` puts them together under the /api prefix.
"""

from __future__ import annotations

from fastapi import APIRouter

from hearing.api.auth import auth_router
from hearing.api.deps import ApiContext, StaffDeps
from hearing.api.hearings import hearings_router
from hearing.api.links import links_router
from hearing.api.lobby import lobby_router
from hearing.api.outcomes import outcomes_router
from hearing.api.recordings import recordings_router
from hearing.api.register import register_router
from hearing.api.seat_codes import seat_codes_router
from hearing.api.staff_tools import staff_tools_router
from hearing.api.stats import stats_router

__all__ = ["ApiContext", "staff_api_router"]


def staff_api_router(ctx: ApiContext) -> APIRouter:
    deps = StaffDeps(ctx.auth)
    router = APIRouter(prefix="/api")
    for build in (auth_router, register_router, hearings_router, links_router, lobby_router, outcomes_router,
                  stats_router, recordings_router, seat_codes_router, staff_tools_router):
        router.include_router(build(ctx, deps))
    return router
