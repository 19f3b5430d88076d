"""Benchmark suites: models × split seeds × training seeds, and the leaderboard they make.

A suite (``conf/bench/suite/*.yaml``) lists entries, each an experiment with overrides and a
display name, some marked as baselines. :func:`expand` turns it into one :class:`Job` per run,
each with its own directory ``<out>/<entry>/split<seed>/train<seed>/``; a directory holding
``metrics.json`` is a finished run and is never trained again, which is how a half-finished
suite resumes. :func:`load_runs` reads the directories back, :func:`leaderboard` aggregates
them (pure) and :func:`write_leaderboard` writes ``leaderboard.{md,csv,png}``.

Rows are ordered by the mean *validation* metric, and the best baseline is chosen on
validation too: the test metric is shown, never used to choose. Each model is compared with
the best baseline by a paired t-test over the split seeds both have (per split seed, the mean
over training seeds), since the split is what the two runs share.
"""

from __future__ import annotations

import csv
import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from recjax.tables import format_table

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


# --- Student's t distribution, paired test ----------------------------------------------------


def _beta_continued_fraction(a: float, b: float, x: float) -> float:
    """Lentz's evaluation of the continued fraction of the incomplete beta function."""
    tiny, eps = 1e-300, 1e-15
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10_000):
        for num in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                    -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < eps:
            return h
    return h


def betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b), a, b > 0, 0 <= x <= 1."""
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"betainc: x={x} outside [0, 1]")
    if x in (0.0, 1.0):
        return x
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                 + a * math.log(x) + b * math.log1p(-x))
    # The continued fraction converges fast for x < (a + 1) / (a + b + 2); use the symmetry
    # I_x(a, b) = 1 - I_{1-x}(b, a) on the other side.
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_continued_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_continued_fraction(b, a, 1.0 - x) / b


def t_two_sided_p(t: float, df: float) -> float:
    """P(|T| >= |t|) for Student's t with ``df`` degrees of freedom."""
    if math.isnan(t) or df <= 0:
        return math.nan
    if math.isinf(t):
        return 0.0
    return betainc(df / 2.0, 0.5, df / (df + t * t))


