"""Lockstep test: does recjax's LightGCN train step do the same optimisation as RecBole's?

    taskset -c 1 nice -n 5 .venv/bin/python benchmarks/lightgcn_lockstep.py \
        --recbole-python /work/rbvenv/bin/python [--train-seed 0] [--epochs 2] \
        [--reg-weight 1e-5] [--out benchmarks/results/recbole_own_split/lightgcn_lockstep.json]

RecBole 1.2.1 (``lightgcn_lockstep_child.py``: its own ``Trainer._train_epoch``) trains LightGCN
``--epochs`` epochs on its own ml-100k split (RS 8:1:1, seed 2020; read back into recjax with
``recbole_same_split.read_split`` as in ``recbole_own_split.py``) and records its initial
tables, normalised adjacency, every batch's (user, positive, negative) ids, every step's loss,
the step-1 gradient and the tables after steps 1, 10 and each epoch. recjax builds model, graph
(train part) and optimiser as ``loop.fit`` does for ``experiment=ml100k_lightgcn`` plus
``conf/bench/suite/ml100k_protocol.yaml``, takes RecBole's initial tables (internal id -> raw
token -> recjax id; RecBole's padding row 0 dropped) and runs its own compiled epoch
(``step.make_train_epoch``, what ``loop._fit`` runs) over RecBole's batches in order, cut into
scans at the checkpoints; the 936-row tail batch is padded and masked as
``loop.epoch_batches`` pads. One substitution: recjax's ``BPR.loss`` runs with its sampler
(``objectives.sample_items``) returning RecBole's negative of each row, carried in the batch's
``labels`` (BPR never reads them). Two variants: ``recjax`` (its default L2 term,
``train.reg_form=squared``: half the *squared* norms of the batch's layer-0 rows, per row) and
``recjax reg_form=norm`` (``losses.norm_reg``, RecBole's ``EmbLoss(require_pow=False)``: the
three batch matrices' *un-squared* Frobenius norms over the batch size), which isolates that
term.

Checked: the graph (same edges, max |norm difference|), the layer-mean embeddings at init, the
step-1 gradient, every step's loss, the parameters after steps 1, 10 and each epoch (max abs
difference; relative difference of the update ``params - init``) and their valid NDCG@10
(recjax's evaluator). Also printed: how often each sampler's negatives are train positives
(outside the lockstep) and the gradient norms of the two L2 forms.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lightgcn_curves import child_env  # noqa: E402
from recbole_own_split import CHILD as SPLIT_CHILD  # noqa: E402
from recbole_own_split import compose, pairs  # noqa: E402
from recbole_same_split import read_split  # noqa: E402

from recjax.experiment import prepare  # noqa: E402
from recjax.graph import build_graph  # noqa: E402
from recjax.models import init_variables  # noqa: E402
from recjax.train import losses, objectives  # noqa: E402
from recjax.train.loop import make_evaluator, steps_per_epoch, warm_negatives  # noqa: E402
from recjax.train.optim import make_optimizer  # noqa: E402
from recjax.train.state import TrainState  # noqa: E402
from recjax.train.step import (  # noqa: E402
    hyperparameters,
    loss_and_updates,
    make_embed,
    make_train_epoch,
)

ROOT = Path(__file__).resolve().parents[1]
CHILD = Path(__file__).with_name("lightgcn_lockstep_child.py")
DEFAULT_OUT = ROOT / "benchmarks/results/recbole_own_split/lightgcn_lockstep.json"


@contextlib.contextmanager
def patched(module, name, value):
    old = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, old)


BPR_LOSS = objectives.BPR.loss


def bpr_given_negatives(self, x):
    """recjax's own ``BPR.loss`` with its sampler (``objectives.sample_items``) returning the
    batch's given negatives, carried in ``labels`` (exact in float32: ids < 2**24; BPR never
    reads labels)."""
    given = lambda *a, **k: x.labels.astype(jnp.int32)[:, None]  # noqa: E731
    with patched(objectives, "sample_items", given):
        return BPR_LOSS(self, x)


def pad(x, size):
    return np.r_[x, np.full(size - len(x), x[0])].astype(np.int32)


def first_gradient(model, cfg, params, graph, batch, features):
    """The gradient of one batch's loss (the step's ``loss_and_updates``) at ``params``."""
    return jax.grad(lambda p: loss_and_updates(model, cfg, p, graph, batch, features,
                                               jax.random.key(0))[0])(params)


def l2_gradient_norms(params, batch, reg_weight):
    """Frobenius norms of the gradient (w.r.t. both ID tables) of the two L2 forms on one
    batch's layer-0 rows: recjax's ``losses.l2_reg`` and RecBole's ``EmbLoss``."""
    ids = params["params"]["id"]
    tabs = (ids["user"]["embedding"], ids["item"]["embedding"])
    u, p, n = (jnp.asarray(batch[k]) for k in ("users", "items", "labels"))
    mask = jnp.asarray(batch["mask"])

    def norm(form):
        g = jax.grad(lambda t: reg_weight * form(mask, t[0][u], t[1][p],
                                                  t[1][n.astype(jnp.int32)]))(tabs)
        return float(jnp.sqrt(sum(jnp.sum(x ** 2) for x in g)))

    return norm(losses.l2_reg), norm(losses.norm_reg)


