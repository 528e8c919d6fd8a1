"""The points exchange over HTTP (/api/points): a person's balance, history, catalogue and redemptions; staff's
catalogue management and totals.

Persons have no accounts. A clerk issues a *points access token* for a person (POST /api/points/staff/person-tokens,
audited), hands it over as a link to the /points page (the token travels in the URL fragment, which browsers never
send to servers, so it stays out of access logs), and the page sends it as `Authorization: Bearer <token>`. The
token is a JWT (HS256, key derived from the platform's token secret) with audience `points:person`, subject the
person id and a lifetime of `PERSON_TOKEN_TTL`; the distinct audience keeps it from opening anything else, and join
tokens or staff sessions from opening this. Like the integrity access links, every link issued is kept in the
register by the SHA-256 of its token (points_person_tokens) and accepted only while kept, unexpired and not withdrawn:
staff withdraw all of a person's links at once (POST /api/points/staff/person-tokens/revoke, a lost phone, a link
sent to the wrong person), and a withdrawn link answers 401 `token_revoked`. Staff endpoints use the staff session
(hearing.api.deps): catalogue changes, token issue and withdrawal need register.write, totals need stats.view.

Errors are JSON `{"error": code, "message": sentence}`; refusals change nothing.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from fastapi import APIRouter, Depends, Response, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from docket.audit import AuditEvent, AuditLog
from docket.court import CourtRecords
from hearing.api.deps import ERROR_RESPONSES, ApiError, StaffDeps, route_class, translate
from hearing.staff_auth import AUDIT_ROLE, Permission, StaffAuth, StaffPrincipal
from points.rules import RULES_VERSION
from points.service import PointsService
from points.store import (
    IdempotencyConflict,
    InsufficientPoints,
    Item,
    ItemUnavailable,
    NewItem,
    OutOfStock,
    Redemption,
    request_hash,
)

log = logging.getLogger("points.api")

AUDIENCE = "points:person"
PERSON_TOKEN_TTL = timedelta(days=7)
KEY_DERIVATION = b"points-person-token:"


# ---- person tokens --------------------------------------------------------------------------------------


class PersonTokens:
    """Signs and checks points access tokens (see the module docstring). `clock` is injectable for tests."""

    def __init__(self, key: bytes, *, ttl: timedelta = PERSON_TOKEN_TTL,
                 clock: Callable[[], datetime] | None = None) -> None:
        if len(key) < 32:
            raise ValueError("the points token key needs at least 32 bytes")
        self._key = key
        self.ttl = ttl
        self.clock = clock or (lambda: datetime.now(UTC))

    @classmethod
    def from_secret(cls, secret: str, **kwargs: Any) -> PersonTokens:
        """Derive the key from the platform's token secret, so there is no other secret to keep."""
        return cls(hashlib.sha256(KEY_DERIVATION + secret.encode()).digest(), **kwargs)

    def issue(self, person_id: str) -> tuple[str, datetime]:
        now = self.clock()
        expires = now + self.ttl
        token = jwt.encode({"sub": person_id, "aud": AUDIENCE, "iat": int(now.timestamp()),
                            "jti": secrets.token_urlsafe(12),  # two links issued in one second still differ
                            "exp": int(expires.timestamp())}, self._key, algorithm="HS256")
        return token, expires

    def person_of(self, token: str) -> str:
        """The person id; ApiError 401 saying why the token is not accepted."""
        try:
            claims = jwt.decode(token, self._key, algorithms=["HS256"], audience=AUDIENCE,
                                options={"require": ["sub", "aud", "exp"], "verify_exp": False})
        except jwt.PyJWTError:
            raise ApiError(401, "token_invalid", "this points link is not valid; ask the court's clerk for a new "
                           "one", headers={"WWW-Authenticate": "Bearer"}) from None
        if int(claims["exp"]) <= self.clock().timestamp():
            raise ApiError(401, "token_expired", "this points link has expired; ask the court's clerk for a new one",
                           headers={"WWW-Authenticate": "Bearer"})
        return str(claims["sub"])


