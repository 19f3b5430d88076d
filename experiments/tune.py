"""``recjax-tune ml100k_lightgcn [--trials N]``: tune one experiment on valid NDCG@10 with the
shared Optuna budget, then write the best values into its experiment file.

The search space is ``conf/hydra/sweeper/tune_<experiment>.yaml`` (ranges), the budget and
sampler seed ``conf/hydra/sweeper/tune_base.yaml``, the same for every model; each trial is a
``recjax-train`` run, selected on validation only (test is never read). The chosen values are
merged into ``conf/experiment/<experiment>.yaml`` with a comment saying where they came from,
so ``recjax-train experiment=<experiment>`` and ``recjax-bench`` then use them.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import yaml
from omegaconf import OmegaConf

from experiments.config import CONF_DIR

CONF = Path(CONF_DIR)


def apply_best(experiment_file: Path, best: dict, note: str) -> str:
    """The experiment file's text with ``best`` (dotted keys) merged in; its leading comment
    lines (package header, description) are kept, and ``note`` is added after them."""
    lines = experiment_file.read_text().splitlines()
    header = []
    for line in lines:
        if not line.startswith("#"):
            break
        if not line.startswith("# Tuned with recjax-tune"):
            header.append(line)
    body = OmegaConf.load(experiment_file)
    for key, value in best.items():
        OmegaConf.update(body, key, value, force_add=True)
    text = OmegaConf.to_yaml(body, sort_keys=False)
    return "\n".join([*header, f"# Tuned with recjax-tune {note}", text.rstrip()]) + "\n"


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("experiment", help="an experiment with conf/hydra/sweeper/tune_<name>.yaml")
    p.add_argument("--trials", type=int, default=None,
                   help="override the shared budget (tune_base.yaml) for a quick try")
    p.add_argument("--out", default=None, help="sweep directory (default multirun/tune/...)")
    p.add_argument("--dry-run", action="store_true", help="tune but do not write the file")
    args = p.parse_args(argv)
    space = CONF / "hydra" / "sweeper" / f"tune_{args.experiment}.yaml"
    exp_file = CONF / "experiment" / f"{args.experiment}.yaml"
    if not space.is_file() or not exp_file.is_file():
        tunable = sorted(f.stem[5:] for f in space.parent.glob("tune_*.yaml")
                         if f.stem != "tune_base")
        print(f"recjax-tune: error: no search space for {args.experiment!r}; tunable: "
              f"{tunable}", file=sys.stderr)
        sys.exit(2)
    out = Path(args.out or f"multirun/tune/{args.experiment}/{time.strftime('%Y-%m-%d_%H-%M-%S')}")
    cmd = [sys.executable, "-m", "experiments.train", "-m", f"experiment={args.experiment}",
           f"hydra/sweeper=tune_{args.experiment}", f"hydra.sweep.dir={out}",
           "run.plot=false", "run.progress=false"]
    if args.trials:
        cmd.append(f"hydra.sweeper.n_trials={args.trials}")
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)
    result = yaml.safe_load((out / "optimization_results.yaml").read_text())
    best, value = result["best_params"], float(result["best_value"])
    trials = args.trials or OmegaConf.load(space.parent / "tune_base.yaml").n_trials
    note = (f"({trials} Optuna trials, sampler seed 2020, best valid NDCG@10 {value:.4f}; "
            f"python -m experiments.tune {args.experiment})")
    print(f"best valid NDCG@10 {value:.4f} with {best}")
    if not args.dry_run:
        exp_file.write_text(apply_best(exp_file, best, note))
        print(f"written into {exp_file}")


if __name__ == "__main__":
    main()
