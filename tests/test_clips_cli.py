"""`hearing verify-clip`: a stored clip's bytes against its record and its audit entry, as an auditor runs it."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from docket.migrate import upgrade
from docket.sql import make_engine
from recordings.clips import ClipActor, ClipService
from recordings.local_store import LocalObjectStore
from tests.clip_files import make_clip
from tests.test_cli import HEARING, cli_env


async def test_verify_clip_finds_an_altered_clip(tmp_path: Path) -> None:
    var = tmp_path / "var"
    url = f"sqlite+aiosqlite:///{var / 'hearing.db'}"
    var.mkdir()
    await upgrade(url)
    engine = make_engine(url)
    store = LocalObjectStore(var / "objects", url_base="http://127.0.0.1", signing_key=b"k")
    data = make_clip(seed=8)
    try:
        service = ClipService(engine, url, store)
        actor = ClipActor("petition:p1", "person-1", "citizen")
        up = await service.create_upload(actor, "petition", size=len(data), content_type="video/webm",
                                         sha256=hashlib.sha256(data).hexdigest())

        async def body():  # type: ignore[no-untyped-def]
            yield data

        await service.append(up.id, actor.owner, 0, len(data), body())
        clip = await service.complete(up.id, actor)
    finally:
        await engine.dispose()

    def verify(clip_id: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([HEARING, "verify-clip", clip_id], env=cli_env(var, 8998), cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)

    ok = verify(clip.id)
    assert ok.returncode == 0 and "intact" in ok.stdout and clip.sha256 in ok.stdout, ok.stderr
    store.path_for(clip.object_key).write_bytes(data[:-1] + b"\x00")
    altered = verify(clip.id)
    assert altered.returncode == 1 and "ALTERED" in altered.stdout
    assert verify("no-such-clip").returncode == 2
