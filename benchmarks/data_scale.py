"""Data pipeline at scale: read, clean and split seconds and peak memory from 1 M to 100 M rows.

    .venv/bin/python benchmarks/data_scale.py [--rows 1e6 5e6 25e6 1e8] [--epoch-rows 25e6]
        [--workdir DIR] [--staging-dir DIR] [--out-of-core-from 5e7] [--full-epoch]
        [--compare-engines [--compare-rows 5e6]]

Logs are synthetic, in the ml-25m layout (``ratings.csv`` + ``movies.csv``, written by
:func:`recjax.data.synthetic.write_synthetic_log`: power-law users and items scaled with the
rows as in ml-25m, half-star ratings, repeated pairs kept so deduplication removes rows). They
are written once into ``--workdir`` (untimed) and read through the same path as
``data.name=ml-25m``. Each size runs in its own process, so peak memory (max RSS) is that
size's own. Stages: read (typed Arrow columns), clean (default CleanConfig: drop invalid,
dedup ``first``, remap), split (per-user random 8:1:1, seed 2020), then the cleaned-data
cache: writing the entry and loading it back (what every job of a sweep after the first pays).
Sizes from ``--out-of-core-from`` on are also run through the out-of-core path
(:mod:`recjax.data.staging`), again in their own process, with its staging files in
``--staging-dir``.

Logs and staging files default to directories on disk next to the cleaned-data cache
(``$RECJAX_DATA/data-scale`` and ``$RECJAX_DATA/staging``), not ``$TMPDIR``: a RAM-backed
temporary directory (tmpfs) would hold a 100 M-row log and the staging files in memory, the
very memory the out-of-core path is measured to save. The file system of each is printed.

At ``--epoch-rows`` the LightGCN graph is built from the train part and one epoch is timed:
by default 20 steps after compilation, extrapolated to the epoch (``--full-epoch`` runs every
step). ``--compare-engines`` reads one generated log (``--compare-rows``) into typed columns
with pyarrow (recjax's reader) and with Polars, each in its own process, best of
``--compare-repeats`` (Polars is skipped with a message when it is not installed). Prints
Markdown tables and writes ``--out`` (benchmarks/results/data_scale.json).

Targets (issue 12): 25 M rows read + clean + split <= 60 s and peak <= 6 GB on 2 cores;
100 M rows within 24 GiB; ml-100k read + clean <= 0.2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

GENERATE = r"""
import json, sys, time
from pathlib import Path
from recjax.data.synthetic import write_synthetic_log
d, rows = Path(sys.argv[1]), int(float(sys.argv[2]))
t = time.perf_counter()
users, items = write_synthetic_log(d, rows, "ml-25m", seed=0)
(d / "done.json").write_text(json.dumps({"rows": rows, "users": users, "items": items,
                                         "seconds": time.perf_counter() - t}))
"""

PIPELINE = r"""
import json, resource, shutil, sys, time
from pathlib import Path
from recjax.config.schema import CleanConfig, DataConfig, SplitConfig
from recjax.data import cache
from recjax.data.clean import clean
from recjax.data.datasets import read_directory
from recjax.data.split import split
d, mode, staging_dir = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
t0 = time.perf_counter()
if mode == "in-memory":
    raw = read_directory(d, "ml-25m-synthetic")
    t1 = time.perf_counter()
    read_peak = peak()
    ds = clean(raw, CleanConfig())
    del raw
else:
    from recjax.data.staging import clean_out_of_core
    ds = clean_out_of_core(d, "ml-25m-synthetic", CleanConfig(), workdir=staging_dir)
    t1 = time.perf_counter()  # out of core, reading and cleaning are one pass
    read_peak = peak()
t2 = time.perf_counter()
sp = split(ds.interactions, SplitConfig(method="random", ratios=(0.8, 0.1, 0.1), seed=2020))
t3 = time.perf_counter()
entry = d / "cache-entry"
shutil.rmtree(entry, ignore_errors=True)
entry.mkdir()
cache.save(ds, sp, entry)
t4 = time.perf_counter()
cache.load_entry(entry)
t5 = time.perf_counter()
shutil.rmtree(entry, ignore_errors=True)
print(json.dumps({"mode": mode, "raw_rows": sum(s.rows_before for s in ds.report[:1]),
    "rows": len(ds.interactions), "users": ds.num_users, "items": ds.num_items,
    "duplicates_removed": ds.report[1].removed, "read_s": t1 - t0, "clean_s": t2 - t1,
    "split_s": t3 - t2, "total_s": t3 - t0, "cache_write_s": t4 - t3, "cache_load_s": t5 - t4,
    "read_peak_gb": read_peak, "peak_gb": peak()}))