def paired_t_test(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """``(t, two-sided p)`` of the paired t-test of ``a`` against ``b`` (same length, paired
    by position). Fewer than two pairs give ``(nan, nan)``; identical differences give
    ``(±inf, 0)`` or, all zero, ``(nan, 1)``."""
    if len(a) != len(b):
        raise ValueError(f"paired_t_test: {len(a)} vs {len(b)} values")
    diffs = [x - y for x, y in zip(a, b)]
    n = len(diffs)
    if n < 2:
        return math.nan, math.nan
    mean = statistics.fmean(diffs)
    sd = statistics.stdev(diffs)
    if sd == 0.0:
        return (math.nan, 1.0) if mean == 0.0 else (math.copysign(math.inf, mean), 0.0)
    t = mean / (sd / math.sqrt(n))
    return t, t_two_sided_p(t, n - 1)


# --- Reading runs ---------------------------------------------------------------------------


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _time_to_epoch(run_dir: Path, epoch: int) -> float:
    """Train + eval seconds of epochs 1..epoch (metrics.jsonl), compilation included."""
    path = run_dir / "metrics.jsonl"
    if not path.exists() or epoch is None:
        return math.nan
    total, seen = 0.0, False
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        rec = json.loads(line)
        if rec.get("epoch", 0) <= epoch:
            total += rec.get("train_seconds", 0.0) + rec.get("eval_seconds", 0.0)
            seen = True
    return total if seen else math.nan


def seconds_per_epoch(timings: dict, epochs: int | None) -> float:
    """Training seconds per epoch; with more than one epoch the first (which compiles) is left
    out, so the figure is the steady-state cost."""
    if not epochs or "train" not in timings:
        return math.nan
    if epochs > 1 and timings.get("first_epoch"):
        return (timings["train"] - timings["first_epoch"]) / (epochs - 1)
    return timings["train"] / epochs


def read_run(run_dir: str | Path, job: Job | None = None) -> dict:
    """One run's row: seeds, metrics (``valid``/``test`` dicts, empty if unfinished), epochs,
    timings, parameter count, peak memory and the bench record."""
    d = Path(run_dir)
    metrics = _read_json(d / "metrics.json")
    info = _read_json(d / "run.json")
    bench = _read_json(d / BENCH_FILE)
    seeds = info.get("seeds", {})
    timings = info.get("timings", {})
    epochs = info.get("epochs")
    best = info.get("best_epoch")
    params = info.get("parameters")
    return {
        "entry": job.entry if job else d.parents[1].name,
        "split_seed": job.split_seed if job else seeds.get("split"),
        "train_seed": job.train_seed if job else seeds.get("train"),
        "run_dir": str(d),
        "finished": bool(metrics),
        "status": info.get("status", "missing"),
        "valid": metrics.get("valid", {}),
        "test": metrics.get("test", {}),
        "epochs": epochs,
        "best_epoch": best,
        "seconds_per_epoch": seconds_per_epoch(timings, epochs),
        "time_to_best": _time_to_epoch(d, best) if metrics else math.nan,
        "total_seconds": timings.get("total", math.nan),
        "parameters": (sum(v.get("trainable", 0) + v.get("frozen", 0) for v in params.values())
                       if params else None),
        "peak_rss_mb": bench.get("peak_rss_mb", math.nan),
        "commit": bench.get("commit"),
        "environment": info.get("environment", {}),
    }


def load_runs(out_dir: str | Path, jobs: Sequence[Job]) -> list[dict]:
    return [read_run(Path(out_dir) / j.rel_dir, j) for j in jobs]


# --- Aggregation ----------------------------------------------------------------------------


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample std (0 for one value; nan for none); nans are left out."""
    vals = [v for v in values if v is not None and not math.isnan(v)]
    if not vals:
        return math.nan, math.nan
    return statistics.fmean(vals), statistics.stdev(vals) if len(vals) > 1 else 0.0


def per_split(runs: Sequence[dict], part: str, metric: str) -> dict[int, float]:
    """Split seed -> mean over training seeds of ``part``/``metric`` (finished runs only)."""
    by_seed: dict[int, list[float]] = {}
    for r in runs:
        if r["finished"] and metric in r[part]:
            by_seed.setdefault(r["split_seed"], []).append(r[part][metric])
    return {s: statistics.fmean(v) for s, v in by_seed.items()}


@dataclass
class Row:
    entry: str
    baseline: bool
    runs: int
    expected: int
    valid: tuple[float, float]
    test: tuple[float, float]
    test_second: tuple[float, float]
    seconds_per_epoch: float
    time_to_best: float
    best_epoch: tuple[float, float]
    epochs: float
    parameters: int | None
    peak_rss_mb: float
    # Against the best baseline over shared split seeds: mean paired test difference, p, n.
    delta_test: float = math.nan
    p_value: float = math.nan
    pairs: int = 0
    valid_by_split: dict = field(default_factory=dict, repr=False)
    test_by_split: dict = field(default_factory=dict, repr=False)


def leaderboard(runs: Sequence[dict], suite: Suite) -> tuple[list[Row], str | None]:
    """Rows (one per entry with a finished run) ordered by mean valid ``suite.metric``, best
    first, and the name of the best baseline (by mean valid metric; None without one)."""
    m, m2 = suite.metric, suite.second_metric
    rows = []
    for e in suite.entries:
        rs = [r for r in runs if r["entry"] == e.name]
        done = [r for r in rs if r["finished"]]
        if not done:
            continue
        params = [r["parameters"] for r in done if r["parameters"] is not None]
        rows.append(Row(
            entry=e.name, baseline=e.baseline, runs=len(done), expected=len(rs),
            valid=mean_std([r["valid"].get(m, math.nan) for r in done]),
            test=mean_std([r["test"].get(m, math.nan) for r in done]),
            test_second=mean_std([r["test"].get(m2, math.nan) for r in done]),
            seconds_per_epoch=mean_std([r["seconds_per_epoch"] for r in done])[0],
            time_to_best=mean_std([r["time_to_best"] for r in done])[0],
            best_epoch=mean_std([r["best_epoch"] or math.nan for r in done]),
            epochs=mean_std([r["epochs"] or math.nan for r in done])[0],
            parameters=max(params) if params else None,
            # The largest over runs: what a machine must hold for any of them.
            peak_rss_mb=max((r["peak_rss_mb"] for r in done if not math.isnan(r["peak_rss_mb"])),
                            default=math.nan),
            valid_by_split=per_split(done, "valid", m),
            test_by_split=per_split(done, "test", m)))
    key = lambda r: -r.valid[0] if not math.isnan(r.valid[0]) else math.inf
    rows.sort(key=key)
    baselines = [r for r in rows if r.baseline]
    best = baselines[0] if baselines else None  # rows are sorted by valid already
    if best is not None:
        for r in rows:
            shared = sorted(set(r.test_by_split) & set(best.test_by_split))
            r.pairs = len(shared)
            if r is best or not shared:
                continue
            a = [r.test_by_split[s] for s in shared]
            b = [best.test_by_split[s] for s in shared]
            r.delta_test = statistics.fmean(a) - statistics.fmean(b)
            r.p_value = paired_t_test(a, b)[1]
    return rows, best.entry if best else None


def verdict(rows: Sequence[Row], best_baseline: str | None, metric: str) -> str:
    """Plain sentences: who leads on validation, by how much on test, and whether the gap to
    the best baseline is within the seed spread."""
    if not rows:
        return "No finished runs yet."
    lead = rows[0]
    out = [f"**{lead.entry}** leads on valid {metric} ({lead.valid[0]:.4f} ± {lead.valid[1]:.4f}"
           f"; test {lead.test[0]:.4f} ± {lead.test[1]:.4f})."]
    if len(rows) > 1:
        second = rows[1]
        out.append(f"Next on valid is {second.entry}: the leader is "
                   f"{lead.valid[0] - second.valid[0]:+.4f} ahead on valid and "
                   f"{lead.test[0] - second.test[0]:+.4f} on test.")
    if best_baseline is None:
        out.append("The suite has no baseline to test against.")
        return " ".join(out)
    base = next(r for r in rows if r.entry == best_baseline)
    challengers = [r for r in rows if not r.baseline]
    if lead is base:
        out.append("The leader is the best baseline.")
    if not challengers:
        return " ".join(out)
    top = challengers[0]  # the best non-baseline on valid
    spread = max(top.test[1], base.test[1])
    gap = top.delta_test if not math.isnan(top.delta_test) else top.test[0] - base.test[0]
    p = (f"paired t-test over {top.pairs} split seeds p = {top.p_value:.3g}"
         if not math.isnan(top.p_value) else
         f"no p-value ({top.pairs} shared split seed(s); the test needs two)")
    within = abs(gap) <= spread
    tie = within or math.isnan(top.p_value) or top.p_value >= 0.05
    out.append(f"The best non-baseline on valid, {top.entry}, differs from the best baseline "
               f"({best_baseline}) by {gap:+.4f} test {metric}, "
               f"{'within' if within else 'larger than'} the seed spread (std {spread:.4f}); "
               f"{p}: " + ("a **tie**." if tie else
                           f"{top.entry} is **{'better' if gap > 0 else 'worse'}**."))
    return " ".join(out)


# --- Writing --------------------------------------------------------------------------------


def _pm(ms: tuple[float, float]) -> str:
    return "–" if math.isnan(ms[0]) else f"{ms[0]:.4f} ± {ms[1]:.4f}"


def _num(x: float, fmt: str) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, fmt)


def table_rows(rows: Sequence[Row], best_baseline: str | None) -> list[list]:
    out = []
    for i, r in enumerate(rows, 1):
        name = r.entry + (" (baseline)" if r.baseline else "")
        if r.entry == best_baseline:
            vs = "best baseline"
        elif math.isnan(r.delta_test):
            vs = "–"
        else:
            vs = f"{r.delta_test:+.4f} (p={_num(r.p_value, '.3g')}, n={r.pairs})"
        out.append([i, name, f"{r.runs}/{r.expected}", _pm(r.valid), _pm(r.test),
                    _pm(r.test_second), vs, _num(r.seconds_per_epoch, ".3f"),
                    _num(r.time_to_best, ".1f"),
                    f"{_num(r.best_epoch[0], '.1f')}/{_num(r.epochs, '.0f')}",
                    _num(r.parameters, ","), _num(r.peak_rss_mb, ",.0f")])
    return out


def headers(suite: Suite) -> list[str]:
    m = suite.metric
    return ["#", "model", "runs", f"valid {m}", f"test {m}", f"test {suite.second_metric}",
            f"Δ test {m} vs best baseline", "s/epoch", "s to selected epoch",
            "selected/ran epochs", "parameters", "peak RSS MB"]


def environment_lines(runs: Sequence[dict], commit: str | None) -> list[str]:
    envs = [r["environment"] for r in runs if r["environment"]]
    env = envs[-1] if envs else {}
    commits = sorted({r["commit"] for r in runs if r["finished"] and r["commit"]})
    lines = [f"- code: {commit or 'unknown'} (runs from {', '.join(commits) or 'unknown'})"]
    if env:
        lines.append("- environment: " + ", ".join(
            f"{k} {env[k]}" for k in ("python", "jax", "flax", "optax", "numpy", "recjax")
            if k in env))
        lines.append(f"- devices: {', '.join(env.get('devices', []))}; host {env.get('host')}, "
                     f"{env.get('cpu_count')} CPUs")
    return lines


def markdown(rows, best_baseline, suite: Suite, runs: Sequence[dict], commit=None) -> str:
    done = sum(r["finished"] for r in runs)
    parts = [
        f"# Leaderboard: suite `{suite.name}`", "",
        f"- runs: {done} of {len(runs)} finished; split seeds {list(suite.split_seeds)}, "
        f"training seeds {list(suite.train_seeds)}",
        *environment_lines(runs, commit), "",
        verdict(rows, best_baseline, suite.metric), "",
        format_table(table_rows(rows, best_baseline), headers(suite), markdown=True), "",
        f"Rows are ordered by mean valid {suite.metric}; the best baseline is the baseline "
        "with the best mean valid metric. Test is shown, never used to choose. Values are "
        "mean ± sample std over all runs (split × training seeds). Δ is the mean paired test "
        "difference to the best baseline over the split seeds both finished (per split seed, "
        "the mean over training seeds), with the two-sided paired t-test p-value. s/epoch is "
        "training time per epoch without the first (compiling) epoch; s to selected epoch "
        "counts training and evaluation up to the epoch chosen on valid, compilation included. "
        "Peak RSS is the largest resident memory of one run's process (host memory).",
    ]
    return "\n".join(parts) + "\n"


def write_csv(rows: Sequence[Row], best_baseline: str | None, suite: Suite, path: Path) -> None:
    m, m2 = suite.metric, suite.second_metric
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["rank", "model", "baseline", "best_baseline", "runs", "expected_runs",
                    f"valid_{m}_mean", f"valid_{m}_std", f"test_{m}_mean", f"test_{m}_std",
                    f"test_{m2}_mean", f"test_{m2}_std", "delta_test_vs_best_baseline",
                    "p_value", "paired_splits", "seconds_per_epoch", "seconds_to_selected_epoch",
                    "selected_epoch_mean", "epochs_mean", "parameters", "peak_rss_mb"])
        for i, r in enumerate(rows, 1):
            w.writerow([i, r.entry, r.baseline, r.entry == best_baseline, r.runs, r.expected,
                        *r.valid, *r.test, *r.test_second, r.delta_test, r.p_value, r.pairs,
                        r.seconds_per_epoch, r.time_to_best, r.best_epoch[0], r.epochs,
                        r.parameters if r.parameters is not None else "", r.peak_rss_mb])


def plot(rows: Sequence[Row], suite: Suite, path: Path) -> None:
    """Valid and test metric per model (mean ± std), in leaderboard order."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(5.0, 1.1 * len(rows) + 2), 4))
    xs = range(len(rows))
    for off, part, color in ((-0.2, "valid", "#9ab"), (0.2, "test", "#357")):
        ax.bar([x + off for x in xs], [getattr(r, part)[0] for r in rows], 0.4,
               yerr=[getattr(r, part)[1] for r in rows], capsize=3, color=color, label=part)
    ax.set_xticks(list(xs), [r.entry + ("*" if r.baseline else "") for r in rows],
                  rotation=30, ha="right")
    ax.set_ylabel(suite.metric)
    ax.set_title(f"suite {suite.name}: ordered by valid {suite.metric} (* baseline)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_leaderboard(out_dir: str | Path, suite: Suite, runs: Sequence[dict],
                      commit: str | None = None) -> dict[str, Path]:
    """Write ``leaderboard.md``, ``.csv`` and ``.png`` into ``out_dir``; returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows, best = leaderboard(runs, suite)
    paths = {"markdown": out / "leaderboard.md", "csv": out / "leaderboard.csv",
             "plot": out / "leaderboard.png"}
    paths["markdown"].write_text(markdown(rows, best, suite, runs, commit))
    write_csv(rows, best, suite, paths["csv"])
    if rows:
        plot(rows, suite, paths["plot"])
    return paths


# --- Running --------------------------------------------------------------------------------


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
    name = _read_json(d / "config.json").get("model", {}).get("name")
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
