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
    senders = graph.senders
    last = senders.shape[0] - 1
    hi = graph.indptr[users + 1]
    # The user's edges [indptr[u], indptr[u + 1]) are sorted by sender (the item node).
    lo = lower_bound(lambda i: senders[jnp.minimum(i, last)], graph.indptr[users], hi,
                     item_nodes, max(int(graph.num_edges).bit_length(), 1))
    return (senders[jnp.minimum(lo, last)] == item_nodes) & (lo < hi)


def lower_bound(value_at, lo, hi, target, depth: int):
    """The first index in ``[lo, hi)`` whose value is ``>= target`` (``hi`` if none), in a
    fixed ``depth`` of halvings (enough for runs shorter than ``2**depth``); ``value_at`` reads
    the sorted values at an index array. The midpoint is ``lo + (hi - lo) // 2``, as
    ``lo + hi`` overflows int32 once edge ids pass 2**30."""

    def step(_, bounds):
        lo, hi = bounds
        mid = lo + (hi - lo) // 2
        go_right = value_at(mid) < target
        active = lo < hi
        return (jnp.where(active & go_right, mid + 1, lo),
                jnp.where(active & ~go_right, mid, hi))

    lo, _ = jax.lax.fori_loop(0, depth, step, (lo, hi))
    return lo


def uniform_items(key, shape, graph: RecGraph, warm_only: bool = False):
    """Item ids uniform over the catalogue, or with ``warm_only`` over the items that have
    train edges (a cold-item split's held-out items are never drawn, so their rows get no
    gradient). The warm ids are gathered with a static size, then indexed by a draw below
    their traced count."""
    if not warm_only:
        return jax.random.randint(key, shape, 0, graph.num_items)
    warm = graph.degree[graph.num_users:] > 0
    ids = jnp.nonzero(warm, size=graph.num_items, fill_value=0)[0]
    count = jnp.maximum(jnp.sum(warm), 1)
    return ids[jax.random.randint(key, shape, 0, count)]


def sample_negatives(key, graph: RecGraph, users, num: int, reject: bool = False,
                     tries: int = 4, warm_only: bool = False):
    """``[batch, num]`` item ids uniform over the catalogue (or its warm items), optionally
    avoiding the user's train positives."""
    shape = users.shape + (num,)
    draw = uniform_items(key, shape, graph, warm_only)
    if not reject:
        return draw
    u = jnp.broadcast_to(users[..., None], shape)
    for t in range(tries):
        bad = is_train_positive(graph, u, draw)
        fresh = uniform_items(jax.random.fold_in(key, t + 1), shape, graph, warm_only)
        draw = jnp.where(bad, fresh, draw)
    return draw