"""

EPOCH = r"""
import json, resource, sys, time
import jax, numpy as np
from pathlib import Path
from recjax.config.schema import CleanConfig, ModelConfig, SplitConfig, TrainConfig
from recjax.data.clean import clean
from recjax.data.datasets import read_directory
from recjax.data.split import split
from recjax.graph import build_graph
from recjax.models import Features, build_model
from recjax.train.loop import epoch_batches, steps_per_epoch
from recjax.train.optim import make_optimizer
from recjax.train.state import TrainState
from recjax.train.step import make_train_step
d, batch, full = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1"
ds = clean(read_directory(d, "ml-25m-synthetic"), CleanConfig())
sp = split(ds.interactions, SplitConfig(seed=2020))
t = time.perf_counter()
graph = build_graph(sp.train, dense_limit=0)
jax.block_until_ready(graph)
graph_s = time.perf_counter() - t
nu, ni = ds.num_users, ds.num_items
model = build_model(ModelConfig(name="lightgcn", dim=64, num_layers=3), nu, ni)
cfg = TrainConfig(batch_size=batch, reg_weight=1e-5)
features = Features()
params = model.init(jax.random.key(0), graph, features)
tx = make_optimizer(cfg, 1000)
state = TrainState.create(params, tx, jax.random.key(1))
step = make_train_step(model, cfg, tx)
batches = epoch_batches(sp.train, batch, 0, 1)
n_steps = steps_per_epoch(len(sp.train), batch)
get = lambda i: jax.device_put({k: v[i] for k, v in batches.items()})
t = time.perf_counter()
state, m = step(state, graph, get(0), features); jax.block_until_ready(m)
compile_s = time.perf_counter() - t
timed = n_steps - 1 if full else min(20, n_steps - 1)
t = time.perf_counter()
for i in range(1, timed + 1):
    state, m = step(state, graph, get(i), features)
