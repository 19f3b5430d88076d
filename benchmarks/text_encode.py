"""Text-encoding throughput: recjax's Flax BERT vs PyTorch sentence-transformers, side by side.

    .venv/bin/python benchmarks/text_encode.py [--torch-python /path/to/python]

Corpora: the 1,682 ml-100k item texts (short: title, year, genres) and 2,000 synthetic texts of
mixed length (10 to ~150 tokens). For recjax the first call (compilation) is timed apart from
the best of ``--repeats`` warm calls. The PyTorch side runs in a separate interpreter that has
torch and sentence-transformers (they are never dependencies of recjax), at 1 and 2 threads,
with its own dynamic padding (``encode(batch_size=64)``). Prints a Markdown table and writes
``benchmarks/results/text_encode.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TORCH_SCRIPT = r"""
import json, sys, time, torch
from sentence_transformers import SentenceTransformer
texts_path, model_dir = sys.argv[1], sys.argv[2]
threads, repeats = int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
corpora = json.load(open(texts_path))
model = SentenceTransformer(model_dir, device="cpu")
out = {}
for name, texts in corpora.items():
    model.encode(texts[:64], batch_size=64)
    best = 1e9
    for _ in range(repeats):
        t = time.perf_counter()
        model.encode(texts, batch_size=64)
        best = min(best, time.perf_counter() - t)
    out[name] = best
print(json.dumps({"seconds": out, "torch": torch.__version__}))
"""


def corpora() -> dict[str, list[str]]:
    from recjax.data.datasets import load_dataset
    from recjax.data.synthetic import item_text
    from recjax.text.templates import ITEM_TEMPLATE, render

    ds = load_dataset("ml-100k")
    items = render(ITEM_TEMPLATE, ds.item_features, ds.num_items)
    rng = np.random.default_rng(0)
    synth = []
    for i in range(2000):
        title, desc = item_text(i, int(rng.integers(0, 12)), rng)
        synth.append(" ".join([title + "."] + [desc] * int(rng.integers(0, 14))))
    return {"ml-100k items": items, "synthetic mixed": synth}


def bench_recjax(texts, layout: str, repeats: int) -> dict:
    from recjax.text.encode import TextEncoder

    enc = TextEncoder()
    kw = {"packing": layout == "packed"}
    t = time.perf_counter()
    enc.encode(texts, **kw)
    first = time.perf_counter() - t
    best, stats = 1e9, None
    for _ in range(repeats):
        t = time.perf_counter()
        _, stats = enc.encode(texts, **kw)
        best = min(best, time.perf_counter() - t)
    return {"seconds": best, "compile_seconds": max(first - best, 0.0),
            "tokens": stats.num_tokens, "padded_tokens": stats.padded_tokens}


def bench_torch(python: str, data: dict, repeats: int, threads: int) -> dict | None:
    from recjax.data.registry import fetch

    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(data, f)
    proc = subprocess.run([python, "-c", TORCH_SCRIPT, f.name, str(fetch("all-MiniLM-L6-v2")),
                           str(threads), str(repeats)], capture_output=True, text=True)
    os.unlink(f.name)
    if proc.returncode != 0:
        print(f"(torch side failed: {proc.stderr.strip().splitlines()[-1:]})", file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--torch-python", help="python with torch + sentence-transformers")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    import jax

    from recjax.tables import format_table
    from recjax.text.encode import load_encoder

    data = corpora()
    tokenizer = load_encoder().tokenizer
    real_tokens = {k: sum(len(x) for x in tokenizer(v).ids) for k, v in data.items()}
    rows, results = [], []
    for name, texts in data.items():
        for layout in ("packed", "bucketed"):
            r = bench_recjax(texts, layout, args.repeats)
            results.append({"corpus": name, "impl": f"recjax {layout}", **r})
            rows.append((name, f"recjax JAX {jax.__version__}, {layout}", "XLA, 2 cores",
                         f"{len(texts) / r['seconds']:,.0f}",
                         f"{r['tokens'] / r['seconds']:,.0f}", f"{r['compile_seconds']:.1f}",
                         f"{r['padded_tokens'] / r['tokens']:.2f}"))
    if args.torch_python:
        for threads in (1, 2):
            res = bench_torch(args.torch_python, data, args.repeats, threads)
            if res is None:
                continue
            for name, secs in res["seconds"].items():
                n = len(data[name])
                results.append({"corpus": name, "impl": f"torch {threads} thread(s)",
                                "seconds": secs})
                rows.append((name, f"sentence-transformers, torch {res['torch']}",
                             f"{threads} thread(s)", f"{n / secs:,.0f}",
                             f"{real_tokens[name] / secs:,.0f}", "-", "dynamic"))
    rows.sort(key=lambda r: r[0])
    headers = ["corpus", "implementation", "threads", "sentences/s", "tokens/s",
               "compile s", "padded/real tokens"]
    sizes = ", ".join(f"{k} {len(v):,} ({real_tokens[k]:,} tokens)" for k, v in data.items())
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; texts: {sizes}")
    print(format_table(rows, headers, markdown=True))
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "text_encode.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
