"""Why the courtroom's rules refuse a signalling request: stable reason codes sent in `error.reason`.

Clients translate the reason (web/js/i18n.js, with `error.params`); the English `message` beside it is for logs.
tests/test_error_codes.py fails when a reason has no Chinese and English text.
"""

from __future__ import annotations

from enum import StrEnum


class RoomRefusal(StrEnum):
    NO_ROOM_YET = "no_room_yet"  # the hearing has no room: issue a link first
    MODERATE_FROM_MAIN_ROOM = "moderate_from_main_room"
    NOT_A_HEARING_ROOM = "not_a_hearing_room"
    MODERATOR_IN_LOBBY = "moderator_in_lobby"
    NOT_TO_YOURSELF = "not_to_yourself"
    PARTICIPANT_UNKNOWN = "participant_unknown"
    UNSUPPORTED_MODERATION = "unsupported_moderation"
    NOT_WAITING_IN_LOBBY = "not_waiting_in_lobby"
    ROOM_LOCKED = "room_locked"  # unlock before admitting
    VERIFICATION_UNKNOWN = "verification_unknown"
    IDENTITY_UNCHECKED = "identity_unchecked"  # check the identity (and say how) before admitting
    ALREADY_IN_ROOM = "already_in_room"
    STAFF_NO_LOBBY = "staff_no_lobby"
    NOT_IN_ROOM = "not_in_room"
    PRESIDING_JUDGE_NOT_REMOVABLE = "presiding_judge_not_removable"
    NOT_CONNECTED = "not_connected"
    ROLE_NO_PROCEDURE = "role_no_procedure"
    NO_RECORDER = "no_recorder"
    ACTION_NOT_ALLOWED = "action_not_allowed"  # the policy: this role may not do this in this kind and state
    ROLE_NO_PRIVATE_ROOM = "role_no_private_room"
    PRIVATE_MEMBERS_IN_ROOM = "private_members_in_room"
    ALREADY_IN_PRIVATE_ROOM = "already_in_private_room"
    PRIVATE_NEEDS_MEMBER = "private_needs_member"
    PRIVATE_ONE_SIDE = "private_one_side"  # 私下调解室 holds one side only
    PRIVATE_ROOM_UNKNOWN = "private_room_unknown"
    CHAT_EMPTY = "chat_empty"
    NO_CHAT_RECORD = "no_chat_record"  # this server keeps no chat record (a room without the register's chat)
    SCREEN_IN_USE = "screen_in_use"  # someone else shares a screen: one at a time
