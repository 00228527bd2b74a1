"""Tests for sign_notes.graph: hand-computed graphs, a literal transcription of the original ST-GCN graph code as
the reference (tests/third_party/stgcn_graph_original.py), Hypothesis properties on random trees and graphs, bad
input, and the partition counts."""

import re
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from sign_notes.graph import (
    BODY25_NAMES,
    COCO_EDGES,
    FSD10_CENTER,
    FSD10_EDGES,
    HAND_CENTER,
    HAND_EDGES,
    HAND_NAMES,
    LAYOUTS,
    NTU_EDGES_1BASE,
    OPENPOSE_EDGES,
    Graph,
    get_center_distance,
    get_hop_distance,
    normalize_digraph,
)

from third_party.stgcn_graph_original import RefGraph, ref_normalize_digraph

inf = np.inf


# ---------------------------------------------------------------------------------------------------------------
# Against the reference: every layout x strategy x max_hop, bit for bit
# ---------------------------------------------------------------------------------------------------------------
NAMED = ["fsd10", "ntu-rgb+d", "openpose", "coco_keypoint", "mediapipe-hand"]
CUSTOM = (6, [(0, 1), (1, 2), (2, 3), (1, 4), (4, 5), (5, 2)], 1)  # a small graph with a loop


def test_layout_names():
    assert sorted(LAYOUTS) == sorted(NAMED)


@pytest.mark.parametrize("layout", NAMED + [CUSTOM])
@pytest.mark.parametrize("strategy", ["uniform", "distance", "spatial"])
@pytest.mark.parametrize("max_hop", [1, 2])
def test_matches_original(layout, strategy, max_hop):
    ref, g = RefGraph(layout, strategy, max_hop), Graph(layout, strategy, max_hop)
    assert g.num_node == ref.num_node and g.center == ref.center
    assert sorted(g.edge) == sorted(ref.edge)  # the hand's edge order differs, the set does not
    np.testing.assert_array_equal(g.hop_dis, ref.hop_dis)
    assert g.A.dtype == ref.A.dtype == np.float64
    np.testing.assert_array_equal(g.A, ref.A)


@pytest.mark.parametrize("layout", ["fsd10", "ntu-rgb+d", "openpose", "coco_keypoint"])
def test_edge_order_matches_original(layout):
    assert Graph(layout).edge == RefGraph(layout).edge


@pytest.mark.parametrize("strategy", ["uniform", "distance", "spatial"])
def test_dilation_matches_original(strategy):
    np.testing.assert_array_equal(
        Graph("fsd10", strategy, max_hop=2, dilation=2).A, RefGraph("fsd10", strategy, max_hop=2, dilation=2).A
    )


def test_defaults_are_paddlevideo_stgcn():
    g = Graph()
    assert (g.num_node, g.center, g.max_hop, g.dilation, g.strategy) == (25, 8, 1, 1, "spatial")
    np.testing.assert_array_equal(g.A, RefGraph("fsd10", "spatial").A)


def test_custom_layout_helpers():
    a = Graph(layout=CUSTOM).A
    np.testing.assert_array_equal(Graph.from_edges(*CUSTOM).A, a)
    np.testing.assert_array_equal(Graph.from_edges(6, [list(e) for e in CUSTOM[1]], 1).A, a)  # lists as pairs
    np.testing.assert_array_equal(Graph(layout=[*CUSTOM]).A, a)
    assert Graph(layout=CUSTOM).layout == "custom"


# ---------------------------------------------------------------------------------------------------------------
# Hand-computed small graphs
# ---------------------------------------------------------------------------------------------------------------
def test_hop_distance_max_hop_zero():
    "max_hop=0: every joint is only itself (the path 0-1-2 with 1 and 2 hops is the chapter's worked example)."
    np.testing.assert_array_equal(
        get_hop_distance(3, [(0, 1), (1, 2)], 0), [[0, inf, inf], [inf, 0, inf], [inf, inf, 0]]
    )


def test_star_uniform_and_spatial():
    g = Graph.from_edges(4, [(0, 1), (0, 2), (0, 3)], 0, strategy="uniform")
    q, h = 1 / 4, 1 / 2
    np.testing.assert_array_equal(g.A[0], [[q, h, h, h], [q, h, 0, 0], [q, 0, h, 0], [q, 0, 0, h]])
    s = Graph.from_edges(4, [(0, 1), (0, 2), (0, 3)], 0).A
    np.testing.assert_array_equal(s[0], np.diag([q, h, h, h]))
    np.testing.assert_array_equal(s[1], [[0, 0, 0, 0], [q, 0, 0, 0], [q, 0, 0, 0], [q, 0, 0, 0]])  # leaves farther
    np.testing.assert_array_equal(s[2], [[0, h, h, h], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]])  # centre closer


