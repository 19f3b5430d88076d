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
import optax

from recjax.config.schema import EvalConfig, TrainConfig
from recjax.eval.metrics import classification_metrics
from recjax.eval.ranking import Ranker, RankingTask, prepare_ranking
from recjax.graph import RecGraph
from recjax.models import Features, Recommender, drop_id_rows, init_variables, is_closed_form
from recjax.train import parallel
from recjax.train.checkpoint import Checkpointer
from recjax.train.objectives import get_objective
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


def make_evaluator(split: Split, train_cfg: TrainConfig, eval_cfg: EvalConfig) -> Evaluator:
    """The evaluator of ``split``; classification metrics when the objective asks for them."""
    classification = get_objective(train_cfg.loss).task == "classification"
    return Evaluator(split, eval_cfg, classification, train_cfg.like_threshold)


def check_select_metric(train_cfg: TrainConfig, eval_cfg: EvalConfig) -> None:
    available = {f"{m}@{k}" for m in eval_cfg.metrics for k in eval_cfg.ks}
    available |= set(get_objective(train_cfg.loss).metrics())
    if train_cfg.select_metric not in available:
        raise ValueError(f"select_metric {train_cfg.select_metric!r} is not computed; "
                         f"available: {sorted(available)}")


def warm_negatives(train_cfg: TrainConfig, split: Split) -> bool:
    """Whether negatives come from warm items only: ``negatives="warm"``, or ``"auto"`` in a
    split that holds items out of train (their rows must get no gradient: they are unseen),
    the cold catalogue items of ``data.clean.keep_cold_items`` included."""
    if train_cfg.negatives == "auto":
        return bool(len(split.cold_item_ids))
    return train_cfg.negatives == "warm"


@dataclass
class EarlyStopping:
    """Model selection and patience, shared by :func:`fit` and the vectorised sweeps.

    ``update`` takes one evaluation of the selection metric and says whether it is the new
    best (a NaN — no validation rows — always is: the latest epoch is kept)."""

    patience: int
    best: float = -np.inf
    best_epoch: int = 0
    since_best: int = 0

    def update(self, score: float, epoch: int) -> bool:
        if np.isnan(score) or score > self.best:
            if not np.isnan(score):
                self.best = float(score)
            self.best_epoch, self.since_best = epoch, 0
            return True
        self.since_best += 1
        return False

    @property
    def stopped(self) -> bool:
        return self.since_best >= self.patience

    def state(self) -> dict:
        return {"best": self.best, "best_epoch": self.best_epoch, "since_best": self.since_best}


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
    check_select_metric(cfg, eval_cfg)
    t_start = time.perf_counter()
    features = features if features is not None else Features()
    evaluator = make_evaluator(split, cfg, eval_cfg)
    if is_closed_form(model):
        return _fit_closed_form(model, graph, features, evaluator, cfg, run_dir, checkpointer)
    init_key, state_key = jax.random.split(jax.random.key(cfg.seed))
    params = init_variables(model, {"params": init_key, "dropout": init_key, "noise": init_key},
                            graph, features)
    # Held-out (cold) users/items have no ID of their own: their rows start at zero and, with
    # warm-only negatives, get no gradient, so selection, evaluation and serving all see the
    # same parameters.
    params = drop_id_rows(params, split.cold_user_ids, split.cold_item_ids)
    n_steps = steps_per_epoch(len(split.train), cfg.batch_size)
    tx = make_optimizer(cfg, n_steps * cfg.epochs, getattr(model, "frozen_patterns", ()))
    state = TrainState.create(params, tx, state_key)
    embed = make_embed(model)
    offset_fn = jax.jit(lambda p: model.apply(p, method=model.offset))
    select_part = "test" if cfg.select_on == "legacy_test" else "valid"

    stopper = EarlyStopping(cfg.patience)
    loop = {"epoch": 0, "history": [], **stopper.state()}
    hparams = hyperparameters(cfg)
    shardings = None
    if mesh is not None:
        parallel.assert_same_on_every_process(
            {f"{part}/{col}": getattr(getattr(split, part), col)
             for part in ("train", "valid", "test") for col in ("user_ids", "item_ids")},
            "data (train/valid/test split)")
        # Text vectors each host encoded itself may differ in the last bits (kernels chosen
        # per device); every process takes process 0's, so the replicas agree exactly.
        features = parallel.same_on_every_process(features, ("item_text", "user_text"))
        # Placed before restoring, so a checkpoint is read straight into the mesh's shardings
        # (in a multi-process run every process restores its own shards, collectively).
        state, graph, features, hparams, shardings = _place(mesh, state, graph, features,
                                                            hparams, cfg, shard_embeddings)
    best_params = jax.tree_util.tree_map(jnp.copy, state.params)  # the state is donated
    if checkpointer is not None and checkpointer.latest() is not None:
        state, best_params, loop = checkpointer.restore(state, state.params)
        stopper = EarlyStopping(cfg.patience, loop["best"], loop["best_epoch"],
                                loop["since_best"])
    epoch_fn = make_train_epoch(model, cfg, tx, shardings, warm_negatives(cfg, split))
    history = loop["history"]
    # One writer: in a multi-process run only process 0 logs (all of them train and evaluate).
    writer = parallel.is_writer()
    metrics_path = Path(run_dir) / "metrics.jsonl" if run_dir is not None and writer else None
    if metrics_path is not None:
        # Rewrite from the restored history: drop epochs logged after the last checkpoint.
        metrics_path.parent.mkdir(parents=True, exist_ok=True)
        metrics_path.write_text("".join(json.dumps(r) + "\n" for r in history))
    timings = {"first_epoch": 0.0, "train": 0.0, "eval": 0.0}
    bar = _progress(cfg.epochs, progress if writer else False)

    def evaluate(params, part):
        # Embeddings spread over other processes' devices are gathered to every process,
        # which then ranks on its own device (the same numbers everywhere).
        user_emb, item_emb = parallel.local(embed(params, graph, features))
        return evaluator(user_emb, item_emb, part, parallel.local(offset_fn(params)))
    if bar is not None:
        bar.update(loop["epoch"])

    def save(epoch):
        if checkpointer is not None:
            checkpointer.save(epoch, state, best_params, loop)

    try:
        for epoch in range(loop["epoch"] + 1, cfg.epochs + 1):
            if stopper.stopped:
                break
            t0 = time.perf_counter()
            batches = epoch_batches(split.train, cfg.batch_size, cfg.seed, epoch,
                                    cfg.like_threshold)
            if shardings is not None:
                batches = parallel.put_batches(batches, shardings[2])
            state, step_metrics = epoch_fn(state, graph, batches, features, hparams)
            means = {k: float(np.mean(v))
                     for k, v in parallel.fetch_tree(step_metrics).items()}
            t1 = time.perf_counter()
            if not timings["first_epoch"]:
                timings["first_epoch"] = t1 - t0
            timings["train"] += t1 - t0
            record = {"epoch": epoch, "step": int(parallel.fetch(state.step)),
                      "train_seconds": t1 - t0,
                      **{f"train/{k}": v for k, v in means.items()}}
            if epoch % cfg.eval_every == 0 or epoch == cfg.epochs:
                scores = evaluate(state.params, select_part)
                t2 = time.perf_counter()
                timings["eval"] += t2 - t1
                record.update({f"{select_part}/{k}": v for k, v in scores.items()})
                record["eval_seconds"] = t2 - t1
                # Every process decides with process 0's number, so none stops alone.
                score = parallel.broadcast_from_writer(scores[cfg.select_metric])
                if stopper.update(score, epoch):
                    best_params = jax.tree_util.tree_map(jnp.copy, state.params)
            history.append(record)
            loop.update(epoch=epoch, **stopper.state())
            if metrics_path is not None:
                with open(metrics_path, "a") as f:
                    f.write(json.dumps(record) + "\n")
            if on_epoch:
                on_epoch(record)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{means['loss']:.4f}",
                                **{cfg.select_metric: f"{stopper.best:.4f}"})
            if epoch % checkpoint_every == 0:
                save(epoch)
        if checkpointer is not None and checkpointer.latest() != loop["epoch"]:
            save(loop["epoch"])
    finally:
        if bar is not None:
            bar.close()
    valid = evaluate(best_params, "valid")
    test = evaluate(best_params, "test")
    timings["total"] = time.perf_counter() - t_start
    timings["epochs"] = len(history)
    if parallel.multiprocess():
        # The caller (serving, cold-start metrics) works on this process's devices alone.
        best_params = parallel.fetch_tree(best_params)
    return FitResult(best_params, stopper.best_epoch, valid, test, history, timings)


