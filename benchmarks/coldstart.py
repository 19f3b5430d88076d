"""Cold start on ml-100k: warm vs cold items (and users), baselines and our models, 3 seeds.

    .venv/bin/python benchmarks/coldstart.py [--seeds 0 1 2] [--kind cold_item cold_user] \
        [--methods lightgcn text_gnn inductive] [--from-json]

Split: 20% of the items (or users) held out of train entirely, half of them in valid and half
in test; the rest split per user 8:1:1. The seed sets both the split and training. Test
metrics: warm = ranking warm items (users) only, cold = ranking cold items only (cold users),
see recjax.eval.coldstart. Models are selected on valid NDCG@10; held-out users/items are
then embedded as new ones (zero ID row, their text where the model reads text). The text
models train with 30% of rows scored edge-free (cold_user/item_dropout; a dropped item row
is scored edge-free on both sides: its positive and its negatives).

Rows (``--methods``): the protocol's three (``lightgcn``, ``text_gnn``, ``inductive``: 2
layers, sampled softmax at temperature 0.2) and issue #14's ablation rows with
``ml100k_text_gnn``'s tuned recipe (4 layers, lr 5.2e-4, temperature 0.113): ``ids_only``,
``frozen_text``, ``align``, ``top1_finetuned``, ``lora`` (not ``semantic_edges``: text edges
would train held-out items, so ``prepare`` refuses them in cold-item splits). Popularity and
text kNN are always computed. Results accumulate in benchmarks/results/coldstart.json
(``{kind: {seed: {method: metrics}}}``; a rerun replaces what it recomputes), and the tables
print every method found there for the requested seeds; ``--from-json`` only prints.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results" / "coldstart.json"
SOFTMAX = {"loss": "softmax", "num_negatives": 1024, "shared_negatives": True,
           "reject_positives": True, "temperature": 0.2, "reg_weight": 0.0}
COLD = {**SOFTMAX, "cold_user_dropout": 0.3, "cold_item_dropout": 0.3}
# ml100k_text_gnn's tuned recipe (conf/experiment/ml100k_text_gnn.yaml), as the ablation runs it
TUNED = {**SOFTMAX, "learning_rate": 0.0005197037512190585, "temperature": 0.1133992601835869}
TUNED_COLD = {**TUNED, "cold_user_dropout": 0.3, "cold_item_dropout": 0.3}
TEXT4 = {"name": "text_gnn", "num_layers": 4, "fusion": "add"}
E2E = {**TEXT4, "text_tower": "top_k", "text_layers": 1, "text_refresh_rows": 16}
METHODS = {
    "lightgcn": ("LightGCN (IDs only)", {"name": "lightgcn", "num_layers": 2}, SOFTMAX),
    "text_gnn": ("text_gnn (IDs + text)", {"name": "text_gnn", "num_layers": 2}, COLD),
    "inductive": ("text_gnn inductive (text only)",
                  {"name": "text_gnn", "num_layers": 2, "inductive": True, "text_hidden": 256},
                  COLD),
    "ids_only": ("ablation: IDs only", {"name": "lightgcn", "num_layers": 4}, TUNED),
    "frozen_text": ("ablation: frozen text", TEXT4, TUNED_COLD),
    "align": ("ablation: + alignment", {**TEXT4, "align_weight": 0.1}, TUNED_COLD),
    "top1_finetuned": ("ablation: top-1 layer fine-tuned", E2E,
                       {**TUNED_COLD, "text_learning_rate": 1e-4}),
    "lora": ("ablation: LoRA r8, top 2 layers",
             {**E2E, "text_tower": "lora", "text_layers": 2, "lora_rank": 8,
              "text_refresh_rows": 8}, {**TUNED_COLD, "text_learning_rate": 1e-4}),
}
BASELINES = ("Popularity", "Text kNN (MiniLM)")


def run_seed(kind: str, seed: int, methods: list[str]) -> dict:
    from recjax.config.schema import (
        DataConfig,
        ExperimentConfig,
        ModelConfig,
        SplitConfig,
        TrainConfig,
    )
    from recjax.eval.coldstart import cold_tasks, evaluate_cold, popularity_scores, text_knn_scores
    from recjax.experiment import prepare
    from recjax.models.recommender import drop_id_rows
    from recjax.train.loop import fit

    data = DataConfig(name="ml-100k", split=SplitConfig(method=kind, cold_fraction=0.2,
                                                        seed=seed))
    out = {}
    base = prepare(ExperimentConfig(data=data, model=ModelConfig(name="text_gnn")), False)
    tasks = cold_tasks(base.split)
    out["Popularity"] = evaluate_cold(*popularity_scores(base.split), tasks)
    out["Text kNN (MiniLM)"] = evaluate_cold(
        *text_knn_scores(base.split, base.item_text, base.user_text), tasks)
    for key in methods:
        name, model_kw, train_kw = METHODS[key]
        cfg = ExperimentConfig(data=data, model=ModelConfig(dim=64, init_std=0.05, **model_kw),
                               train=TrainConfig(epochs=300, patience=10, seed=seed,
                                                 **train_kw))
        p = prepare(cfg, False)
        r = fit(p.model, p.graph, p.features, p.split, cfg.train, cfg.eval, progress=False)
        # held-out nodes are new: no ID row of their own (their rows were never trained:
        # negatives come from warm items only), their text where the model reads it
        params = drop_id_rows(r.params, p.split.cold_user_ids, p.split.cold_item_ids)
        user_emb, item_emb = p.model.apply(params, p.graph, p.features)
        out[name] = evaluate_cold(user_emb, item_emb, tasks)
        print(f"{kind} seed {seed} {name}: cold NDCG@10 {out[name]['cold']['ndcg@10']:.4f}, "
              f"warm {out[name]['warm']['ndcg@10']:.4f} (best epoch {r.best_epoch})",
              file=sys.stderr, flush=True)
    return out


def tables(results: dict, kinds: list[str], seeds: list[int]) -> None:
    from recjax.tables import format_table

    for kind in kinds:
        per_seed = results.get(kind, {})
        order = [*BASELINES, *(m[0] for m in METHODS.values())]
        rows = []
        for method in order:
            have = [s for s in seeds if method in per_seed.get(str(s), {})]
            if not have:
                continue
            cells = []
            for part in ("warm", "cold"):
                for metric in ("ndcg@10", "recall@20"):
                    v = np.array([per_seed[str(s)][method][part][metric] for s in have])
                    cells.append(f"{v.mean():.4f} ± {v.std(ddof=1):.4f}" if len(v) > 1
                                 else f"{v.mean():.4f}")
            rows.append((method, ",".join(map(str, have)), *cells))
        what = "items" if kind == "cold_item" else "users"
        print(f"\n{kind}: 20% of {what} held out; mean ± std over the seeds listed")
        print(format_table(rows, ["method", "seeds", "warm NDCG@10", "warm Recall@20",
                                  f"cold-{what[:-1]} NDCG@10", f"cold-{what[:-1]} Recall@20"],
                           markdown=True))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--kind", nargs="+", default=["cold_item", "cold_user"],
                   choices=["cold_item", "cold_user"])
    p.add_argument("--methods", nargs="+", default=["lightgcn", "text_gnn", "inductive"],
                   choices=list(METHODS))
    p.add_argument("--from-json", action="store_true", help="print the stored results only")
    args = p.parse_args()
    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    if isinstance(next(iter(results.values()), {}), list):
        sys.exit(f"{RESULTS} is in the format before named rows; move it away to start afresh")
    if not args.from_json:
        for kind in args.kind:
            for s in args.seeds:
                results = store(kind, s, run_seed(kind, s, args.methods))
    tables(results, args.kind, args.seeds)


def store(kind: str, seed: int, got: dict) -> dict:
    """Merge one seed's results into the file under a lock (read, update, write), so several
    processes (e.g. one seed per core) can add to it; written after every seed, so an
    interrupted run keeps the seeds it finished."""
    import fcntl

    RESULTS.parent.mkdir(exist_ok=True)
    with open(RESULTS.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
        results.setdefault(kind, {}).setdefault(str(seed), {}).update(got)
        tmp = RESULTS.with_suffix(f".json.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(results, indent=1))
        tmp.replace(RESULTS)
    return results


if __name__ == "__main__":
    main()
