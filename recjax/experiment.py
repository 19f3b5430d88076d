"""One experiment from a frozen :class:`~recjax.config.schema.ExperimentConfig`: data, text
features, graph, model, training with checkpoints, and its run directory.

Run directory layout (``train_run``)::

    config.json       the full config (compared on resume: another config is refused)
    run.json          status (running / finished / failed), seeds, versions, devices, timings
    metrics.jsonl     one line per epoch
    metrics.json      {"valid": {...}, "test": {...}}; written only when the run finished
    checkpoints/      orbax: latest state + best parameters
    curves.png        training loss and validation metric per epoch
"""

from __future__ import annotations

import json
import os
import platform
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from recjax.cold import (  # noqa: F401  (re-exported: part of this module's API)
    catalogue_cold_ids,
    cold_metrics,
    forget_cold,
    resolve_keep_cold_items,
    with_catalogue_cold_items,
)
from recjax.config.io import diff, from_dict, to_dict
from recjax.config.schema import ExperimentConfig
from recjax.data.datasets import load
from recjax.graph import RecGraph, build_graph
from recjax.models import (
    Features,
    Recommender,
    build_model,
    is_closed_form,
    uses_text,
)
from recjax.train.checkpoint import Checkpointer
from recjax.train.loop import FitResult, fit
from recjax.train.optim import parameter_counts
from recjax.types import Dataset, Split


class IncompatibleRunError(ValueError):
    """The run directory holds a run of a different configuration."""


@dataclass
class Prepared:
    """Everything training, evaluation and recommendation need besides parameters."""

    cfg: ExperimentConfig
    dataset: Dataset
    split: Split
    graph: RecGraph
    features: Features | None
    model: Recommender
    item_text: np.ndarray | None = None
    user_text: np.ndarray | None = None


def prepare(cfg: ExperimentConfig, progress: bool | None = None) -> Prepared:
    """Data, model, text features, then the graph: train interactions only, plus with
    ``model.semantic_neighbors > 0`` the text kNN item-item edges (item text only, no
    valid/test interaction), so the text comes before the graph."""
    cfg = resolve_keep_cold_items(cfg)
    dataset, split = load(cfg.data)
    split = with_catalogue_cold_items(dataset, split)
    model = build_model(cfg.model, dataset.num_users, dataset.num_items)
    k = cfg.model.semantic_neighbors
    if k and not uses_text(model):
        raise ValueError(f"model.semantic_neighbors={k} needs item text vectors, but model "
                         f"{cfg.model.name!r} has no text tower; use a text model (text_gnn) "
                         f"or set model.semantic_neighbors=0")
    n_cold = len(catalogue_cold_ids(dataset))
    if k and n_cold:
        # Their text edges would train the ID rows that cold catalogue items must not have.
        raise ValueError(f"model.semantic_neighbors={k} is not supported with cold catalogue "
                         f"items ({n_cold} items without interactions, kept by "
                         f"data.clean.keep_cold_items); set data.clean.keep_cold_items=false "
                         f"or model.semantic_neighbors=0")
    if cfg.train.negatives == "all" and n_cold:
        raise ValueError("train.negatives=all would draw cold catalogue items (no interactions, "
                         "kept by data.clean.keep_cold_items) as negatives and train their ID "
                         "rows; use train.negatives=auto or warm")
    if k and len(split.cold_item_ids):
        # Held-out items would join the graph through their text edges and their ID rows
        # would be trained through them, while evaluation treats them as never seen.
        raise ValueError("model.semantic_neighbors is not supported in cold-item splits yet "
                         "(held-out items would be trained through their text edges)")
    features = item_text = user_text = None
    if uses_text(model):
        from recjax.text.features import text_features, user_texts

        item_text, user_text = text_features(dataset, cfg.text, progress)
        has_user_text = any(user_texts(dataset, cfg.text))
        if cfg.model.text_tower == "frozen":
            features = Features(jnp.asarray(item_text),
                                jnp.asarray(user_text) if has_user_text else None)
        else:
            features = Features(text_tokens=node_token_states(dataset, cfg, has_user_text))
    item_edges = None
    if k:
        from recjax.graph import text_knn_edges

        item_edges = text_knn_edges(item_text, k)
    graph = build_graph(split.train, cfg.model.relation, item_edges=item_edges)
    return Prepared(cfg, dataset, split, graph, features, model, item_text, user_text)