def token_digest(token: str) -> str:
    """What the register keeps of a points link: its SHA-256, never the token."""
    return hashlib.sha256(token.encode()).hexdigest()


# ---- errors ---------------------------------------------------------------------------------------------


def translate_points(exc: Exception) -> ApiError | None:
    if isinstance(exc, IdempotencyConflict):
        return ApiError(409, "idempotency_conflict", str(exc))
    if isinstance(exc, InsufficientPoints):
        return ApiError(409, "insufficient_points", str(exc), balance=exc.balance, needed=exc.needed)
    if isinstance(exc, OutOfStock):
        return ApiError(409, "out_of_stock", str(exc), stock=exc.stock)
    if isinstance(exc, ItemUnavailable):
        return ApiError(409, "item_unavailable", str(exc))
    return translate(exc)


PointsRoute = route_class(translate_points)
"""Exceptions become JSON errors: the points refusals first, then the staff API's translation."""


# ---- schemas --------------------------------------------------------------------------------------------


class BalanceOut(BaseModel):
    person_id: str
    balance: int
    rules_version: str


class HistoryLineOut(BaseModel):
    entry_id: str
    at: datetime
    reason: str = Field(description="Reason code, e.g. settlement_performed, settlement_void, redemption")
    reason_text: str
    points: int = Field(description="Positive: earned; negative: spent or taken back")
    balance_after: int
    reference: str | None = Field(description="The fact that earned or voided the points, or the item redeemed")
    reversal_of: str | None


class HistoryOut(BaseModel):
    person_id: str
    balance: int
    entries: list[HistoryLineOut]


class ItemOut(BaseModel):
    id: str
    name: str
    description: str
    price: int
    stock: int
    active: bool


class RedeemIn(BaseModel):
    item_id: str = Field(min_length=1, max_length=64)
    quantity: int = Field(default=1, ge=1, le=100)
    idempotency_key: str = Field(min_length=1, max_length=128,
                                 description="Chosen by the client (a UUID) per redemption; resending the same "
                                             "request with it returns the first result instead of redeeming twice")


class RedemptionOut(BaseModel):
    redemption_id: str
    item_id: str
    quantity: int
    points: int
    balance_after: int
    stock_after: int
    created_at: datetime
    replayed: bool


class NewItemIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    price: int = Field(ge=1, le=10_000_000)
    stock: int = Field(ge=0, le=1_000_000)


class ItemChangeIn(BaseModel):
    price: int | None = Field(default=None, ge=1, le=10_000_000)
    stock: int | None = Field(default=None, ge=0, le=1_000_000)
    active: bool | None = None


class PersonTokenIn(BaseModel):
    person_id: str = Field(min_length=1, max_length=64)


class PersonTokenOut(BaseModel):
    token: str
    expires_at: datetime
    link: str = Field(description="The /points page with the token in the URL fragment: hand this to the person")


class RevokedOut(BaseModel):
    revoked: int = Field(description="How many of the person's links were withdrawn now")


class TotalsOut(BaseModel):
    issued: int
    redeemed: int
    outstanding: int
    accounts: int
    entries: int
    redemptions: int
    by_reason: dict[str, int]


class FollowOut(BaseModel):
    facts_read: int


def _item(i: Item) -> ItemOut:
    return ItemOut(id=i.id, name=i.name, description=i.description, price=i.price, stock=i.stock, active=i.active)


def _redemption(r: Redemption) -> RedemptionOut:
    return RedemptionOut(redemption_id=r.id, item_id=r.item_id, quantity=r.quantity, points=r.points,
                         balance_after=r.balance_after, stock_after=r.stock_after, created_at=r.created_at,
                         replayed=r.replayed)


# ---- the router -----------------------------------------------------------------------------------------


