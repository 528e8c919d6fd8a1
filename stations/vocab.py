"""The words of connect-a-judge: topic categories, call states, duty statuses, the roles in a call room.

Codes are what the server stores and sends; web/js/i18n.js holds their Chinese and English labels.
"""

from __future__ import annotations

from enum import StrEnum


class Category(StrEnum):
    """What the person wants to talk about (the duty page shows it; stats count by it)."""

    LEGAL_ADVICE = "legal_advice"  # 法律咨询
    MEDIATION = "mediation"  # 调解
    CASE_QUERY = "case_query"  # 案件查询
    FILING_HELP = "filing_help"  # 立案指导
    ENFORCEMENT = "enforcement"  # 执行
    OTHER = "other"  # 其他


class CallState(StrEnum):
    WAITING = "waiting"  # in the queue of its court
    IN_CALL = "in_call"  # a judge accepted: the call room is open
    INTERRUPTED = "interrupted"  # the judge dropped out of a call; the station may re-queue it
    ENDED = "ended"
    UNANSWERED = "unanswered"  # nobody on duty, or nobody picked up in time (`reason` says which)
    CALLBACK_REQUESTED = "callback_requested"  # the caller took the offered callback slot
    MESSAGE_PENDING = "message_pending"  # the caller wants to leave a recorded video message (clip upload pending)
    ABANDONED = "abandoned"  # the station stopped polling for longer than the resume grace window
    CANCELLED = "cancelled"


class DutyStatus(StrEnum):
    AVAILABLE = "available"  # 空闲
    BUSY = "busy"  # 忙碌
    AWAY = "away"  # 离开


class DutyRole(StrEnum):
    JUDGE = "judge"
    MEDIATOR = "mediator"


class CallRole(StrEnum):
    """Who is in a call room; the accepting judge (or mediator) moderates it."""

    JUDGE = "judge"  # the accepting judge, or a second judge they invite
    MEDIATOR = "mediator"
    INTERPRETER = "interpreter"
    STATION_OPERATOR = "station_operator"
    CALLER = "caller"  # the person, at the station's PC


class OutcomeKind(StrEnum):
    """What a call turned into; `outcome_ref` names the record over there (kept generic: petitions/ is separate)."""

    MEDIATION = "mediation"
    PETITION = "petition"
    CASE_FILING = "case_filing"
