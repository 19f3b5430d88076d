"""``recjax-data``: fetch, clean and split a dataset and print what happened to it."""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from recjax.config.schema import CleanConfig, SplitConfig
from recjax.data import cache as data_cache
from recjax.data import registry
from recjax.data.clean import EmptyDatasetError, clean
from recjax.data.datasets import read_raw, resolve_path
from recjax.data.readers import DataFormatError
from recjax.data.registry import FetchError
from recjax.data.split import split
from recjax.data.staging import clean_out_of_core
from recjax.tables import format_table
from recjax.types import Dataset, Split


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="recjax-data", description=__doc__)
    p.add_argument("dataset", nargs="?",
                   help="registered name (ml-100k, ml-1m, ml-10m, ml-20m, ml-25m, "
                        "amazon-2023-<Category>) or a name with --path")
    p.add_argument("--prune-cache", action="store_true",
                   help="remove every entry of the cleaned-data cache "
                        "($RECJAX_DATA_CACHE_DIR, default ~/.cache/recjax/cleaned) and print "
                        "the bytes freed")
    p.add_argument("--path", help="directory of atomic (<name>.inter) or MovieLens files")
    p.add_argument("--dedup", default="first", choices=["first", "last", "max_rating", "none"])
    p.add_argument("--min-rating", type=float)
    p.add_argument("--user-core", type=int, default=0)
    p.add_argument("--item-core", type=int, default=0)
    p.add_argument("--split", default="random", choices=[
        "random", "temporal", "global_temporal", "loo", "kfold", "cold_item", "cold_user"])
    p.add_argument("--ratios", type=float, nargs=3, default=(0.8, 0.1, 0.1))
    p.add_argument("--seed", type=int, default=2020)
    p.add_argument("--num-folds", type=int, default=5)
    p.add_argument("--fold", type=int, default=0)
    p.add_argument("--cold-fraction", type=float, default=0.2)
    p.add_argument("--out-of-core", action="store_true",
                   help="stream the interactions through on-disk staging files (logs larger "
                        "than memory; RecBole atomic files or ratings.csv)")
    return p


def dataset_summary(ds: Dataset) -> str:
    x = ds.interactions
    density = len(x) / (ds.num_users * ds.num_items)
    rows = [("users", ds.num_users), ("items", ds.num_items), ("interactions", len(x)),
            ("density", f"{density:.4%}"),
            ("ratings", f"{x.ratings.min():g}..{x.ratings.max():g} (mean {x.ratings.mean():.3f})"),
            ("behaviours", ", ".join(ds.id_maps.behaviors)),
            ("item fields", ", ".join(ds.item_features) or "-"),
            ("user fields", ", ".join(ds.user_features) or "-")]
    return format_table(rows, ["dataset " + ds.name, ""])


def cleaning_summary(ds: Dataset) -> str:
    rows = []
    for s in ds.report:
        detail = ", ".join(f"{k}: {v:,}" for k, v in s.details.items()) or "-"
        rows.append((s.name, s.rows_before, s.removed, s.filled, s.rows_after, detail))
    return format_table(rows, ["cleaning step", "rows in", "removed", "filled", "rows out",
                               "details"])


def split_summary(sp: Split) -> str:
    rows = []
    total = len(sp.train) + len(sp.valid) + len(sp.test)
    for name, part in (("train", sp.train), ("valid", sp.valid), ("test", sp.test)):
        rows.append((name, len(part), f"{len(part) / max(total, 1):.1%}",
                     len(np.unique(part.user_ids)), len(np.unique(part.item_ids))))
    out = format_table(rows, ["part", "interactions", "share", "users", "items"])
    extra = [f"cold items: {len(sp.cold_item_ids):,}" if len(sp.cold_item_ids) else "",
             f"cold users: {len(sp.cold_user_ids):,}" if len(sp.cold_user_ids) else ""]
    extra += [f"dropped, {k}: {v:,}" for k, v in sp.dropped.items()]
    return out + "".join("\n" + e for e in extra if e)


def prune_cache() -> int:
    root = data_cache.cache_root()
    removed, freed, busy = data_cache.prune(root)
    in_use = f"; {busy} in use by a running job, left alone" if busy else ""
    print(f"pruned the cleaned-data cache {root}: removed {removed} entr"
          f"{'y' if removed == 1 else 'ies'}, freed {freed:,} bytes ({freed / 2**20:.1f} MiB)"
          f"{in_use}")
    return 0


def main(argv=None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.prune_cache:
        try:
            prune_cache()
        except OSError as e:
            print(f"recjax-data: error: cannot prune the cleaned-data cache: {e}",
                  file=sys.stderr)
            return 2
        if args.dataset is None:
            return 0
    elif args.dataset is None:
        parser.error("give a dataset (or --prune-cache)")
    try:
        clean_cfg = CleanConfig(dedup=args.dedup, min_rating=args.min_rating,
                                user_core=args.user_core, item_core=args.item_core)
        split_cfg = SplitConfig(method=args.split, ratios=tuple(args.ratios), seed=args.seed,
                                num_folds=args.num_folds, fold=args.fold,
                                cold_fraction=args.cold_fraction)
        t0 = time.perf_counter()
        if args.out_of_core:
            directory = args.path or registry.fetch(args.dataset)
            ds = clean_out_of_core(resolve_path(directory), args.dataset, clean_cfg)
            t1 = t2 = time.perf_counter()
        else:
            raw = read_raw(args.dataset, args.path)
            t1 = time.perf_counter()
            ds = clean(raw, clean_cfg)
            t2 = time.perf_counter()
        sp = split(ds.interactions, split_cfg)
        t3 = time.perf_counter()
    except (FetchError, DataFormatError, EmptyDatasetError, KeyError, ValueError,
            FileNotFoundError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"recjax-data: error: {msg}", file=sys.stderr)
        return 2
    print(dataset_summary(ds), end="\n\n")
    print(cleaning_summary(ds), end="\n\n")
    print(f"split: {split_cfg.method} {tuple(split_cfg.ratios)} seed {split_cfg.seed}")
    print(split_summary(sp), end="\n\n")
    if args.out_of_core:
        print(f"time: read and clean out of core {t2 - t0:.2f} s, split {t3 - t2:.3f} s")
    else:
        print(f"time: read {t1 - t0:.2f} s, clean {t2 - t1:.2f} s, split {t3 - t2:.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
