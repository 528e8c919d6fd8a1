"""Demo petitions for `hearing demo` / `make run`: a few petitions in each state, so the board shows every light.

Real register data through the real service (numbers, codes, audit entries, jobs): one just filed (grey), one being
handled (grey), one answered and awaiting review (blue), one rated and closed (green) and one overdue (red, filed
ten days earlier: its escalation fires as soon as the scheduler runs). Demo staff accounts (clerk, judge, supervisor)
are created with a generated password printed once. Seeded only into a register without petitions, so running the
demo again changes nothing.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from docket.staff import StaffRole
from petitions import codes
from petitions.rules import Actor, Category, ContactChannel, HandlerKind, Outcome, Rating
from petitions.service import BoardFilter, Filing, PetitionService

DEMO_STAFF = (("demo-clerk", "李书记员（接诉即办）", StaffRole.CLERK),
              ("demo-judge", "王法官（接诉即办）", StaffRole.JUDGE),
              ("demo-supervisor", "赵庭长（督办）", StaffRole.PRESIDING_JUDGE))


@dataclass(frozen=True, slots=True)
class DemoPetition:
    number: str
    status_code: str
    state: str


@dataclass(frozen=True, slots=True)
class DemoPetitions:
    petitions: tuple[DemoPetition, ...]
    staff_password: str | None  # None: the register already had petitions, nothing was created


async def seed_demo_petitions(service: PetitionService, create_account: object, court: str) -> DemoPetitions:
    """`create_account(username, display_name, roles, password)` is the staff login's (hearing.staff_auth), handed in
    by app/ so petitions/ never imports hearing/."""
    if await service.list(BoardFilter(limit=1)):
        return DemoPetitions((), None)
    password = secrets.token_urlsafe(9)
    ids: dict[str, str] = {}
    for username, name, role in DEMO_STAFF:
        account = await create_account(username, name, [role.value], password)  # type: ignore[operator]
        ids[username] = account.id
    clerk, judge, boss = ids["demo-clerk"], ids["demo-judge"], ids["demo-supervisor"]
    out: list[DemoPetition] = []
    now = service.clock()

    async def file(svc: PetitionService, category: Category, text: str, name: str, state: str) -> str:
        record, code = await svc.file(Filing(court, category, text, name, "13800000000"))
        out.append(DemoPetition(record.number, codes.display_code(code), state))
        return record.id

    async def handle(svc: PetitionService, pid: str) -> None:
        await svc.triage(pid, actor_id=clerk, handler_id=judge, handler_kind=HandlerKind.JUDGE)
        await svc.contact(pid, actor_id=judge, channel=ContactChannel.PHONE, note="已电话联系，了解情况")

    past = replace_clock(service, now - timedelta(days=10))
    overdue = await file(past, Category.URGENT_ENFORCEMENT, "被执行人正在转移财产，请尽快处理", "孙某", "red")
    await past.triage(overdue, actor_id=clerk, handler_id=judge, handler_kind=HandlerKind.JUDGE)
    await file(service, Category.CASE_PROGRESS, "我的案件立案两个月了，想知道什么时候开庭", "周某", "grey")
    busy = await file(service, Category.FILING, "网上立案一直提示材料不全", "吴某", "grey")
    await handle(service, busy)
    answered = await file(service, Category.ENFORCEMENT, "执行款三个月没有到账", "郑某", "blue")
    await handle(service, answered)
    await service.reply(answered, actor_id=judge, outcome=Outcome.RESOLVED, resolution="执行款已于今日发放",
                        reply_text="您的执行款已发放，请注意查收。")
    done = await file(service, Category.LITIGATION_SERVICE, "诉讼费退费怎么办理", "冯某", "green")
    await handle(service, done)
    await service.reply(done, actor_id=judge, outcome=Outcome.EXPLAINED, resolution="已告知退费流程和所需材料",
                        reply_text="请携带身份证和缴费凭证到诉讼服务中心办理。")
    await service.rate(done, Rating.SATISFIED)
    await service.close(done, actor_id=boss, actor=Actor.SUPERVISOR)
    return DemoPetitions(tuple(out), password)


def replace_clock(service: PetitionService, at: datetime) -> PetitionService:
    """The same service with its clock fixed at `at` (for the demo's overdue petition)."""
    other = PetitionService(service.engine, service._url, code_key=service.code_key, objects=service.objects,
                            config=replace(service.config), clock=lambda: at.astimezone(UTC),
                            wake_jobs=service.wake_jobs)
    return other
