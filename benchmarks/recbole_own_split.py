"""recjax's classic models on RecBole's *own* ml-100k split: the split issue #11's targets
(BPR-MF 0.293, LightGCN 0.305, NGCF 0.307 test NDCG@10) were measured on.

    .venv/bin/python benchmarks/recbole_own_split.py --recbole-python ../rbvenv/bin/python \
        [--models mf lightgcn ngcf] [--seeds 0 1 2] [--verify BPR] \
        [--out benchmarks/results/recbole_own_split.json]

RecBole (in its own Python, ``recbole_split_child.py``) builds its default split of its
bundled ml-100k (RS 8:1:1 per user, random order, seed 2020, no filtering) and writes the
three parts with raw ids; ``--verify BPR`` also trains RecBole's BPR there with RecBole's
defaults, to show that this is the split the targets come from. recjax then reads the parts
(``recbole_same_split.read_split``), checks that together they are exactly recjax's cleaned
ml-100k, builds the graph from the train part only and trains each model with its experiment
file plus the overrides of ``conf/bench/suite/ml100k_protocol.yaml`` (RecBole's protocol:
BPR, Adam 1e-3, L2 1e-5, batch 2048, dim 64, patience 10, RecBole's layers and inits),
training seeds ``--seeds``. Model selection on valid NDCG@10 only. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from recbole_same_split import read_split  # noqa: E402

from recjax.experiment import prepare  # noqa: E402
from recjax.graph import build_graph  # noqa: E402
from recjax.train.loop import fit  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CHILD = Path(__file__).with_name("recbole_split_child.py")
EXPERIMENTS = {"mf": "ml100k_mf", "lightgcn": "ml100k_lightgcn", "ngcf": "ml100k_ngcf"}
TARGETS = {"mf": 0.293, "lightgcn": 0.305, "ngcf": 0.307}


def protocol_overrides(model: str) -> list[str]:
    """The protocol suite's shared and per-model overrides (one source of truth)."""
    import yaml

    suite = yaml.safe_load((ROOT / "conf/bench/suite/ml100k_protocol.yaml").read_text())
    entry = next(e for e in suite["entries"] if e["name"] == model)
    return [*suite["overrides"], *entry.get("overrides", [])]


def compose(model: str, seed: int, extra=()):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from experiments.config import CONF_DIR, register, to_experiment

    register()
    overrides = [f"experiment={EXPERIMENTS[model]}", *protocol_overrides(model),
                 f"train.seed={seed}", *extra]
    with initialize_config_dir(config_dir=CONF_DIR, version_base=None):
        return to_experiment(hydra_compose("config", overrides=overrides)), overrides


def recbole_stopping() -> None:
    """Patch recjax's EarlyStopping to RecBole 1.2.1's ``early_stopping`` (utils.py)."""
    from recjax.train import loop

    def update(self, score, epoch):
        score = round(float(score), 4)  # RecBole's metric_decimal_place
        if score >= self.best:
            self.best, self.best_epoch, self.since_best = score, epoch, 0
            return True
        self.since_best += 1
        return False

    loop.EarlyStopping.update = update
    loop.EarlyStopping.stopped = property(lambda self: self.since_best > self.patience)