def node_token_states(dataset: Dataset, cfg: ExperimentConfig, with_users: bool):
    """The cached lower-layer token states of every item text (then user text) for an
    end-to-end text tower (:mod:`recjax.text.tokens`)."""
    from recjax.text.features import item_texts, user_texts
    from recjax.text.tokens import token_states

    t = cfg.text
    items = item_texts(dataset, t)
    users = user_texts(dataset, t) if with_users else []
    # One cache entry for both templates: the key hashes the texts and both templates.
    return token_states(items + users, len(items), t.checkpoint, cfg.model.text_layers,
                        pooling=t.pooling, normalize=t.normalize, dtype=t.dtype,
                        max_length=t.max_length, pack_widths=t.pack_widths,
                        batch_tokens=t.batch_tokens,
                        template=f"{t.item_template}\n{t.user_template}", cache=t.cache)


def _atomic_json(path: Path, obj) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1, default=str))
    os.replace(tmp, path)


def comparable_config(cfg: ExperimentConfig) -> dict:
    """The config as a dict without ``run`` and ``parallel`` (they do not change results):
    what decides whether two runs are runs of the same configuration. Defaults that depend
    on the model (``data.clean.keep_cold_items``) are resolved first, so a config written
    with the value unset and one with it spelled out compare equal."""
    try:
        cfg = resolve_keep_cold_items(cfg)
    except (KeyError, ValueError):  # refused configs are refused by prepare, with the reason
        pass
    d = to_dict(cfg)
    d.pop("run")
    d.pop("parallel")
    return d


def check_compatible(cfg: ExperimentConfig, run_dir: Path) -> None:
    """Refuse a run directory that holds another configuration's run (a directory whose run
    failed before its first checkpoint holds nothing to resume and is reused)."""
    path = run_dir / "config.json"
    ckpt = run_dir / "checkpoints"
    has_checkpoint = ckpt.is_dir() and any(p.name.isdigit() for p in ckpt.iterdir())
    if not path.exists() or not has_checkpoint:
        return
    try:
        old = json.loads(path.read_text())
    except ValueError as e:
        raise IncompatibleRunError(f"{path} is not valid JSON ({e})") from None
    try:
        # Fields added to the schema since that run (e.g. model.text_tower) read as their
        # defaults, as load_run reads them, instead of as differences.
        old = comparable_config(from_dict(ExperimentConfig, old))
    except (TypeError, ValueError):
        old.pop("run", None)
        old.pop("parallel", None)
    changes = diff(old, comparable_config(cfg))
    if changes:
        raise IncompatibleRunError(
            f"{run_dir} holds a run of another configuration ({len(changes)} difference(s): "
            + "; ".join(changes[:6]) + "); use a new run directory to start a new run")


def environment() -> dict:
    import flax
    import optax

    import recjax

    return {"python": platform.python_version(), "jax": jax.__version__,
            "flax": flax.__version__, "optax": optax.__version__, "numpy": np.__version__,
            "recjax": recjax.__version__, "devices": [str(d) for d in jax.devices()],
            "processes": jax.process_count(),
            "host": socket.gethostname(), "cpu_count": os.cpu_count(),
            "xla_flags": os.environ.get("XLA_FLAGS", "")}


