"""``recjax-bench suite=smoke [out=DIR] [only=[pop,mf]]``: train every run of a suite (each in
its own ``recjax-train`` process; finished runs are skipped) and write the leaderboard."""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import hydra
from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

from experiments.config import CONF_DIR, clean_errors, thaw
from recjax.bench import (
    Suite,
    expand,
    git_commit,
    is_finished,
    load_runs,
    run_job,
    write_leaderboard,
)

ROOT = Path(CONF_DIR).parent


SuiteSchema = thaw(Suite)


@dataclass
class BenchApp:
    suite: SuiteSchema = MISSING
    out: str = MISSING
    only: list[str] = field(default_factory=list)
    report_only: bool = False
    compile_cache: bool = True


def register() -> None:
    ConfigStore.instance().store(name="bench_schema", node=BenchApp)
    # conf/bench.yaml adds conf/bench/ to Hydra's search path through this resolver.
    OmegaConf.register_new_resolver("recjax_conf_dir", lambda: CONF_DIR, replace=True)


register()


def job_config(job) -> dict:
    """The configuration ``job`` trains, composed as ``experiments.train`` will compose it
    (without the run/parallel groups, which do not change results)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from experiments.config import register as register_train_schema
    from experiments.config import to_experiment
    from recjax.experiment import comparable_config

    register_train_schema()
    overrides = [f"experiment={job.experiment}", f"run.name={job.entry}", *job.overrides]
    if GlobalHydra.instance().is_initialized():  # inside recjax-bench's own Hydra app
        cfg = compose("config", overrides=overrides)
    else:
        with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
            cfg = compose("config", overrides=overrides)
    return comparable_config(to_experiment(cfg))


def stale_changes(job, run_dir: Path) -> list[str]:
    """How a finished run's config differs from what ``job`` would train now (e.g. after
    ``recjax-tune`` rewrote the experiment file); empty when it does not."""
    from recjax.config.io import diff, from_dict
    from recjax.config.schema import ExperimentConfig
    from recjax.experiment import comparable_config

    path = run_dir / "config.json"
    if not path.exists():
        return []
    old = json.loads(path.read_text())
    try:
        # Fields added to the schema since that run read as their defaults (as load_run and
        # check_compatible read them), not as differences.
        old = comparable_config(from_dict(ExperimentConfig, old))
    except (TypeError, ValueError):
        old.pop("run", None)
        old.pop("parallel", None)
    return diff(old, job_config(job))


def set_aside(run_dir: Path) -> Path:
    """Move a stale run out of the suite (kept, not deleted) so the job trains afresh."""
    dest = run_dir.with_name(f"{run_dir.name}.stale-{time.strftime('%Y%m%d-%H%M%S')}")
    run_dir.rename(dest)
    return dest


def run_suite(suite: Suite, out: Path, only=(), report_only=False, compile_cache=True) -> int:
    """Train the suite's unfinished runs one after another, then write the leaderboard;
    returns the number of runs that failed."""
    jobs = expand(suite, only)
    commit = git_commit(ROOT)
    env = dict(os.environ)
    if compile_cache:
        env.setdefault("JAX_COMPILATION_CACHE_DIR", str(out / ".jax-cache"))
    failed = 0
    for job in jobs:  # a finished run of another configuration is not this suite's run
        changes = is_finished(out / job.rel_dir) and stale_changes(job, out / job.rel_dir)
        if changes and not report_only:
            dest = set_aside(out / job.rel_dir)
            print(f"{job.rel_dir}: its config changed ({'; '.join(changes[:3])}); old run "
                  f"moved to {dest.name}, training again", flush=True)
    todo = [j for j in jobs if not is_finished(out / j.rel_dir)]
    print(f"suite {suite.name}: {len(jobs)} runs, {len(jobs) - len(todo)} finished, "
          f"{0 if report_only else len(todo)} to train -> {out}", flush=True)
    for i, job in enumerate([] if report_only else todo, 1):
        run_dir = out / job.rel_dir
        t0 = time.perf_counter()
        record = run_job(job, run_dir, [sys.executable, "-m", "experiments.train",
                                        f"experiment={job.experiment}", f"run.name={job.entry}"],
                         commit, env)
        seconds = time.perf_counter() - t0
        head = f"[{i}/{len(todo)}] {job.entry} split {job.split_seed} train {job.train_seed}"
        if record["returncode"] != 0:
            failed += 1
            last = record["error"].strip().splitlines()[-1:] or ["?"]
            print(f"{head}: FAILED (exit {record['returncode']}, {seconds:.1f} s): {last[0]}; "
                  f"log: {run_dir / 'bench.log'}", flush=True)
            continue
        run = load_runs(out, [job])[0]
        print(f"{head}: valid {suite.metric} {run['valid'].get(suite.metric, float('nan')):.4f}"
              f", test {run['test'].get(suite.metric, float('nan')):.4f}, {seconds:.1f} s, "
              f"peak {record['peak_rss_mb']:.0f} MB", flush=True)
    paths = write_leaderboard(out, suite, load_runs(out, jobs), commit)
    print()
    print(paths["markdown"].read_text())
    print("wrote " + ", ".join(str(p) for p in paths.values() if p.exists()))
    if failed:
        print(f"{failed} run(s) failed; run the same command again to retry them",
              file=sys.stderr)
    return failed


@hydra.main(config_path=CONF_DIR, config_name="bench", version_base="1.3")
@clean_errors("recjax-bench")
def main(cfg: DictConfig) -> None:
    from recjax.config.io import from_dict

    suite = from_dict(Suite, OmegaConf.to_container(cfg.suite, resolve=True))
    failed = run_suite(suite, Path(cfg.out), tuple(cfg.only), cfg.report_only, cfg.compile_cache)
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
