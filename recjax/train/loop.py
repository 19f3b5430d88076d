"""The host loop: epochs of jitted steps, evaluation cadence, early stopping, logging.

Device values are fetched once per epoch (the step's metrics are stacked on device and read
together), never every step. Batches come from ``np.random.default_rng([seed, epoch])`` so
every epoch's order is reproducible on its own (what exact resume needs).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from recjax.config.schema import EvalConfig, TrainConfig
from recjax.eval.metrics import classification_metrics
from recjax.eval.ranking import Ranker, RankingTask, prepare_ranking
from recjax.graph import RecGraph
from recjax.models import Features, Recommender
from recjax.train import parallel
from recjax.train.checkpoint import Checkpointer
from recjax.train.optim import make_optimizer
from recjax.train.state import TrainState
from recjax.train.step import hyperparameters, make_embed, make_train_epoch
from recjax.types import Interactions, Split


def epoch_batches(train: Interactions, batch_size: int, seed: int, epoch: int,
                  like_threshold: float = 4.0) -> dict[str, np.ndarray]:
    """One shuffled pass over the train rows as fixed-size batches, stacked ``[steps,
    batch_size]``; the tail is padded (repeating the epoch's first row) and masked."""
    order = np.random.default_rng([seed, epoch]).permutation(len(train))
    steps = steps_per_epoch(len(order), batch_size)
    mask = np.arange(steps * batch_size) < len(order)
    idx = np.r_[order, np.full(steps * batch_size - len(order), order[0])]
    batches = {"users": train.user_ids[idx], "items": train.item_ids[idx],
               "labels": (train.ratings[idx] >= like_threshold).astype(np.float32),
               "mask": mask}
    return {k: v.reshape(steps, batch_size) for k, v in batches.items()}


def steps_per_epoch(num_rows: int, batch_size: int) -> int:
    return -(-num_rows // batch_size)


@dataclass
class FitResult:
    """What training produced: best parameters, their valid/test metrics, the per-epoch
    history and timings (seconds)."""

    params: Any
    best_epoch: int
    valid: dict[str, float]
    test: dict[str, float]
    history: list[dict] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class Evaluator:
    """Valid/test evaluation of one split: ranking always, classification for ``bce``."""

    split: Split
    cfg: EvalConfig
    classification: bool
    like_threshold: float
    valid_task: RankingTask = None
    test_task: RankingTask = None

    def __post_init__(self):
        self.ranker = Ranker(tuple(self.cfg.ks), tuple(self.cfg.metrics))
        sp = self.split
        self.valid_task = prepare_ranking(sp.valid, [sp.train], self.cfg.chunk_size)
        self.test_task = prepare_ranking(sp.test, [sp.train, sp.valid], self.cfg.chunk_size)

    def __call__(self, user_emb, item_emb, part: str, offset=0.0) -> dict[str, float]:
        task, rows = ((self.valid_task, self.split.valid) if part == "valid"
                      else (self.test_task, self.split.test))
        out = self.ranker(user_emb, item_emb, task)
        if self.classification and len(rows):
            logits = jnp.sum(user_emb[rows.user_ids] * item_emb[rows.item_ids], -1) + offset
            out.update(classification_metrics(rows.ratings >= self.like_threshold,
                                              np.asarray(logits)))
        return out


def _progress(total: int, enabled: bool | None):
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="epochs", unit="epoch", leave=False)


def _place(mesh, state, graph, features, hparams, cfg: TrainConfig, shard_embeddings: bool):
    """Put every argument of the epoch function on the mesh; returns them and the shardings."""
    parallel.check_batch(cfg.batch_size, mesh)
    rep = parallel.replicated(mesh)
    state_sh = parallel.tree_shardings(state, mesh, shard_embeddings)
    graph_sh = jax.tree_util.tree_map(lambda _: rep, graph)
    feat_sh = jax.tree_util.tree_map(lambda _: rep, features)
    hp_sh = jax.tree_util.tree_map(lambda _: rep, hparams)
    placed = (parallel.put(state, state_sh), parallel.put(graph, graph_sh),
              parallel.put(features, feat_sh), parallel.put(hparams, hp_sh))
    return (*placed, (state_sh, graph_sh, parallel.batch_sharding(mesh), feat_sh, rep))


def fit(model: Recommender, graph: RecGraph, features: Features | None, split: Split,
        train_cfg: TrainConfig, eval_cfg: EvalConfig = EvalConfig(),
        run_dir: str | Path | None = None, progress: bool | None = None,
        on_epoch: Callable[[dict], None] | None = None,
        checkpointer: Checkpointer | None = None, checkpoint_every: int = 10,
        mesh=None, shard_embeddings: bool = False) -> FitResult:
    """Train ``model`` on ``split.train`` with early stopping on ``train_cfg.select_metric``.

    The graph must be built from ``split.train`` only. Returns the best parameters (by the
    selection metric on valid, or on test with ``select_on="legacy_test"``; the last epoch's
    when there is no validation data) with their valid and test metrics. With ``run_dir``,
    each epoch is appended to ``run_dir/metrics.jsonl``.
    With a ``checkpointer``, the state is saved every ``checkpoint_every`` epochs and at the
    end, and a run that finds a checkpoint continues from it: batches and step keys derive
    from (seed, epoch) and (key, step), so a resumed run ends exactly as an uninterrupted one.
    With a ``mesh`` (:func:`recjax.train.parallel.make_mesh`), batches are split over its
    ``data`` axis and, with ``shard_embeddings``, ID tables row-sharded over ``model``.
    """
    args = (model, graph, features, split, train_cfg, eval_cfg, run_dir, progress, on_epoch,
            checkpointer, checkpoint_every, mesh, shard_embeddings)
    if model.cfg.propagation == "edge_sharded" and mesh is None:
        raise ValueError("propagation 'edge_sharded' needs a mesh (parallel.devices != 1)")
    if mesh is None:
        return _fit(*args)
    with jax.set_mesh(mesh):  # edge-sharded propagation takes its mesh from here
        if model.cfg.propagation == "edge_sharded":
            graph = parallel.pad_edges(graph, mesh.shape[parallel.DATA])
            args = (model, graph, *args[2:])
        return _fit(*args)


def _fit(model: Recommender, graph: RecGraph, features: Features | None, split: Split,
         train_cfg: TrainConfig, eval_cfg: EvalConfig, run_dir, progress, on_epoch,
         checkpointer, checkpoint_every, mesh, shard_embeddings) -> FitResult:
    cfg = train_cfg
    available = {f"{m}@{k}" for m in eval_cfg.metrics for k in eval_cfg.ks}
    if cfg.loss == "bce":
        available |= {"auc", "accuracy", "logloss"}
    if cfg.select_metric not in available:
        raise ValueError(f"select_metric {cfg.select_metric!r} is not computed; available: "
                         f"{sorted(available)}")
    t_start = time.perf_counter()
    features = features if features is not None else Features()
    init_key, state_key = jax.random.split(jax.random.key(cfg.seed))
    params = model.init({"params": init_key, "dropout": init_key}, graph, features)
    n_steps = steps_per_epoch(len(split.train), cfg.batch_size)
    tx = make_optimizer(cfg, n_steps * cfg.epochs)
    state = TrainState.create(params, tx, state_key)
    embed = make_embed(model)
    evaluator = Evaluator(split, eval_cfg, cfg.loss == "bce", cfg.like_threshold)
    offset_fn = jax.jit(lambda p: model.apply(p, method=model.offset))
    select_part = "test" if cfg.select_on == "legacy_test" else "valid"

    loop = {"epoch": 0, "best": -np.inf, "best_epoch": 0, "since_best": 0, "history": []}
    best_params = jax.tree_util.tree_map(jnp.copy, params)  # the state is donated
    if checkpointer is not None and checkpointer.latest() is not None:
        state, best_params, loop = checkpointer.restore(state, params)
    hparams = hyperparameters(cfg)
    shardings = None
    if mesh is not None:
        state, graph, features, hparams, shardings = _place(mesh, state, graph, features,
                                                            hparams, cfg, shard_embeddings)
    epoch_fn = make_train_epoch(model, cfg, tx, shardings)
    history = loop["history"]
    metrics_path = Path(run_dir) / "metrics.jsonl" if run_dir is not None else None
    if metrics_path is not None:
        # Rewrite from the restored history: drop epochs logged after the last checkpoint.
        metrics_path.parent.mkdir(parents=True, exist_ok=True)
        metrics_path.write_text("".join(json.dumps(r) + "\n" for r in history))
    timings = {"first_epoch": 0.0, "train": 0.0, "eval": 0.0}
    bar = _progress(cfg.epochs, progress)
    if bar is not None:
        bar.update(loop["epoch"])

    def save(epoch):
        if checkpointer is not None:
            checkpointer.save(epoch, state, best_params, loop)

    try:
        for epoch in range(loop["epoch"] + 1, cfg.epochs + 1):
            if loop["since_best"] >= cfg.patience:
                break
            t0 = time.perf_counter()
            batches = epoch_batches(split.train, cfg.batch_size, cfg.seed, epoch,
                                    cfg.like_threshold)
            if shardings is not None:
                batches = parallel.put(batches, jax.tree_util.tree_map(lambda _: shardings[2],
                                                                       batches))
            state, step_metrics = epoch_fn(state, graph, batches, features, hparams)
            means = {k: float(np.mean(v)) for k, v in jax.device_get(step_metrics).items()}
            t1 = time.perf_counter()
            if not timings["first_epoch"]:
                timings["first_epoch"] = t1 - t0
            timings["train"] += t1 - t0
            record = {"epoch": epoch, "step": int(state.step), "train_seconds": t1 - t0,
                      **{f"train/{k}": v for k, v in means.items()}}
            if epoch % cfg.eval_every == 0 or epoch == cfg.epochs:
                user_emb, item_emb = embed(state.params, graph, features)
                scores = evaluator(user_emb, item_emb, select_part, offset_fn(state.params))
                t2 = time.perf_counter()
                timings["eval"] += t2 - t1
                record.update({f"{select_part}/{k}": v for k, v in scores.items()})
                record["eval_seconds"] = t2 - t1
                current = scores[cfg.select_metric]
                if np.isnan(current):  # no validation rows: keep the latest epoch
                    loop.update(best_epoch=epoch, since_best=0)
                    best_params = jax.tree_util.tree_map(jnp.copy, state.params)
                elif current > loop["best"]:
                    loop.update(best=current, best_epoch=epoch, since_best=0)
                    best_params = jax.tree_util.tree_map(jnp.copy, state.params)
                else:
                    loop["since_best"] += 1
            history.append(record)
            loop["epoch"] = epoch
            if metrics_path is not None:
                with open(metrics_path, "a") as f:
                    f.write(json.dumps(record) + "\n")
            if on_epoch:
                on_epoch(record)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{means['loss']:.4f}",
                                **{cfg.select_metric: f"{loop['best']:.4f}"})
            if epoch % checkpoint_every == 0:
                save(epoch)
        if checkpointer is not None and checkpointer.latest() != loop["epoch"]:
            save(loop["epoch"])
    finally:
        if bar is not None:
            bar.close()
    user_emb, item_emb = embed(best_params, graph, features)
    offset = offset_fn(best_params)
    valid = evaluator(user_emb, item_emb, "valid", offset)
    test = evaluator(user_emb, item_emb, "test", offset)
    timings["total"] = time.perf_counter() - t_start
    timings["epochs"] = len(history)
    return FitResult(best_params, loop["best_epoch"], valid, test, history, timings)
