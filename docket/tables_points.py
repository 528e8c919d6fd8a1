"""Tables of the points service (kept apart so the work on them does not collide); same metadata as docket.tables."""

from __future__ import annotations
