"""Full-ranking evaluation over all items, in fixed-size user chunks.

For every user with relevant items, all items are scored (``user_emb @ item_emb.T``), the
user's known history (train; train + valid when testing) is masked out, except pairs that are
also relevant (RecBole's ``history - positives``), and the top K are compared with the relevant
items. Users are processed ``chunk_size`` at a time inside one ``lax.map``, so at most one
``[chunk_size, num_items]`` block of scores exists at any moment, and shapes are static (the
last chunk is padded with masked rows). Per-chunk history and relevance lists are prepared once
on the host (:func:`prepare_ranking`) and reused every epoch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from recjax.eval.metrics import RANKING_METRICS, ranking_metrics
from recjax.types import Interactions


@struct.dataclass
class RankingTask:
    """Device arrays for one evaluation (e.g. valid): ``users [chunks, C]``, ``valid [chunks,
    C]`` (real rows), history and relevant (row, item) pairs per chunk, padded; padding points
    at the extra column ``num_items``, which is dropped. ``candidates [num_items]`` marks the
    items that may be ranked (all by default; e.g. only cold items in a cold-start test)."""

    users: jnp.ndarray
    valid: jnp.ndarray
    hist_rows: jnp.ndarray
    hist_items: jnp.ndarray
    rel_rows: jnp.ndarray
    rel_items: jnp.ndarray
    candidates: jnp.ndarray
    num_items: int = struct.field(pytree_node=False)

    @property
    def num_users(self) -> int:
        return int(np.asarray(self.valid).sum())


def _chunk_pairs(users_of_chunk: np.ndarray, part: Interactions, chunk_size: int, num_items):
    """Per chunk: (row in chunk, item) of ``part``'s rows whose user is in the chunk, padded."""
    num_chunks = len(users_of_chunk)
    row_of_user = np.full(part.num_users, -1, np.int64)
    chunk_of_user = np.full(part.num_users, -1, np.int64)
    for c, us in enumerate(users_of_chunk):
        row_of_user[us] = np.arange(len(us))
        chunk_of_user[us] = c
    chunk = chunk_of_user[part.user_ids]
    keep = chunk >= 0
    chunk, rows, items = chunk[keep], row_of_user[part.user_ids[keep]], part.item_ids[keep]
    counts = np.bincount(chunk, minlength=num_chunks)
    width = max(int(counts.max(initial=0)), 1)
    out_rows = np.zeros((num_chunks, width), np.int32)
    out_items = np.full((num_chunks, width), num_items, np.int32)
    order = np.argsort(chunk, kind="stable")
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    pos = np.arange(len(chunk)) - np.repeat(starts, counts)
    out_rows[chunk[order], pos] = rows[order]
    out_items[chunk[order], pos] = items[order]
    return out_rows, out_items