def recbole_batches(rb, umap, imap, batch_size):
    """RecBole's batches in recjax ids, stacked ``[steps, batch_size]`` as
    ``loop.epoch_batches`` stacks them: a short batch is padded (repeating its first row) and
    masked; ``labels`` carries the negatives (see :func:`bpr_given_negatives`)."""
    rows, start = {k: [] for k in ("users", "items", "labels", "mask")}, 0
    for n in rb["batch_sizes"]:
        sl = slice(start, start + n)
        start += n
        u, p, q = (m[rb[f"batch_{k}"][sl] - 1] for k, m in
                   (("users", umap), ("pos", imap), ("neg", imap)))
        rows["users"].append(pad(u, batch_size))
        rows["items"].append(pad(p, batch_size))
        rows["labels"].append(pad(q, batch_size).astype(np.float32))
        rows["mask"].append(np.arange(batch_size) < n)
    return {k: np.stack(v) for k, v in rows.items()}


def diff(a, b):
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--recbole-python", default="/work/rbvenv/bin/python")
    p.add_argument("--train-seed", type=int, default=0, help="RecBole's training seed")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--split-seed", type=int, default=2020)
    p.add_argument("--reg-weight", type=float, default=None,
                   help="reg_weight for both toolkits (default: the protocol's 1e-5)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = p.parse_args()
    if args.recbole_python and os.sep in args.recbole_python:  # children run in temp dirs
        args.recbole_python = os.path.abspath(args.recbole_python)
    report = {"command": shlex.join([".venv/bin/python", "benchmarks/lightgcn_lockstep.py",
                                     *sys.argv[1:]])}
    extra = [] if args.reg_weight is None else [f"train.reg_weight={args.reg_weight}"]
    with tempfile.TemporaryDirectory(prefix="lightgcn-lockstep-") as tmp:
        rb_npz = Path(tmp) / "recbole.npz"
        for cmd in ([args.recbole_python, str(SPLIT_CHILD), str(Path(tmp) / "ml-100k"),
                     "--seed", str(args.split_seed)],
                    [args.recbole_python, str(CHILD), str(Path(tmp) / "rb"), "--out", str(rb_npz),
                     "--train-seed", str(args.train_seed), "--epochs", str(args.epochs),
                     "--split-seed", str(args.split_seed)]
                    + ([] if args.reg_weight is None else ["--reg-weight", str(args.reg_weight)])):
            print("$", shlex.join(cmd), file=sys.stderr, flush=True)
            subprocess.run(cmd, check=True, cwd=tmp, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, env=child_env())
        rb = dict(np.load(rb_npz))
        cfg, overrides = compose("lightgcn", 0, extra)
        prepared = prepare(cfg, progress=False)
        split = read_split(tmp, "ml-100k", prepared.dataset.id_maps)
    whole = pairs(prepared.dataset.interactions)
    parts = [pairs(getattr(split, part)) for part in ("train", "valid", "test")]
    assert set().union(*parts) == whole and sum(map(len, parts)) == len(whole)
    meta = json.loads(str(rb.pop("meta")))
    tc, model = cfg.train, prepared.model
    report.update(recbole=meta, recjax_overrides=overrides, recjax_train={
        k: getattr(tc, k) for k in ("loss", "learning_rate", "reg_weight", "batch_size",
                                    "optimizer", "weight_decay", "schedule", "grad_clip")},
        recjax_model={k: getattr(cfg.model, k) for k in ("dim", "num_layers", "init",
                                                          "combine", "propagation")})
    print(f"recjax: {report['recjax_train']} {report['recjax_model']}")
    print(f"RecBole: reg_weight {meta['reg_weight']}, require_pow {meta['require_pow']}, "
          f"lr {meta['learning_rate']}, batch {meta['train_batch_size']}, "
          f"{meta['n_layers']} layers")
    same = {"learning_rate": (meta["learning_rate"], tc.learning_rate),
            "batch_size": (meta["train_batch_size"], tc.batch_size),
            "reg_weight": (meta["reg_weight"], tc.reg_weight),
            "num_layers": (meta["n_layers"], cfg.model.num_layers)}
    bad = {k: v for k, v in same.items() if float(v[0]) != float(v[1])}
    if bad or meta["require_pow"]:
        sys.exit(f"lockstep: the two sides are configured differently (RecBole, recjax): {bad}, "
                 f"require_pow {meta['require_pow']}")

    # RecBole internal id k >= 1 -> recjax id umap[k - 1]; must be a bijection.
    ids = prepared.dataset.id_maps
    umap, imap = ids.user_index(rb["user_tokens"][1:]), ids.item_index(rb["item_tokens"][1:])
    assert sorted(umap) == list(range(ids.num_users)) and sorted(imap) == list(range(ids.num_items))
    nu = ids.num_users
    graph = build_graph(split.train, cfg.model.relation)

    # 1. Graph: RecBole's L[row, col] vs recjax's edge (sender -> receiver) norm.
    node = np.r_[-1, umap, -1, nu + imap]  # RecBole node -> recjax node (pads: -1)
    r_rb, s_rb = node[rb["adj_index"][0]], node[rb["adj_index"][1]]
    assert (r_rb >= 0).all() and (s_rb >= 0).all()
    n = graph.num_nodes
    k_rb = r_rb.astype(np.int64) * n + s_rb
    k_rj = np.asarray(graph.receivers, np.int64) * n + np.asarray(graph.senders)
    o_rb, o_rj = np.argsort(k_rb), np.argsort(k_rj)
    same_edges = bool(np.array_equal(k_rb[o_rb], k_rj[o_rj]))
    norm_diff = diff(rb["adj_value"][o_rb], np.asarray(graph.norm)[o_rj]) if same_edges else None
    report["graph"] = {"edges_recbole": len(k_rb), "edges_recjax": len(k_rj),
                       "same_edges": same_edges, "max_abs_norm_diff": norm_diff}
    print(f"graph: {len(k_rb)} RecBole / {len(k_rj)} recjax directed edges, same edges "
          f"{same_edges}, max |norm diff| {norm_diff}")
    # Outside the lockstep (negatives are fed): RecBole rejects train positives until none is
    # left; recjax's sampler redraws 4 times (negatives.sample_negatives), so a row of user u
    # keeps a positive as its negative with chance p_u**5, p_u = u's share of the catalogue.
    per_user = np.bincount(split.train.user_ids, minlength=nu)
    share = per_user / ids.num_items
    leak = float(np.sum(per_user * share ** 5) / len(split.train))
    pos = np.asarray(graph.positives)
    rb_leak = int(pos[umap[rb["batch_users"] - 1], imap[rb["batch_neg"] - 1]].sum())
    report["negatives"] = {"recjax_expected_positive_share": leak,
                           "recbole_positive_negatives": rb_leak,
                           "recbole_rows": int(len(rb["batch_neg"]))}
    print(f"negatives that are train positives: RecBole {rb_leak} of {len(rb['batch_neg'])} "
          f"rows; recjax's sampler (4 redraws) expected share {leak:.2e}")

    def to_recjax(params, user, item):
        u = np.asarray(params["params"]["id"]["user"]["embedding"]).copy()
        i = np.asarray(params["params"]["id"]["item"]["embedding"]).copy()
        u[umap], i[imap] = user[1:], item[1:]
        tables = {"user": {"embedding": jnp.asarray(u)}, "item": {"embedding": jnp.asarray(i)}}
        return {**params, "params": {**params["params"], "id": tables}}

    def tables(params):
        t = params["params"]["id"]
        return np.asarray(t["user"]["embedding"])[umap], np.asarray(t["item"]["embedding"])[imap]

    base = init_variables(model, {k: jax.random.key(0) for k in ("params", "dropout", "noise")},
                          graph, prepared.features)
    params0 = to_recjax(base, rb["init_user"], rb["init_item"])
    embed, features = make_embed(model), prepared.features
    eu, ei = embed(params0, graph, features)
    fwd = max(diff(np.asarray(eu)[umap], rb["fwd_init_user"][1:]),
              diff(np.asarray(ei)[imap], rb["fwd_init_item"][1:]))
    report["forward_init_max_abs_diff"] = fwd
    print(f"layer-mean embeddings at init: max |diff| {fwd:.3g} (max |value| "
          f"{np.abs(rb['fwd_init_item']).max():.3g})")
    batches = recbole_batches(rb, umap, imap, tc.batch_size)
    evaluator = make_evaluator(split, tc, cfg.eval)

    def ndcg(params):
        u, i = embed(params, graph, features)
        return float(evaluator(u, i, "valid")["ndcg@10"])

    ends = [int(s) for s in rb["epoch_steps"]]
    checkpoints = {1: "step1", 10: "step10", **{s: f"epoch{e + 1}" for e, s in enumerate(ends)}}
    first = {k: v[0] for k, v in batches.items()}
    report["l2_gradient_norm_batch1"] = {}
    for name in ("init", f"epoch{len(ends)}"):
        mine, theirs = l2_gradient_norms(to_recjax(base, rb[f"{name}_user"], rb[f"{name}_item"]),
                                         first, tc.reg_weight)
        report["l2_gradient_norm_batch1"][name] = {"recjax_l2_reg": mine, "recbole_emb_loss":
                                                   theirs}
        print(f"L2 term's gradient norm on batch 1 at RecBole's {name} tables: recjax's form "
              f"{mine:.3g}, RecBole's EmbLoss {theirs:.3g} (ratio {mine / theirs:.1f})")
    rb_ndcg = {name: ndcg(to_recjax(base, rb[f"{name}_user"], rb[f"{name}_item"]))
               for name in checkpoints.values() if name.startswith("epoch")}
    init_tabs = np.r_[rb["init_user"][1:], rb["init_item"][1:]]
    variants = {"recjax": "squared", "recjax reg_form=norm": "norm"}
    report["variants"] = {}
    bounds = sorted({0, *checkpoints})
    for vname, form in variants.items():
        vtc = dataclasses.replace(tc, reg_form=form)
        tx = make_optimizer(tc, steps_per_epoch(len(split.train), tc.batch_size) * tc.epochs,
                            getattr(model, "frozen_patterns", ()))
        # A copy: the epoch function donates the state (as in fit), params0 is reused.
        state = TrainState.create(jax.tree_util.tree_map(jnp.copy, params0), tx,
                                  jax.random.key(tc.seed))
        rec = {"loss": [], "reg": [], "checkpoints": {}}
        with patched(objectives.BPR, "loss", bpr_given_negatives):
            g = first_gradient(model, vtc, state.params, graph, first, features)
            gu, gi = tables(g)
            gref = np.r_[rb["grad1_user"][1:], rb["grad1_item"][1:]]
            gd = np.abs(np.r_[gu, gi] - gref)
            rec["grad1"] = {"max_abs_diff": float(gd.max()), "max_abs": float(np.abs(gref).max()),
                            "rel_fro": float(np.linalg.norm(gd) / np.linalg.norm(gref)),
                            "sign_flips": int(np.sum(np.sign(np.r_[gu, gi]) != np.sign(gref)))}
            # The scanned epoch function fit runs (loop._fit), over RecBole's batches, cut at
            # the checkpoints (a scan of fewer steps; the state carries over unchanged).
            epoch_fn = make_train_epoch(model, vtc, tx, None, warm_negatives(vtc, split))
            for a, b in zip(bounds[:-1], bounds[1:]):
                seg = {k: jnp.asarray(v[a:b]) for k, v in batches.items()}
                state, metrics = epoch_fn(state, graph, seg, features, hyperparameters(vtc))
                rec["loss"] += np.asarray(metrics["loss"]).tolist()
                rec["reg"] += np.asarray(metrics.get("reg", np.zeros(b - a))).tolist()
                name = checkpoints[b]
                mine = np.concatenate(tables(state.params))
                ref = np.r_[rb[f"{name}_user"][1:], rb[f"{name}_item"][1:]]
                upd = np.linalg.norm((mine - init_tabs) - (ref - init_tabs))
                big = np.abs(mine - ref) > 1e-5
                c = {"step": b, "max_abs_diff": diff(mine, ref),
                     "max_abs_param": float(np.abs(ref).max()),
                     "update_rel_fro": float(upd / np.linalg.norm(ref - init_tabs)),
                     "coords_over_1e-5": int(big.sum())}
                if b == 1:  # Adam's first step is ~lr * sign(g): tiny |g| flips it
                    c["max_abs_grad1_at_those"] = float(np.abs(gref[big]).max()) \
                        if big.any() else None
                if name.startswith("epoch"):
                    c.update(ndcg_recjax=ndcg(state.params), ndcg_recbole=rb_ndcg[name])
                rec["checkpoints"][name] = c
        report["variants"][vname] = rec
        print(f"\n[{vname}] step-1 gradient: max |diff| {rec['grad1']['max_abs_diff']:.3g} "
              f"(max |grad| {rec['grad1']['max_abs']:.3g}), relative Frobenius "
              f"{rec['grad1']['rel_fro']:.3g}, sign flips {rec['grad1']['sign_flips']}; after "
              f"step 1, {rec['checkpoints']['step1']['coords_over_1e-5']} coordinates differ "
              f"by > 1e-5, their max |RecBole grad| "
              f"{rec['checkpoints']['step1']['max_abs_grad1_at_those']}")
    show(report, rb)
    # The verdict: with RecBole's L2 form the two must agree to float32 rounding.
    norm = report["variants"]["recjax reg_form=norm"]
    loss_gap = float(np.abs(np.asarray(norm["loss"]) - rb["loss"]).max())
    param_gap = max(c["max_abs_diff"] for c in norm["checkpoints"].values())
    report["verdict"] = {"max_loss_diff": loss_gap, "max_param_diff": param_gap,
                         "tolerances": [1e-5, 1e-4],
                         "same": loss_gap < 1e-5 and param_gap < 1e-4}
    print(f"\nverdict (reg_form=norm): max |loss diff| {loss_gap:.3g} (< 1e-5), max |param "
          f"diff| {param_gap:.3g} (< 1e-4): {'SAME' if report['verdict']['same'] else 'DIFFERENT'}")
    report["recbole_loss"], report["recbole_reg"] = rb["loss"].tolist(), rb["reg"].tolist()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1, default=float) + "\n")
    print(f"\nwrote {args.out}")
    if not report["verdict"]["same"]:
        sys.exit(1)