def test_path4_distance_strategy():
    d = Graph.from_edges(4, [(0, 1), (1, 2), (2, 3)], 0, strategy="distance", max_hop=2).A
    t = 1 / 3  # column sums within 2 hops: 3, 4, 4, 3
    np.testing.assert_array_equal(d[0], np.diag([t, 1 / 4, 1 / 4, t]))
    np.testing.assert_array_equal(d[1], [[0, 1 / 4, 0, 0], [t, 0, 1 / 4, 0], [0, 1 / 4, 0, t], [0, 0, 1 / 4, 0]])
    np.testing.assert_array_equal(d[2], [[0, 0, 1 / 4, 0], [0, 0, 0, t], [t, 0, 0, 0], [0, 1 / 4, 0, 0]])


def test_path4_quirk_by_hand():
    # 0 - 1 - 2 - 3, centre 0, max_hop=1: joints 2 and 3 are both "inf" from the centre, so the bone 2-3 lands in
    # a_root ("same distance") in both directions: A[1] holds it, A[2] does not.
    h, t = 1 / 2, 1 / 3
    g = Graph.from_edges(4, [(0, 1), (1, 2), (2, 3)], 0)
    np.testing.assert_array_equal(g.hop_dis[:, 0], [0, 1, inf, inf])
    np.testing.assert_array_equal(g.A[0], np.diag([h, t, t, h]))
    np.testing.assert_array_equal(g.A[1], [[0, 0, 0, 0], [h, 0, 0, 0], [0, t, 0, h], [0, 0, t, 0]])
    np.testing.assert_array_equal(g.A[2], [[0, t, 0, 0], [0, 0, t, 0], [0, 0, 0, 0], [0, 0, 0, 0]])
    v = Graph.from_edges(4, [(0, 1), (1, 2), (2, 3)], 0, true_center_distance=True)
    np.testing.assert_array_equal(v.A[1], [[0, 0, 0, 0], [h, 0, 0, 0], [0, t, 0, 0], [0, 0, t, 0]])
    np.testing.assert_array_equal(v.A[2], [[0, t, 0, 0], [0, 0, t, 0], [0, 0, 0, h], [0, 0, 0, 0]])


def test_center_distance():
    np.testing.assert_array_equal(get_center_distance(4, [(0, 1), (1, 2), (2, 3)], 0), [0, 1, 2, 3])
    np.testing.assert_array_equal(get_center_distance(4, [(0, 1), (2, 3)], 1), [1, 0, inf, inf])
    np.testing.assert_array_equal(
        get_center_distance(25, FSD10_EDGES, 8), get_hop_distance(25, FSD10_EDGES, max_hop=24)[:, 8]
    )


# ---------------------------------------------------------------------------------------------------------------
# The fsd10 quirk and the opt-in variant
# ---------------------------------------------------------------------------------------------------------------
def counts(A):
    return (A != 0).sum((1, 2)).tolist()


@pytest.mark.parametrize("layout", NAMED)
def test_variant_same_total_and_hops(layout):
    g, v = Graph(layout), Graph(layout, true_center_distance=True)
    np.testing.assert_array_equal(g.A.sum(0), v.A.sum(0))
    np.testing.assert_array_equal(g.hop_dis, v.hop_dis)
    np.testing.assert_array_equal(g.A[0], v.A[0])


@pytest.mark.parametrize("strategy", ["uniform", "distance"])
def test_variant_only_changes_spatial(strategy):
    np.testing.assert_array_equal(Graph(strategy=strategy, true_center_distance=True).A, Graph(strategy=strategy).A)


# ---------------------------------------------------------------------------------------------------------------
# Constants
# ---------------------------------------------------------------------------------------------------------------
def test_constants():
    assert len(FSD10_EDGES) == 24 and FSD10_CENTER == 8 and len(BODY25_NAMES) == 25
    assert all(isinstance(e, tuple) and len(e) == 2 and e[0] != e[1] for e in FSD10_EDGES)  # no self links
    assert BODY25_NAMES[8] == "MidHip" and BODY25_NAMES[1] == "Neck"
    assert len(HAND_EDGES) == 21 and HAND_CENTER == 0 and len(HAND_NAMES) == 21
    assert {frozenset(e) for e in HAND_EDGES} == {frozenset(e) for e in RefGraph("mediapipe-hand").edge[21:]}
    assert len(NTU_EDGES_1BASE) == 24 and len(OPENPOSE_EDGES) == 17 and len(COCO_EDGES) == 17
    for n, e, c in LAYOUTS.values():  # every layout is one connected graph
        assert np.isfinite(get_center_distance(n, e, c)).all()


