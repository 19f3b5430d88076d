"""RecBole on exactly recjax's split: export the split as RecBole benchmark files, run RecBole.

    .venv/bin/python benchmarks/recbole_same_split.py --dataset ml-100k --split-seeds 2020 \\
        --models pop itemknn ease bpr lightgcn ngcf simgcl \\
        --recbole-python ../rbvenv/bin/python --out benchmarks/results/recbole_same_split.json

The split recjax makes (``recjax.data.datasets.load``) is written as RecBole atomic files
``<name>/<name>.train.inter``, ``.valid.inter`` and ``.test.inter``, which RecBole reads with
``benchmark_filename: [train, valid, test]``. With benchmark files RecBole skips its filtering
(no k-core, no rating threshold, no duplicate removal) and its own split; its token remapping
only renames ids. The RecBole process checks this: it maps its three parts back to tokens and
stops if any (user, item) pair differs from the files.

RecBole runs in its own Python (``--recbole-python``, see ``shared/recbole/README.md``), one
process per (split seed, model), never imported here: RecBole and torch are not recjax
dependencies. The child calls Config -> init_seed -> create_dataset -> data_preparation -> model
-> Trainer itself, because ``recbole.quick_start`` imports ray.

Settings (recorded in the JSON): full-sort ranking with train (and, at test, valid) items
masked; Recall, NDCG, MRR, Hit, Precision at 10 and 20; model selection and early stopping on
valid NDCG@10, patience 10, at most 300 epochs. BPR, LightGCN, NGCF and SimGCL train with BPR
loss, one uniform negative, Adam 1e-3, batch 2048, embedding 64. Pop, ItemKNN and EASE take no
negatives (Pop would count sampled negatives as popularity) and fit in RecBole's one epoch.
Everything else is each model's RecBole default, copied into the JSON from RecBole's config.

Writes one record per (dataset, split seed, model) into ``--out``, replacing records with the
same key and keeping the others, so seeds and models can be added run by run; each record holds
the command that reproduces it. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from recjax.data.readers import read_atomic_dataset
from recjax.types import IdMaps, Interactions, Split

PARTS = ("train", "valid", "test")
HEADER = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"

# Strings pandas (RecBole's reader) turns into NaN, or that its CSV parser or recjax's reader
# (which strips cells) would read differently: such raw ids cannot be written as tokens.
PANDAS_NA = frozenset({
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"})

MODELS = {"pop": "Pop", "itemknn": "ItemKNN", "ease": "EASE", "bpr": "BPR",
          "lightgcn": "LightGCN", "ngcf": "NGCF", "simgcl": "SimGCL"}
TRADITIONAL = ("pop", "itemknn", "ease")

COMMON = {
    "benchmark_filename": list(PARTS),
    "USER_ID_FIELD": "user_id",
    "ITEM_ID_FIELD": "item_id",
    "load_col": {"inter": ["user_id", "item_id"]},
    # Benchmark files bypass RecBole's filtering; these say so again should that ever change.
    "rm_dup_inter": None,
    "val_interval": None,
    "filter_inter_by_user_or_item": False,
    "user_inter_num_interval": "[0,inf)",
    "item_inter_num_interval": "[0,inf)",
    "threshold": None,
    # Ignored with benchmark files (the files are the split); kept to state full-sort ranking.
    "eval_args": {"split": {"RS": [0.8, 0.1, 0.1]}, "group_by": "user", "order": "RO",
                  "mode": "full"},
    "metrics": ["Recall", "NDCG", "MRR", "Hit", "Precision"],
    "topk": [10, 20],
    "valid_metric": "NDCG@10",
    "epochs": 300,
    "stopping_step": 10,
    "eval_step": 1,
    "reproducibility": True,
    "use_gpu": False,
    "show_progress": False,
    "save_dataset": False,
    "save_dataloaders": False,
    "log_wandb": False,
}
BPR_STYLE = {
    "learner": "adam",
    "learning_rate": 1e-3,
    "train_batch_size": 2048,
    "embedding_size": 64,
    "train_neg_sample_args": {"distribution": "uniform", "sample_num": 1, "alpha": 1.0,
                              "dynamic": False, "candidate_num": 0},
}
# Why a model may be missing from a RecBole install (added to the child's own reason).
WHERE = {"simgcl": "SimGCL is not part of RecBole 1.2.1; it ships in RecBole-GNN, which is not "
                   "published on PyPI (no project 'recbole-gnn' or 'recbole_gnn' there), only as "
                   "source; it would also need torch_geometric"}
# Pop counts every training row it is shown, sampled negatives included, so it gets none;
# ItemKNN and EASE read the interaction matrix and ignore training batches.
NO_NEGATIVES = {"train_neg_sample_args": None}


def _check_tokens(raw: np.ndarray, kind: str) -> None:
    for token in raw:
        token = str(token)
        if (token in PANDAS_NA or token != token.strip() or '"' in token
                or any(c in token for c in "\t\r\n")):
            raise ValueError(
                f"raw {kind} id {token!r} would not survive RecBole's pandas reader or recjax's "
                f"atomic reader; export with ids='dense'")


def _tokens(id_maps: IdMaps, ids: str) -> tuple[np.ndarray, np.ndarray]:
    """Token strings of every dense user and item id."""
    if ids == "dense":
        return (np.arange(id_maps.num_users).astype(str).astype(object),
                np.arange(id_maps.num_items).astype(str).astype(object))
    if ids != "raw":
        raise ValueError(f"ids must be 'raw' or 'dense', got {ids!r}")
    _check_tokens(id_maps.user_raw, "user")
    _check_tokens(id_maps.item_raw, "item")
    return np.asarray(id_maps.user_raw, object), np.asarray(id_maps.item_raw, object)


def export_split(split: Split, id_maps: IdMaps, directory: str | os.PathLike, name: str,
                 ids: str = "raw") -> dict[str, Path]:
    """Write ``split`` as ``directory/name/name.{train,valid,test}.inter``; returns the paths.

    ``ids="raw"`` writes the original ids (refusing any that RecBole's reader would turn into
    NaN or re-quote), ``ids="dense"`` recjax's dense ids. Ratings and timestamps are written
    with ``repr`` so they parse back to the same floats; behaviours are not written (RecBole's
    general recommenders have none).
    """
    user_tok, item_tok = _tokens(id_maps, ids)
    out = Path(directory) / name
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for part in PARTS:
        inter: Interactions = getattr(split, part)
        rows = [f"{u}\t{i}\t{float(r)!r}\t{float(t)!r}\n" for u, i, r, t in zip(
            user_tok[inter.user_ids], item_tok[inter.item_ids], inter.ratings, inter.timestamps)]
        paths[part] = out / f"{name}.{part}.inter"
        paths[part].write_text(HEADER + "".join(rows), encoding="utf-8")
    return paths


def read_split(directory: str | os.PathLike, name: str, id_maps: IdMaps,
               ids: str = "raw") -> Split:
    """Read files written by :func:`export_split` back with recjax's atomic reader."""
    parts = {}
    for part in PARTS:
        table = read_atomic_dataset(Path(directory) / name, f"{name}.{part}").interactions
        users, items = table.column("user_id"), table.column("item_id")
        if ids == "dense":
            user_ids, item_ids = users.astype(np.int32), items.astype(np.int32)
        else:
            user_ids, item_ids = id_maps.user_index(users), id_maps.item_index(items)
        parts[part] = Interactions(
            user_ids, item_ids, table.column("rating").astype(np.float32),
            table.column("timestamp").astype(np.float64), np.zeros(len(table), np.int32),
            id_maps.num_users, id_maps.num_items)
    return Split(**parts)