jax.block_until_ready(m)
step_s = (time.perf_counter() - t) / max(timed, 1)
print(json.dumps({"train_edges": len(sp.train), "users": nu, "items": ni, "graph_s": graph_s,
    "compile_s": compile_s, "step_s": step_s, "steps_per_epoch": n_steps,
    "steps_timed": timed, "epoch_s": step_s * n_steps, "epoch_extrapolated": not full,
    "loss": float(np.asarray(m["loss"])) if "loss" in m else None,
    "device": str(jax.devices()[0].device_kind),
    "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}))
"""


ENGINE = r"""
import json, resource, sys, time
path, engine = sys.argv[1], sys.argv[2]
ids, numbers = ("userId", "movieId"), ("rating", "timestamp")
if engine == "pyarrow":
    import pyarrow as lib
    from recjax.data import columns
else:
    import polars as lib
t = time.perf_counter()  # imports excluded
if engine == "pyarrow":
    table = columns.read_typed(path, ids + numbers, ",", 1, floats=numbers, tokens=ids)
    codes = [columns.encode_strings(table[c])[0] for c in ids]
    values = [columns.float_values(table[c]) for c in numbers]
else:
    df = lib.read_csv(path, schema={"userId": lib.Categorical, "movieId": lib.Categorical,
                                    "rating": lib.Float64, "timestamp": lib.Float64})
    codes = [df[c].to_physical().to_numpy() for c in ids]
    values = [df[c].to_numpy() for c in numbers]
seconds = time.perf_counter() - t
print(json.dumps({"engine": engine, "version": lib.__version__, "rows": len(codes[0]),
    "read_s": seconds, "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}))
"""


def run(code: str, *args: str) -> dict | None:
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"failed ({' '.join(args)}): {proc.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def ensure_log(workdir: Path, rows: int) -> Path:
    d = workdir / f"ml25m-{rows}"
    done = d / "done.json"
    if not (done.is_file() and json.loads(done.read_text())["rows"] == rows):
        print(f"writing {rows:,} rows into {d} ...", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-c", GENERATE, str(d), str(rows)], check=True)
    return d


def filesystem(path: Path) -> str:
    """The file system type of ``path`` (from /proc/mounts; "?" elsewhere)."""
    try:
        mounts = [line.split()[1:3] for line in Path("/proc/mounts").read_text().splitlines()]
    except OSError:
        return "?"
    path = path.resolve()
    best = max((m for m in mounts if path.is_relative_to(m[0])), key=lambda m: len(m[0]),
               default=("/", "?"))
    return best[1]


def compare_engines(workdir: Path, rows: int, repeats: int) -> list[dict]:
    """pyarrow (recjax's typed reader) and Polars reading one log into typed columns."""
    import importlib.util

    d = ensure_log(workdir, rows)
    engines = ["pyarrow"]
    if importlib.util.find_spec("polars") is None:
        print("polars is not installed: comparing nothing but pyarrow (pip install polars)",
              file=sys.stderr)
    else:
        engines.append("polars")
    out = []
    for engine in engines:
        runs = [r for r in (run(ENGINE, str(d / "ratings.csv"), engine) for _ in range(repeats))
                if r is not None]
        if runs:
            best = min(runs, key=lambda r: r["read_s"])
            best["repeats"] = len(runs)
            out.append(best)
    return out


def main() -> None:
    from recjax.data.registry import data_dir
    from recjax.data.staging import staging_root

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=float, nargs="*", default=[1e6, 5e6, 25e6, 1e8])
    p.add_argument("--epoch-rows", type=float, default=25e6,
                   help="size for the graph build and LightGCN epoch (0: skip)")
    p.add_argument("--batch", type=int, default=8192)
    p.add_argument("--full-epoch", action="store_true")
    p.add_argument("--out-of-core-from", type=float, default=5e7,
                   help="also run sizes from this many rows through the out-of-core path")
    p.add_argument("--workdir", default=str(data_dir() / "data-scale"),
                   help="where the generated logs are kept (default: on disk, next to the "
                        "cleaned-data cache)")
    p.add_argument("--staging-dir", default=None,
                   help="where the out-of-core path stages (default $RECJAX_STAGING_DIR, else "
                        "$RECJAX_DATA/staging)")
    p.add_argument("--compare-engines", action="store_true",
                   help="also time pyarrow and Polars reading one log into typed columns")
    p.add_argument("--compare-rows", type=float, default=5e6)
    p.add_argument("--compare-repeats", type=int, default=3)
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "data_scale.json"))
    args = p.parse_args()
    from recjax.tables import format_table

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    staging_dir = Path(args.staging_dir) if args.staging_dir else staging_root() or workdir
    staging_dir.mkdir(parents=True, exist_ok=True)
    results, epoch, engines = [], None, []
    for rows in sorted(int(r) for r in args.rows):
        d = ensure_log(workdir, rows)
        modes = ["in-memory"] + (["out-of-core"] if rows >= args.out_of_core_from else [])
        for mode in modes:
            r = run(PIPELINE, str(d), mode, str(staging_dir))
            if r is None:
                continue
            r["file_mb"] = (d / "ratings.csv").stat().st_size / 2**20
            r["raw_rows"] = rows
            results.append(r)
            print(f"{rows:,} rows ({mode}): read {r['read_s']:.1f} s, clean {r['clean_s']:.1f} s,"
                  f" split {r['split_s']:.1f} s, peak {r['peak_gb']:.2f} GB", file=sys.stderr,
                  flush=True)
    if args.epoch_rows:
        d = ensure_log(workdir, int(args.epoch_rows))
        epoch = run(EPOCH, str(d), str(args.batch), "1" if args.full_epoch else "0")
    if args.compare_engines:
        engines = compare_engines(workdir, int(args.compare_rows), args.compare_repeats)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; pyarrow path; "
          f"dedup=first, split random 8:1:1 seed 2020; logs in {workdir} "
          f"({filesystem(workdir)}), staging in {staging_dir} ({filesystem(staging_dir)})")
    if results:
        print(format_table(
            [(f"{r['raw_rows']:,}", r["mode"], f"{r['file_mb']:,.0f}", f"{r['rows']:,}",
              f"{r['users']:,} / {r['items']:,}", f"{r['read_s']:.1f}",
              f"{r['clean_s']:.1f}" if r["mode"] == "in-memory" else "(in read)",
              f"{r['split_s']:.1f}", f"{r['total_s']:.1f}", f"{r['peak_gb']:.2f}",
              f"{r['cache_write_s']:.1f} / {r['cache_load_s']:.1f}") for r in results],
            ["raw rows", "path", "file MB", "clean rows", "users / items", "read s", "clean s",
             "split s", "total s", "peak RSS GB", "cache write / load s"], markdown=True))
    if epoch:
        kind = ("extrapolated from " + f"{epoch['steps_timed']} steps"
                if epoch["epoch_extrapolated"] else "measured")
        print(f"\nLightGCN (64-d, 3 layers, batch {args.batch}) on {epoch['device']}, "
              f"{int(args.epoch_rows):,} raw rows:")
        print(format_table(
            [(f"{epoch['train_edges']:,}", f"{epoch['users']:,} / {epoch['items']:,}",
              f"{epoch['graph_s']:.1f}", f"{epoch['compile_s']:.1f}",
              f"{epoch['step_s'] * 1e3:.0f}", f"{epoch['steps_per_epoch']:,}",
              f"{epoch['epoch_s']:.1f} ({kind})", f"{epoch['peak_gb']:.1f}")],
            ["train edges", "users / items", "graph build s", "compile s", "step ms", "steps",
             "epoch s", "peak RSS GB"], markdown=True))
    if engines:
        print(f"\nTyped read of one log ({int(args.compare_rows):,} rows, ratings.csv: ids "
              f"dictionary-encoded, numbers float64), best of {args.compare_repeats}:")
        fastest = min(e["read_s"] for e in engines)
        print(format_table(
            [(e["engine"], e["version"], f"{e['rows']:,}", f"{e['read_s']:.2f}",
              f"{e['read_s'] / fastest:.2f}x", f"{e['peak_gb']:.2f}") for e in engines],
            ["engine", "version", "rows", "read s", "vs fastest", "peak RSS GB"],
            markdown=True))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"pipeline": results, "epoch": epoch, "engines": engines},
                              indent=1))


if __name__ == "__main__":
    main()
