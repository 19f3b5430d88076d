"""Reading finished runs back and the leaderboard they make: Markdown, CSV, plot."""

from __future__ import annotations

import csv
import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from recjax.bench.stats import mean_std, paired_t_test
from recjax.bench.suite import BENCH_FILE, Job, Suite, read_json
from recjax.tables import format_table


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
    metrics = read_json(d / "metrics.json")
    info = read_json(d / "run.json")
    bench = read_json(d / BENCH_FILE)
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
        "trainable_parameters": (sum(v.get("trainable", 0) for v in params.values())
                                 if params else None),
        "peak_rss_mb": bench.get("peak_rss_mb", math.nan),
        "commit": bench.get("commit"),
        "environment": info.get("environment", {}),
    }


def load_runs(out_dir: str | Path, jobs: Sequence[Job]) -> list[dict]:
    return [read_run(Path(out_dir) / j.rel_dir, j) for j in jobs]


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
    trainable_parameters: int | None = None  # what the optimiser updates (parameters: all)
    # Against the best baseline over shared split seeds: mean paired test difference, p, n.
    delta_test: float = math.nan
    delta_std: float = math.nan  # sample std of the paired per-split differences
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
        trainable = [r["trainable_parameters"] for r in done
                     if r.get("trainable_parameters") is not None]
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
            trainable_parameters=max(trainable) if trainable else None,
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
            diffs = [x - y for x, y in zip(a, b, strict=True)]
            r.delta_test = statistics.fmean(diffs)
            r.delta_std = statistics.stdev(diffs) if len(diffs) > 1 else math.nan
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
    head = f"The best non-baseline on valid, {top.entry}, vs the best baseline ({best_baseline})"
    if top.pairs < 2:
        # One shared split: the spread over training seeds says nothing about another split.
        gap = top.test[0] - base.test[0]
        out.append(f"{head}: {gap:+.4f} test {metric} on {top.pairs} shared split seed(s); "
                   f"**undetermined** (a paired test needs two or more split seeds).")
        return " ".join(out)
    # Decided on the paired differences over split seeds (what the two runs share), not on
    # the pooled spread, which also holds the between-split variance pairing removes.
    significant = top.p_value < 0.05 and abs(top.delta_test) > top.delta_std
    out.append(f"{head}: {top.delta_test:+.4f} test {metric} (mean paired difference over "
               f"{top.pairs} split seeds, std {top.delta_std:.4f}; paired t-test p = "
               f"{top.p_value:.3g}): " + (
                   f"{top.entry} is **{'better' if top.delta_test > 0 else 'worse'}**."
                   if significant else "a **tie** (the gap is not larger than its spread, "
                   "or p >= 0.05)."))
    return " ".join(out)


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
                    _num(r.parameters, ","), _num(r.trainable_parameters, ","),
                    _num(r.peak_rss_mb, ",.0f")])
    return out


def headers(suite: Suite) -> list[str]:
    m = suite.metric
    return ["#", "model", "runs", f"valid {m}", f"test {m}", f"test {suite.second_metric}",
            f"Δ test {m} vs best baseline", "s/epoch", "s to selected epoch",
            "selected/ran epochs", "parameters", "trainable", "peak RSS MB"]


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
        "Parameters counts every parameter, trainable only those the optimiser updates (a "
        "fine-tuned text tower's frozen BERT layers count in the first only). "
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
                    "selected_epoch_mean", "epochs_mean", "parameters", "peak_rss_mb",
                    "trainable_parameters"])
        for i, r in enumerate(rows, 1):
            w.writerow([i, r.entry, r.baseline, r.entry == best_baseline, r.runs, r.expected,
                        *r.valid, *r.test, *r.test_second, r.delta_test, r.p_value, r.pairs,
                        r.seconds_per_epoch, r.time_to_best, r.best_epoch[0], r.epochs,
                        r.parameters if r.parameters is not None else "", r.peak_rss_mb,
                        r.trainable_parameters if r.trainable_parameters is not None else ""])


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


