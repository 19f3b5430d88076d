"""Cold-start evaluation: metrics on cold items (or users) apart from warm ones, and the two
baselines every cold-start claim must beat.

For a cold-item split, the warm test ranks warm items only and the cold test ranks cold items
only (a user's relevant items of the other kind are left out), so the two numbers answer "how
well are known items ranked" and "how well are never-seen items ranked" separately. For a
cold-user split, warm and cold users are told apart and every item is a candidate.

Baselines (scores as ``(user_emb, item_emb)`` pairs, so they share the ranking code):

* popularity: the item's train degree. It cannot rank an unseen item at all: every cold item
  scores 0 and the order among them is arbitrary.
* text kNN: ``item_text . mean(text of the user's train items)`` (for a cold user with no train
  items, the user's own profile text).
"""

from __future__ import annotations

import numpy as np

from recjax.eval.ranking import Ranker, prepare_ranking
from recjax.types import Split


def cold_tasks(split: Split, chunk_size: int = 256) -> dict:
    """``{"warm": task, "cold": task}`` on the test part (history: train + valid)."""
    history = [split.train, split.valid]
    test = split.test
    if len(split.cold_item_ids):
        cold = np.zeros(test.num_items, bool)
        cold[split.cold_item_ids] = True
        return {"warm": prepare_ranking(test, history, chunk_size, candidates=~cold),
                "cold": prepare_ranking(test, history, chunk_size, candidates=cold)}
    if len(split.cold_user_ids):
        cold_u = np.zeros(test.num_users, bool)
        cold_u[split.cold_user_ids] = True
        rows = cold_u[test.user_ids]
        return {"warm": prepare_ranking(test.take(np.nonzero(~rows)[0]), history, chunk_size),
                "cold": prepare_ranking(test.take(np.nonzero(rows)[0]), history, chunk_size)}
    raise ValueError("the split has no cold items or users (use split method cold_item or "
                     "cold_user)")


def evaluate_cold(user_emb, item_emb, tasks: dict, ks=(10, 20)) -> dict[str, dict[str, float]]:
    """Metrics per task; exact ties are broken at random, not by item index (see Ranker)."""
    ranker = Ranker(tuple(ks), tie_noise=1e-6)
    return {name: ranker(user_emb, item_emb, task) for name, task in tasks.items()}


def popularity_scores(split: Split) -> tuple[np.ndarray, np.ndarray]:
    """``(user_emb [num_users, 1], item_emb [num_items, 1])`` whose products are train degree."""
    degree = np.bincount(split.train.item_ids, minlength=split.train.num_items)
    return (np.ones((split.train.num_users, 1), np.float32),
            degree.astype(np.float32)[:, None])


def text_knn_scores(split: Split, item_text: np.ndarray, user_text: np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """``(user_emb, item_emb)``: normalised item texts and, per user, the normalised mean of
    their train items' texts (their own text when they have no train items)."""
    unit = lambda x: x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)
    items = unit(np.asarray(item_text, np.float32))
    tr = split.train
    sums = np.zeros((tr.num_users, items.shape[1]), np.float32)
    np.add.at(sums, tr.user_ids, items[tr.item_ids])
    counts = np.bincount(tr.user_ids, minlength=tr.num_users)
    users = sums / np.maximum(counts, 1)[:, None]
    if user_text is not None:
        own = unit(np.asarray(user_text, np.float32))
        users = np.where(counts[:, None] > 0, users, own)
    return unit(users), items
