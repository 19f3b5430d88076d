"""Suites, their jobs (one run directory each) and running a job in its own process."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

# A run's own record, written by the bench runner next to the files train_run writes.
BENCH_FILE = "bench.json"

@dataclass(frozen=True)
class SuiteEntry:
    """One row of the leaderboard: an experiment and overrides, shown as ``name``."""

    name: str = ""
    experiment: str = ""
    overrides: tuple[str, ...] = ()
    baseline: bool = False


@dataclass(frozen=True)
class Suite:
    """Entries × ``split_seeds`` × ``train_seeds``; ``overrides`` apply to every entry (before
    the entry's own); ``metric`` orders the rows (on valid) and is the one tested."""

    # Defaults only so that Hydra can take the class as a schema; __post_init__ insists.
    name: str = ""
    entries: tuple[SuiteEntry, ...] = ()
    split_seeds: tuple[int, ...] = ()
    train_seeds: tuple[int, ...] = (0,)
    metric: str = "ndcg@10"
    second_metric: str = "recall@20"
    overrides: tuple[str, ...] = ()

    def __post_init__(self):
        names = [e.name for e in self.entries]
        if not names:
            raise ValueError(f"suite {self.name!r} has no entries")
        if len(set(names)) != len(names):
            raise ValueError(f"suite {self.name!r}: entry names repeat: {names}")
        for e in self.entries:
            if not e.name or "/" in e.name or e.name.startswith("."):
                raise ValueError(f"suite {self.name!r}: bad entry name {e.name!r}")
            if not e.experiment:
                raise ValueError(f"suite {self.name!r}: entry {e.name!r} names no experiment")
        if not self.split_seeds or not self.train_seeds:
            raise ValueError(f"suite {self.name!r} needs split_seeds and train_seeds")


@dataclass(frozen=True)
class Job:
    entry: str
    experiment: str
    overrides: tuple[str, ...]
    split_seed: int
    train_seed: int

    @property
    def rel_dir(self) -> str:
        return f"{self.entry}/split{self.split_seed}/train{self.train_seed}"


def expand(suite: Suite, only: Sequence[str] = ()) -> list[Job]:
    """One job per entry × split seed × training seed (entries in suite order), restricted to
    the entries named in ``only`` when given."""
    names = [e.name for e in suite.entries]
    unknown = sorted(set(only) - set(names))
    if unknown:
        raise ValueError(f"unknown suite entries {unknown}; suite {suite.name!r} has {names}")
    return [Job(e.name, e.experiment,
                (*suite.overrides, *e.overrides, f"data.split.seed={s}", f"train.seed={t}"),
                s, t)
            for e in suite.entries if not only or e.name in only
            for s in suite.split_seeds for t in suite.train_seeds]


def is_finished(run_dir: str | Path) -> bool:
    return (Path(run_dir) / "metrics.json").exists()




def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def git_commit(repo_dir: str | Path) -> str | None:
    """``git rev-parse HEAD`` of ``repo_dir`` (``+dirty`` with uncommitted changes), or None
    outside a git checkout."""
    import subprocess

    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo_dir, capture_output=True,
                              text=True, timeout=30)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=repo_dir, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip()[:12] + ("+dirty" if dirty.stdout.strip() else "")


def _rss_mb(maxrss: int) -> float:
    import sys

    # ru_maxrss is in KiB on Linux, in bytes on macOS.
    return maxrss / (1024 * 1024) if sys.platform == "darwin" else maxrss / 1024


def drop_unfinished_solve(run_dir: str | Path) -> bool:
    """Remove the checkpoints of an unfinished closed-form run (pop, itemknn, ease): one
    solve has nothing to resume, and the closed-form fit saves its step-1 checkpoint
    unconditionally, so a leftover one (e.g. a run whose metrics.json was deleted) fails the
    rerun with "Checkpoint for step 1 already exists". Returns whether it removed anything."""
    import shutil

    d = Path(run_dir)
    ckpt = d / "checkpoints"
    if is_finished(d) or not ckpt.is_dir():
        return False
    name = read_json(d / "config.json").get("model", {}).get("name")
    if name is None:
        return False
    from recjax.models.registry import MODELS

    if name not in MODELS or not MODELS[name].closed_form:
        return False
    shutil.rmtree(ckpt)
    return True


def run_job(job: Job, run_dir: str | Path, command: Sequence[str], commit: str | None = None,
            env: dict | None = None) -> dict:
    """Train ``job`` in a child process: ``[*command, *job.overrides, f"hydra.run.dir=..."]``
    (an experiments.train command line, e.g. ``[python, -m, experiments.train,
    experiment=...]``). A process per run isolates failures and gives each run its own peak
    memory (the child's ``ru_maxrss`` from ``wait4``; the parent's own would be cumulative).
    Writes and returns the bench record (return code, wall seconds, peak RSS, commit, the
    end of stderr on failure)."""
    import os
    import subprocess
    import time

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    drop_unfinished_solve(run_dir)
    argv = [*command, *job.overrides, f"hydra.run.dir={run_dir}"]
    log = run_dir / "bench.log"
    t0 = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
        if hasattr(os, "wait4"):
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            peak = _rss_mb(usage.ru_maxrss)
        else:
            proc.wait()
            peak = math.nan
    record = {"returncode": proc.returncode, "wall_seconds": time.perf_counter() - t0,
              "peak_rss_mb": peak, "commit": commit, "argv": argv}
    if proc.returncode != 0:
        record["error"] = log.read_text()[-3000:]
    (run_dir / BENCH_FILE).write_text(json.dumps(record, indent=1))
    return record
