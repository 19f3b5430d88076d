"""Closed-form baselines (EASE, ItemKNN, Pop) on ml-100k under recjax's own protocol.

    .venv/bin/python benchmarks/ease_check.py [--seeds 2020 2021 2022] [--json PATH]

Data: ``recjax.data.datasets.load(DataConfig(split=SplitConfig(seed=s)))``: ml-100k, every
rating an interaction, per-user random 8:1:1 split. X is the dense binary train matrix.
EASE's ``l2`` and ItemKNN's ``(k, shrink)`` are chosen on valid NDCG@10 over the grids below;
for the chosen setting, valid and test NDCG@10 and Recall@20 come from recjax's ``Ranker``
with the tasks built as ``recjax.train.loop.Evaluator`` builds them (full ranking, default
``EvalConfig``; valid masks train, test masks train + valid),
with ``user_emb = X, item_emb = B.T`` (EASE, ItemKNN) and ``user_emb = 1, item_emb =
popularity`` (Pop). Prints a Markdown table; ``--json`` also writes the rows.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from recjax.config.schema import DataConfig, EvalConfig, SplitConfig
from recjax.data.datasets import load
from recjax.eval.ranking import Ranker, prepare_ranking
from recjax.models import closed_form_math as cf
from recjax.types import Split

EASE_L2 = (10.0, 50.0, 100.0, 200.0, 300.0, 500.0, 1000.0, 2000.0)
KNN_K = (10, 20, 50, 100, 200)
KNN_SHRINK = (0.0, 10.0, 50.0, 100.0)
SELECT = "ndcg@10"
REPORT = ("ndcg@10", "recall@20")


def fit_candidates(x, name: str):
    """Yield ``(setting, user_emb, item_emb)`` for every grid point of ``name``."""
    if name == "EASE":
        for l2 in EASE_L2:
            yield {"l2": l2}, x, cf.ease_weights(x, l2).T
    elif name == "ItemKNN":
        for k in KNN_K:
            for shrink in KNN_SHRINK:
                yield {"k": k, "shrink": shrink}, x, cf.itemknn_weights(x, k, shrink).T
    else:
        yield {}, jnp.ones((x.shape[0], 1), jnp.float32), cf.popularity(x)[:, None]


class Evaluator:
    """Valid/test ranking of one split, built exactly as ``recjax.train.loop.Evaluator`` builds
    it (kept here so this script does not import the training loop)."""

    def __init__(self, split: Split, cfg: EvalConfig = EvalConfig()):
        self.ranker = Ranker(tuple(cfg.ks), tuple(cfg.metrics))
        self.tasks = {
            "valid": prepare_ranking(split.valid, [split.train], cfg.chunk_size),
            "test": prepare_ranking(split.test, [split.train, split.valid], cfg.chunk_size),
        }

    def __call__(self, user_emb, item_emb, part: str) -> dict[str, float]:
        return self.ranker(user_emb, item_emb, self.tasks[part])


def select(x, evaluator: Evaluator, name: str) -> dict:
    """The grid point with the best valid NDCG@10, with its valid and test metrics."""
    best, t0 = None, time.perf_counter()
    for setting, user_emb, item_emb in fit_candidates(x, name):
        valid = evaluator(user_emb, item_emb, "valid")
        if best is None or valid[SELECT] > best["valid"][SELECT]:
            best = {
                "setting": setting,
                "valid": valid,
                "test": evaluator(user_emb, item_emb, "test"),
            }
    best["seconds"] = time.perf_counter() - t0
    return best


def run_seed(seed: int) -> list[dict]:
    _, split = load(DataConfig(split=SplitConfig(seed=seed)))
    train = split.train
    for what in ("EASE", "ItemKNN"):
        cf.check_fits(train.num_items, what, num_users=train.num_users)
    x = cf.interaction_matrix(train.user_ids, train.item_ids, train.num_users, train.num_items)
    evaluator = Evaluator(split)
    rows = []
    for name in ("EASE", "ItemKNN", "Pop"):
        best = select(x, evaluator, name)
        rows.append(
            {
                "model": name,
                "seed": seed,
                "setting": best["setting"],
                "seconds": round(best["seconds"], 2),
                **{f"valid {m}": best["valid"][m] for m in REPORT},
                **{f"test {m}": best["test"][m] for m in REPORT},
            }
        )
        print(f"seed {seed} {name}: {rows[-1]}", flush=True)
    return rows


def table(rows: list[dict]) -> str:
    cols = [f"{p} {m}" for p in ("valid", "test") for m in REPORT]
    lines = [
        "| model | seed | chosen on valid | " + " | ".join(cols) + " | grid s |",
        "|---" * (len(cols) + 4) + "|",
    ]
    for r in rows:
        setting = ", ".join(f"{k}={v:g}" for k, v in r["setting"].items()) or "-"
        lines.append(
            f"| {r['model']} | {r['seed']} | {setting} | "
            + " | ".join(f"{r[c]:.4f}" for c in cols)
            + f" | {r['seconds']:.1f} |"
        )
    for name in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == name]
        means = [np.mean([r[c] for r in mine]) for c in cols]
        stds = [np.std([r[c] for r in mine]) for c in cols]
        lines.append(
            f"| {name} | mean ± sd | | "
            + " | ".join(f"{m:.4f} ± {s:.4f}" for m, s in zip(means, stds))
            + " | |"
        )
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[2020, 2021, 2022])
    p.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = p.parse_args()
    rows = [r for seed in args.seeds for r in run_seed(seed)]
    print()
    print(table(rows))
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
