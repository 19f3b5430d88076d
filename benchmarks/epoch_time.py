"""Seconds per training epoch on ml-100k, with the thread count fixed, nothing else running.

    .venv/bin/python benchmarks/epoch_time.py [--cores 1 2] [--epochs 20]

Each model trains ``--epochs`` epochs (no early stopping) in its own process pinned to
``cores`` CPU cores (``os.sched_setaffinity`` before JAX starts: XLA sizes its thread pool from
the affinity). Reported: median training epoch after the first (compilation), median full
ranking of the 943 validation users, and compile time. Same protocol as
``ml100k_models.py``: batch 2048, 64-d, Adam.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from ml100k_models import MODELS  # noqa: E402

CHILD = r"""
import json, os, sys
cores = int(sys.argv[4])
os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:cores]))
import numpy as np
from recjax.config.schema import DataConfig, ExperimentConfig, ModelConfig, TrainConfig
from recjax.experiment import prepare
from recjax.train.loop import fit
model_kw, train_kw, epochs = json.loads(sys.argv[1]), json.loads(sys.argv[2]), int(sys.argv[3])
cfg = ExperimentConfig(data=DataConfig(name="ml-100k"),
                       model=ModelConfig(dim=64, init_std=0.05, **model_kw),
                       train=TrainConfig(batch_size=2048, epochs=epochs, patience=epochs + 1,
                                         **train_kw))
p = prepare(cfg, progress=False)
r = fit(p.model, p.graph, p.features, p.split, cfg.train, cfg.eval, progress=False)
train = [h["train_seconds"] for h in r.history[1:]]
ev = [h["eval_seconds"] for h in r.history[1:]]
print(json.dumps({"epoch_s": float(np.median(train)), "eval_s": float(np.median(ev)),
                  "compile_s": r.history[0]["train_seconds"] - float(np.median(train))}))
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cores", type=int, nargs="+", default=[1, 2])
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--models", nargs="+", default=list(MODELS))
    args = p.parse_args()
    from recjax.tables import format_table

    rows = []
    for name in args.models:
        model_kw, train_kw = MODELS[name]
        cells = []
        for cores in args.cores:
            proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps(model_kw),
                                   json.dumps(train_kw), str(args.epochs), str(cores)],
                                  capture_output=True, text=True)
            if proc.returncode:
                raise RuntimeError(proc.stderr[-2000:])
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            cells += [f"{r['epoch_s']:.3f}", f"{r['eval_s']:.3f}"]
        rows.append((name, *cells, f"{r['compile_s']:.1f}"))
        print(name, cells, file=sys.stderr, flush=True)
    headers = ["model"]
    for c in args.cores:
        headers += [f"s/epoch, {c} core(s)", f"eval s, {c} core(s)"]
    print(f"machine: {platform.machine()}; XLA CPU pinned to the given cores; "
          f"{args.epochs} epochs, medians")
    print(format_table(rows, [*headers, "compile s"], markdown=True))


if __name__ == "__main__":
    main()