def show(report, rb) -> None:
    names = list(report["variants"])
    steps = len(rb["loss"])
    ends = rb["epoch_steps"].tolist()
    rows = [t for t in range(1, steps + 1)
            if t <= 10 or (t % 10 == 0 and t <= ends[:2][-1]) or t in ends]
    print("\n| step | RecBole loss | " + " | ".join(f"{v} loss | {v} - RecBole" for v in names)
          + " |\n" + "|---" * (2 + 2 * len(names)) + "|")
    for t in rows:
        cells = []
        for v in names:
            x = report["variants"][v]["loss"][t - 1]
            cells += [f"{x:.7f}", f"{x - rb['loss'][t - 1]:+.2e}"]
        print(f"| {t} | {rb['loss'][t - 1]:.7f} | " + " | ".join(cells) + " |")
    print("\n| checkpoint | variant | max abs param diff | max abs param | update rel. diff "
          "(Frobenius) | coords diff > 1e-5 | valid NDCG@10 recjax / RecBole |\n"
          + "|---" * 7 + "|")
    for v in names:
        for name, c in report["variants"][v]["checkpoints"].items():
            nd = (f"{c['ndcg_recjax']:.4f} / {c['ndcg_recbole']:.4f}" if "ndcg_recjax" in c
                  else "")
            print(f"| {name} (step {c['step']}) | {v} | {c['max_abs_diff']:.3g} | "
                  f"{c['max_abs_param']:.3g} | {c['update_rel_fro']:.3g} | "
                  f"{c['coords_over_1e-5']} | {nd} |")
    for v in names:
        d = np.abs(np.asarray(report["variants"][v]["loss"]) - rb["loss"])
        r = np.asarray(report["variants"][v]["reg"])
        print(f"{v}: max |loss diff| over {steps} steps {d.max():.3g}; L2 part step 1 "
              f"{r[0]:.3g} (RecBole's {rb['reg'][0]:.3g})")


if __name__ == "__main__":
    main()