def _user_chunks(users: np.ndarray, chunk_size: int):
    num_chunks = max(1, -(-len(users) // chunk_size))
    padded = np.zeros(num_chunks * chunk_size, np.int32)
    padded[: len(users)] = users
    valid = np.zeros(num_chunks * chunk_size, bool)
    valid[: len(users)] = True
    users_of_chunk = [users[c * chunk_size:(c + 1) * chunk_size] for c in range(num_chunks)]
    return (padded.reshape(num_chunks, chunk_size), valid.reshape(num_chunks, chunk_size),
            users_of_chunk)


def _history(history: Sequence[Interactions], like: Interactions) -> Interactions:
    return Interactions.concat(list(history)) if history else like.take(np.zeros(0, int))


def prepare_ranking(relevant: Interactions, history: Sequence[Interactions],
                    chunk_size: int = 256, candidates: np.ndarray | None = None) -> RankingTask:
    """Evaluate on ``relevant`` (e.g. the test part), masking the pairs in ``history`` that are
    not themselves relevant; with ``candidates`` (bool ``[num_items]``) only those items are
    ranked, and relevant rows of other items are dropped.

    Relevant pairs stay rankable as in RecBole's full-sort evaluation (``used - positives``):
    without deduplication, or with several behaviours, the same (user, item) can be in train
    and test, and masking it would make a relevant item unreachable. Serving (:func:`top_k`)
    still excludes everything seen."""
    if candidates is not None:
        candidates = np.asarray(candidates, bool)
        relevant = relevant.take(np.nonzero(candidates[relevant.item_ids])[0])
    else:
        candidates = np.ones(relevant.num_items, bool)
    users = np.unique(relevant.user_ids)
    padded, valid, users_of_chunk = _user_chunks(users, chunk_size)
    hist = _history(history, relevant)
    hist = hist.take(np.nonzero(~np.isin(hist.pairs(), relevant.pairs()))[0])
    h_rows, h_items = _chunk_pairs(users_of_chunk, hist, chunk_size, relevant.num_items)
    r_rows, r_items = _chunk_pairs(users_of_chunk, relevant, chunk_size, relevant.num_items)
    return RankingTask(jnp.asarray(padded), jnp.asarray(valid), jnp.asarray(h_rows),
                       jnp.asarray(h_items), jnp.asarray(r_rows), jnp.asarray(r_items),
                       jnp.asarray(candidates), relevant.num_items)


def top_k(user_emb, item_emb, users: np.ndarray, history: Sequence[Interactions], k: int,
          chunk_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best items per user among those not in ``history``: ``(items, scores)``,
    each ``[len(users), k]``, best first. Same masked scoring as evaluation; chunked."""
    num_items = int(item_emb.shape[0])
    if not 1 <= k <= num_items:
        raise ValueError(f"k={k} must be between 1 and the catalogue size ({num_items} items)")
    # Each user is ranked once: the history pairs address one row per user.
    users, row_of = np.unique(np.asarray(users, np.int32), return_inverse=True)
    padded, _, users_of_chunk = _user_chunks(users, chunk_size)
    like = Interactions(users[:0], users[:0], np.zeros(0, np.float32), np.zeros(0),
                        users[:0], int(user_emb.shape[0]), num_items)
    h_rows, h_items = _chunk_pairs(users_of_chunk, _history(history, like), chunk_size,
                                   num_items)
    items, scores = _top_k(user_emb, item_emb, jnp.asarray(padded), jnp.asarray(h_rows),
                           jnp.asarray(h_items), k)
    items, scores = jax.device_get((items, scores))
    row_of = row_of.reshape(-1)
    return items.reshape(-1, k)[row_of], scores.reshape(-1, k)[row_of]


@jax.jit(static_argnames=("k",))
def _top_k(user_emb, item_emb, users, h_rows, h_items, k):
    def chunk(xs):
        u, hr, hi = xs
        scores = masked_scores(user_emb, item_emb, u, hr, hi, item_emb.shape[0])
        best, idx = jax.lax.top_k(scores, k)
        return idx, best

    return jax.lax.map(chunk, (users, h_rows, h_items))


@dataclass(frozen=True)
class Ranker:
    """A compiled full-ranking evaluator for fixed ``ks`` and metric names."""

    ks: tuple[int, ...] = (5, 10, 20, 50)
    names: tuple[str, ...] = RANKING_METRICS
    # > 0: break exact ties at random (a fixed key) instead of by item index; item ids often
    # follow popularity, so index order would hand tied scores (e.g. all cold items of a
    # baseline that cannot score them) an unearned advantage.
    tie_noise: float = 0.0

    def __post_init__(self):
        for n in self.names:
            if n not in RANKING_METRICS:
                raise ValueError(f"metric {n!r} is unknown; valid: {RANKING_METRICS}")

    def per_user(self, user_emb, item_emb, task: RankingTask):
        """Per-user metric arrays ``[chunks * chunk_size]`` and the row validity mask."""
        return _rank(user_emb, item_emb, task, self.ks, self.names, self.tie_noise)

    def __call__(self, user_emb, item_emb, task: RankingTask) -> dict[str, float]:
        kmax = max(self.ks)
        if kmax > task.num_items:
            raise ValueError(f"K={kmax} is larger than the catalogue ({task.num_items} items)")
        if task.num_users == 0:
            return {f"{n}@{k}": float("nan") for n in self.names for k in self.ks}
        if item_emb.shape[0] != task.num_items:
            raise ValueError(f"item embeddings have {item_emb.shape[0]} rows, the task "
                             f"{task.num_items} items")
        sums, count = _rank_means(user_emb, item_emb, task, self.ks, self.names, self.tie_noise)
        count = max(float(count), 1.0)
        return {k: float(v) / count for k, v in jax.device_get(sums).items()}


def masked_scores(user_emb, item_emb, users, hist_rows, hist_items, num_items: int):
    """``[len(users), num_items]`` scores with history pairs set to -inf. History padding
    points at the extra column ``num_items``, dropped here. Shared by evaluation and
    :mod:`recjax.recommend`, so both rank the same way."""
    scores = user_emb[users] @ item_emb.T
    scores = jnp.concatenate([scores, jnp.zeros((scores.shape[0], 1), scores.dtype)], axis=1)
    return scores.at[hist_rows, hist_items].set(-jnp.inf)[:, :num_items]


def jitter_scores(scores, key, tie_noise: float):
    """``scores`` plus relative noise ``U[0, tie_noise) * (1 + |score|)`` on finite entries.

    Masked (-inf) entries stay -inf: noise scaled by ``|-inf|`` would make them NaN, whose sign
    is up to the platform (negative on x86, positive on GPUs and ARM), and ``top_k`` ranks a
    positive NaN first, so every history item would fill the top K."""
    jitter = jax.random.uniform(key, scores.shape) * tie_noise
    return jnp.where(jnp.isfinite(scores), scores + jitter * (1.0 + jnp.abs(scores)), scores)


def top_k_random_ties(scores, key, tie_noise: float, k: int):
    """Indices ``[rows, k]`` of the ``k`` best scores, exact ties broken at random.

    The noise of :func:`jitter_scores` alone is not enough: 1e-6 relative is only ~8 float32
    ulps of a nonzero score, so tied items fall into ~16 levels and ties within a level would
    still go by index. ``top_k`` over the columns in a random order breaks those."""
    noise_key, order_key = jax.random.split(key)
    scores = jitter_scores(scores, noise_key, tie_noise)
    order = jax.random.permutation(order_key, scores.shape[1])
    _, top = jax.lax.top_k(scores[:, order], k)
    return order[top]


def _chunk_metrics(user_emb, item_emb, task, ks, names, tie_noise, xs):
    users, valid, h_rows, h_items, r_rows, r_items = xs
    c = users.shape[0]
    scores = masked_scores(user_emb, item_emb, users, h_rows, h_items, task.num_items)
    scores = jnp.where(task.candidates[None, :], scores, -jnp.inf)
    if tie_noise:
        key = jax.random.fold_in(jax.random.key(0), users[0])
        top = top_k_random_ties(scores, key, tie_noise, max(ks))
    else:
        _, top = jax.lax.top_k(scores, max(ks))
    relevant = jnp.zeros((c, task.num_items + 1), bool).at[r_rows, r_items].set(True)
    num_relevant = relevant[:, : task.num_items].sum(axis=1)
    hits = jnp.take_along_axis(relevant, top, axis=1)
    out = ranking_metrics(hits, num_relevant, ks, names)
    return {k: jnp.where(valid, v, 0.0) for k, v in out.items()}


@jax.jit(static_argnames=("ks", "names", "tie_noise"))
def _rank(user_emb, item_emb, task, ks, names, tie_noise=0.0):
    xs = (task.users, task.valid, task.hist_rows, task.hist_items, task.rel_rows, task.rel_items)
    out = jax.lax.map(
        lambda x: _chunk_metrics(user_emb, item_emb, task, ks, names, tie_noise, x), xs)
    return {k: v.reshape(-1) for k, v in out.items()}, task.valid.reshape(-1)


@jax.jit(static_argnames=("ks", "names", "tie_noise"))
def _rank_means(user_emb, item_emb, task, ks, names, tie_noise=0.0):
    per_user, valid = _rank(user_emb, item_emb, task, ks, names, tie_noise)
    return {k: v.sum() for k, v in per_user.items()}, valid.sum()
