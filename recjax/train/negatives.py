"""Negative items drawn on device with explicit keys.

With ``reject`` the draw avoids the user's train positives: membership is a gather from the
graph's dense positives table when it has one, else a fixed-depth binary search in the CSR
rows (each user's train items, sorted; static shapes). Draws that hit a positive are redrawn,
up to ``tries`` times (after that a positive may remain, with chance density**tries).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from recjax.config.schema import TrainConfig
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
    warm = item_popularity(graph) > 0  # user edges only: text item-item edges do not warm
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


def item_popularity(graph: RecGraph):
    """``[num_items]`` float32: each item's number of train edges from users (its train degree
    in the user-item graph; item-item edges, where the graph has them, are not counted)."""
    from_user = (graph.senders < graph.num_users) & (graph.receivers >= graph.num_users)
    items = jnp.clip(graph.receivers - graph.num_users, 0, graph.num_items - 1)
    return jax.ops.segment_sum(from_user.astype(jnp.float32), items,
                               num_segments=graph.num_items)


def sampling_log_prob(graph: RecGraph, sampler: str, warm_only: bool = False):
    """``[num_items]``: the log-probability that one draw of ``sampler`` is each item, the
    ``log Q`` of the sampled-softmax correction. Items it never draws get 0, not ``-inf``:
    they never appear as negatives, and a padded row's positive must stay finite (its loss is
    masked by multiplication, and ``inf * 0`` is NaN)."""
    if sampler == "popularity":
        pop = item_popularity(graph)
        drawn = pop > 0
        log_p = jnp.log(jnp.where(drawn, pop, 1.0)) - jnp.log(jnp.maximum(jnp.sum(pop), 1.0))
    elif warm_only:
        drawn = item_popularity(graph) > 0
        log_p = -jnp.log(jnp.maximum(jnp.sum(drawn), 1).astype(jnp.float32))
    else:
        return jnp.full((graph.num_items,), -jnp.log(graph.num_items), jnp.float32)
    return jnp.where(drawn, log_p, 0.0)


def draw_items(key, shape, graph: RecGraph, sampler: str = "uniform", warm_only: bool = False):
    """Item ids of ``shape`` from ``sampler``: ``uniform`` over the catalogue (or its warm
    items), or ``popularity`` in proportion to train degree (by inverse CDF: one binary search
    per draw; items without train edges are never drawn, so warm-only holds by itself)."""
    if sampler == "uniform":
        return uniform_items(key, shape, graph, warm_only)
    cdf = jnp.cumsum(item_popularity(graph))
    target = jax.random.uniform(key, shape, maxval=cdf[-1])
    return jnp.minimum(jnp.searchsorted(cdf, target, side="right"), graph.num_items - 1)


def sample_items(key, graph: RecGraph, users, num: int, cfg: TrainConfig, warm_only: bool):
    """``[batch, num]`` negatives from ``cfg.negative_sampler``; with ``reject_positives`` a
    draw that hits a train positive of its user is redrawn, up to 4 times (as
    :func:`recjax.train.negatives.sample_negatives` does for uniform draws, which it serves)."""
    if cfg.negative_sampler == "uniform":
        return sample_negatives(key, graph, users, num, cfg.reject_positives,
                                warm_only=warm_only)
    shape = users.shape + (num,)
    draw = draw_items(key, shape, graph, cfg.negative_sampler, warm_only)
    if cfg.reject_positives:
        u = jnp.broadcast_to(users[..., None], shape)
        for t in range(4):
            fresh = draw_items(jax.random.fold_in(key, t + 1), shape, graph,
                               cfg.negative_sampler, warm_only)
            draw = jnp.where(is_train_positive(graph, u, draw), fresh, draw)
    return draw
