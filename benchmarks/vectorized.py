"""Vectorised sweep vs separate runs: N configurations of LightGCN on ml-100k.

    .venv/bin/python benchmarks/vectorized.py [--n 4 8] [--epochs 30]

Each configuration is a seed (and, for N = 8, two learning rates x four seeds). Separate runs
train one after another in this process (compilation counted once per run, as a fresh job
would pay it); the vectorised run trains all N in one program. Early stopping is off (fixed
epochs) so both do the same work. Prints a Markdown table and the largest metric difference
between the two ways.
"""

from __future__ import annotations

import argparse
import os
import platform
import time


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, nargs="+", default=[4, 8])
    p.add_argument("--epochs", type=int, default=30)
    args = p.parse_args()
    import jax

    from recjax.config.schema import DataConfig, ExperimentConfig, ModelConfig, TrainConfig
    from recjax.experiment import prepare
    from recjax.tables import format_table
    from recjax.train.loop import fit
    from recjax.train.sweep import expand, fit_vectorized

    cfg = ExperimentConfig(data=DataConfig(name="ml-100k"),
                           model=ModelConfig(name="lightgcn", num_layers=2, init_std=0.05),
                           train=TrainConfig(epochs=args.epochs, patience=args.epochs + 1,
                                             reg_weight=1e-5, reject_positives=True))
    prep = prepare(cfg, False)
    rows = []
    for n in args.n:
        sweep = ({"seed": list(range(n))} if n <= 4 else
                 {"seed": [s % 4 for s in range(n)],
                  "learning_rate": [1e-3 if s < n // 2 else 2e-3 for s in range(n)]})
        jax.clear_caches()
        t = time.perf_counter()
        separate = [fit(prep.model, prep.graph, None, prep.split, c, cfg.eval, progress=False)
                    for c in expand(cfg.train, sweep)]
        t_sep = time.perf_counter() - t
        jax.clear_caches()
        t = time.perf_counter()
        together = fit_vectorized(prep.model, prep.graph, None, prep.split, cfg.train, sweep,
                                  cfg.eval)
        t_vec = time.perf_counter() - t
        diff = max(abs(a.test[k] - b.test[k]) for a, b in zip(separate, together, strict=True)
                   for k in a.test)
        rows.append((n, ", ".join(f"{k}: {len(set(v))}" for k, v in sweep.items()),
                     f"{t_sep:.1f}", f"{t_vec:.1f}", f"{t_sep / t_vec:.2f}x", f"{diff:.1e}"))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; LightGCN-2 on ml-100k, "
          f"{args.epochs} epochs each, evaluation every epoch")
    print(format_table(rows, ["configurations", "varied", "separate s", "vectorised s",
                              "speed-up", "max |test metric diff|"], markdown=True))


if __name__ == "__main__":
    main()
