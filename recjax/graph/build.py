"""Build the user-item graph from **train interactions only**.

Nodes: users ``[0, num_users)``, items ``[num_users, num_users + num_items)`` (use
:func:`item_nodes`). Every interaction becomes two directed edges, user->item and item->user,
typed by a relation id (behaviour or rating level, or 0). Edges are sorted by (receiver,
sender), so they double as a CSR matrix over receivers (``indptr``), the layout of the fast
sparse propagation path. The symmetric normalisation ``1 / sqrt(deg(s) deg(r))`` of each edge
is computed once, here.
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
    else None; it turns "is this a train positive" into one gather.
    """

    graph: GraphsTuple
    indptr: jnp.ndarray
    reverse: jnp.ndarray
    degree: jnp.ndarray
    positives: jnp.ndarray | None
    num_users: int = struct.field(pytree_node=False)
    num_items: int = struct.field(pytree_node=False)
    num_relations: int = struct.field(pytree_node=False)

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
                         f"train interaction), more than int32 indices hold ({INDEX_LIMIT})")


def build_graph(train: Interactions, relation: str = "none",
                dense_limit: int = 1 << 26) -> RecGraph:
    """The graph of ``train`` (pass the train part of a split, never valid/test rows).

    Repeated (user, item, relation) rows become one edge pair; with ``relation="none"`` every
    (user, item) pair is one edge pair. A dense positives table is kept when
    ``num_users * num_items <= dense_limit`` (64 MiB by default).
    """
    rel, num_rel = relation_ids(train, relation)
    num_users, num_items = train.num_users, train.num_items
    n = num_users + num_items
    keys = (train.user_ids.astype(np.int64) * num_items + train.item_ids) * num_rel + rel
    keys = np.unique(keys)
    check_index_range(n, 2 * len(keys))
    rel = (keys % num_rel).astype(np.int32)
    pair = keys // num_rel
    users = (pair // num_items).astype(np.int32)
    items = item_nodes((pair % num_items).astype(np.int32), num_users)
    senders = np.r_[users, items]
    receivers = np.r_[items, users]
    relation_of = np.r_[rel, rel]
    order = np.lexsort((senders, receivers))
    senders, receivers, relation_of = senders[order], receivers[order], relation_of[order]
    # Edge e = (s, r) and its reverse (r, s): position of the reverse in the sorted order.
    position = np.empty_like(order)
    position[order] = np.arange(len(order))
    m = len(users)
    reverse_unsorted = np.r_[np.arange(m, 2 * m), np.arange(m)]
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
                    positives, num_users, num_items, num_rel)
