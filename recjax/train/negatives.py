"""Negative items drawn on device with explicit keys.

With ``reject`` the draw avoids the user's train positives: membership is a gather from the
graph's dense positives table when it has one, else a fixed-depth binary search in the CSR
rows (each user's train items, sorted; static shapes). Draws that hit a positive are redrawn,
up to ``tries`` times (after that a positive may remain, with chance density**tries).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from recjax.graph import RecGraph


def is_train_positive(graph: RecGraph, users, items):
    """Whether (user, item) is a train edge; ``users``/``items`` broadcast together. One
    gather from the dense table when the graph has one, else a binary search in CSR rows."""
    users, items = jnp.broadcast_arrays(users, items)
    if graph.positives is not None:
        return graph.positives[users, items]
    item_nodes = items + graph.num_users
    lo = graph.indptr[users]
    hi = graph.indptr[users + 1]
    senders = graph.senders
    depth = max(int(graph.num_edges).bit_length(), 1)

    def step(_, bounds):
        lo, hi = bounds
        mid = (lo + hi) // 2
        go_right = senders[jnp.minimum(mid, senders.shape[0] - 1)] < item_nodes
        active = lo < hi
        return (jnp.where(active & go_right, mid + 1, lo),
                jnp.where(active & ~go_right, mid, hi))

    lo, _ = jax.lax.fori_loop(0, depth, step, (lo, hi))
    found = senders[jnp.minimum(lo, senders.shape[0] - 1)] == item_nodes
    return found & (lo < graph.indptr[users + 1])


def sample_negatives(key, graph: RecGraph, users, num: int, reject: bool = False,
                     tries: int = 4):
    """``[batch, num]`` item ids uniform over the catalogue (optionally avoiding positives)."""
    shape = users.shape + (num,)
    draw = jax.random.randint(key, shape, 0, graph.num_items)
    if not reject:
        return draw
    u = jnp.broadcast_to(users[..., None], shape)
    for t in range(tries):
        bad = is_train_positive(graph, u, draw)
        fresh = jax.random.randint(jax.random.fold_in(key, t + 1), shape, 0, graph.num_items)
        draw = jnp.where(bad, fresh, draw)
    return draw