def test_framework_free():
    code = (
        "import sys, sign_notes.graph; bad = [m for m in ('tensorflow', 'paddle', 'torch', 'keras') "
        "if m in sys.modules]; assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------------------------------------------------------
# Bad input: ValueError naming the value
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(layout="body25"), "body25"),
        (dict(layout=42), "42"),
        (dict(strategy="spatial_true"), "spatial_true"),
        (dict(strategy=None), "None"),
        (dict(layout=(3, [(0, 3)], 0)), "3"),
        (dict(layout=(3, [(-1, 0)], 0)), "-1"),
        (dict(layout=(3, [(0, 1, 2)], 0)), "(0, 1, 2)"),
        (dict(layout=(3, [5], 0)), "5"),
        (dict(layout=(3, [(0, 1)], 3)), "center 3"),
        (dict(layout=(3, [(0, 1)], -1)), "center -1"),
        (dict(layout=(0, [], 0)), "num_node"),
        (dict(max_hop=-1), "max_hop"),
        (dict(max_hop=1.5), "max_hop"),
        (dict(dilation=0), "dilation"),
    ],
)
def test_bad_input(kwargs, words):
    with pytest.raises(ValueError, match=re.escape(words)):
        Graph(**kwargs)


def test_bad_input_functions():
    with pytest.raises(ValueError, match="5"):
        get_hop_distance(3, [(0, 5)])
    with pytest.raises(ValueError, match="center 7"):
        get_center_distance(3, [(0, 1)], 7)
    with pytest.raises(ValueError, match="-2"):
        Graph.from_edges(3, [(0, -2)], 0)


# ---------------------------------------------------------------------------------------------------------------
# Hypothesis: random trees and random graphs
# ---------------------------------------------------------------------------------------------------------------
@st.composite
def trees(draw, max_nodes=14):
    n = draw(st.integers(1, max_nodes))
    parents = [draw(st.integers(0, i - 1)) for i in range(1, n)]
    edges = [(i, p) for i, p in zip(range(1, n), parents)]
    perm = draw(st.permutations(range(n)))  # relabel, so the root is not always 0
    edges = [(perm[i], perm[p]) for i, p in edges]
    return n, edges, draw(st.integers(0, n - 1))


@st.composite
def graphs(draw, max_nodes=12):
    n = draw(st.integers(1, max_nodes))
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    edges = draw(st.lists(st.sampled_from(pairs), unique=True, max_size=len(pairs))) if pairs else []
    return n, edges, draw(st.integers(0, n - 1))


def check_properties(n, edges, center, max_hop):
    hop = get_hop_distance(n, [(i, i) for i in range(n)] + edges, max_hop)
    np.testing.assert_array_equal(hop, hop.T)
    np.testing.assert_array_equal(np.diag(hop), np.zeros(n))
    assert set(np.unique(hop)) <= set(range(max_hop + 1)) | {inf}
    uniform = Graph.from_edges(n, edges, center, strategy="uniform", max_hop=max_hop).A
    assert uniform.shape == (1, n, n)
    colsum = uniform[0].sum(0)
    np.testing.assert_allclose(colsum, 1.0)  # every column has at least its self link, so degree > 0
    for strategy in ("distance", "spatial"):
        for tcd in (False, True):
            A = Graph.from_edges(n, edges, center, strategy=strategy, max_hop=max_hop, true_center_distance=tcd).A
            assert (A >= 0).all()
            np.testing.assert_array_equal(A.sum(0), uniform[0])  # each entry in exactly one subset
            if not tcd:
                np.testing.assert_array_equal(A, RefGraph((n, edges, center), strategy, max_hop).A)


@settings(max_examples=100, deadline=None)
@given(trees(), st.integers(0, 3))
def test_properties_trees(tree, max_hop):
    check_properties(*tree, max_hop)


@settings(max_examples=100, deadline=None)
@given(graphs(), st.integers(0, 3))
def test_properties_graphs(graph, max_hop):
    check_properties(*graph, max_hop)


@settings(max_examples=100, deadline=None)
@given(trees())
def test_tree_variant_counts(tree):
    # on a tree every bone joins two joints one step apart from the centre: K1 and K2 each hold one direction
    n, edges, center = tree
    A = Graph.from_edges(n, edges, center, true_center_distance=True).A
    assert counts(A) == [n, len(edges), len(edges)]


@settings(max_examples=100, deadline=None)
@given(graphs())
def test_variant_equals_original_when_cap_never_bites(graph):
    n, edges, center = graph
    r = get_center_distance(n, edges, center)
    far = int(r[np.isfinite(r)].max())
    for max_hop in (far, far + 1):
        if max_hop >= 1:
            np.testing.assert_array_equal(
                Graph.from_edges(n, edges, center, max_hop=max_hop).A,
                Graph.from_edges(n, edges, center, max_hop=max_hop, true_center_distance=True).A,
            )


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.0]), min_size=5, max_size=5), min_size=5, max_size=5))
def test_normalize_digraph_columns(rows):
    A = np.array(rows)
    AD = normalize_digraph(A)
    np.testing.assert_array_equal(AD, ref_normalize_digraph(A))
    deg = A.sum(0)
    np.testing.assert_allclose(AD.sum(0)[deg > 0], 1.0)
    np.testing.assert_array_equal(AD[:, deg == 0], 0.0)


@pytest.mark.parametrize("bad", [-1, 1.5, True])
def test_get_hop_distance_bad_max_hop(bad):
    with pytest.raises(ValueError, match="max_hop must be an integer"):
        get_hop_distance(3, [(0, 1), (1, 2)], max_hop=bad)
