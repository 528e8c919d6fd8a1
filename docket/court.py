"""The court register's interface: stations, persons, cases and their parties, hearings and their participants.

`CourtRecords` is the one door hearing/ (and later integrity/ and points/) use; `docket.court_sql` implements it
on SQLite and PostgreSQL. The vocabularies here (hearing kinds, party sides, station kinds, participant status,
verification methods) are what the register stores; the rules about them — who may do what in which procedure
state — live in hearing/. Roles and procedure states are stored as short strings this module does not
interpret, so the register knows nothing of court rules.

Personal data stays here: names, birth dates and the hashed identity-document number. Other tables and the
audit log refer to people by id only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Protocol, runtime_checkable

from docket.audit import AuditEntry, AuditEvent
from docket.records import RecordsError

AGE_OF_MAJORITY = 18


class HearingKind(StrEnum):
    """The six hearing kinds ("1+6+N")."""

    TRIAL = "trial"  # 庭审
    MEDIATION = "mediation"  # 调解
    DELIBERATION = "deliberation"  # 合议: the panel's private deliberation
    INTERVIEW = "interview"  # 谈话: a judge questioning one person
    ASYNC_TRIAL = "async_trial"  # 异步审理: parties answer recorded questions at different times
    ARRAIGNMENT = "arraignment"  # 提讯: questioning a detainee at a detention centre


class PartySide(StrEnum):
    PLAINTIFF = "plaintiff"
    DEFENDANT = "defendant"
    THIRD_PARTY = "third_party"


class StationKind(StrEnum):
    """Where people join from when not at home: the court's service stations."""

    VILLAGE = "village"
    ENTERPRISE = "enterprise"
    DETENTION_CENTRE = "detention_centre"
    COMMUNITY = "community"
    COURTROOM = "courtroom"  # a court's fixed courtroom station with its camera (lent to other courts: stations/)


class ParticipantStatus(StrEnum):
    WAITING = "waiting"  # in the lobby
    ADMITTED = "admitted"
    DENIED = "denied"
    REMOVED = "removed"


class VerificationMethod(StrEnum):
    """How a participant's identity was checked; recorded with who checked and when."""

    ID_CARD_AT_STATION = "id_card_at_station"  # the station clerk held the ID card
    ID_CARD_ON_VIDEO = "id_card_on_video"  # shown to the court clerk on camera
    FACE_MATCH = "face_match"
    KNOWN_TO_COURT = "known_to_court"  # court staff, counsel known to the court


# ---- errors ---------------------------------------------------------------------------------------------


class NotFound(RecordsError):
    """No such record; `what` names the kind of record ("case", "hearing", ...) and `key` the id asked for."""

    def __init__(self, what: str, key: str) -> None:
        super().__init__(f"no {what} {key!r}")
        self.what = what
        self.key = key


class DuplicateCaseNumber(RecordsError):
    def __init__(self, case_number: str) -> None:
        super().__init__(f"case number {case_number!r} is already registered")
        self.case_number = case_number


class DuplicateParticipant(RecordsError):
    def __init__(self, hearing_id: str, person_id: str) -> None:
        super().__init__(f"person {person_id!r} already takes part in hearing {hearing_id!r}")


class StaleState(RecordsError):
    """The hearing was no longer in the expected state: someone else changed it first."""

    def __init__(self, hearing_id: str, expected: str, actual: str) -> None:
        super().__init__(f"hearing {hearing_id!r} is {actual!r}, not {expected!r}")
        self.hearing_id = hearing_id
        self.expected = expected
        self.actual = actual


class InvalidRecord(RecordsError, ValueError):
    """A value the register refuses (bad coordinates, end before start, naive datetime, ...)."""


# ---- records --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewStation:
    kind: StationKind
    name: str
    location: str = ""
    latitude: float | None = None
    longitude: float | None = None


@dataclass(frozen=True, slots=True)
class Station:
    id: str
    kind: StationKind
    name: str
    location: str
    latitude: float | None
    longitude: float | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class NewPerson:
    name: str
    id_document: str | None = field(default=None, repr=False)  # hashed on the way in, never stored or logged
    birth_date: date | None = None


@dataclass(frozen=True, slots=True)
class Person:
    id: str
    name: str
    id_document_last4: str | None
    birth_date: date | None
    created_at: datetime

    def is_minor(self, on: date) -> bool | None:
        """Under 18 on `on`; None when the birth date is unknown (the court must then ask, not guess)."""
        if self.birth_date is None:
            return None
        b = self.birth_date
        age = on.year - b.year - ((on.month, on.day) < (b.month, b.day))
        return age < AGE_OF_MAJORITY


@dataclass(frozen=True, slots=True)
class Party:
    person_id: str
    side: PartySide


@dataclass(frozen=True, slots=True)
class NewCase:
    case_number: str  # e.g. (2026)京0101民初123号; unique in the register
    cause: str  # 案由, e.g. "contract dispute"
    parties: Sequence[Party] = ()


