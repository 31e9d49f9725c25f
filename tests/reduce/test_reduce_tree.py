from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seisless.errors import ReductionError
from seisless.reduce import Node, layout_for


@settings(max_examples=80, deadline=None)
@given(n=st.integers(1, 1500), fan_in=st.integers(2, 30))
def test_every_level_tiles_the_one_below(n: int, fan_in: int) -> None:
    layout = layout_for("run", 3, n, fan_in)
    assert layout.depth >= 1
    assert layout.level_size(layout.depth) == 1
    assert layout.depth == 1 or layout.level_size(layout.depth - 1) > 1
    assert layout.leaf_range(layout.root) == range(n)
    for level in range(1, layout.depth + 1):
        below = []
        for index in range(layout.level_size(level)):
            node = Node(level, index)
            kids = layout.children(node)
            assert 1 <= len(kids) <= fan_in
            assert all(layout.parent(kid) == node for kid in kids)
            assert [i for k in kids for i in layout.leaf_range(k)] == list(
                layout.leaf_range(node))
            below.extend(kid.index for kid in kids)
        assert below == list(range(layout.level_size(level - 1)))


def test_single_leaf_still_gets_an_inner_root() -> None:
    layout = layout_for("run-1", 0, 1)
    assert layout.root == Node(1, 0)
    assert layout.children(layout.root) == [Node(0, 0)]
    assert layout.array_key(layout.root) == "runs/run-1/iter-0/l1-0.npy"
    assert layout.sidecar_key(Node(0, 0)) == "runs/run-1/iter-0/leaf-0.json"


@pytest.mark.parametrize(("n", "fan_in", "sizes"), [
    (10, 10, [10, 1]), (11, 10, [11, 2, 1]), (25, 10, [25, 3, 1]),
    (100, 10, [100, 10, 1]), (101, 10, [101, 11, 2, 1]), (7, 2, [7, 4, 2, 1]),
])
def test_level_sizes_when_n_is_not_a_multiple_of_f(n: int, fan_in: int,
                                                   sizes: list[int]) -> None:
    layout = layout_for("r", 0, n, fan_in)
    assert [layout.level_size(level) for level in range(layout.depth + 1)] == sizes
    last = Node(1, sizes[1] - 1)
    assert [k.index for k in layout.children(last)] == list(
        range(fan_in * (sizes[1] - 1), n))


def test_keys_are_fixed_by_position() -> None:
    layout = layout_for("r", 4, 25)
    assert layout.array_key(Node(1, 2)) == "runs/r/iter-4/l1-2.npy"
    assert layout.sidecar_key(Node(2, 0)) == "runs/r/iter-4/l2-0.json"
    assert layout.callback_key == "runs/r/iter-4/callback.json"


@pytest.mark.parametrize("node", [Node(0, 25), Node(3, 0), Node(1, 3)])
def test_nodes_outside_the_tree_are_refused(node: Node) -> None:
    with pytest.raises(ReductionError, match="outside the tree"):
        layout_for("r", 0, 25).check(node)