def _fit_closed_form(model, graph, features, evaluator: Evaluator, cfg: TrainConfig, run_dir,
                     checkpointer: Checkpointer | None) -> FitResult:
    """One solve instead of epochs; the result is saved and reported like any run's (one
    history record, epoch 1), so evaluation and serving read it the same way."""
    from recjax.models.closed_form import solve

    if parallel.multiprocess():
        raise ValueError("closed-form models (ease, itemknn, pop) solve on one process; run "
                         "them without parallel.distributed (one process, all its devices)")
    t0 = time.perf_counter()
    params = jax.block_until_ready(solve(model, graph))
    t1 = time.perf_counter()
    user_emb, item_emb = make_embed(model)(params, graph, features)
    offset = params["params"]["head"]["bias"]
    valid = evaluator(user_emb, item_emb, "valid", offset)
    test = evaluator(user_emb, item_emb, "test", offset)
    t2 = time.perf_counter()
    record = {"epoch": 1, "step": 0, "train_seconds": t1 - t0, "eval_seconds": t2 - t1,
              **{f"valid/{k}": v for k, v in valid.items()}}
    if run_dir is not None:
        Path(run_dir).mkdir(parents=True, exist_ok=True)
        (Path(run_dir) / "metrics.jsonl").write_text(json.dumps(record) + "\n")
    if checkpointer is not None and checkpointer.latest() is None:  # a rerun solves again
        state = TrainState.create(params, optax.identity(), jax.random.key(cfg.seed))
        score = valid.get(cfg.select_metric, float("nan"))
        checkpointer.save(1, state, params, {"epoch": 1, "history": [record], "best": score,
                                             "best_epoch": 1, "since_best": 0})
    timings = {"first_epoch": t1 - t0, "train": t1 - t0, "eval": t2 - t1,
               "total": t2 - t0, "epochs": 1}
    return FitResult(params, 1, valid, test, [record], timings)