def make_run_mesh(cfg: ExperimentConfig):
    """The device mesh ``cfg.parallel`` asks for, or None for a single device. In a
    multi-process run the mesh must hold devices of every process (each process feeds its
    share of every batch and takes part in every collective); anything less is refused here,
    before any work."""
    par = cfg.parallel
    processes = jax.process_count()
    if par.devices == 1 and par.model == 1:
        if processes > 1:
            raise ValueError(f"this is process {jax.process_index()} of a {processes}-process "
                             f"run, but parallel.devices=1 trains on one device; use "
                             f"parallel=multihost (all devices of all processes)")
        return None
    from recjax.train.parallel import make_mesh

    devices = jax.devices()
    n = par.devices or len(devices)
    if n > len(devices):
        raise ValueError(f"parallel.devices={n} but only {len(devices)} devices are visible")
    mesh = make_mesh(data=n // par.model, model=par.model, devices=devices[:n])
    covered = {d.process_index for d in mesh.devices.flat}
    if len(covered) < processes:
        raise ValueError(f"the mesh of parallel.devices={n} holds devices of processes "
                         f"{sorted(covered)} only, in a {processes}-process run; use "
                         f"parallel.devices=0 (all {len(devices)} devices)")
    return mesh


def vectorized_values(cfg: ExperimentConfig) -> dict[str, list]:
    return {k: list(v) for k, v in to_dict(cfg.sweep.vectorize).items() if v}


def _writes() -> bool:
    from recjax.train.parallel import is_writer

    return is_writer()


def train_run(cfg: ExperimentConfig, run_dir: str | Path,
              on_epoch=None) -> tuple[FitResult, Prepared]:
    """Train (or resume) the run in ``run_dir``; see the module docstring for the layout.

    In a multi-process run (``parallel.distributed``) every process calls this with the same
    ``run_dir``: all of them train, evaluate and take part in each checkpoint, and only
    process 0 writes config.json, run.json, metrics.json(l), plots and loggers' files.
    ``on_epoch`` is called with each epoch's record (after the loggers)."""
    run_dir = Path(run_dir)
    writer = _writes()
    if writer:
        run_dir.mkdir(parents=True, exist_ok=True)
    check_compatible(cfg, run_dir)
    save_json = _atomic_json if writer else (lambda path, obj: None)
    # The record spells out model-dependent defaults (keep_cold_items) as resolved.
    save_json(run_dir / "config.json", {**to_dict(cfg), "data": comparable_config(cfg)["data"]})
    if writer:
        (run_dir / "metrics.json").unlink(missing_ok=True)  # only a finished run has one
    info = {"status": "running", "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "seeds": {"split": cfg.data.split.seed, "train": cfg.train.seed,
                      "data": cfg.data.synthetic.seed},
            "environment": environment()}
    save_json(run_dir / "run.json", info)
    checkpointer = Checkpointer(run_dir / "checkpoints")
    loggers = None
    try:
        prepared = prepare(cfg, cfg.run.progress)
        resumed_from = checkpointer.latest()
        if cfg.run.loggers and writer:
            from recjax.loggers import RunLoggers

            loggers = RunLoggers(cfg.run.loggers, run_dir, to_dict(cfg), cfg.run.name,
                                 cfg.run.project)
        callbacks = [f for f in (loggers.on_epoch if loggers else None, on_epoch) if f]
        result = fit(prepared.model, prepared.graph, prepared.features, prepared.split,
                     cfg.train, cfg.eval, run_dir=run_dir, progress=cfg.run.progress,
                     on_epoch=(lambda r: [f(r) for f in callbacks]) if callbacks else None,
                     checkpointer=checkpointer, checkpoint_every=cfg.run.checkpoint_every,
                     mesh=make_run_mesh(cfg), shard_embeddings=cfg.parallel.shard_embeddings)
    except BaseException as e:
        info.update(status="failed", error=f"{type(e).__name__}: {e}"[:2000])
        save_json(run_dir / "run.json", info)
        if loggers is not None:
            loggers.close()
        raise
    finally:
        checkpointer.close()
    metrics = {"valid": result.valid, "test": result.test}
    metrics.update(cold_metrics(prepared, result.params, cfg.eval.ks))
    if not writer:
        return result, prepared
    _atomic_json(run_dir / "metrics.json", metrics)
    if loggers is not None:
        loggers.finish(metrics, len(result.history))
    if cfg.run.plot and not is_closed_form(prepared.model):  # one solve: no curve to draw
        from recjax.report import plot_curves

        plot_curves(result.history, run_dir / "curves.png", cfg.train.select_metric)
    info.update(status="finished", finished=time.strftime("%Y-%m-%d %H:%M:%S"),
                best_epoch=result.best_epoch, epochs=len(result.history),
                parameters=parameter_counts(
                    result.params, (*cfg.train.freeze,
                                    *getattr(prepared.model, "frozen_patterns", ())),
                    prepared.features),
                resumed_from_epoch=resumed_from, timings=result.timings)
    _atomic_json(run_dir / "run.json", info)
    return result, prepared


