"""Cost against graph size: LightGCN and the text-fused GNN on synthetic power-law graphs.

    .venv/bin/python benchmarks/scaling.py [--edges 1e5 1e6 1e7] [--batch 8192]

Graphs come from recjax.data.synthetic (power-law user activity and item popularity) with
users = edges / 20 and items = edges / 40, split 8:1:1 per user. Both models: 64-d, 3 LightGCN
layers, BPR with batch-size rows; text_gnn adds a 384-d text vector per node (random unit
vectors: the model's cost is that of real MiniLM vectors, which would take minutes to encode
at 1e7 edges). Each (size, model) runs in its own process so peak memory (max RSS) is its own.

Reported: one training step (median of 5 after compilation), the epoch (steps per epoch x step
time), full-ranking evaluation time per 10,000 users (measured on up to 20,000 test users in
256-user chunks, so one 256 x items block of scores exists at a time) and the full evaluation
extrapolated to every test user. Prints a Markdown table, writes
benchmarks/results/scaling.json and benchmarks/results/scaling.png.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
import jax, jax.numpy as jnp, numpy as np
from recjax.config.schema import EvalConfig, ModelConfig, TrainConfig
from recjax.data.split import split_random
from recjax.data.synthetic import synthetic_interactions
from recjax.eval.ranking import Ranker, prepare_ranking
from recjax.graph import build_graph
from recjax.models import Features, build_model
from recjax.train.loop import epoch_batches, steps_per_epoch
from recjax.train.optim import make_optimizer
from recjax.train.state import TrainState
from recjax.train.step import make_embed, make_train_step
edges, name, batch = int(float(sys.argv[1])), sys.argv[2], int(sys.argv[3])
t0 = time.perf_counter()
nu, ni = edges // 20, edges // 40
raw = synthetic_interactions(nu, ni, edges, seed=0).interactions
keys, first = np.unique(raw.pairs(), return_index=True)
inter = raw.take(np.sort(first))
sp = split_random(inter, seed=0)
graph = build_graph(sp.train, dense_limit=0)
features = Features()
if name == "text_gnn":
    rng = np.random.default_rng(0)
    unit = lambda x: (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    features = Features(jnp.asarray(unit(rng.normal(size=(ni, 384)))),
                        jnp.asarray(unit(rng.normal(size=(nu, 384)))))
setup_s = time.perf_counter() - t0
model = build_model(ModelConfig(name=name, dim=64, num_layers=3), nu, ni)
cfg = TrainConfig(batch_size=batch, reg_weight=1e-5)
params = model.init(jax.random.key(0), graph, features)
tx = make_optimizer(cfg, 1000)
state = TrainState.create(params, tx, jax.random.key(1))
step = make_train_step(model, cfg, tx)
batches = epoch_batches(sp.train, batch, 0, 1)
b = [jax.device_put({k: v[i] for k, v in batches.items()}) for i in range(6)]
t = time.perf_counter()
state, m = step(state, graph, b[0], features); jax.block_until_ready(m)
compile_s = time.perf_counter() - t
times = []
for i in range(1, 6):
    t = time.perf_counter()
    state, m = step(state, graph, b[i], features); jax.block_until_ready(m)
    times.append(time.perf_counter() - t)
step_s = float(np.median(times))
n_steps = steps_per_epoch(len(sp.train), batch)
embed = make_embed(model)
user_emb, item_emb = embed(state.params, graph, features)
users = np.unique(sp.test.user_ids)
sample = users[: 20000]
keep = np.isin(sp.test.user_ids, sample)
task = prepare_ranking(sp.test.take(np.nonzero(keep)[0]), [sp.train, sp.valid], 256)
ranker = Ranker((10, 20))
ranker(user_emb, item_emb, task)  # compile
t = time.perf_counter(); ranker(user_emb, item_emb, task); eval_s = time.perf_counter() - t
per_10k = eval_s / len(sample) * 10000
print(json.dumps({"edges": int(graph.num_edges // 2), "users": nu, "items": ni,
    "model": name, "setup_s": setup_s, "compile_s": compile_s, "step_s": step_s,
    "steps_per_epoch": n_steps, "epoch_s": step_s * n_steps, "eval_s_per_10k_users": per_10k,
    "eval_s_all_users": per_10k * len(users) / 10000, "test_users": int(len(users)),
    "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--edges", type=float, nargs="+", default=[1e5, 1e6, 1e7])
    p.add_argument("--models", nargs="+", default=["lightgcn", "text_gnn"])
    p.add_argument("--batch", type=int, default=8192)
    args = p.parse_args()
    import jax

    from recjax.tables import format_table

    results = []
    for edges in args.edges:
        for model in args.models:
            proc = subprocess.run([sys.executable, "-c", CHILD, str(edges), model,
                                   str(args.batch)], capture_output=True, text=True)
            if proc.returncode != 0:
                print(f"{model} at {edges:.0e} edges failed: {proc.stderr[-1500:]}",
                      file=sys.stderr)
                continue
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            results.append(r)
            print(f"{model} {r['edges']:,} edges: step {r['step_s'] * 1e3:.1f} ms",
                  file=sys.stderr, flush=True)
    rows = [(f"{r['edges']:,}", f"{r['users']:,} / {r['items']:,}", r["model"],
             f"{r['step_s'] * 1e3:,.1f}", f"{r['steps_per_epoch']:,}", f"{r['epoch_s']:,.1f}",
             f"{r['compile_s']:.1f}", f"{r['eval_s_per_10k_users']:.2f}",
             f"{r['eval_s_all_users']:,.1f}", f"{r['peak_mb']:,.0f}") for r in results]
    device = jax.devices()[0]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, device {device.platform} "
          f"({device.device_kind}); batch {args.batch}; dim 64, 3 layers")
    print(format_table(rows, ["train edges", "users / items", "model", "step ms",
                              "steps/epoch", "epoch s", "compile s", "eval s / 10k users",
                              "eval s, all test users", "peak MB"], markdown=True))
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "scaling.json").write_text(json.dumps(results, indent=1))
    plot(results, out / "scaling.png")


def plot(results, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    for model in sorted({r["model"] for r in results}):
        rs = sorted((r for r in results if r["model"] == model), key=lambda r: r["edges"])
        x = [r["edges"] for r in rs]
        axes[0].loglog(x, [r["step_s"] * 1e3 for r in rs], "o-", label=model)
        axes[1].loglog(x, [r["eval_s_per_10k_users"] for r in rs], "o-", label=model)
        axes[2].loglog(x, [r["peak_mb"] for r in rs], "o-", label=model)
    for ax, title in zip(axes, ("train step (ms)", "eval s per 10k users", "peak memory (MB)"),
                         strict=True):
        ax.set_xlabel("train edges")
        ax.set_title(title)
        ax.grid(alpha=0.3, which="both")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
