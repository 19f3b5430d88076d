"""Why RecBole's Pop scores far below ours on the same split (0.0625 vs 0.1313 test NDCG@10).

    .venv/bin/python benchmarks/recbole_pop_check.py

RecBole's ``Pop.calculate_loss`` counts with ``item_cnt[item, :] = item_cnt[item, :] + 1``
over each training batch; with repeated items in a batch, index assignment writes once per
distinct index, so an item's "count" is the number of batches it appears in (at most 40 with
batch 2048 on ml-100k) and the popular items tie. This script ranks ml-100k's test users
(split seed 2020) by true train counts and by such batch-presence counts (one random batch
order; RecBole's own order and tie-breaking differ, so its exact number is not reproduced).
"""

from __future__ import annotations

import numpy as np

from recjax.config.schema import DataConfig, EvalConfig
from recjax.data.datasets import load
from recjax.train.loop import Evaluator


def main() -> None:
    _, split = load(DataConfig())
    train = split.train
    evaluator = Evaluator(split, EvalConfig(), False, 4.0)
    ones = np.ones((train.num_users, 1), np.float32)
    counts = np.bincount(train.item_ids, minlength=train.num_items).astype(np.float32)
    order = np.random.default_rng(0).permutation(len(train))
    presence = np.zeros(train.num_items, np.float32)
    for start in range(0, len(order), 2048):
        presence[np.unique(train.item_ids[order[start:start + 2048]])] += 1
    tied = int((presence == presence.max()).sum())
    for name, scores in (("true train counts (recjax pop)", counts),
                         (f"batch-presence counts (max {presence.max():.0f}, {tied} items tied)",
                          presence)):
        print(f"{name}: test NDCG@10 {evaluator(ones, scores[:, None], 'test')['ndcg@10']:.4f}")


if __name__ == "__main__":
    main()
