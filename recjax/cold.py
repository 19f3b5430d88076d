"""Cold catalogue items and cold-start evaluation of a prepared experiment: which items have
no interaction (kept by ``data.clean.keep_cold_items`` for text models), how a split treats
them, and the warm/cold test metrics of a cold split (:mod:`recjax.eval.coldstart`)."""

from __future__ import annotations

import dataclasses

import numpy as np

from recjax.config.schema import ExperimentConfig
from recjax.models import drop_id_rows
from recjax.models.registry import model_spec
from recjax.types import Dataset, Split


def resolve_keep_cold_items(cfg: ExperimentConfig) -> ExperimentConfig:
    """``cfg`` with ``data.clean.keep_cold_items`` decided: ``None`` becomes on for a model
    with a text tower (it can rank an item without edges by its text) and off otherwise, so
    that loading, and the cleaned-data cache key, see an explicit choice. ``True`` with an
    ID-only model is refused: such an item would score by an all-zero input."""
    clean_cfg = cfg.data.clean
    text = model_spec(cfg.model.name).uses_text
    keep = clean_cfg.keep_cold_items
    if keep and not text:
        raise ValueError(f"data.clean.keep_cold_items=true keeps catalogue items without "
                         f"interactions, which only a model with a text tower can rank; "
                         f"model {cfg.model.name!r} has none (use text_gnn, or set "
                         f"data.clean.keep_cold_items=false)")
    if keep is None:
        keep = text
    if keep == clean_cfg.keep_cold_items:
        return cfg
    data = dataclasses.replace(cfg.data, clean=dataclasses.replace(clean_cfg,
                                                                   keep_cold_items=keep))
    return dataclasses.replace(cfg, data=data)


def catalogue_cold_ids(dataset: Dataset) -> np.ndarray:
    """int32 dense ids of the items without any interaction (the cold catalogue items that
    ``keep_cold_items`` kept; none otherwise, as cleaning keeps only interacting items)."""
    x = dataset.interactions
    interacted = np.zeros(dataset.num_items, bool)
    interacted[x.item_ids] = True
    return np.nonzero(~interacted)[0].astype(np.int32)


def with_catalogue_cold_items(dataset: Dataset, split: Split) -> Split:
    """``split`` with the cold catalogue items among ``cold_item_ids`` (ids held out of
    train), so training treats them as it treats a cold-item split's held-out items: their
    ID rows start at zero and, with warm-only negatives (``train.negatives=auto``), get no
    gradient; evaluation still ranks them with every item. No valid/test row can hold one."""
    cold = catalogue_cold_ids(dataset)
    if not len(cold):
        return split
    ids = np.union1d(split.cold_item_ids, cold).astype(np.int32)
    return dataclasses.replace(split, cold_item_ids=ids)


def forget_cold(prepared, params):
    """Users and items held out of train (cold splits) have no ID row of their own: the
    rows the model allocated for them are zeroed, as a new node's input is built."""
    sp = prepared.split
    return drop_id_rows(params, sp.cold_user_ids, sp.cold_item_ids)


def cold_metrics(prepared, params, ks=(10, 20)) -> dict:
    """``{"test_warm": {...}, "test_cold": {...}}`` for a cold split (warm and cold items, or
    users, ranked apart: :mod:`recjax.eval.coldstart`), else ``{}``. Cold catalogue items
    count as cold items (never seen in train) in a cold-item split, and alone (a warm split
    of a catalogue with cold items) make no cold test: none of them has a test row."""
    sp = prepared.split
    held_out = np.setdiff1d(sp.cold_item_ids, catalogue_cold_ids(prepared.dataset))
    if not (len(held_out) or len(sp.cold_user_ids)):  # cold catalogue items alone: no test
        return {}
    if not len(held_out):
        # A cold-user split: users are told apart and every item is a candidate; the cold
        # catalogue items must not turn it into a cold-item evaluation.
        sp = dataclasses.replace(sp, cold_item_ids=np.zeros(0, np.int32))
    from recjax.eval.coldstart import cold_tasks, evaluate_cold

    user_emb, item_emb = prepared.model.apply(params, prepared.graph, prepared.features)
    out = evaluate_cold(user_emb, item_emb, cold_tasks(sp), ks)
    return {f"test_{part}": metrics for part, metrics in out.items()}
