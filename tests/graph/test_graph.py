import jax
import jax.numpy as jnp
import numpy as np
import pytest

from recjax.data.split import split_random
from recjax.graph import build_graph, item_nodes, propagate, receiver_max
from recjax.graph.jraph_compat import segment_max, segment_sum
from tests.conftest import make_interactions

# users 0,1,2; items 0,1: u0-i0, u0-i1, u1-i1, u2-i0 (u2-i0 twice: one edge)
TINY = make_interactions([0, 0, 1, 2, 2], [0, 1, 1, 0, 0], ratings=[5, 3, 4, 1, 1])


def dense_norm_adj(graph):
    n = graph.num_nodes
    a = np.zeros((n, n), np.float32)
    a[np.asarray(graph.receivers), np.asarray(graph.senders)] = 1
    d = a.sum(1)
    inv = 1 / np.sqrt(np.maximum(d, 1))
    return inv[:, None] * a * inv[None, :]


def test_build_tiny_graph_by_hand():
    g = build_graph(TINY)
    assert (g.num_users, g.num_items, g.num_nodes, g.num_edges) == (3, 2, 5, 8)
    pairs = set(zip(np.asarray(g.senders).tolist(), np.asarray(g.receivers).tolist()))
    assert pairs == {(0, 3), (3, 0), (0, 4), (4, 0), (1, 4), (4, 1), (2, 3), (3, 2)}
    assert np.asarray(g.degree).tolist() == [2, 1, 1, 2, 2]
    s, r, rev = np.asarray(g.senders), np.asarray(g.receivers), np.asarray(g.reverse)
    assert np.all(s[rev] == r) and np.all(r[rev] == s)
    assert np.all(np.diff(r) >= 0)  # sorted by receiver: a CSR matrix
    assert np.asarray(g.indptr).tolist() == [0, 2, 3, 4, 6, 8]
    np.testing.assert_allclose(np.asarray(g.norm), 1 / np.sqrt(np.asarray(g.degree)[s] *
                                                               np.asarray(g.degree)[r]))
    assert int(item_nodes(1, g.num_users)) == 4
    assert np.asarray(g.positives).tolist() == [[True, True], [False, True], [True, False]]


def test_typed_edges():
    g = build_graph(TINY, relation="rating")
    assert g.num_relations == 5
    s, r, rel = (np.asarray(x) for x in (g.senders, g.receivers, g.relation))
    assert {(a, b): c for a, b, c in zip(s, r, rel)}[(0, 3)] == 4  # rating 5 -> level 4
    beh = make_interactions([0, 0], [0, 0], behaviors=[0, 1])
    gb = build_graph(beh, relation="behavior")
    assert gb.num_edges == 4 and gb.num_relations == 2  # one edge pair per behaviour
    with pytest.raises(ValueError, match="relation 'x' is unknown"):
        build_graph(TINY, relation="x")


def test_graph_holds_no_valid_or_test_edge():
    rng = np.random.default_rng(0)
    pairs = np.unique(rng.integers(0, [40, 50], size=(600, 2)), axis=0)
    inter = make_interactions(pairs[:, 0], pairs[:, 1], num_users=40, num_items=50)
    sp = split_random(inter, seed=3)
    g = build_graph(sp.train)
    edges = set(zip(np.asarray(g.senders).tolist(), np.asarray(g.receivers).tolist()))
    for part in (sp.valid, sp.test):
        for u, i in zip(part.user_ids, part.item_ids):
            assert (int(u), 40 + int(i)) not in edges and (40 + int(i), int(u)) not in edges
    assert len(edges) == 2 * len(sp.train)
    assert g.positives is not None and int(np.asarray(g.positives).sum()) == len(sp.train)
    assert build_graph(sp.train, dense_limit=10).positives is None


@pytest.mark.parametrize("method", ["sparse", "segment"])
def test_lightgcn_layer_equals_dense_and_grads(method):
    rng = np.random.default_rng(1)
    pairs = np.unique(rng.integers(0, [7, 9], size=(30, 2)), axis=0)
    g = build_graph(make_interactions(pairs[:, 0], pairs[:, 1], num_users=7, num_items=9))
    a = dense_norm_adj(g)
    x = rng.normal(size=(g.num_nodes, 4)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(propagate(g, g.norm, x, method)), a @ x, atol=1e-6)
    # Gradients through two layers w.r.t. x and w.r.t. learned edge values.
    w = rng.normal(size=(g.num_nodes, 4)).astype(np.float32)
    loss = lambda d, x: jnp.sum(propagate(g, d, propagate(g, d, x, method), method) * w)
    gd, gx = jax.grad(loss, (0, 1))(g.norm, x)
    np.testing.assert_allclose(np.asarray(gx), a.T @ a.T @ w, atol=1e-5)

    def dense_loss(d):
        m = jnp.zeros((g.num_nodes, g.num_nodes)).at[g.receivers, g.senders].set(d)
        return jnp.sum(m @ (m @ x) * w)

    np.testing.assert_allclose(np.asarray(gd), np.asarray(jax.grad(dense_loss)(g.norm)),
                               atol=1e-5)


def test_multi_head_propagation_and_methods_agree():
    g = build_graph(TINY)
    rng = np.random.default_rng(2)
    data = jnp.asarray(rng.random((g.num_edges, 3)), jnp.float32)
    x = jnp.asarray(rng.normal(size=(g.num_nodes, 3, 2)), jnp.float32)
    a, b = propagate(g, data, x, "sparse"), propagate(g, data, x, "segment")
    assert a.shape == (5, 3, 2)
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)
    with pytest.raises(ValueError, match="propagation 'dense' is unknown"):
        propagate(g, g.norm, x[:, 0], "dense")


def test_jraph_wrappers_against_numpy():
    data = np.array([1.0, 2.0, -3.0, 4.0], np.float32)
    seg = np.array([0, 0, 2, 2])
    assert np.asarray(segment_sum(data, seg, 3)).tolist() == [3.0, 0.0, 1.0]
    assert np.asarray(segment_max(data, seg, 3)).tolist() == [2.0, 0.0, 4.0]  # empty -> 0
    g = build_graph(TINY)
    logits = jnp.arange(g.num_edges, dtype=jnp.float32)
    exact = receiver_max(g, logits, "segment")
    r = np.asarray(g.receivers)
    assert np.asarray(exact).tolist() == [max(np.nonzero(r == n)[0]) for n in range(5)]
    with pytest.raises(ValueError, match="needs a per-node upper_bound"):
        receiver_max(g, logits, "sparse")


def test_int32_index_overflow_fails_clearly(monkeypatch):
    import recjax.graph.build as build

    with pytest.raises(ValueError, match="2147483648 nodes .* more than int32 indices hold"):
        build.check_index_range(2**31, 0)
    with pytest.raises(ValueError, match="2147483648 directed edges"):
        build.check_index_range(10, 2**31)
    build.check_index_range(2**31 - 1, 2**31 - 1)
    # Item node ids users + item would wrap past int32 (nothing of that size is allocated).
    huge = make_interactions([0, 5], [0, 1], num_users=2**31 - 1, num_items=2)
    with pytest.raises(ValueError, match="2147483649 nodes"):
        build_graph(huge)
    # Edges are counted after merging repeated rows: TINY has 4 distinct pairs, 8 edges.
    monkeypatch.setattr(build, "INDEX_LIMIT", 7)
    with pytest.raises(ValueError, match="8 directed edges .* int32 indices hold \\(7\\)"):
        build_graph(TINY)
    monkeypatch.setattr(build, "INDEX_LIMIT", 8)
    assert build_graph(TINY).num_edges == 8
