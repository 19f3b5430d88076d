"""Vectorised sweeps: N configurations of one model trained in one compiled program.

Everything that does not change shapes can differ between the configurations: the seed
(initialisation, batch order, negatives, dropout) and the run-time hyperparameters of
:func:`recjax.train.step.hyperparameters` (learning rate, weight decay, temperature,
regularisation weight). The epoch function is ``vmap``-ed over a leading axis of size N of the
train state, the batches and the hyperparameters, so small graphs keep a machine busy with one
dispatch per epoch for all N. Each configuration keeps its own early stopping: once it stops,
its best parameters and metrics are frozen (it rides along until all have stopped), so its
result equals that of a separate run with the same settings.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from recjax.config.schema import EvalConfig, TrainConfig
from recjax.graph import RecGraph
from recjax.models import Features, Recommender, drop_id_rows, is_closed_form
from recjax.train.loop import (
    EarlyStopping,
    FitResult,
    check_select_metric,
    epoch_batches,
    make_evaluator,
    steps_per_epoch,
    warm_negatives,
)
from recjax.train.optim import make_optimizer
from recjax.train.state import TrainState
from recjax.train.step import SWEEPABLE, epoch_body, hyperparameters, make_embed
from recjax.types import Split


def expand(cfg: TrainConfig, sweep: Mapping[str, Sequence]) -> list[TrainConfig]:
    """The N configurations of a sweep ``{"seed": [...], "learning_rate": [...], ...}``; all
    lists must have the same length (a grid is the caller's product)."""
    allowed = ("seed", *SWEEPABLE)
    unknown = sorted(set(sweep) - set(allowed))
    if unknown:
        raise ValueError(f"cannot vectorise over {unknown}: only {allowed} keep shapes fixed")
    sizes = {k: len(v) for k, v in sweep.items() if len(v)}
    if not sizes:
        raise ValueError("the sweep is empty")
    if len(set(sizes.values())) > 1:
        raise ValueError(f"vectorised values must have equal lengths, got {sizes}")
    n = next(iter(sizes.values()))
    return [dataclasses.replace(cfg, **{k: type(getattr(cfg, k))(v[i])
                                        for k, v in sweep.items() if len(v)})
            for i in range(n)]


def static_config(base: TrainConfig, configs: Sequence[TrainConfig]) -> TrainConfig:
    """The config the shared program is traced with. Whether a term exists at all is decided
    at trace time from it (``reg_weight``, ``weight_decay``: traced when non-zero), so each
    sweepable value is set to the configurations' largest; the values a configuration trains
    with are its own, read at run time from its hyperparameters."""
    return dataclasses.replace(base, **{k: max(getattr(c, k) for c in configs)
                                        for k in ("reg_weight", "weight_decay")})


def _stack(trees):
    return jax.tree_util.tree_map(lambda *x: jnp.stack(x), *trees)


def _select_rows(mask, new, old):
    """Per configuration (leading axis): ``new`` where ``mask`` else ``old``."""
    return jax.tree_util.tree_map(
        lambda n, o: jnp.where(mask.reshape((-1,) + (1,) * (n.ndim - 1)), n, o), new, old)


def _row(tree, i):
    return jax.tree_util.tree_map(lambda x: x[i], tree)


def fit_vectorized(model: Recommender, graph: RecGraph, features: Features | None,
                   split: Split, train_cfg: TrainConfig, sweep: Mapping[str, Sequence],
                   eval_cfg: EvalConfig = EvalConfig(), checkpointer=None,
                   checkpoint_every: int = 10, on_epoch=None) -> list[FitResult]:
    """Train every configuration of ``sweep`` at once; one :class:`FitResult` each, in order.

    With a ``checkpointer`` (:class:`recjax.train.checkpoint.Checkpointer`) the stacked state,
    every configuration's best parameters and its early-stopping state and history are saved
    every ``checkpoint_every`` epochs and at the end; a sweep that finds a checkpoint resumes
    from it and ends as an uninterrupted one would (batches and keys derive from (seed,
    epoch) and (key, step)). ``on_epoch(epoch)`` is called after each epoch's bookkeeping."""
    configs = expand(train_cfg, sweep)
    n = len(configs)
    if is_closed_form(model):
        raise ValueError("a closed-form model has nothing to vectorise (it has no training "
                         "steps); run its configurations separately")
    tower = getattr(getattr(model, "cfg", None), "text_tower", "frozen")
    if tower != "frozen":
        # Its variables need init_variables (pretrained top layers, a filled text bank) and its
        # optimiser the model's frozen patterns; neither is vectorised yet.
        raise ValueError(f"model.text_tower={tower!r} cannot be trained in a vectorised sweep "
                         f"yet; run its configurations as separate runs (a Hydra multirun)")
    cfg = static_config(train_cfg, configs)
    check_select_metric(cfg, eval_cfg)
    features = features if features is not None else Features()
    t_start = time.perf_counter()
    keys = [jax.random.split(jax.random.key(c.seed)) for c in configs]
    params = _stack([drop_id_rows(model.init({"params": k[0], "dropout": k[0], "noise": k[0]},
                                             graph, features),
                                  split.cold_user_ids, split.cold_item_ids) for k in keys])
    tx = make_optimizer(cfg, steps_per_epoch(len(split.train), cfg.batch_size) * cfg.epochs)
    state = jax.vmap(lambda p, k: TrainState.create(p, tx, k))(
        params, jnp.stack([k[1] for k in keys]))
    hparams = _stack([hyperparameters(cfg, **{k: getattr(c, k) for k in SWEEPABLE})
                      for c in configs])
    body = epoch_body(model, cfg, tx, warm_negatives(cfg, split))
    epoch_fn = jax.jit(jax.vmap(body, in_axes=(0, None, 0, None, 0)), donate_argnums=0)
    embed = make_embed(model)
    evaluator = make_evaluator(split, cfg, eval_cfg)
    offset_fn = jax.jit(lambda p: model.apply(p, method=model.offset))
    select_part = "test" if cfg.select_on == "legacy_test" else "valid"

    stoppers = [EarlyStopping(cfg.patience) for _ in range(n)]
    best_params = jax.tree_util.tree_map(jnp.copy, params)  # the state is donated
    histories: list[list[dict]] = [[] for _ in range(n)]
    train_seconds = earlier = 0.0  # earlier: seconds of the sessions before a resume
    start = 1
    if checkpointer is not None and checkpointer.latest() is not None:
        state, best_params, loop = checkpointer.restore(state, params)
        if len(loop["stoppers"]) != n:
            raise ValueError(f"the checkpoint in {checkpointer.directory} holds a sweep of "
                             f"{len(loop['stoppers'])} configurations, not {n}")
        stoppers = [EarlyStopping(cfg.patience, **st) for st in loop["stoppers"]]
        histories, train_seconds = loop["histories"], loop["train_seconds"]
        earlier = loop.get("elapsed_seconds", 0.0)
        start = loop["epoch"] + 1

    def save(epoch):
        checkpointer.save(epoch, state, best_params, {
            "epoch": epoch, "stoppers": [st.state() for st in stoppers],
            "histories": histories, "train_seconds": train_seconds,
            "elapsed_seconds": earlier + time.perf_counter() - t_start})

    last = start - 1
    for epoch in range(start, cfg.epochs + 1):
        active = np.array([not s.stopped for s in stoppers])
        if not active.any():
            break
        t0 = time.perf_counter()
        batches = _stack([epoch_batches(split.train, cfg.batch_size, c.seed, epoch,
                                        cfg.like_threshold) for c in configs])
        state, metrics = epoch_fn(state, graph, batches, features, hparams)
        metrics = jax.device_get(metrics)
        train_seconds += time.perf_counter() - t0
        evaluate = epoch % cfg.eval_every == 0 or epoch == cfg.epochs
        improved = np.zeros(n, bool)
        for i in np.nonzero(active)[0]:
            record = {"epoch": epoch, **{f"train/{k}": float(np.mean(v[i]))
                                         for k, v in metrics.items()}}
            if evaluate:
                p = _row(state.params, i)
                scores = evaluator(*embed(p, graph, features), select_part, offset_fn(p))
                record.update({f"{select_part}/{k}": v for k, v in scores.items()})
                improved[i] = stoppers[i].update(scores[cfg.select_metric], epoch)
            histories[i].append(record)
        if improved.any():
            best_params = _select_rows(jnp.asarray(improved), state.params, best_params)
        last = epoch
        if checkpointer is not None and epoch % checkpoint_every == 0:
            save(epoch)
        if on_epoch is not None:
            on_epoch(epoch)
    if checkpointer is not None and checkpointer.latest() != last:
        save(last)
    total = earlier + time.perf_counter() - t_start  # all sessions, as train_seconds
    results = []
    for i in range(n):
        p = _row(best_params, i)
        user_emb, item_emb = embed(p, graph, features)
        offset = offset_fn(p)
        results.append(FitResult(
            p, stoppers[i].best_epoch, evaluator(user_emb, item_emb, "valid", offset),
            evaluator(user_emb, item_emb, "test", offset), histories[i],
            {"total": total, "train": train_seconds, "epochs": len(histories[i]),
             "configurations": n}))
    return results
