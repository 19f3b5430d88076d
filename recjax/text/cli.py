"""``recjax-encode``: encode a dataset's item and user texts and report counts, time and cache
hits. (Plain options; the Hydra experiment entrypoints take the same settings from ``conf/``.)
"""

from __future__ import annotations

import argparse
import sys

from recjax.config.schema import TextConfig
from recjax.data.clean import clean
from recjax.data.datasets import read_raw
from recjax.tables import format_table


def main(argv=None) -> int:
    d = TextConfig()
    p = argparse.ArgumentParser(prog="recjax-encode", description=__doc__)
    p.add_argument("dataset", nargs="?", default="ml-100k")
    p.add_argument("--path", help="directory of the dataset's files")
    p.add_argument("--checkpoint", default=d.checkpoint,
                   help="registry name or local Hugging Face BERT directory")
    p.add_argument("--item-template", default=d.item_template)
    p.add_argument("--user-template", default=d.user_template)
    p.add_argument("--pooling", default=d.pooling, choices=["mean", "cls"])
    p.add_argument("--dtype", default=d.dtype, choices=["float32", "bfloat16"])
    p.add_argument("--max-length", type=int)
    p.add_argument("--batch-tokens", type=int, default=d.batch_tokens)
    p.add_argument("--no-cache", action="store_true")
    p.add_argument("--out", help="also save items.npy and users.npy into this directory")
    args = p.parse_args(argv)
    cfg = TextConfig(checkpoint=args.checkpoint, item_template=args.item_template,
                     user_template=args.user_template, pooling=args.pooling, dtype=args.dtype,
                     max_length=args.max_length, batch_tokens=args.batch_tokens,
                     cache=not args.no_cache)
    try:
        from recjax.text.features import encode, item_texts, user_texts

        dataset = clean(read_raw(args.dataset, args.path))
        rows = []
        results = {}
        for part, texts, template in (("items", item_texts(dataset, cfg), cfg.item_template),
                                      ("users", user_texts(dataset, cfg), cfg.user_template)):
            vectors, stats = encode(texts, cfg, template, return_stats=True, progress=None)
            results[part] = vectors
            empty = sum(1 for t in texts if not t)
            rate = f"{stats.num_texts / stats.seconds:,.0f}" if not stats.cache_hit else "-"
            rows.append((part, len(texts), empty, vectors.shape[1],
                         "hit" if stats.cache_hit else "miss", f"{stats.seconds:.2f}", rate,
                         texts[0][:48]))
    except (OSError, ValueError, KeyError, TypeError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"recjax-encode: error: {msg}", file=sys.stderr)
        return 2
    print(f"dataset {dataset.name}, checkpoint {cfg.checkpoint}")
    print(format_table(rows, ["texts", "count", "empty", "dim", "cache", "seconds",
                              "texts/s", "first text"]))
    print("(seconds include loading and compiling; benchmarks/text_encode.py separates them)")
    if args.out:
        from pathlib import Path

        import numpy as np

        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        for part, vectors in results.items():
            np.save(out / f"{part}.npy", vectors)
        print(f"saved {out / 'items.npy'} and {out / 'users.npy'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
