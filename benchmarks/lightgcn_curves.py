"""Per-epoch training curves of recjax's and RecBole's LightGCN on RecBole's own ml-100k split.

    taskset -c 0 .venv/bin/python benchmarks/lightgcn_curves.py \
        --recbole-python /work/rbvenv/bin/python --epochs 60 --seeds 0 1 --recbole-seeds 0 1 \
        [--out benchmarks/results/recbole_own_split/lightgcn_curves.json]

Evidence for issue #11 (where the two toolkits' training dynamics differ), not a benchmark of
final quality: every run trains for exactly ``--epochs`` epochs with no early stopping, and the
script records each epoch's mean train loss and valid NDCG@10 (and the other valid metrics).

The split is RecBole's default split of its bundled ml-100k (RS 8:1:1 per user, random order,
seed 2020, no filtering), built once by ``recbole_split_child.py`` in RecBole's Python and read
back with ``recbole_same_split.read_split`` (checked to be a partition of recjax's cleaned
ml-100k), as in ``recbole_own_split.py``.

* recjax: ``recjax.train.loop.fit`` with experiment ``ml100k_lightgcn`` plus the overrides of
  ``conf/bench/suite/ml100k_protocol.yaml`` (BPR, Adam 1e-3, L2 1e-5, batch 2048, dim 64,
  2 layers, xavier-uniform; recjax's L2 term is half the squared norms of the batch's rows,
  RecBole's the un-squared norms, both at weight 1e-5 and ~1e-4 of the loss),
  ``train.epochs=--epochs``, a patience larger than the epochs, and
  ``train.seed`` from ``--seeds``. Train loss is ``train/loss`` (mean over the epoch's batches of
  BPR + reg), valid NDCG@10 is ``valid/ndcg@10`` of ``FitResult.history``.
* RecBole 1.2.1: ``lightgcn_curves_child.py`` (one process per seed, ``OMP_NUM_THREADS=1``),
  LightGCN with RecBole's defaults, ``valid_metric`` NDCG@10, ``stopping_step`` larger than the
  epochs, ``epochs=--epochs``, training seed from ``--recbole-seeds`` (set with ``init_seed``
  after the split is built, as in ``recbole_split_child.py``). Its ``Trainer._train_epoch`` and
  ``_valid_epoch`` are wrapped to record the epoch's loss (RecBole's sum over batches divided by
  the number of batches, BPR + reg) and valid result (RecBole rounds metrics to 4 decimals).

Prints a Markdown table of valid NDCG@10 (epochs 1-10, then every 5th) with one column per run,
one of train loss, and the seconds per epoch of each run; writes all curves to ``--out``.
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
from recbole_own_split import CHILD as SPLIT_CHILD  # noqa: E402
from recbole_own_split import compose, pairs  # noqa: E402
from recbole_same_split import read_split  # noqa: E402

from recjax.experiment import prepare  # noqa: E402
from recjax.graph import build_graph  # noqa: E402
from recjax.train.loop import fit  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CURVES_CHILD = Path(__file__).with_name("lightgcn_curves_child.py")
DEFAULT_OUT = ROOT / "benchmarks/results/recbole_own_split/lightgcn_curves.json"


def table_epochs(n: int) -> list[int]:
    """Epochs 1..10, then every 5th, up to ``n`` (the last one always included)."""
    rows = [e for e in range(1, n + 1) if e <= 10 or e % 5 == 0]
    return rows if rows[-1] == n else [*rows, n]


def child_env() -> dict:
    env = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    if "HOME" in os.environ:
        env["HOME"] = os.environ["HOME"]
    return env


def recjax_runs(args, tmp: str) -> list[dict]:
    runs, split = [], None
    extra = [f"train.epochs={args.epochs}", f"train.patience={args.epochs + 1000}"]
    for seed in args.seeds:
        cfg, overrides = compose("lightgcn", seed, extra)
        prepared = prepare(cfg, progress=False)
        if split is None:
            split = read_split(tmp, "ml-100k", prepared.dataset.id_maps)
            whole = pairs(prepared.dataset.interactions)
            parts = [pairs(getattr(split, part)) for part in ("train", "valid", "test")]
            if set().union(*parts) != whole or sum(map(len, parts)) != len(whole):
                raise SystemExit("RecBole's split is not a partition of recjax's cleaned ml-100k")
        graph = build_graph(split.train, cfg.model.relation)
        prepared = replace(prepared, split=split, graph=graph)
        t0 = time.perf_counter()
        result = fit(prepared.model, graph, prepared.features, split, cfg.train, cfg.eval,
                     progress=False)
        seconds = time.perf_counter() - t0
        history = [{k: (float(v) if isinstance(v, (float, np.floating)) else v)
                    for k, v in r.items()} for r in result.history]
        runs.append({"toolkit": "recjax", "model": "lightgcn", "train_seed": seed,
                     "overrides": overrides, "schedule": cfg.train.schedule,
                     "history": history, "seconds": seconds, "timings": result.timings})
        print(f"recjax seed {seed}: {len(history)} epochs in {seconds:.0f}s, last valid "
              f"ndcg@10 {history[-1]['valid/ndcg@10']:.4f}", file=sys.stderr, flush=True)
    return runs


def recbole_runs(args, tmp: str) -> list[dict]:
    runs = []
    for seed in args.recbole_seeds:
        res = Path(tmp) / f"recbole-{seed}.json"
        cmd = [args.recbole_python, str(CURVES_CHILD), str(Path(tmp) / f"rb-{seed}"),
               "--split-seed", str(args.split_seed), "--train-seed", str(seed),
               "--epochs", str(args.epochs), "--result", str(res)]
        print("$", shlex.join(cmd), file=sys.stderr, flush=True)
        subprocess.run(cmd, check=True, cwd=tmp, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, env=child_env())
        run = json.loads(res.read_text())
        runs.append(run)
        h = run["history"]
        print(f"RecBole seed {seed}: {len(h)} epochs in {run['seconds']:.0f}s, last valid "
              f"ndcg@10 {h[-1]['valid/ndcg@10']:.4f}", file=sys.stderr, flush=True)
    return runs


def label(run: dict) -> str:
    return f"{'recjax' if run['toolkit'] == 'recjax' else 'RecBole'} s{run['train_seed']}"


def print_tables(runs: list[dict], epochs: int) -> None:
    rows = table_epochs(epochs)
    head = "| epoch | " + " | ".join(label(r) for r in runs) + " |"
    rule = "|---" * (len(runs) + 1) + "|"
    for key, title in (("valid/ndcg@10", "valid NDCG@10"), ("train/loss", "train loss")):
        print(f"\n{title} per epoch\n\n{head}\n{rule}")
        for e in rows:
            cells = []
            for r in runs:
                rec = next((h for h in r["history"] if h["epoch"] == e), None)
                cells.append("" if rec is None or key not in rec else f"{rec[key]:.4f}")
            print(f"| {e} | " + " | ".join(cells) + " |")
    print("\n| run | best valid NDCG@10 (epoch) | train s/epoch | eval s/epoch |\n"
          "|---|---|---|---|")
    for r in runs:
        h = r["history"]
        best = max(h, key=lambda x: x["valid/ndcg@10"])
        # recjax's first epoch includes compilation: leave it out of the mean.
        train_s = np.mean([x["train_seconds"] for x in h[1:]] or [h[0]["train_seconds"]])
        eval_s = np.mean([x["eval_seconds"] for x in h[1:]] or [h[0]["eval_seconds"]])
        print(f"| {label(r)} | {best['valid/ndcg@10']:.4f} ({best['epoch']}) | "
              f"{train_s:.2f} | {eval_s:.2f} |")


def stopping_table(runs: list[dict], patience: int = 10) -> None:
    """Where each toolkit's own early stopping (patience ``patience`` on valid NDCG@10) would
    have ended each curve, and each curve's longest stretch without a new best under that
    rule: how close a run came to stopping. recjax: a new best is strictly larger, stop once
    ``patience`` evaluations passed without one. RecBole 1.2.1 (``early_stopping``): scores
    rounded to 4 places, a tie counts as a new best, stop once more than ``patience`` passed."""
    print(f"\n| run | rule | would stop at epoch (patience {patience}) | best so far then "
          f"(epoch) | longest stretch without a new best (from epoch) |\n|---|---|---|---|---|")
    for r in runs:
        recbole = r["toolkit"] != "recjax"
        best, best_epoch, stop, longest, longest_from = -np.inf, 0, None, 0, 0
        for h in r["history"]:
            e, v = h["epoch"], h["valid/ndcg@10"]
            if recbole:
                v = round(v, 4)
            if v > best or (recbole and v == best):
                best, best_epoch = v, e
            elif e - best_epoch > longest:
                longest, longest_from = e - best_epoch, best_epoch
            waited = e - best_epoch
            if stop is None and (waited > patience if recbole else waited >= patience):
                stop = (e, best, best_epoch)
        rule = "RecBole's (4 places, ties count, > patience)" if recbole else \
            "recjax's (strict, >= patience)"
        where = f"{stop[0]}" if stop else "never (ran all epochs)"
        then = f"{stop[1]:.4f} ({stop[2]})" if stop else "–"
        print(f"| {label(r)} | {rule} | {where} | {then} | {longest} (from {longest_from}) |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--recbole-python", default="/work/rbvenv/bin/python",
                   help="a Python with RecBole 1.2.1")
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--seeds", type=int, nargs="*", default=[0, 1], help="recjax train seeds")
    p.add_argument("--recbole-seeds", type=int, nargs="*", default=[0, 1],
                   help="RecBole train seeds")
    p.add_argument("--split-seed", type=int, default=2020, help="RecBole's split seed")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--from-json", type=Path, default=None,
                   help="print the tables of a saved result instead of training")
    args = p.parse_args()
    if args.recbole_python and os.sep in args.recbole_python:  # children run in temp dirs
        args.recbole_python = os.path.abspath(args.recbole_python)
    if args.from_json:
        saved = json.loads(args.from_json.read_text())
        print(f"{args.from_json} (made by: {saved['command']})")
        print_tables(saved["runs"], saved["epochs"])
        stopping_table(saved["runs"])
        return

    report = {"command": shlex.join([".venv/bin/python", "benchmarks/lightgcn_curves.py",
                                     *sys.argv[1:]]),
              "cpu_affinity": sorted(os.sched_getaffinity(0)), "epochs": args.epochs}
    with tempfile.TemporaryDirectory(prefix="lightgcn-curves-") as tmp:
        split_cmd = [args.recbole_python, str(SPLIT_CHILD), str(Path(tmp) / "ml-100k"),
                     "--seed", str(args.split_seed), "--result", str(Path(tmp) / "split.json")]
        print("$", shlex.join(split_cmd), file=sys.stderr, flush=True)
        subprocess.run(split_cmd, check=True, cwd=tmp, stdout=subprocess.DEVNULL,
                       env=child_env())
        report["split"] = json.loads((Path(tmp) / "split.json").read_text())
        runs = recjax_runs(args, tmp) + recbole_runs(args, tmp)
    report["runs"] = runs
    sizes = report["split"]["sizes"]
    print(f"RecBole's split (seed {args.split_seed}): train/valid/test = "
          f"{sizes['train']}/{sizes['valid']}/{sizes['test']}; {args.epochs} epochs, "
          "no early stopping")
    print_tables(runs, args.epochs)
    stopping_table(runs)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1, default=float) + "\n")


if __name__ == "__main__":
    main()
