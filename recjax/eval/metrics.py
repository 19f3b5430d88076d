"""Ranking and classification metrics, RecBole's definitions, names lower case (``ndcg@10``).

For one user with ``n`` relevant items and a top-K list whose positions ``1..K`` are hits or not:

* ``recall@k`` = hits in top k / n            * ``precision@k`` = hits in top k / k
* ``hit@k`` = 1 if any hit in top k          * ``mrr@k`` = 1 / rank of the first hit (0 if none)
* ``ndcg@k`` = sum over hits of 1/log2(rank + 1), divided by the same sum for an ideal list
  (min(n, k) hits at the top).

Users without relevant items are left out of the averages, as RecBole does. The jnp functions
run inside the jitted evaluation; the numpy ones are the plain references the tests compare to.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np

RANKING_METRICS = ("recall", "ndcg", "mrr", "hit", "precision")


def ranking_metrics(hits, num_relevant, ks: Sequence[int], names=RANKING_METRICS, xp=jnp):
    """Per-user metrics from ``hits [users, K]`` (bool, ranked) and ``num_relevant [users]``.

    Returns ``{"ndcg@10": [users], ...}``; ``xp`` is ``jnp`` or ``np``.
    """
    hits = hits.astype(xp.float32)
    kmax = hits.shape[1]
    if max(ks) > kmax:
        raise ValueError(f"metric cut-off {max(ks)} exceeds the ranked list length {kmax}")
    ranks = xp.arange(1, kmax + 1, dtype=xp.float32)
    discount = 1.0 / xp.log2(ranks + 1.0)
    cum_hits = xp.cumsum(hits, axis=1)
    cum_dcg = xp.cumsum(hits * discount, axis=1)
    cum_idcg = xp.cumsum(discount)
    first_rr = hits / ranks
    n = xp.maximum(num_relevant.astype(xp.float32), 1.0)
    out = {}
    for k in ks:
        h = cum_hits[:, k - 1]
        for name in names:
            if name == "recall":
                v = h / n
            elif name == "precision":
                v = h / k
            elif name == "hit":
                v = (h > 0).astype(xp.float32)
            elif name == "mrr":
                v = xp.max(first_rr[:, :k], axis=1)
            elif name == "ndcg":
                ideal = cum_idcg[xp.minimum(num_relevant, k).astype(xp.int32) - 1]
                v = xp.where(num_relevant > 0, cum_dcg[:, k - 1] / ideal, 0.0)
            else:
                raise ValueError(f"metric {name!r} is unknown; valid: {RANKING_METRICS}")
            out[f"{name}@{k}"] = v
    return out


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U, ties counted half)."""
    labels = np.asarray(labels).astype(bool)
    pos, neg = labels.sum(), (~labels).sum()
    if pos == 0 or neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    s = np.asarray(scores)[order]
    ranks = np.empty(len(s))
    # Average ranks over ties.
    _, start, counts = np.unique(s, return_index=True, return_counts=True)
    avg = start + (counts + 1) / 2.0
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[labels].sum() - pos * (pos + 1) / 2) / (pos * neg))


def classification_metrics(labels: np.ndarray, logits: np.ndarray) -> dict[str, float]:
    """``auc``, ``accuracy`` (logit > 0) and ``logloss`` of binary labels."""
    labels = np.asarray(labels, np.float64)
    logits = np.asarray(logits, np.float64)
    logloss = np.mean(np.logaddexp(0, logits) - labels * logits)
    return {"auc": auc(labels, logits), "accuracy": float(np.mean((logits > 0) == labels)),
            "logloss": float(logloss)}
