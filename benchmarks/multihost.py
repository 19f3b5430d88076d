"""Multi-process scaling: training steps/s for 1, 2 and 4 processes on the same total device
count, each run started by ``recjax-launch-local`` exactly as a user would.

    .venv/bin/python benchmarks/multihost.py [--processes 1 2 4] [--devices 4] [--epochs 6]
        [--users 2000] [--items 3000] [--interactions 200000] [--batch-size 4096]
        [--model lightgcn] [--out benchmarks/results/multihost.json]

Every configuration trains the same model on the same synthetic log (``data.name=synthetic``)
with ``--devices`` devices in total: P processes of ``devices / P`` CPU devices each, one data-
parallel mesh over all of them (``parallel=multihost``; CPU collectives over gloo). Training is
timed without the first (compiling) epoch, from each run's ``run.json``, and evaluation is
left out (``train.eval_every`` past the last epoch, except the last epoch's). Because the
global batch and the mesh are the same, every row must end with the same train loss and test
metric: the table prints both as a check.

On this 2-core machine the figure says what crossing process boundaries costs on CPU (gloo
all-reduces over localhost instead of in-process ones), not a speed-up: more processes than
cores only contend. On a pod slice the same script, with the processes on separate hosts, is
the scaling check.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_one(processes: int, devices: int, args, work: Path) -> dict:
    if devices % processes:
        raise SystemExit(f"--devices {devices} does not divide over {processes} processes")
    run_dir = work / f"p{processes}"
    overrides = [
        "data.name=synthetic", f"data.synthetic.num_users={args.users}",
        f"data.synthetic.num_items={args.items}",
        f"data.synthetic.num_interactions={args.interactions}", f"model={args.model}",
        "model.dim=64", "model.num_layers=2", "train=bpr", f"train.epochs={args.epochs}",
        f"train.batch_size={args.batch_size}", f"train.eval_every={args.epochs + 1}",
        "train.patience=1000", "run.plot=false", "run.progress=false",
        f"run.checkpoint_every={args.epochs + 1}", "eval.ks=[10]", f"run.name=p{processes}"]
    cmd = [sys.executable, "-m", "experiments.launch", str(processes), "--cpu-devices",
           str(devices // processes), "--", *overrides, f"hydra.run.dir={run_dir}"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(f"{processes} processes failed ({proc.returncode}):\n"
                         f"{proc.stderr[-3000:]}")
    info = json.loads((run_dir / "run.json").read_text())
    history = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    t = info["timings"]
    steps_per_epoch = history[0]["step"]
    timed_steps = history[-1]["step"] - steps_per_epoch
    timed_seconds = t["train"] - t["first_epoch"]
    return {"processes": processes, "devices_per_process": devices // processes,
            "devices": devices, "steps_per_s": timed_steps / timed_seconds,
            "s_per_epoch": timed_seconds / (len(history) - 1),
            "first_epoch_s": t["first_epoch"], "wall_s": wall,
            "final_train_loss": history[-1]["train/loss"],
            "test_ndcg@10": metrics["test"]["ndcg@10"], "steps_per_epoch": steps_per_epoch,
            "environment": info["environment"]}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--processes", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--devices", type=int, default=4)
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--users", type=int, default=2000)
    p.add_argument("--items", type=int, default=3000)
    p.add_argument("--interactions", type=int, default=200_000)
    p.add_argument("--batch-size", type=int, default=4096)
    p.add_argument("--model", default="lightgcn")
    p.add_argument("--out", default=str(ROOT / "benchmarks/results/multihost.json"))
    args = p.parse_args(argv)
    if args.epochs < 2:
        p.error("--epochs must be at least 2 (the first, compiling, epoch is not timed)")
    rows = []
    with tempfile.TemporaryDirectory(prefix="recjax-multihost-") as work:
        for n in args.processes:
            print(f"{n} process(es) x {args.devices // n} device(s) ...", file=sys.stderr,
                  flush=True)
            rows.append(run_one(n, args.devices, args, Path(work)))
    base = rows[0]["steps_per_s"]
    print(f"\n{args.model}, synthetic log: {args.users} users, {args.items} items, "
          f"{args.interactions} interactions; batch {args.batch_size}; {args.epochs} epochs "
          f"(first not timed); {args.devices} CPU devices in total; the processes share "
          f"{len(os.sched_getaffinity(0))} of the machine's {os.cpu_count()} cores\n")
    print("| processes | devices/process | steps/s | s/epoch | vs first row | first epoch s "
          "| final train loss | test ndcg@10 |")
    print("|--:|--:|--:|--:|--:|--:|--:|--:|")
    for r in rows:
        print(f"| {r['processes']} | {r['devices_per_process']} | {r['steps_per_s']:.2f} | "
              f"{r['s_per_epoch']:.3f} | {r['steps_per_s'] / base:.2f}x | "
              f"{r['first_epoch_s']:.1f} | {r['final_train_loss']:.6f} | "
              f"{r['test_ndcg@10']:.4f} |")
    out = {"args": vars(args), "rows": rows, "cores": len(os.sched_getaffinity(0)),
           "git": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                 capture_output=True, text=True).stdout.strip()}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