def recbole_config(model: str, data_path: str | os.PathLike, checkpoint_dir: str | os.PathLike,
                   seed: int) -> dict:
    """The ``config_dict`` RecBole gets for ``model`` (a key of :data:`MODELS`)."""
    if model not in MODELS:
        raise KeyError(f"unknown model {model!r}; valid: {sorted(MODELS)}")
    extra = NO_NEGATIVES if model in TRADITIONAL else BPR_STYLE
    return {**COMMON, **extra, "seed": seed, "data_path": str(data_path),
            "checkpoint_dir": str(checkpoint_dir)}


def recbole_name(dataset: str, split_seed: int) -> str:
    # Not the dataset's own name: RecBole's Config replaces data_path with its bundled example
    # directory when the dataset is called "ml-100k".
    return f"{dataset}-split{split_seed}"


CHILD = Path(__file__).with_name("recbole_child.py")



def run_recbole(python: str, model: str, rb_name: str, files: dict[str, Path], seed: int,
                threads: int) -> dict:
    """Train and evaluate one RecBole model in its own process on the exported files."""
    with tempfile.TemporaryDirectory(prefix="recbole-") as tmp:
        tmp = Path(tmp)
        data_path = files["train"].parent.parent
        spec = {"model": MODELS[model], "dataset": rb_name,
                "config": recbole_config(model, data_path, tmp / "saved", seed),
                "files": {p: str(f) for p, f in files.items()}}
        (tmp / "spec.json").write_text(json.dumps(spec))
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
        # cwd=tmp: RecBole writes log_tensorboard/ into the working directory.
        proc = subprocess.Popen(
            [python, str(CHILD), str(tmp / "spec.json"), str(tmp / "result.json")], cwd=tmp,
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        tail = collections.deque(maxlen=30)
        for line in proc.stdout:
            tail.append(line)
            if line.startswith("  | "):
                print(line, end="", file=sys.stderr, flush=True)
        if proc.wait() != 0 or not (tmp / "result.json").is_file():
            return {"status": "failed", "reason": "".join(tail)[-3000:]}
        result = json.loads((tmp / "result.json").read_text())
        if result["status"] == "unavailable" and model in WHERE:
            result["reason"] = f"{WHERE[model]}. {result['reason']}"
        return result


def _command(args, split_seed: int, model: str) -> str:
    cmd = [".venv/bin/python", "benchmarks/recbole_same_split.py", "--dataset", args.dataset,
           "--split-method", args.split_method, "--split-seeds", str(split_seed),
           "--models", model, "--seed", str(args.seed), "--ids", args.ids,
           "--recbole-python", args.recbole_python, "--threads", str(args.threads),
           "--out", str(args.out)]
    return shlex.join(cmd)


def _merge(path: Path, runs: list[dict]) -> None:
    key = lambda r: (r["dataset"], r["split_method"], r["split_seed"], r["model"])
    old = json.loads(path.read_text())["runs"] if path.is_file() else []
    new = {key(r) for r in runs}
    merged = sorted([r for r in old if key(r) not in new] + runs,
                    key=lambda r: (*key(r)[:3], list(MODELS).index(r["model"])))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "about": __doc__.splitlines()[0],
        "settings": {"common": COMMON, "bpr_style (bpr, lightgcn, ngcf, simgcl)": BPR_STYLE,
                     "pop, itemknn, ease": NO_NEGATIVES},
        "runs": merged}, indent=1) + "\n")


