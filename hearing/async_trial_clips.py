"""The asynchronous trial's view of the one clip store (recordings.clips): which finished clip belongs to whom.

A clip for this trial is uploaded under purpose `async_trial` with owner `async_trial:<hearing>:<participant>`
(`clip_owner`), set by the upload's authorizer from the uploader's own join link; an answer may cite only a clip
whose purpose and owner are the answerer's in this hearing, and it carries the store's SHA-256 and size, which the
store recomputed from the stored bytes when the upload completed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from docket.async_trial import ClipRef
from recordings.clips import ClipRefused, ClipService

PURPOSE = "async_trial"
PLAY_TTL = timedelta(minutes=10)


def clip_owner(hearing_id: str, participant_id: str) -> str:
    return f"{PURPOSE}:{hearing_id}:{participant_id}"


class ClipStoreSource:
    """`hearing.async_trial_service.ClipSource` over `ClipService`."""

    def __init__(self, clips: ClipService) -> None:
        self.clips = clips

    async def clip_for(self, clip_id: str, *, owner: str, scope: str) -> ClipRef | None:
        hearing_id = scope.removeprefix("hearing:")
        try:
            clip = await self.clips.clip(clip_id)
        except ClipRefused:
            return None
        if clip.purpose != PURPOSE or clip.owner != clip_owner(hearing_id, owner):
            return None
        return ClipRef(clip.id, clip.sha256, clip.size, clip.content_type)

    async def play_url(self, clip_id: str) -> tuple[str, datetime]:
        return await self.clips.url(clip_id, PLAY_TTL), datetime.now(UTC) + PLAY_TTL
