"""Semantic item-item edges (the text kNN graph) as one more relation of the train graph."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from recjax.config.schema import (
    DataConfig,
    ExperimentConfig,
    ModelConfig,
    SplitConfig,
    SyntheticConfig,
    TextConfig,
)
from recjax.graph import build_graph, item_item_edges, propagate, text_knn_edges
from recjax.models import build_model
from recjax.models.closed_form import history_matrix
from recjax.train.negatives import is_train_positive
from tests.conftest import make_interactions

# users 0,1,2 (nodes 0-2); items 0..3 (nodes 3-6). Item 2 has no interaction.
TRAIN = make_interactions([0, 0, 1, 2, 2], [0, 1, 1, 0, 3], ratings=[5, 3, 4, 1, 2],
                          num_users=3, num_items=4)
# Undirected {0-1, 0-2, 2-3}, given with a duplicate in the other order and a self-pair.
ITEM_EDGES = [[0, 2], [2, 3], [1, 0], [0, 1], [3, 3]]


def hand_adjacency() -> np.ndarray:
    """The 0/1 adjacency of TRAIN + ITEM_EDGES, written out from the lists above."""
    a = np.zeros((7, 7))
    for u, i in [(0, 0), (0, 1), (1, 1), (2, 0), (2, 3)]:
        a[u, 3 + i] = a[3 + i, u] = 1
    for i, j in [(0, 1), (0, 2), (2, 3)]:
        a[3 + i, 3 + j] = a[3 + j, 3 + i] = 1
    return a


def brute_force_knn(x: np.ndarray, k: int) -> set:
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    sims = unit @ unit.T
    pairs = set()
    for i in range(len(x)):
        others = [j for j in np.argsort(-sims[i], kind="stable") if j != i][:k]
        pairs |= {(min(i, j), max(i, j)) for j in others}
    return pairs


def test_knn_by_hand():
    # cos: 0~1 (0.99), 2's best is 1 (0.11 > 0), 3's best is 2 (0 > -0.99, -1).
    x = np.array([[1, 0], [0.9, 0.1], [0, 1], [-1, 0]], np.float32)
    assert text_knn_edges(x, 1).tolist() == [[0, 1], [1, 2], [2, 3]]
    assert text_knn_edges(x, 9).tolist() == [[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]]


@pytest.mark.parametrize("k", [1, 3, 5])
def test_knn_equals_brute_force(k):
    x = np.random.default_rng(k).normal(size=(13, 6)).astype(np.float32)
    edges = text_knn_edges(x, k)
    assert edges.dtype == np.int32 and edges.shape[1] == 2
    assert np.all(edges[:, 0] < edges[:, 1])  # undirected, no self-loops
    assert len({tuple(e) for e in edges.tolist()}) == len(edges)  # no duplicates
    assert {tuple(e) for e in edges.tolist()} == brute_force_knn(x, k)
    # Row chunks of any size give the same graph.
    np.testing.assert_array_equal(text_knn_edges(x, k, chunk_elements=20), edges)


def test_knn_skips_items_without_text():
    x = np.random.default_rng(0).normal(size=(6, 3)).astype(np.float32)
    x[2] = 0
    edges = text_knn_edges(x, 2)
    assert 2 not in edges
    keep = [0, 1, 3, 4, 5]
    assert {tuple(e) for e in edges.tolist()} == {
        (keep[a], keep[b]) for a, b in brute_force_knn(x[keep], 2)}
    assert text_knn_edges(np.zeros((3, 2)), 2).shape == (0, 2)
    with pytest.raises(ValueError, match="k >= 1"):
        text_knn_edges(x, 0)


def test_graph_with_item_edges_by_hand():
    g = build_graph(TRAIN, item_edges=ITEM_EDGES)
    assert (g.num_nodes, g.num_edges, g.num_relations, g.item_relation) == (7, 16, 2, 1)
    s, r, rev = (np.asarray(x) for x in (g.senders, g.receivers, g.reverse))
    a = hand_adjacency()
    assert set(zip(s.tolist(), r.tolist())) == set(zip(*np.nonzero(a.T)))
    assert np.asarray(g.degree).tolist() == [2, 1, 2, 4, 3, 2, 2]
    assert np.asarray(g.indptr).tolist() == [0, 2, 3, 5, 9, 12, 14, 16]
    # CSR over receivers, senders sorted within each row; reverse edges pair up.
    assert np.all(np.diff(r) >= 0)
    ptr = np.asarray(g.indptr)
    for row in range(g.num_nodes):
        assert np.all(np.diff(s[ptr[row]:ptr[row + 1]]) > 0) and np.all(r[ptr[row]:ptr[row + 1]]
                                                                         == row)
    assert np.all(s[rev] == r) and np.all(r[rev] == s) and np.all(rev[rev] == np.arange(16))
    rel = np.asarray(g.relation)
    assert np.all(rel[rev] == rel)
    both_items = (s >= 3) & (r >= 3)
    assert np.all(rel[both_items] == 1) and np.all(rel[~both_items] == 0)
    # Symmetric normalisation over the combined degrees.
    deg = a.sum(1)
    np.testing.assert_allclose(np.asarray(g.norm), 1 / np.sqrt(deg[s] * deg[r]), rtol=1e-6)
    assert item_item_edges(g).tolist() == [[0, 1], [0, 2], [2, 3]]
    assert item_item_edges(build_graph(TRAIN)) is None


@pytest.mark.parametrize("method", ["sparse", "segment"])
def test_propagation_equals_dense_normalised_adjacency(method):
    g = build_graph(TRAIN, item_edges=ITEM_EDGES)
    a = hand_adjacency()
    inv = 1 / np.sqrt(a.sum(1))
    norm_adj = inv[:, None] * a * inv[None, :]  # item-item block included
    x = np.random.default_rng(0).normal(size=(7, 3)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(propagate(g, g.norm, x, method)), norm_adj @ x,
                               atol=1e-6)
    # The backward pass (A^T via the reverse permutation) is right across the new block too.
    w = np.random.default_rng(1).normal(size=(7, 3)).astype(np.float32)
    gx = jax.grad(lambda x: jnp.sum(propagate(g, g.norm, x, method) * w))(x)
    np.testing.assert_allclose(np.asarray(gx), norm_adj.T @ w, atol=1e-6)


def test_relation_ids_follow_the_interaction_types():
    g = build_graph(TRAIN, relation="rating", item_edges=ITEM_EDGES)
    assert (g.num_relations, g.item_relation) == (6, 5)  # ratings 1..5 -> levels 0..4
    rel, s, r = (np.asarray(x) for x in (g.relation, g.senders, g.receivers))
    assert sorted(set(rel[(s >= 3) & (r >= 3)].tolist())) == [5]
    assert sorted(set(rel[s < 3].tolist())) == [0, 1, 2, 3, 4]
    # An empty edge list still adds the relation (parameter shapes do not depend on data).
    empty = build_graph(TRAIN, item_edges=np.zeros((0, 2), int))
    assert (empty.num_relations, empty.num_edges, empty.item_relation) == (2, 10, 1)
    with pytest.raises(ValueError, match="valid ids are"):
        build_graph(TRAIN, item_edges=[[0, 4]])


@pytest.mark.parametrize("dense_limit", [1 << 26, 0])
def test_train_positives_ignore_item_edges(dense_limit):
    g = build_graph(TRAIN, item_edges=ITEM_EDGES, dense_limit=dense_limit)
    assert (g.positives is None) == (dense_limit == 0)
    table = np.zeros((3, 4), bool)
    table[TRAIN.user_ids, TRAIN.item_ids] = True
    np.testing.assert_array_equal(np.asarray(history_matrix(g)), table.astype(np.float32))
    users, items = np.meshgrid(np.arange(3), np.arange(4), indexing="ij")
    got = is_train_positive(g, jnp.asarray(users), jnp.asarray(items))
    np.testing.assert_array_equal(np.asarray(got), table)
    # Item ids that are the other end of an item-item edge are not a user's positives.
    assert not bool(is_train_positive(g, jnp.int32(1), jnp.int32(0)))


def test_relation_weights_learn_a_weight_for_item_edges():
    g = build_graph(TRAIN, item_edges=ITEM_EDGES)
    cfg = ModelConfig(name="lightgcn", dim=4, num_layers=1, relation_weights=True)
    model = build_model(cfg, 3, 4)
    params = model.init(jax.random.key(0), g, None)
    assert params["params"]["graph"]["relation_logits"].shape == (2,)
    ids = params["params"]["id"]
    e0 = np.concatenate([ids["user"]["embedding"], ids["item"]["embedding"]])
    a = hand_adjacency()
    inv = 1 / np.sqrt(a.sum(1))
    scale = np.ones((7, 7))
    scale[3:, 3:] = 0.25  # item-item messages weighted exp(log 0.25)
    params["params"]["graph"]["relation_logits"] = jnp.log(jnp.array([1.0, 0.25]))
    u, i = model.apply(params, g)
    norm_adj = inv[:, None] * a * scale * inv[None, :]
    np.testing.assert_allclose(np.concatenate([u, i]), (e0 + norm_adj @ e0) / 2, atol=1e-6)
    # Both weights get a gradient: the item-item one through the item block only.
    grad = jax.grad(lambda p: jnp.sum(model.apply(p, g)[1] ** 2))(params)
    assert np.all(np.asarray(grad["params"]["graph"]["relation_logits"]) != 0)


def tiny_experiment(tmp_path, name: str, k: int) -> ExperimentConfig:
    from tests.text.tiny_checkpoint import write_tiny_checkpoint

    ckpt = write_tiny_checkpoint(tmp_path)
    return ExperimentConfig(
        data=DataConfig(name="synthetic", synthetic=SyntheticConfig(
            num_users=20, num_items=15, num_interactions=150, seed=1),
            split=SplitConfig(seed=1)),
        text=TextConfig(checkpoint=str(ckpt), cache=False, item_template="{title}"),
        model=ModelConfig(name=name, dim=8, num_layers=1, semantic_neighbors=k))


def test_prepare_adds_the_text_knn_graph(tmp_path):
    from recjax.experiment import prepare

    p = prepare(tiny_experiment(tmp_path, "text_gnn", 2), progress=False)
    np.testing.assert_array_equal(item_item_edges(p.graph), text_knn_edges(p.item_text, 2))
    # User-item edges are train interactions only, as without semantic edges.
    plain = build_graph(p.split.train)
    u = p.graph.num_users
    s, r = np.asarray(p.graph.senders), np.asarray(p.graph.receivers)
    bipartite = (s < u) | (r < u)
    assert set(zip(s[bipartite], r[bipartite])) == set(
        zip(np.asarray(plain.senders), np.asarray(plain.receivers)))
    off = prepare(dataclasses.replace(p.cfg, model=dataclasses.replace(
        p.cfg.model, semantic_neighbors=0)), progress=False)
    assert off.graph.item_relation is None and off.graph.num_relations == 1


def test_semantic_neighbors_need_a_text_model(tmp_path):
    from recjax.experiment import prepare

    with pytest.raises(ValueError, match="semantic_neighbors=3 needs item text"):
        prepare(tiny_experiment(tmp_path, "lightgcn", 3), progress=False)
    with pytest.raises(ValueError, match="semantic_neighbors=-1 must be >= 0"):
        ModelConfig(semantic_neighbors=-1)