def _fmt(run: dict, part: str, metric: str) -> str:
    return f"{run[part][metric]:.4f}" if run.get("status") == "ok" else "-"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="ml-100k")
    p.add_argument("--split-method", default="random")
    p.add_argument("--split-seeds", type=int, nargs="+", default=[2020])
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--seed", type=int, default=2020, help="RecBole's training seed")
    p.add_argument("--ids", choices=("raw", "dense"), default="raw")
    p.add_argument("--recbole-python", help="a Python with RecBole 1.2.1 (omit: export only)")
    p.add_argument("--threads", type=int, default=1, help="OMP_NUM_THREADS for RecBole")
    p.add_argument("--export-dir", type=Path, help="keep the exported files here")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/recbole_same_split.json"))
    args = p.parse_args()
    if args.recbole_python and os.sep in args.recbole_python:  # children run in temp dirs
        args.recbole_python = os.path.abspath(args.recbole_python)
    from recjax.config.schema import DataConfig, SplitConfig
    from recjax.data.datasets import load
    from recjax.tables import format_table

    runs = []
    with tempfile.TemporaryDirectory(prefix="recbole-export-") as tmp:
        export_dir = args.export_dir or Path(tmp)
        for split_seed in args.split_seeds:
            cfg = DataConfig(name=args.dataset,
                             split=SplitConfig(method=args.split_method, seed=split_seed))
            dataset, split = load(cfg)
            rb_name = recbole_name(args.dataset, split_seed)
            files = export_split(split, dataset.id_maps, export_dir, rb_name, args.ids)
            sizes = {part: len(getattr(split, part)) for part in PARTS}
            print(f"{args.dataset} split seed {split_seed}: {sizes} -> {files['train'].parent}",
                  file=sys.stderr, flush=True)
            if not args.recbole_python:
                continue
            for model in args.models:
                print(f"RecBole {MODELS[model]} on split seed {split_seed} ...", file=sys.stderr,
                      flush=True)
                t, load_before = time.perf_counter(), os.getloadavg()[0]
                result = run_recbole(args.recbole_python, model, rb_name, files, args.seed,
                                     args.threads)
                run = {"dataset": args.dataset, "split_method": args.split_method,
                       "split_seed": split_seed, "model": model, "recbole_model": MODELS[model],
                       "training_seed": args.seed, "ids": args.ids,
                       "recjax": {"num_users": dataset.num_users, "num_items": dataset.num_items,
                                  "sizes": sizes},
                       **result, "wall_s": time.perf_counter() - t,
                       # Other work on the machine slows RecBole: the 1-minute load average.
                       "load_avg": [load_before, os.getloadavg()[0]],
                       "machine": f"{platform.machine()}, {os.cpu_count()} cores",
                       "command": _command(args, split_seed, model)}
                runs.append(run)
                _merge(args.out, [run])
                if run["status"] == "ok" and (run["num_users"], run["num_items"]) != (
                        dataset.num_users, dataset.num_items):
                    # RecBole ranks the items found in the three files; recjax all of num_items.
                    print(f"warning: RecBole sees {run['num_users']} users, {run['num_items']} "
                          f"items; recjax {dataset.num_users}, {dataset.num_items}",
                          file=sys.stderr)
                if run["status"] == "ok":
                    print(f"RecBole {MODELS[model]}: test NDCG@10 {_fmt(run, 'test', 'ndcg@10')}"
                          f", Recall@20 {_fmt(run, 'test', 'recall@20')}, valid NDCG@10 "
                          f"{_fmt(run, 'valid', 'ndcg@10')}, best epoch {run['best_epoch']}/"
                          f"{run['epochs_run']}, {run['seconds']:.1f} s", file=sys.stderr,
                          flush=True)
                else:
                    print(f"RecBole {MODELS[model]}: {run['status']}: {run['reason']}",
                          file=sys.stderr, flush=True)
    if runs:
        rows = [(f"RecBole {r['recbole_model']}", str(r["split_seed"]), _fmt(r, "test", "ndcg@10"),
                 _fmt(r, "test", "recall@20"), _fmt(r, "valid", "ndcg@10"),
                 r.get("best_epoch", "-"), f"{r['seconds']:.1f}" if "seconds" in r else "-")
                for r in runs]
        print(format_table(rows, ["model", "split seed", "test NDCG@10", "test Recall@20",
                                  "valid NDCG@10", "best epoch", "s"], markdown=True))


if __name__ == "__main__":
    main()
