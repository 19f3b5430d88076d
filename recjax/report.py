"""Collect finished runs into tables (Markdown, CSV) and plots.

A run is a directory with ``config.json`` and ``metrics.json`` (only finished runs have the
latter). Runs that differ only in seeds are grouped, and their metrics shown as mean ± std.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from recjax.tables import format_table

# Runs differing only in these are repeats of one setting (seeds, cross-validation folds).
SEED_KEYS = ("train.seed", "data.split.seed", "data.synthetic.seed", "data.split.fold")
IGNORED_PREFIXES = ("run.", "parallel.")
DEFAULT_METRICS = ("valid/ndcg@10", "test/ndcg@10", "test/recall@20", "test/mrr@10",
                   "test/hit@10")


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = tuple(v) if isinstance(v, list) else v
    return out


def collect_runs(root: str | Path) -> list[dict]:
    """Every finished run under ``root`` (or ``root`` itself): flat config, metrics, time."""
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"{root}: no such directory")
    runs = []
    for metrics_path in sorted(root.rglob("metrics.json")):
        d = metrics_path.parent
        if not (d / "config.json").exists():
            continue
        row = {"run_dir": str(d), **_flatten(json.loads((d / "config.json").read_text()))}
        metrics = json.loads(metrics_path.read_text())
        for part in ("valid", "test"):
            row.update({f"{part}/{k}": v for k, v in metrics.get(part, {}).items()})
        info = json.loads((d / "run.json").read_text()) if (d / "run.json").exists() else {}
        row["seconds"] = info.get("timings", {}).get("total", math.nan)
        row["epochs"] = info.get("epochs", math.nan)
        runs.append(row)
    return runs


def varying_keys(runs: Sequence[dict]) -> list[str]:
    """Config keys whose values differ between runs (seeds and folds excepted). When runs
    carry different ``run.name`` (a sweep over experiments), that name leads and keys it
    already determines are dropped, so the table shows what actually distinguishes runs."""
    keys = sorted({k for r in runs for k in r if "." in k and "/" not in k})
    vary = lambda rs, k: len({repr(r.get(k)) for r in rs}) > 1
    out = [k for k in keys if not k.startswith(IGNORED_PREFIXES) and k not in SEED_KEYS
           and vary(runs, k)]
    if not vary(runs, "run.name"):
        return out
    by_name: dict[str, list[dict]] = {}
    for r in runs:
        by_name.setdefault(repr(r.get("run.name")), []).append(r)
    return ["run.name"] + [k for k in out if any(vary(rs, k) for rs in by_name.values())]


def summarize(runs: Sequence[dict], metrics: Sequence[str] = DEFAULT_METRICS
              ) -> tuple[list[str], list[dict]]:
    """Group runs by the config values that vary (seeds excepted): ``(keys, groups)``; each
    group has ``n`` and, per metric, ``mean`` and ``std`` (sample std; 0 for one run)."""
    keys = varying_keys(runs)
    groups: dict[tuple, list[dict]] = {}
    for r in runs:
        groups.setdefault(tuple(repr(r.get(k)) for k in keys), []).append(r)
    out = []
    for members in groups.values():
        g = {k: members[0].get(k) for k in keys}
        g["n"] = len(members)
        for m in (*metrics, "seconds", "epochs"):
            vals = np.array([r.get(m, math.nan) for r in members], float)
            vals = vals[~np.isnan(vals)]
            g[m] = (float(vals.mean()) if len(vals) else math.nan,
                    float(vals.std(ddof=1)) if len(vals) > 1 else 0.0)
        out.append(g)
    return keys, out


def _fmt(mean_std, digits=4) -> str:
    mean, std = mean_std
    if math.isnan(mean):
        return "-"
    return f"{mean:.{digits}f} ± {std:.{digits}f}" if std else f"{mean:.{digits}f}"


def report_table(keys, groups, metrics=DEFAULT_METRICS, markdown=True) -> str:
    headers = [*keys, "n", *metrics, "time s", "epochs"]
    rows = []
    for g in sorted(groups, key=lambda g: -g.get(metrics[1], (0, 0))[0]):
        rows.append([str(g[k]) for k in keys] + [g["n"]]
                    + [_fmt(g[m]) for m in metrics]
                    + [_fmt(g["seconds"], 1), _fmt(g["epochs"], 0)])
    return format_table(rows, headers, markdown=markdown)


def write_report(root: str | Path, out_dir: str | Path | None = None,
                 metrics: Sequence[str] = DEFAULT_METRICS) -> dict[str, Path]:
    """Write ``report.md``, ``report.csv`` (one row per run) and ``report.png``."""
    runs = collect_runs(root)
    if not runs:
        raise FileNotFoundError(f"{root}: no finished runs (directories with metrics.json)")
    out = Path(out_dir or root)
    out.mkdir(parents=True, exist_ok=True)
    keys, groups = summarize(runs, metrics)
    table = report_table(keys, groups, metrics)
    (out / "report.md").write_text(f"# Report: {root}\n\n{len(runs)} runs, grouped by "
                                   f"{', '.join(keys) or '(nothing varies)'}; mean ± std over "
                                   f"seeds.\n\n{table}\n")
    columns = ["run_dir", *keys, *SEED_KEYS, *metrics, "seconds", "epochs"]
    with open(out / "report.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(columns)
        for r in runs:
            w.writerow([r.get(c, "") for c in columns])
    plot_groups(keys, groups, metrics[1], out / "report.png")
    return {"markdown": out / "report.md", "csv": out / "report.csv", "plot": out / "report.png"}


def plot_groups(keys, groups, metric: str, path: Path) -> None:
    """A line against the one numeric key that varies, else bars per group; error bars are
    the std over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    means = [g[metric][0] for g in groups]
    stds = [g[metric][1] for g in groups]
    if len(keys) == 1 and all(isinstance(g[keys[0]], int | float) for g in groups):
        order = np.argsort([g[keys[0]] for g in groups])
        xs = [groups[i][keys[0]] for i in order]
        ax.errorbar(xs, [means[i] for i in order], yerr=[stds[i] for i in order],
                    marker="o", capsize=3)
        if len(xs) <= 12:
            ax.set_xticks(xs)
        ax.set_xlabel(keys[0])
    else:
        labels = [", ".join(f"{g[k]}" for k in keys) or "all" for g in groups]
        ax.bar(range(len(groups)), means, yerr=stds, capsize=3, color="#4c72b0")
        ax.set_xticks(range(len(groups)), labels, rotation=30, ha="right")
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_curves(history: Sequence[dict], path: str | Path, metric: str = "ndcg@10") -> None:
    """Training loss and the validation metric per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(epochs, [h["train/loss"] for h in history], color="#4c72b0", label="train loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("train loss")
    key = next((k for k in (f"valid/{metric}", f"test/{metric}") if any(k in h for h in history)),
               None)
    if key:
        ax2 = ax.twinx()
        ev = [(h["epoch"], h[key]) for h in history if key in h]
        ax2.plot(*zip(*ev, strict=True), color="#dd8452", label=key)
        ax2.set_ylabel(key)
        fig.legend(loc="upper center", ncols=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
