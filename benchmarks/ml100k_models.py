"""Our models on ml-100k under RecBole's protocol, side by side with RecBole 1.2.1's numbers.

    .venv/bin/python benchmarks/ml100k_models.py [--seeds 2020 2021 2022] [--models ...]

Protocol: every rating an interaction, per-user random 8:1:1 split (seed 2020), embedding 64,
batch 2048, Adam 1e-3, full ranking, test metrics at the best validation NDCG@10 (patience 10).
Each (model, training seed) runs in its own process, so peak memory (max RSS) is per run.
Timings: XLA on all cores of this machine; "s/epoch" is a training epoch after compilation;
"total s" is the whole fit (compilation, training, every evaluation), not data loading or text
encoding (cached). Prints a Markdown table, writes benchmarks/results/ml100k_models.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np

BPR = {"loss": "bpr", "reject_positives": True, "reg_weight": 1e-5}
SOFTMAX = {"loss": "softmax", "num_negatives": 1024, "shared_negatives": True,
           "reject_positives": True, "temperature": 0.2, "reg_weight": 0.0}
MODELS = {
    "BPR-MF": ({"name": "mf"}, BPR),
    "LightGCN, 2 layers": ({"name": "lightgcn", "num_layers": 2}, BPR),
    "LightGCN, 3 layers": ({"name": "lightgcn", "num_layers": 3}, BPR),
    "NGCF": ({"name": "ngcf", "num_layers": 3, "dropout": 0.1}, BPR),
    "GAT, 2 layers": ({"name": "gat", "num_layers": 2}, BPR),
    "LightGCN, 3 layers, softmax": ({"name": "lightgcn", "num_layers": 3}, SOFTMAX),
    "text_gnn (MiniLM + LightGCN-3), softmax": ({"name": "text_gnn", "num_layers": 3},
                                                 SOFTMAX),
}
RECBOLE = [  # measured by the issue's author with RecBole 1.2.1, torch CPU, one thread
    ("RecBole BPR", 0.2931, 0.3647, 0.19, 75, 22.9),
    ("RecBole LightGCN, 3 layers", 0.2662, 0.3315, 1.76, 97, 191),
    ("RecBole LightGCN, 2 layers", 0.3050, 0.3789, 1.54, 204, 342),
    ("RecBole NGCF", 0.3070, 0.3803, 2.52, 118, 320),
]

CHILD = r"""
import json, resource, sys
from recjax.config.schema import DataConfig, ModelConfig, TrainConfig
from recjax.experiment import prepare
from recjax.config.schema import ExperimentConfig
from recjax.train.loop import fit
model_kw, train_kw, seed = json.loads(sys.argv[1]), json.loads(sys.argv[2]), int(sys.argv[3])
cfg = ExperimentConfig(data=DataConfig(name="ml-100k"),
                       model=ModelConfig(dim=64, init_std=0.05, **model_kw),
                       train=TrainConfig(batch_size=2048, learning_rate=1e-3, epochs=400,
                                         patience=10, seed=seed, **train_kw))
p = prepare(cfg, progress=False)
r = fit(p.model, p.graph, p.features, p.split, cfg.train, cfg.eval, progress=False)
t = r.timings
n = t["epochs"]
steady = [h["train_seconds"] for h in r.history[1:]]
print(json.dumps({"ndcg@10": r.test["ndcg@10"], "recall@20": r.test["recall@20"],
    "valid_ndcg@10": r.valid["ndcg@10"], "epochs": n, "best_epoch": r.best_epoch,
    "s_per_epoch": sum(steady) / max(len(steady), 1), "eval_s": t["eval"] / n,
    "compile_s": t["first_epoch"] - (sum(steady) / max(len(steady), 1)),
    "total_s": t["total"], "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run(model_kw, train_kw, seed) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps(model_kw),
                           json.dumps(train_kw), str(seed)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def ms(values, digits=4):
    v = np.asarray(values, float)
    return f"{v.mean():.{digits}f} ± {v.std(ddof=1):.{digits}f}" if len(v) > 1 else \
        f"{v.mean():.{digits}f}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[2020, 2021, 2022])
    p.add_argument("--models", nargs="+", default=list(MODELS))
    args = p.parse_args()
    from recjax.tables import format_table

    results = {}
    for name in args.models:
        model_kw, train_kw = MODELS[name]
        results[name] = []
        for seed in args.seeds:
            r = run(model_kw, train_kw, seed)
            results[name].append(r)
            print(f"{name} seed {seed}: NDCG@10 {r['ndcg@10']:.4f}, {r['epochs']} epochs, "
                  f"{r['total_s']:.1f} s", file=sys.stderr, flush=True)
    rows = []
    for name, rs in results.items():
        get = lambda k, rs=rs: [r[k] for r in rs]
        rows.append((f"recjax {name}", ms(get("ndcg@10")), ms(get("recall@20")),
                     ms(get("s_per_epoch"), 3), ms(get("epochs"), 0), ms(get("total_s"), 1),
                     ms(get("compile_s"), 1), ms(get("eval_s"), 3), ms(get("peak_mb"), 0)))
    for name, ndcg, rec, spe, ep, total in RECBOLE:
        rows.append((name, f"{ndcg:.4f}", f"{rec:.4f}", f"{spe:.2f}", str(ep), f"{total:.1f}",
                     "-", "-", "-"))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; recjax on XLA CPU (all "
          f"cores); seeds {args.seeds} (training seed; split seed 2020); mean ± std")
    print(format_table(rows, ["model", "NDCG@10", "Recall@20", "s/epoch", "epochs",
                              "total s", "compile s", "eval s", "peak MB"], markdown=True))
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "ml100k_models.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
