"""The pure placement policy (signaling/placement.py), exhaustively with hypothesis."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from signaling.placement import Node, Placement, choose_node, place, route

nodes_st = st.lists(
    st.builds(Node, node_id=st.text("abcdef", min_size=1, max_size=3), ws_url=st.just("ws://n:1"),
              capacity=st.integers(1, 50), load=st.integers(0, 60), draining=st.booleans()),
    max_size=8, unique_by=lambda n: n.node_id)


@given(nodes_st)
def test_the_chosen_node_is_eligible_and_least_loaded(nodes: list[Node]) -> None:
    chosen = choose_node(nodes)
    eligible = [n for n in nodes if not n.draining and n.load < n.capacity]
    if not eligible:
        assert chosen is None
        return
    assert chosen in eligible
    for other in eligible:
        assert chosen.load / chosen.capacity <= other.load / other.capacity
        if chosen.load * other.capacity == other.load * chosen.capacity:
            assert chosen.node_id <= other.node_id  # every instance breaks ties alike


@given(nodes_st, st.randoms())
def test_the_choice_does_not_depend_on_order(nodes: list[Node], rnd) -> None:
    shuffled = list(nodes)
    rnd.shuffle(shuffled)
    assert choose_node(shuffled) == choose_node(nodes)


def test_draining_and_full_nodes_get_no_rooms() -> None:
    a = Node("a", "ws://a:1", capacity=10, load=0, draining=True)
    b = Node("b", "ws://b:1", capacity=2, load=2)
    c = Node("c", "ws://c:1", capacity=10, load=9)
    assert choose_node([a, b, c]) == c
    assert choose_node([a, b]) is None


def test_route() -> None:
    owner = Node("b", "ws://10.0.0.2:8000/", capacity=10, load=1)
    assert route("r1", owner, "b").action == "serve"
    sent = route("r1", owner, "a")
    assert (sent.action, sent.url, sent.node_id) == ("redirect", "ws://10.0.0.2:8000/ws/r1", "b")
    assert route("r1", None, "a").action == "refuse"


@given(nodes_st, st.text("abcdefg", max_size=3))
def test_a_live_owner_keeps_its_room_and_a_dead_one_loses_it(nodes: list[Node], current: str) -> None:
    """`nodes` are the live ones: an owner among them keeps the room whatever its load or drain; an owner not among
    them (dead: its lease expired) or none is replaced by exactly the node a new room would get."""
    decision = place(current, nodes)
    live = {n.node_id: n for n in nodes}
    if current in live:
        assert (decision.action, decision.node, decision.replaced) == ("keep", live[current], "")
        return
    assert decision.replaced == current
    chosen = choose_node(nodes)
    if chosen is None:
        assert (decision.action, decision.node) == ("none", None)
    else:
        assert (decision.action, decision.node) == ("take", chosen)
        assert decision.node is not None and decision.node.node_id != current  # never back to the dead owner


@given(nodes_st, st.text("abcdefg", max_size=3), st.randoms())
def test_every_instance_re_places_a_dead_owners_room_alike(nodes: list[Node], current: str, rnd) -> None:
    shuffled = list(nodes)
    rnd.shuffle(shuffled)
    assert place(current, shuffled) == place(current, nodes)


def test_a_killed_owners_room_goes_to_the_least_loaded_live_node() -> None:
    b = Node("b", "ws://b:1", capacity=10, load=3)
    c = Node("c", "ws://c:1", capacity=10, load=1)
    d = Node("d", "ws://d:1", capacity=10, load=0, draining=True)
    taken = place("a", [b, c, d])
    assert (taken.action, taken.node, taken.replaced) == ("take", c, "a")
    assert place("b", [b, c, d]).action == "keep"
    assert place("d", [b, c, d]) == Placement("keep", d)  # a draining owner keeps its live room
    assert place("a", [d]).action == "none"
