"""Roles in a hearing and the signalling grants each may hold.

Grants are the coarse capabilities signalling enforces (publish, subscribe, moderate); the finer,
per-kind and per-procedure-state permissions build on these (issue 5).
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    PRESIDING_JUDGE = "presiding_judge"  # 审判长
    JUDGE = "judge"  # 审判员
    CLERK = "clerk"  # 书记员
    MEDIATOR = "mediator"  # 调解员
    PLAINTIFF = "plaintiff"  # 原告
    DEFENDANT = "defendant"  # 被告
    COUNSEL = "counsel"  # 代理人
    WITNESS = "witness"  # 证人
    INTERPRETER = "interpreter"  # 翻译
    PROSECUTOR = "prosecutor"  # 检察员
    DETAINEE = "detainee"  # 在押人员
    OFFICER = "officer"  # 监管民警
    OBSERVER = "observer"  # 旁听 (public, watch only)


_ALL = frozenset({"publish", "subscribe", "moderate"})
_PARTY = frozenset({"publish", "subscribe"})

ROLE_GRANTS: dict[Role, frozenset[str]] = {
    Role.PRESIDING_JUDGE: _ALL,
    Role.JUDGE: _ALL,
    Role.CLERK: _ALL,
    Role.MEDIATOR: _ALL,
    Role.PLAINTIFF: _PARTY,
    Role.DEFENDANT: _PARTY,
    Role.COUNSEL: _PARTY,
    Role.WITNESS: _PARTY,
    Role.INTERPRETER: _PARTY,
    Role.PROSECUTOR: _PARTY,
    Role.DETAINEE: _PARTY,
    Role.OFFICER: _PARTY,
    Role.OBSERVER: frozenset({"subscribe"}),
}
"""The most a role may be granted; a token may carry less, never more."""


ROLE_LABELS: dict[Role, tuple[str, str]] = {
    Role.PRESIDING_JUDGE: ("审判长", "Presiding judge"),
    Role.JUDGE: ("审判员", "Judge"),
    Role.CLERK: ("书记员", "Clerk"),
    Role.MEDIATOR: ("调解员", "Mediator"),
    Role.PLAINTIFF: ("原告", "Plaintiff"),
    Role.DEFENDANT: ("被告", "Defendant"),
    Role.COUNSEL: ("代理人", "Counsel"),
    Role.WITNESS: ("证人", "Witness"),
    Role.INTERPRETER: ("翻译", "Interpreter"),
    Role.PROSECUTOR: ("检察员", "Prosecutor"),
    Role.DETAINEE: ("在押人员", "Detainee"),
    Role.OFFICER: ("监管民警", "Officer"),
    Role.OBSERVER: ("旁听", "Observer"),
}