@dataclass
class PointsContext:
    service: PointsService
    court: CourtRecords
    audit: AuditLog
    tokens: PersonTokens
    staff_auth: StaffAuth
    base_url: str = ""


_person_bearer = HTTPBearer(auto_error=False, scheme_name="PointsPersonToken",
                            description="A points access token issued by the court (POST /api/points/staff/"
                                        "person-tokens)")


def points_router(ctx: PointsContext) -> APIRouter:
    router = APIRouter(prefix="/api/points", route_class=PointsRoute, responses=ERROR_RESPONSES)
    staff = StaffDeps(ctx.staff_auth)
    store = ctx.service.store

    async def current_person(
        credentials: HTTPAuthorizationCredentials | None = Security(_person_bearer),
    ) -> str:
        if credentials is None:
            raise ApiError(401, "not_authenticated", "open your points link from the court (it carries your "
                           "access token), or send 'Authorization: Bearer <points token>'",
                           headers={"WWW-Authenticate": "Bearer"})
        person_id = ctx.tokens.person_of(credentials.credentials)  # signature, audience, expiry
        kept = await store.person_token(token_digest(credentials.credentials))
        if kept is None or kept.person_id != person_id:  # not issued by this court's register (or before 0020)
            raise ApiError(401, "token_invalid", "this points link is not valid; ask the court's clerk for a new "
                           "one", headers={"WWW-Authenticate": "Bearer"})
        if kept.revoked_at is not None:
            raise ApiError(401, "token_revoked", f"this points link was withdrawn by the court on "
                           f"{kept.revoked_at:%Y-%m-%d %H:%M} UTC; ask the court's clerk for a new one",
                           headers={"WWW-Authenticate": "Bearer"})
        await ctx.court.get_person(person_id)  # a token for a person no longer registered: 404
        return person_id

    # Plain `Depends` defaults: string annotations (PEP 563) cannot name aliases local to this function.
    writer = Depends(staff.require(Permission.WRITE_REGISTER))
    viewer = Depends(staff.require(Permission.VIEW_STATS))
    person = Depends(current_person)

    @router.get("/me", tags=["points"], response_model=BalanceOut)
    async def my_balance(person_id: str = person) -> BalanceOut:
        """The caller's balance, after crediting any facts recorded since the last look."""
        await ctx.service.reconcile(person_id)
        return BalanceOut(person_id=person_id, balance=await ctx.service.balance(person_id),
                          rules_version=RULES_VERSION)

    @router.get("/me/history", tags=["points"], response_model=HistoryOut)
    async def my_history(person_id: str = person) -> HistoryOut:
        """Every entry on the caller's account, oldest first, with its reason and the balance after it."""
        await ctx.service.reconcile(person_id)
        lines = await ctx.service.history(person_id)
        return HistoryOut(person_id=person_id, balance=lines[-1].balance_after if lines else 0,
                          entries=[HistoryLineOut(**asdict(line)) for line in lines])

    @router.get("/catalogue", tags=["points"], response_model=list[ItemOut])
    async def catalogue() -> list[ItemOut]:
        """Items on offer (no login needed: the catalogue holds nothing personal)."""
        return [_item(i) for i in await store.list_items()]

    @router.post("/me/redemptions", tags=["points"], response_model=RedemptionOut,
                 responses={201: {"description": "Redeemed"}, 200: {"description": "A replay: the first result"},
                            409: {"description": "insufficient_points, out_of_stock, item_unavailable or "
                                                 "idempotency_conflict; nothing was changed"}})
    async def redeem(body: RedeemIn, response: Response, person_id: str = person) -> RedemptionOut:
        """Redeem points for an item, atomically and at most once per idempotency key."""
        await ctx.service.reconcile(person_id)
        result = await store.redeem(person_id, body.item_id, body.quantity, body.idempotency_key,
                                    request_hash(person_id, body.item_id, body.quantity))
        response.status_code = 200 if result.replayed else 201
        return _redemption(result)

    @router.get("/me/redemptions", tags=["points"], response_model=list[RedemptionOut])
    async def my_redemptions(person_id: str = person) -> list[RedemptionOut]:
        return [_redemption(r) for r in await store.redemptions_of(person_id)]

    # ---- staff ----

    def _audit(principal: StaffPrincipal, action: str, subject: str, **details: Any) -> AuditEvent:
        return AuditEvent(principal.id, AUDIT_ROLE, action, subject, details)

    @router.get("/staff/items", tags=["points staff"], response_model=list[ItemOut])
    async def all_items(principal: StaffPrincipal = writer) -> list[ItemOut]:
        """The whole catalogue, withdrawn items included."""
        return [_item(i) for i in await store.list_items(active_only=False)]

    @router.post("/staff/items", tags=["points staff"], response_model=ItemOut, status_code=201)
    async def add_item(body: NewItemIn, principal: StaffPrincipal = writer) -> ItemOut:
        item = await store.add_item(NewItem(body.name, body.price, body.stock, body.description),
                                    audit=_audit(principal, "points.item_add", "points_catalogue"))
        return _item(item)

    @router.patch("/staff/items/{item_id}", tags=["points staff"], response_model=ItemOut)
    async def change_item(item_id: str, body: ItemChangeIn, principal: StaffPrincipal = writer) -> ItemOut:
        """Set stock or price, withdraw (active=false) or restore an item."""
        item = await store.update_item(item_id, stock=body.stock, price=body.price, active=body.active,
                                       audit=_audit(principal, "points.item_update", f"points_item:{item_id}"))
        return _item(item)

    @router.get("/staff/totals", tags=["points staff"], response_model=TotalsOut)
    async def totals(principal: StaffPrincipal = viewer) -> TotalsOut:
        """Points issued, redeemed and outstanding across everyone; no person's details."""
        t = await ctx.service.totals()
        return TotalsOut(issued=t.issued, redeemed=t.redeemed, outstanding=t.outstanding, accounts=t.accounts,
                         entries=t.entries, redemptions=t.redemptions, by_reason=dict(t.by_reason))

    @router.post("/staff/follow", tags=["points staff"], response_model=FollowOut)
    async def follow(principal: StaffPrincipal = writer) -> FollowOut:
        """Credit everyone with facts recorded since the last run (also done per person whenever they look)."""
        return FollowOut(facts_read=await ctx.service.follow_facts())

    @router.post("/staff/person-tokens", tags=["points staff"], response_model=PersonTokenOut, status_code=201)
    async def person_token(body: PersonTokenIn, principal: StaffPrincipal = writer) -> PersonTokenOut:
        """A points link for a registered person (404 for an unknown person id); audited with ids only."""
        await ctx.court.get_person(body.person_id)
        token, expires = ctx.tokens.issue(body.person_id)
        await store.record_person_token(token_digest(token), body.person_id, principal.id, ctx.tokens.clock(),
                                        expires, audit=_audit(principal, "points.token_issue",
                                                              f"person:{body.person_id}",
                                                              expires_at=expires.isoformat()))
        return PersonTokenOut(token=token, expires_at=expires, link=f"{ctx.base_url.rstrip('/')}/points#t={token}")

    @router.post("/staff/person-tokens/revoke", tags=["points staff"], response_model=RevokedOut)
    async def revoke_person_tokens(body: PersonTokenIn, principal: StaffPrincipal = writer) -> RevokedOut:
        """Withdraw every unexpired points link of the person (404 for an unknown person); audited with the count.
        Links are kept only as digests, so they are withdrawn all at once; issue a fresh one afterwards."""
        revoked = await store.revoke_person_tokens(body.person_id, principal.id, ctx.tokens.clock(), audit=_audit(
            principal, "points.token_revoke", f"person:{body.person_id}"))
        return RevokedOut(revoked=revoked)

    return router
