"""Objectives (registry, DirectAU, InfoNCE), warm-only negatives in cold splits, SimGCL's
contrastive term in the step."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from recjax.config.schema import EvalConfig, ModelConfig, SplitConfig, SyntheticConfig, TrainConfig
from recjax.data.clean import clean
from recjax.data.split import split
from recjax.data.synthetic import synthetic_raw
from recjax.graph import build_graph
from recjax.models import build_model
from recjax.train import losses
from recjax.train.loop import epoch_batches, fit, warm_negatives
from recjax.train.negatives import sample_negatives, uniform_items
from recjax.train.objectives import OBJECTIVES, get_objective
from recjax.train.step import compute_loss

rng = np.random.default_rng(0)


def unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_registry_declares_each_objective():
    assert sorted(OBJECTIVES) == ["bce", "bpr", "directau", "softmax"]
    assert get_objective("bce").metrics() == ("auc", "accuracy", "logloss")
    assert get_objective("bpr").metrics() == ()
    assert get_objective("softmax").negatives(TrainConfig(shared_negatives=True)) == "shared"
    assert get_objective("directau").negatives(TrainConfig()) == "none"
    for obj in OBJECTIVES.values():  # declared hyperparameters are real TrainConfig fields
        assert set(obj.hyperparameters) <= set(TrainConfig.__dataclass_fields__)
    with pytest.raises(KeyError, match="unknown loss 'bprr'; valid losses: \\['bce', 'bpr'"):
        get_objective("bprr")


def test_directau_parts_against_numpy():
    u, p = rng.normal(size=(6, 4)), rng.normal(size=(6, 4))
    mask = np.array([1, 1, 1, 1, 1, 0], bool)  # the last row is padding
    un, pn = unit(u[:5]), unit(p[:5])
    align = np.mean(np.sum((un - pn) ** 2, -1))
    d = [np.sum((un[a] - un[b]) ** 2) for a in range(5) for b in range(a + 1, 5)]
    uniform = np.log(np.mean(np.exp(-2 * np.array(d))))
    assert float(losses.alignment_loss(u, p, mask)) == pytest.approx(align, rel=1e-5)
    assert float(losses.uniformity_loss(u, mask)) == pytest.approx(uniform, rel=1e-5)


def test_info_nce_and_first_occurrence_against_numpy():
    ids = np.array([3, 1, 3, 2, 1, 7])
    mask = np.array([1, 1, 1, 1, 1, 0], bool)
    first = np.asarray(losses.first_occurrence(jnp.asarray(ids), jnp.asarray(mask)))
    np.testing.assert_array_equal(first, [True, True, False, True, False, False])
    x1, x2 = rng.normal(size=(6, 4)), rng.normal(size=(6, 4))
    keep = np.nonzero(first)[0]
    a, b = unit(x1[keep]), unit(x2[keep])
    logits = a @ b.T / 0.2
    expected = np.mean(np.log(np.exp(logits).sum(1)) - np.diag(logits))
    got = float(losses.info_nce(x1, x2, jnp.asarray(first), 0.2))
    assert got == pytest.approx(expected, rel=1e-5)


@pytest.fixture(scope="module")
def cold():
    ds = clean(synthetic_raw(SyntheticConfig(num_users=60, num_items=80, num_interactions=2400,
                                             seed=1)))
    sp = split(ds.interactions, SplitConfig(method="cold_item", cold_fraction=0.25, seed=1))
    return ds, sp, build_graph(sp.train)


def test_warm_only_draws_never_hit_cold_items(cold):
    _, sp, g = cold
    key = jax.random.key(0)
    draws = np.asarray(uniform_items(key, (20000,), g, warm_only=True))
    assert not np.isin(draws, sp.cold_item_ids).any()
    warm = np.setdiff1d(np.arange(g.num_items), sp.cold_item_ids)
    assert set(np.unique(draws)) == set(warm)  # every warm item can be drawn
    users = jnp.asarray(sp.train.user_ids[:64])
    negs = np.asarray(sample_negatives(key, g, users, 16, reject=True, warm_only=True))
    assert not np.isin(negs, sp.cold_item_ids).any()
    assert np.isin(np.asarray(uniform_items(key, (5000,), g)), sp.cold_item_ids).any()


@pytest.mark.parametrize("loss", ["bpr", "softmax"])
def test_cold_items_get_no_gradient_in_a_cold_split(cold, loss):
    """negatives='auto' in a cold-item split: held-out items are never drawn, so their ID rows
    stay exactly at their initial values; with negatives='all' they move."""
    ds, sp, g = cold
    model = build_model(ModelConfig(name="lightgcn", dim=8, num_layers=1), ds.num_users,
                        ds.num_items)
    kw = dict(loss=loss, num_negatives=4, epochs=2, batch_size=256, learning_rate=0.05,
              reg_weight=1e-3)
    rows = lambda p: np.asarray(p["params"]["id"]["item"]["embedding"])[sp.cold_item_ids]
    cfg = TrainConfig(seed=0, **kw)
    assert warm_negatives(cfg, sp)
    auto = fit(model, g, None, sp, cfg, EvalConfig(ks=(5, 10)), progress=False)
    assert not rows(auto.params).any()  # zero at init (no ID of their own), no gradient
    everywhere = fit(model, g, None, sp, TrainConfig(seed=0, negatives="all", **kw),
                     EvalConfig(ks=(5, 10)), progress=False)
    assert rows(everywhere.params).any()  # drawn as negatives, they would be trained


def test_simgcl_step_adds_the_contrastive_term(cold):
    ds, sp, g = cold
    batch = {k: jnp.asarray(v[0]) for k, v in
             epoch_batches(sp.train, 128, 0, 1).items()}
    for name, has_cl in (("simgcl", True), ("xsimgcl", True), ("lightgcn", False)):
        model = build_model(ModelConfig(name=name, dim=8), ds.num_users, ds.num_items)
        params = model.init(jax.random.key(0), g)
        total, parts = compute_loss(model, TrainConfig(), params, g, batch, None,
                                    jax.random.key(1))
        assert ("cl" in parts) == has_cl, name
        assert float(total) == pytest.approx(float(sum(parts.values())), rel=1e-6)
    directau = build_model(ModelConfig(name="mf", dim=8), ds.num_users, ds.num_items)
    params = directau.init(jax.random.key(0), g)
    _, parts = compute_loss(directau, TrainConfig(loss="directau", reg_weight=0.0), params, g,
                            batch, None, jax.random.key(1))
    assert sorted(parts) == ["align", "uniform"]