def pairs(inter) -> set:
    return set(zip(inter.user_ids.tolist(), inter.item_ids.tolist()))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--recbole-python", required=True, help="a Python with RecBole 1.2.1")
    p.add_argument("--models", nargs="*", default=list(EXPERIMENTS), choices=list(EXPERIMENTS))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--split-seed", type=int, default=2020, help="RecBole's seed")
    p.add_argument("--verify", nargs="*", default=[],
                   help="RecBole models (BPR, LightGCN, NGCF) to train on the split too")
    p.add_argument("--verify-seeds", type=int, nargs="+", default=[2020],
                   help="RecBole training seeds (2020 is RecBole's default, the targets' run)")
    p.add_argument("--verify-valid-metric", default=None,
                   help="RecBole's valid_metric for --verify (default: RecBole's, MRR@10)")
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--override", nargs="*", default=[],
                   help="extra recjax overrides for every run, e.g. train.select_metric=mrr@10")
    p.add_argument("--recbole-stopping", action="store_true",
                   help="RecBole's early-stopping rule: the valid metric rounded to 4 decimals, "
                        "a tie counts as a new best, stop after patience + 1 evaluations "
                        "without one")
    args = p.parse_args()
    if args.recbole_python and os.sep in args.recbole_python:  # children run in temp dirs
        args.recbole_python = os.path.abspath(args.recbole_python)
    if args.recbole_stopping:
        recbole_stopping()

    report = {"command": shlex.join([".venv/bin/python", "benchmarks/recbole_own_split.py",
                                     *sys.argv[1:]]), "recbole_stopping": args.recbole_stopping,
              "runs": []}
    with tempfile.TemporaryDirectory(prefix="recbole-split-") as tmp:
        out = Path(tmp) / "ml-100k"
        child = [args.recbole_python, str(CHILD), str(out), "--seed", str(args.split_seed)]
        env = {"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
        jobs = [([], "split.json")] + [
            (["--train", m, "--train-seed", str(s)]
             + (["--valid-metric", args.verify_valid_metric] if args.verify_valid_metric
                else []), f"{m}-{s}.json")
            for m in args.verify for s in args.verify_seeds]
        report["recbole"] = []
        for extra, name in jobs:
            cmd = [*child, *extra, "--result", str(Path(tmp) / name)]
            print("$", shlex.join(cmd), file=sys.stderr, flush=True)
            subprocess.run(cmd, check=True, cwd=tmp, stdout=subprocess.DEVNULL, env=env)
            result = json.loads((Path(tmp) / name).read_text())
            report["recbole"].append(result)
            if "test" in result:
                print(f"RecBole {result['model']} seed {result['train_seed']}: test ndcg@10 "
                      f"{result['test']['ndcg@10']:.4f} (best epoch {result['best_epoch']})",
                      file=sys.stderr, flush=True)
        split = None
        for model in args.models:
            for seed in args.seeds:
                cfg, overrides = compose(model, seed, args.override)
                prepared = prepare(cfg, progress=False)
                if split is None:
                    split = read_split(tmp, "ml-100k", prepared.dataset.id_maps)
                    whole = pairs(prepared.dataset.interactions)
                    parts = [pairs(getattr(split, part)) for part in ("train", "valid", "test")]
                    if (set().union(*parts) != whole or sum(map(len, parts)) != len(whole)):
                        raise SystemExit("RecBole's split is not a partition of recjax's "
                                         "cleaned ml-100k")
                graph = build_graph(split.train, cfg.model.relation)
                prepared = replace(prepared, split=split, graph=graph)
                t0 = time.perf_counter()
                result = fit(prepared.model, graph, prepared.features, split, cfg.train,
                             cfg.eval, progress=False)
                run = {"model": model, "seed": seed, "overrides": overrides,
                       "valid": result.valid, "test": result.test,
                       "best_epoch": result.best_epoch, "epochs": len(result.history),
                       "seconds": time.perf_counter() - t0}
                report["runs"].append(run)
                print(f"{model} seed {seed}: test ndcg@10 {result.test['ndcg@10']:.4f} "
                      f"(best epoch {result.best_epoch}/{len(result.history)})",
                      file=sys.stderr, flush=True)

    sizes = report["recbole"][0]["sizes"]
    print(f"RecBole's split (seed {args.split_seed}): train/valid/test = "
          f"{sizes['train']}/{sizes['valid']}/{sizes['test']}")
    if args.verify:
        metric = args.verify_valid_metric or "MRR@10"
        print(f"\n| RecBole model (its defaults, valid {metric}) | training seed | "
              "test NDCG@10 | "
              "test Recall@20 | best epoch |\n|---|---|---|---|---|")
        for r in report["recbole"][1:]:
            print(f"| {r['model']} | {r['train_seed']} | {r['test']['ndcg@10']:.4f} | "
                  f"{r['test']['recall@20']:.4f} | {r['best_epoch']} |")
    if not args.models:
        return _write(args, report)
    print("\n| recjax model | seeds | test NDCG@10 | test Recall@20 | best epochs | target | "
          "distance |\n|---|---|---|---|---|---|---|")
    for model in args.models:
        runs = [r for r in report["runs"] if r["model"] == model]
        nd = np.array([r["test"]["ndcg@10"] for r in runs])
        rc = np.array([r["test"]["recall@20"] for r in runs])
        std = f" ± {nd.std(ddof=1):.4f}" if len(nd) > 1 else ""
        print(f"| {model} | {','.join(str(r['seed']) for r in runs)} | {nd.mean():.4f}{std} | "
              f"{rc.mean():.4f} | {', '.join(str(r['best_epoch']) for r in runs)} | "
              f"{TARGETS[model]:.3f} | {nd.mean() - TARGETS[model]:+.4f} |")
    _write(args, report)


def _write(args, report) -> None:
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1, default=float) + "\n")


if __name__ == "__main__":
    main()
