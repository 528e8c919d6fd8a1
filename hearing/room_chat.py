"""The room's chat (聊天) on the record: what a message may be, how the record reads in the transcript. Pure parts
first, then the close-time copy into the transcript (笔录).

A chat message in a hearing's room is stored (docket/room_chat.py) and shown to the room and in the transcript
panel. At the close (闭庭) the messages are appended to the transcript's latest text as its chat section, saved as a
new version by the system, so the text each participant signs carries them and its SHA-256 binds them. The clerk
keeps editing as before (the transcript is the clerk's until the first signature); the stored messages stay as
they were sent. A private room's chat reaches its members only and is kept nowhere: private rooms are never
recorded.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Sequence
from datetime import UTC, datetime, tzinfo

from docket.audit import AuditEvent
from docket.court import StaleState
from docket.room_chat import ChatRecord
from docket.transcripts import TranscriptFrozen, TranscriptStore, TranscriptVersion, VersionConflict
from hearing import transcript as core
from hearing.kinds import ProcedureState
from hearing.roles import ROLE_LABELS, Role
from signaling.protocol import MAX_CHAT_CHARS, ChatEntry

log = logging.getLogger("hearing.chat")

SECTION_HEADING = "【庭审聊天记录 Chat record】"
AUTHOR_ID = "room_chat"
AUTHOR_ROLE = "system"
HISTORY_SHOWN = 200
"""How many of the latest messages someone coming into the room is sent (the transcript keeps them all)."""


def clean_text(text: str) -> str | None:
    """The message as stored: control characters (but line breaks) dropped, ends trimmed; None if nothing is left.

    A message is a few lines of speech, not a document: at most MAX_CHAT_CHARS (the protocol's limit)."""
    kept = "".join(ch for ch in text.replace("\r\n", "\n").replace("\r", "\n")
                   if ch == "\n" or unicodedata.category(ch)[0] != "C")
    kept = kept.strip()
    return kept[:MAX_CHAT_CHARS] or None


def entry_of(record: ChatRecord) -> ChatEntry:
    return ChatEntry(seq=record.seq, participant_id=record.participant_id, name=record.name, role=record.role,
                     text=record.text, sent_at=record.sent_at.astimezone(UTC).isoformat())


def _role_zh(role: str) -> str:
    try:
        return ROLE_LABELS[Role(role)][0]
    except ValueError:
        return role


def section(records: Sequence[ChatRecord], tz: tzinfo) -> str:
    """The chat section of the transcript: one line (or more, indented) per message, in order sent."""
    lines = [SECTION_HEADING]
    for r in records:
        when = r.sent_at.astimezone(tz).strftime("%H:%M:%S")
        first, *rest = r.text.split("\n")
        lines.append(f"[{when}] {_role_zh(r.role)} {r.name}：{first}")
        lines.extend(f"    {line}" for line in rest)
    return "\n".join(lines)


def with_chat(text: str, records: Sequence[ChatRecord], tz: tzinfo) -> str:
    """The transcript text with the chat section appended (nothing to add: the text as it was)."""
    if not records:
        return text
    body = text.rstrip("\n")
    return f"{body}\n\n{section(records, tz)}\n" if body else f"{section(records, tz)}\n"


async def copy_into_transcript(store: TranscriptStore, chat: Sequence[ChatRecord], hearing_id: str, tz: tzinfo,
                               *, attempts: int = 5) -> TranscriptVersion | None:
    """At the close: save the transcript with its chat section as a new version (by the system), unless there is
    no chat or the latest text already ends with exactly this section (a second close event)."""
    if not chat:
        return None
    for _ in range(attempts):
        snapshot = await store.snapshot(hearing_id)
        text = snapshot.latest.text if snapshot.latest else ""
        if text.rstrip("\n").endswith(section(chat, tz)):
            return None
        new = core.normalise(with_chat(text, chat, tz))
        number = (snapshot.latest.number if snapshot.latest else 0) + 1
        version = TranscriptVersion(hearing_id, number, new, core.digest(new), AUTHOR_ID, AUTHOR_ROLE,
                                    datetime.now(UTC))
        try:
            await store.append_version(version, hearing_state=ProcedureState.CLOSED.value, audit=AuditEvent(
                AUTHOR_ID, AUTHOR_ROLE, "transcript.chat_added", f"hearing:{hearing_id}",
                {"version": number, "sha256": version.sha256, "messages": len(chat)}))
        except VersionConflict:
            continue  # the clerk saved meanwhile: add the section to what they saved
        except (TranscriptFrozen, StaleState):
            log.error("the transcript was signed, or the record sealed, before its chat section was added",
                      extra={"hearing": hearing_id})
            return None
        return version
    log.error("the transcript's chat section could not be added: it changed too often", extra={"hearing": hearing_id})
    return None