@dataclass(frozen=True, slots=True)
class Case:
    id: str
    case_number: str
    cause: str
    parties: tuple[Party, ...]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class NewHearing:
    case_id: str
    kind: HearingKind
    scheduled_start: datetime
    scheduled_end: datetime
    panel: Sequence[str] = ()  # person ids of the judges; the first presides
    room_id: str | None = None
    recorded: bool | None = None  # None: the kind's default (docket.recording_rules); refused if it breaks the rule
    state: str = "scheduled"


@dataclass(frozen=True, slots=True)
class Hearing:
    id: str
    case_id: str
    kind: HearingKind
    scheduled_start: datetime
    scheduled_end: datetime
    panel: tuple[str, ...]
    state: str
    room_id: str | None
    recorded: bool
    created_at: datetime
    state_changed_at: datetime
    locked: bool = False

    @property
    def presiding_judge_id(self) -> str | None:
        return self.panel[0] if self.panel else None


@dataclass(frozen=True, slots=True)
class Verification:
    method: VerificationMethod
    verified_by: str  # the staff member's id
    verified_at: datetime


@dataclass(frozen=True, slots=True)
class NewParticipant:
    hearing_id: str
    person_id: str
    role: str
    station_id: str | None = None


@dataclass(frozen=True, slots=True)
class Participant:
    id: str
    hearing_id: str
    person_id: str
    role: str
    status: ParticipantStatus
    station_id: str | None
    token_jti: str | None
    verification: Verification | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class PrivateRoom:
    """A hearing's private room: who may be in it, who opened and closed it."""

    id: str
    hearing_id: str
    room_id: str
    label: str
    members: tuple[str, ...]  # participant ids
    opened_by: str
    opened_at: datetime
    closed_by: str | None = None
    closed_at: datetime | None = None

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


@runtime_checkable
class CourtRecords(Protocol):
    """Create, read and list the register's records. Missing references raise NotFound, bad values InvalidRecord."""

    async def close(self) -> None: ...

    async def create_station(self, station: NewStation) -> Station: ...

    async def get_station(self, station_id: str) -> Station: ...

    async def list_stations(self, kind: StationKind | None = None) -> list[Station]: ...

    async def create_person(self, person: NewPerson) -> Person: ...

    async def get_person(self, person_id: str) -> Person: ...

    async def find_persons_by_id_document(self, number: str) -> list[Person]:
        """Everyone registered with this document number (normally zero or one)."""
        ...

    async def check_id_document(self, person_id: str, number: str) -> bool:
        """Whether `number` is the document registered for the person (re-verification before signing)."""
        ...

    async def create_case(self, case: NewCase) -> Case:
        """DuplicateCaseNumber if the number is taken; NotFound if a party's person does not exist."""
        ...

    async def get_case(self, case_id: str) -> Case: ...

    async def get_case_by_number(self, case_number: str) -> Case: ...

    async def list_cases(self) -> list[Case]: ...

    async def add_party(self, case_id: str, party: Party) -> Case: ...

    async def create_hearing(self, hearing: NewHearing) -> Hearing: ...

    async def get_hearing(self, hearing_id: str) -> Hearing: ...

    async def list_hearings(
        self, *, case_id: str | None = None, kind: HearingKind | None = None, state: str | None = None
    ) -> list[Hearing]:
        """Ordered by scheduled start."""
        ...

    async def set_hearing_state(
        self, hearing_id: str, expected: str, new: str, *, audit: AuditEvent | None = None
    ) -> tuple[Hearing, AuditEntry | None]:
        """Move the hearing from `expected` to `new` and append `audit` in the same transaction.

        StaleState if the hearing is not in `expected` (a concurrent change won): callers re-read and decide again.
        """
        ...

    async def find_hearing_by_room(self, room_id: str) -> Hearing | None:
        """The hearing held in this signalling room, if any."""
        ...

    async def set_hearing_locked(self, hearing_id: str, locked: bool, *, audit: AuditEvent | None = None) -> Hearing:
        ...

    async def add_participant(self, participant: NewParticipant) -> Participant: ...

    async def get_participant(self, participant_id: str) -> Participant: ...

    async def list_participants(self, hearing_id: str) -> list[Participant]: ...

    async def record_verification(self, participant_id: str, verification: Verification, *,
                                  audit: AuditEvent | None = None) -> Participant: ...

    async def set_participant_status(self, participant_id: str, status: ParticipantStatus, *,
                                     audit: AuditEvent | None = None) -> Participant:
        """With `audit`, the entry is appended in the same transaction as the change."""
        ...

    async def open_private_room(self, hearing_id: str, room_id: str, label: str, members: Sequence[str],
                                opened_by: str, *, audit: AuditEvent | None = None) -> PrivateRoom:
        """Members must be participants of the hearing (NotFound otherwise)."""
        ...

    async def find_private_room(self, room_id: str) -> PrivateRoom | None: ...

    async def list_private_rooms(self, hearing_id: str, *, open_only: bool = True) -> list[PrivateRoom]: ...

    async def close_private_room(self, private_room_id: str, closed_by: str, *,
                                 audit: AuditEvent | None = None) -> PrivateRoom:
        """Idempotent: closing a closed room returns it unchanged (and appends no audit entry)."""
        ...

    async def bind_token(self, participant_id: str, jti: str) -> Participant:
        """Link the participant to the join token issued for them (NotFound if the token was not recorded)."""
        ...
