"""Writing files so they survive a crash: evidence on local disk (spool, segments, chain heads, the local store).

A file is durable once its bytes are fsync'ed AND its directory entry is (on POSIX a rename is only safe after the
directory itself is synced). `write_atomically` adds the temp-file-and-rename step, so readers see the old or the
new content, never half.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path


def fsync_dir(path: Path) -> None:
    """Make a rename or a new file in `path` durable."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def write_atomically(target: Path, data: bytes, *, sync_dir: bool = True) -> None:
    """Temp file beside the target, fsync, rename (and sync the directory unless the caller does it later)."""
    tmp = target.with_name(f"{target.name}.tmp-{secrets.token_hex(6)}")
    try:
        with open(tmp, "xb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    if sync_dir:
        fsync_dir(target.parent)
