"""Room placement, pure: which media node a room goes to, and whether a join is served here or sent on.

Every room's media lives on exactly one node (the SFU cannot forward between processes). The first join of a
room places it on the least-loaded live node that is not draining and has room (load / capacity, ties by node
id so every instance decides alike); later joins follow the owner. The shell (signaling/node_registry.py)
keeps nodes and owners in Redis and makes taking an owner atomic.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Node:
    """A media node as registered: where clients reach its signalling, and how full it is."""

    node_id: str
    ws_url: str  # ws(s)://host:port, without path
    capacity: int  # rooms it accepts
    load: int  # rooms it holds now
    draining: bool = False

    @property
    def eligible(self) -> bool:
        return not self.draining and self.load < self.capacity


def choose_node(nodes: Iterable[Node]) -> Node | None:
    """The node a new room goes to: least loaded by load/capacity among eligible nodes; None if none is."""
    best: Node | None = None
    for node in nodes:
        if not node.eligible:
            continue
        if best is None or (node.load * best.capacity, node.node_id) < (best.load * node.capacity, best.node_id):
            best = node
    return best


@dataclass(frozen=True, slots=True)
class Placement:
    """What to do with a room's owner record: `keep` its live owner, `take` it for `node` (replacing `replaced`,
    a dead owner, or "" when the room had none), or `none` (no live node can take it)."""

    action: str
    node: Node | None = None
    replaced: str = ""


def place(current: str, nodes: Iterable[Node]) -> Placement:
    """Decide a room's owner from its owner record `current` ("" if none) and the live nodes (lease not expired).

    A live owner keeps its room even when draining or full (moving a live hearing is the drain's business, not a
    join's); an owner missing from the live nodes died (its lease expired), and its room is re-placed exactly
    like a new room. Only the live nodes are passed in, so a dead node can never be chosen.
    """
    live = list(nodes)
    for node in live:
        if node.node_id == current:
            return Placement("keep", node)
    chosen = choose_node(live)
    if chosen is None:
        return Placement("none", replaced=current)
    return Placement("take", chosen, replaced=current)


@dataclass(frozen=True, slots=True)
class Route:
    """Where a join goes: `serve` here, `redirect` to `url`, or `refuse` (no node can take the room)."""

    action: str
    url: str = ""
    node_id: str = ""


def route(room_id: str, owner: Node | None, self_id: str) -> Route:
    """A join of `room_id` whose (live) owner is `owner`, arriving at node `self_id`."""
    if owner is None:
        return Route("refuse")
    if owner.node_id == self_id:
        return Route("serve", node_id=self_id)
    return Route("redirect", url=f"{owner.ws_url.rstrip('/')}/ws/{room_id}", node_id=owner.node_id)