def load_run(run_dir: str | Path, progress: bool | None = None):
    """A finished or checkpointed run: ``(prepared, best_params)``.

    Raises ``FileNotFoundError`` when ``run_dir`` holds no trained model.
    """
    run_dir = Path(run_dir)
    path = run_dir / "config.json"
    if not path.exists():
        raise FileNotFoundError(f"{run_dir} is not a run directory (no config.json)")
    cfg = from_dict(ExperimentConfig, json.loads(path.read_text()))
    if vectorized_values(cfg):
        raise FileNotFoundError(f"{run_dir} is a vectorised sweep ({vectorized_values(cfg)}); "
                                f"its configurations' metrics are in config_<i>/ — to evaluate "
                                f"or serve one, train it as a separate run")
    checkpointer = Checkpointer(run_dir / "checkpoints")
    try:
        if checkpointer.latest() is None:
            raise FileNotFoundError(f"{run_dir} holds no trained model (no checkpoint yet)")
        prepared = prepare(cfg, progress)
        like = prepared.model.init(jax.random.key(0), prepared.graph, prepared.features)
        params, _ = checkpointer.restore_best(like)
    finally:
        checkpointer.close()
    return prepared, forget_cold(prepared, params)


def train_vectorized_run(cfg: ExperimentConfig, run_dir: str | Path, on_epoch=None
                         ) -> tuple[list[FitResult], list[ExperimentConfig], Prepared]:
    """All configurations of ``cfg.sweep.vectorize`` in one program. Each gets a
    subdirectory ``config_<i>/`` with its own config.json, metrics.json(l), run.json, so
    ``recjax-report`` tabulates them like separate runs. The sweep checkpoints like a single
    run (``checkpoints/``: the stacked state, each configuration's best parameters and
    early-stopping state, every ``run.checkpoint_every`` epochs) and a rerun in the same
    directory resumes; a directory holding another sweep (config.json differs) is refused."""
    from dataclasses import replace

    from recjax.config.schema import SweepConfig
    from recjax.report import plot_curves
    from recjax.train.sweep import expand, fit_vectorized

    if cfg.parallel.distributed:
        raise ValueError("a vectorised sweep (sweep.vectorize.*) runs in one process; drop "
                         "parallel.distributed (or run the configurations as separate runs)")
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    check_compatible(cfg, run_dir)
    _atomic_json(run_dir / "config.json",
                 {**to_dict(cfg), "data": comparable_config(cfg)["data"]})
    values = vectorized_values(cfg)
    info = {"status": "running", "vectorized": values, "environment": environment()}
    _atomic_json(run_dir / "run.json", info)
    checkpointer = Checkpointer(run_dir / "checkpoints")
    try:
        prepared = prepare(cfg, cfg.run.progress)
        resumed_from = checkpointer.latest()
        results = fit_vectorized(prepared.model, prepared.graph, prepared.features,
                                 prepared.split, cfg.train, values, cfg.eval,
                                 checkpointer=checkpointer,
                                 checkpoint_every=cfg.run.checkpoint_every,
                                 on_epoch=on_epoch)
    except BaseException as e:
        info.update(status="failed", error=f"{type(e).__name__}: {e}"[:2000])
        _atomic_json(run_dir / "run.json", info)
        raise
    finally:
        checkpointer.close()
    info["resumed_from_epoch"] = resumed_from
    configs = [replace(cfg, train=t, sweep=SweepConfig()) for t in expand(cfg.train, values)]
    for i, (c, r) in enumerate(zip(configs, results, strict=True)):
        sub = run_dir / f"config_{i}"
        sub.mkdir(exist_ok=True)
        _atomic_json(sub / "config.json", to_dict(c))
        (sub / "metrics.jsonl").write_text("".join(json.dumps(h) + "\n" for h in r.history))
        _atomic_json(sub / "metrics.json", {"valid": r.valid, "test": r.test})
        _atomic_json(sub / "run.json", {"status": "finished", "best_epoch": r.best_epoch,
                                        "epochs": len(r.history), "timings": r.timings,
                                        "vectorized_index": i})
        if cfg.run.plot:
            plot_curves(r.history, sub / "curves.png", cfg.train.select_metric)
    info.update(status="finished", configurations=len(configs))
    _atomic_json(run_dir / "run.json", info)
    return results, configs, prepared
