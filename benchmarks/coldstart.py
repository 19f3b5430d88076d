"""Cold start on ml-100k: warm vs cold items (and users), baselines and our models, 3 seeds.

    .venv/bin/python benchmarks/coldstart.py [--seeds 0 1 2] [--kind cold_item cold_user]

Split: 20% of the items (or users) held out of train entirely, half of them in valid and half
in test; the rest split per user 8:1:1. The seed sets both the split and training. Test
metrics: warm = ranking warm items (users) only, cold = ranking cold items only (cold users),
see recjax.eval.coldstart. Models are selected on valid NDCG@10; held-out users/items are
then embedded as new ones (zero ID row, their text where the model reads text). The text
models train with 30% of rows scored edge-free (cold_user/item_dropout). Prints Markdown tables
and writes benchmarks/results/coldstart.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

SOFTMAX = {"loss": "softmax", "num_negatives": 1024, "shared_negatives": True,
           "reject_positives": True, "temperature": 0.2, "reg_weight": 0.0}
COLD = {**SOFTMAX, "cold_user_dropout": 0.3, "cold_item_dropout": 0.3}
METHODS = {
    "LightGCN (IDs only)": ({"name": "lightgcn", "num_layers": 2}, SOFTMAX),
    "text_gnn (IDs + text)": ({"name": "text_gnn", "num_layers": 2}, COLD),
    "text_gnn inductive (text only)": ({"name": "text_gnn", "num_layers": 2,
                                        "inductive": True, "text_hidden": 256}, COLD),
}


def forget_cold(params, split):
    """A held-out user or item is new: it has no ID embedding row of its own. Zero the rows
    the model allocated for them (trained only as sampled negatives), as a new node's input
    is built (``Recommender.new_node_inputs``: zero ID, plus text where the model has it)."""
    ids = params["params"].get("id")
    if ids is None:
        return params
    ids = dict(ids)
    for kind, cold in (("item", split.cold_item_ids), ("user", split.cold_user_ids)):
        if len(cold):
            table = ids[kind]["embedding"].at[cold].set(0.0)
            ids[kind] = {"embedding": table}
    return {"params": {**params["params"], "id": ids}}


def run_seed(kind: str, seed: int) -> dict:
    from recjax.config.schema import (
        DataConfig,
        ExperimentConfig,
        ModelConfig,
        SplitConfig,
        TrainConfig,
    )
    from recjax.eval.coldstart import cold_tasks, evaluate_cold, popularity_scores, text_knn_scores
    from recjax.experiment import prepare
    from recjax.train.loop import fit

    data = DataConfig(name="ml-100k", split=SplitConfig(method=kind, cold_fraction=0.2,
                                                        seed=seed))
    out = {}
    base = prepare(ExperimentConfig(data=data, model=ModelConfig(name="text_gnn")), False)
    tasks = cold_tasks(base.split)
    out["Popularity"] = evaluate_cold(*popularity_scores(base.split), tasks)
    out["Text kNN (MiniLM)"] = evaluate_cold(
        *text_knn_scores(base.split, base.item_text, base.user_text), tasks)
    for name, (model_kw, train_kw) in METHODS.items():
        cfg = ExperimentConfig(data=data, model=ModelConfig(dim=64, init_std=0.05, **model_kw),
                               train=TrainConfig(epochs=300, patience=10, seed=seed,
                                                 **train_kw))
        p = prepare(cfg, False)
        r = fit(p.model, p.graph, p.features, p.split, cfg.train, cfg.eval, progress=False)
        user_emb, item_emb = p.model.apply(forget_cold(r.params, p.split), p.graph,
                                           p.features)
        out[name] = evaluate_cold(user_emb, item_emb, tasks)
        print(f"{kind} seed {seed} {name}: cold NDCG@10 {out[name]['cold']['ndcg@10']:.4f}, "
              f"warm {out[name]['warm']['ndcg@10']:.4f}", file=sys.stderr, flush=True)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--kind", nargs="+", default=["cold_item", "cold_user"])
    args = p.parse_args()
    from recjax.tables import format_table

    results = {kind: [run_seed(kind, s) for s in args.seeds] for kind in args.kind}
    for kind, per_seed in results.items():
        rows = []
        for method in per_seed[0]:
            cells = []
            for part in ("warm", "cold"):
                for metric in ("ndcg@10", "recall@20"):
                    v = np.array([r[method][part][metric] for r in per_seed])
                    cells.append(f"{v.mean():.4f} ± {v.std(ddof=1):.4f}" if len(v) > 1
                                 else f"{v.mean():.4f}")
            rows.append((method, *cells))
        what = "items" if kind == "cold_item" else "users"
        print(f"\n{kind}: 20% of {what} held out; seeds {args.seeds}; mean ± std")
        print(format_table(rows, ["method", "warm NDCG@10", "warm Recall@20",
                                  f"cold-{what[:-1]} NDCG@10", f"cold-{what[:-1]} Recall@20"],
                           markdown=True))
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "coldstart.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
