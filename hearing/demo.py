"""The demo hearing `make run` prints: one room and one person per role, so anyone can try it at once."""

from __future__ import annotations

from hearing.roles import Role

DEMO_ROOM_ID = "demo-trial"
DEMO_ROOM_TITLE = "(2026)示例民初1号 张某诉赵某合同纠纷 — demo trial"
DEMO_KIND = "trial"
DEMO_PEOPLE: list[tuple[Role, str]] = [
    (Role.PRESIDING_JUDGE, "王审判长"),
    (Role.CLERK, "李书记员"),
    (Role.PLAINTIFF, "张原告"),
    (Role.DEFENDANT, "赵被告"),
    (Role.COUNSEL, "陈律师"),
    (Role.OBSERVER, "旁听群众"),
]
