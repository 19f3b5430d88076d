"""Build the user-item graph from **train interactions only**.

Nodes: users ``[0, num_users)``, items ``[num_users, num_users + num_items)`` (use
:func:`item_nodes`). Every interaction becomes two directed edges, user->item and item->user,
typed by a relation id (behaviour or rating level, or 0). Extra undirected item-item edges
(``item_edges``, e.g. the text kNN graph of :func:`text_knn_edges`) become two directed edges
each, typed by one more relation id after those. Edges are sorted by (receiver, sender), so
they double as a CSR matrix over receivers (``indptr``), the layout of the fast sparse
propagation path. The symmetric normalisation ``1 / sqrt(deg(s) deg(r))`` of each edge is
computed once, here, over the degrees of the whole adjacency (interaction and item-item edges
together): ``D^-1/2 A D^-1/2`` stays symmetric with spectral radius <= 1, as LightGCN's
propagation assumes, whatever mix of edges a node has.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from flax import struct

from recjax.graph.jraph_compat import GraphsTuple
from recjax.types import Interactions

RELATIONS = ("none", "behavior", "rating")
# Node ids, edge ids and the CSR pointers are int32 (jraph's and XLA's index type).
INDEX_LIMIT = int(np.iinfo(np.int32).max)


def item_nodes(item_ids, num_users: int):
    """Graph node ids of items: the one place that knows items come after users."""
    return item_ids + num_users


@struct.dataclass
class RecGraph:
    """The interaction graph as a pytree (jit-friendly: shapes fixed when built).

    ``graph`` is a ``jraph.GraphsTuple`` with ``senders``/``receivers`` int32 ``[num_edges]``
    and ``edges = {"relation": int32, "norm": float32}``; ``indptr`` int32 ``[num_nodes + 1]``
    is the CSR row pointer over receivers; ``reverse[e]`` is the index of edge e's reverse
    edge; ``degree`` float32 ``[num_nodes]``. ``positives`` is a dense bool ``[num_users,
    num_items]`` train-positive table when that is small (``build_graph(dense_limit=...)``),
    else None; it turns "is this a train positive" into one gather. ``positives`` and the
    user rows of the CSR hold user-item train positives only; item-item edges sit in item rows
    (``item_relation`` is their relation id, None when the graph has none).
    """

    graph: GraphsTuple
    indptr: jnp.ndarray
    reverse: jnp.ndarray
    degree: jnp.ndarray
    positives: jnp.ndarray | None
    num_users: int = struct.field(pytree_node=False)
    num_items: int = struct.field(pytree_node=False)
    num_relations: int = struct.field(pytree_node=False)
    item_relation: int | None = struct.field(pytree_node=False, default=None)

    @property
    def num_nodes(self) -> int:
        return self.num_users + self.num_items

    @property
    def num_edges(self) -> int:
        return int(self.graph.senders.shape[0])

    @property
    def senders(self):
        return self.graph.senders

    @property
    def receivers(self):
        return self.graph.receivers

    @property
    def norm(self):
        return self.graph.edges["norm"]

    @property
    def relation(self):
        return self.graph.edges["relation"]


def relation_ids(train: Interactions, relation: str) -> tuple[np.ndarray, int]:
    if relation == "none":
        return np.zeros(len(train), np.int32), 1
    if relation == "behavior":
        return train.behaviors.astype(np.int32), int(train.behaviors.max(initial=0)) + 1
    if relation == "rating":
        levels = np.clip(np.rint(train.ratings), 1, None).astype(np.int32) - 1
        return levels, int(levels.max(initial=0)) + 1
    raise ValueError(f"relation {relation!r} is unknown; use one of {RELATIONS}")


def check_index_range(num_nodes: int, num_edges: int) -> None:
    """Fail when node or edge ids would not fit int32 indices (they would wrap silently)."""
    if num_nodes > INDEX_LIMIT:
        raise ValueError(f"the graph would have {num_nodes} nodes (users + items), more than "
                         f"int32 indices hold ({INDEX_LIMIT})")
    if num_edges > INDEX_LIMIT:
        raise ValueError(f"the graph would have {num_edges} directed edges (2 per distinct "
                         f"train interaction or item-item pair), more than int32 indices hold "
                         f"({INDEX_LIMIT})")


def undirected_item_pairs(item_edges, num_items: int) -> np.ndarray:
    """``[n, 2]`` int64 distinct item pairs ``a < b`` of ``item_edges`` (pairs of item ids, in
    either order); self-pairs are dropped (the adjacency has no self-loops)."""
    pairs = np.asarray(item_edges, np.int64).reshape(-1, 2)
    if pairs.size and (pairs.min() < 0 or pairs.max() >= num_items):
        raise ValueError(f"item_edges hold item ids in [{pairs.min()}, {pairs.max()}]; "
                         f"valid ids are [0, {num_items})")
    pairs = np.sort(pairs, axis=1)
    return np.unique(pairs[pairs[:, 0] != pairs[:, 1]], axis=0)


def text_knn_edges(item_text: np.ndarray, k: int, chunk_elements: int = 1 << 24) -> np.ndarray:
    """The undirected kNN graph of items by cosine similarity of their text vectors.

    ``item_text``: ``[num_items, dim]``. Each item links to its ``k`` most similar other items
    (fewer when there are fewer); the pairs are returned undirected and deduplicated, as
    ``[n, 2]`` int32 ``a < b`` (an item may so have more than ``k`` neighbours: those that
    chose it). Items with an all-zero vector (no text) get no edges. Ties at the k-th place
    are broken arbitrarily. Similarities are computed in row chunks of about
    ``chunk_elements`` entries, so memory stays ``O(chunk_elements + num_items * k)``.
    """
    if k < 1:
        raise ValueError(f"text_knn_edges needs k >= 1, got {k}")
    x = np.asarray(item_text, np.float32)
    if x.ndim != 2:
        raise ValueError(f"item_text must be [num_items, dim], got shape {x.shape}")
    n = x.shape[0]
    length = np.linalg.norm(x, axis=1)
    has_text = length > 0
    unit = x / np.maximum(length, 1e-12)[:, None]
    k = min(k, int(has_text.sum()) - 1)
    if k < 1:
        return np.zeros((0, 2), np.int32)
    step = max(1, chunk_elements // max(n, 1))
    heads, tails = [], []
    for start in range(0, n, step):
        rows = np.arange(start, min(start + step, n))
        rows = rows[has_text[rows]]
        if not len(rows):
            continue
        sims = unit[rows] @ unit.T
        sims[:, ~has_text] = -np.inf
        sims[np.arange(len(rows)), rows] = -np.inf  # no self-loops
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        heads.append(np.repeat(rows, k))
        tails.append(top.reshape(-1))
    pairs = np.stack([np.concatenate(heads), np.concatenate(tails)], axis=1)
    return undirected_item_pairs(pairs, n).astype(np.int32)


def build_graph(train: Interactions, relation: str = "none", dense_limit: int = 1 << 26,
                item_edges=None) -> RecGraph:
    """The graph of ``train`` (pass the train part of a split, never valid/test rows).

    Repeated (user, item, relation) rows become one edge pair; with ``relation="none"`` every
    (user, item) pair is one edge pair. A dense positives table is kept when
    ``num_users * num_items <= dense_limit`` (64 MiB by default).

    ``item_edges``: optional undirected item-item pairs ``[n, 2]`` (item ids; duplicates,
    either order and self-pairs allowed, see :func:`undirected_item_pairs`), added in both
    directions with relation id ``item_relation = num_relations - 1``. The relation exists
    whenever ``item_edges`` is given, even empty, so relation-weight parameters keep one shape.
    They count in every node's degree (the normalisation is over the whole adjacency) but never
    in ``positives`` nor in users' CSR rows.
    """
    rel, num_rel = relation_ids(train, relation)
    num_users, num_items = train.num_users, train.num_items
    n = num_users + num_items
    keys = (train.user_ids.astype(np.int64) * num_items + train.item_ids) * num_rel + rel
    keys = np.unique(keys)
    item_relation = None
    pairs = np.zeros((0, 2), np.int64)
    if item_edges is not None:
        item_relation = num_rel
        pairs = undirected_item_pairs(item_edges, num_items)
    check_index_range(n, 2 * (len(keys) + len(pairs)))
    rel = (keys % num_rel).astype(np.int32)
    pair = keys // num_rel
    users = (pair // num_items).astype(np.int32)
    items = item_nodes((pair % num_items).astype(np.int32), num_users)
    heads = item_nodes(pairs[:, 0].astype(np.int32), num_users)
    tails = item_nodes(pairs[:, 1].astype(np.int32), num_users)
    senders = np.r_[users, items, heads, tails]
    receivers = np.r_[items, users, tails, heads]
    relation_of = np.r_[rel, rel, np.full(2 * len(pairs), num_rel, np.int32)].astype(np.int32)
    order = np.lexsort((senders, receivers))
    senders, receivers, relation_of = senders[order], receivers[order], relation_of[order]
    # Edge e = (s, r) and its reverse (r, s): position of the reverse in the sorted order.
    # Unsorted layout: [user->item (m), item->user (m), a->b (p), b->a (p)].
    position = np.empty_like(order)
    position[order] = np.arange(len(order))
    m, p = len(users), len(pairs)
    reverse_unsorted = np.r_[np.arange(m, 2 * m), np.arange(m),
                             np.arange(2 * m + p, 2 * m + 2 * p), np.arange(2 * m, 2 * m + p)]
    reverse = position[reverse_unsorted[order]].astype(np.int32)
    degree = np.bincount(receivers, minlength=n).astype(np.float32)
    inv_sqrt = 1.0 / np.sqrt(np.maximum(degree, 1.0))
    norm = (inv_sqrt[senders] * inv_sqrt[receivers]).astype(np.float32)
    indptr = np.r_[0, np.cumsum(np.bincount(receivers, minlength=n))].astype(np.int32)
    graph = GraphsTuple(
        nodes=None, globals=None,
        edges={"relation": jnp.asarray(relation_of), "norm": jnp.asarray(norm)},
        senders=jnp.asarray(senders, jnp.int32), receivers=jnp.asarray(receivers, jnp.int32),
        n_node=jnp.asarray([n], jnp.int32), n_edge=jnp.asarray([len(senders)], jnp.int32))
    positives = None
    if num_users * num_items <= dense_limit:
        table = np.zeros((num_users, num_items), bool)
        table[train.user_ids, train.item_ids] = True
        positives = jnp.asarray(table)
    return RecGraph(graph, jnp.asarray(indptr), jnp.asarray(reverse), jnp.asarray(degree),
                    positives, num_users, num_items, num_rel + (item_relation is not None),
                    item_relation)


def item_item_edges(graph: RecGraph) -> np.ndarray | None:
    """The undirected item-item pairs ``[n, 2]`` (item ids, ``a < b``, sorted) of ``graph``, or
    None when it was built without ``item_edges``: pass them to :func:`build_graph` to rebuild
    it (e.g. grown by a new user) with the same relations."""
    if graph.item_relation is None:
        return None
    s, r = np.asarray(graph.senders), np.asarray(graph.receivers)
    keep = (np.asarray(graph.relation) == graph.item_relation) & (s < r)
    pairs = np.stack([s[keep], r[keep]], axis=1).astype(np.int32) - graph.num_users
    return pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]
