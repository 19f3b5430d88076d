"""Objectives (registry, DirectAU, InfoNCE), warm-only negatives in cold splits, SimGCL's
contrastive term in the step."""

import dataclasses

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
from recjax.train.negatives import (
    draw_items,
    is_train_positive,
    item_popularity,
    sample_items,
    sample_negatives,
    sampling_log_prob,
    uniform_items,
)
from recjax.train.objectives import OBJECTIVES, LossInputs, get_objective
from recjax.train.step import compute_loss, hyperparameters
from tests.conftest import make_interactions

rng = np.random.default_rng(0)


def unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_registry_declares_each_objective():
    assert sorted(OBJECTIVES) == ["bce", "bpr", "directau", "full_softmax", "softmax"]
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


@pytest.mark.parametrize("loss", ["bpr", "softmax"])
def test_cold_item_dropout_scores_dropped_rows_entirely_edge_free(cold, loss):
    """A dropped row's positive AND negatives are edge-free, ID-free (``isolated``): for an
    ID-only LightGCN every isolated embedding is zero, so with every row dropped each score is
    0 and the loss is log(1 + negatives kept) per row (BPR: log 2). Scoring only the positive
    edge-free (against propagated negatives) gives another value, and lets a model win by
    telling isolated from propagated instead of ranking cold items among themselves."""
    ds, sp, g = cold
    batch = {k: jnp.asarray(v[0]) for k, v in epoch_batches(sp.train, 128, 0, 1).items()}
    model = build_model(ModelConfig(name="lightgcn", dim=8, num_layers=1), ds.num_users,
                        ds.num_items)
    # embeddings large enough that propagated scores are far from 0
    params = jax.tree.map(lambda x: 20 * x, model.init(jax.random.key(0), g))
    kw = dict(loss=loss, num_negatives=1, reg_weight=0.0, negatives="all",
              reject_positives=False)
    cfg = TrainConfig(cold_item_dropout=0.999999, **kw)
    total, parts = compute_loss(model, cfg, params, g, batch, None, jax.random.key(1))
    kept = np.ones(len(batch["items"]))  # BPR: one negative per row
    if loss == "softmax":  # a drawn negative equal to the row's own positive is dropped
        neg = sample_items(jax.random.split(jax.random.key(1), 4)[0], g, batch["users"], 1,
                           cfg, False)
        kept = (np.asarray(neg)[:, 0] != np.asarray(batch["items"])).astype(float)
    real = np.asarray(batch["mask"]).astype(bool)
    assert float(total) == pytest.approx(np.mean(np.log1p(kept)[real]), rel=1e-6)
    normal, _ = compute_loss(model, TrainConfig(**kw), params, g, batch, None,
                             jax.random.key(1))
    assert float(normal) != pytest.approx(np.log(2.0), rel=1e-3)


@pytest.mark.parametrize("loss", ["bpr", "shared_softmax"])
def test_cold_item_dropout_per_row_by_hand(cold, loss):
    """A text model (edge-free embeddings are its projected text, not zero), half the rows
    dropped: the loss is the mean over rows of BPR (or softmax over 8 shared negatives)
    computed by hand, a dropped row taking its positive and its negatives from the edge-free
    table and its user from the propagated one; the drop pattern and the negatives are the
    step's own (same key streams)."""
    from recjax.models.towers import Features
    from recjax.train.negatives import sample_items as draw_per_row

    ds, sp, g = cold
    batch = {k: jnp.asarray(v[0]) for k, v in epoch_batches(sp.train, 128, 0, 1).items()}
    r = np.random.default_rng(0)
    features = Features(jnp.asarray(r.normal(size=(ds.num_items, 6)), jnp.float32),
                        jnp.asarray(r.normal(size=(ds.num_users, 6)), jnp.float32))
    model = build_model(ModelConfig(name="text_gnn", dim=8, num_layers=1), ds.num_users,
                        ds.num_items)
    params = jax.tree.map(lambda x: 5 * x, model.init(jax.random.key(0), g, features))
    kw = (dict(loss="bpr") if loss == "bpr" else
          dict(loss="softmax", shared_negatives=True, num_negatives=8, temperature=0.5))
    cfg = TrainConfig(reg_weight=0.0, negatives="all", cold_item_dropout=0.5,
                      reject_positives=False, **kw)
    key = jax.random.key(3)
    total, _ = compute_loss(model, cfg, params, g, batch, features, key)
    neg_key, _, cold_key, _ = jax.random.split(key, 4)
    pick = np.asarray(jax.random.bernoulli(jax.random.split(cold_key)[1], 0.5,
                                           batch["items"].shape))
    users, items = np.asarray(batch["users"]), np.asarray(batch["items"])
    real = np.asarray(batch["mask"]).astype(bool)
    assert 0 < pick[real].sum() < real.sum()  # both kinds of rows present
    user_emb, item_emb = (np.asarray(x) for x in model.apply(params, g, features))
    _, iso_items = (np.asarray(x) for x in model.apply(params, g, features,
                                                        method=model.isolated))
    assert np.abs(iso_items).max() > 0.1  # edge-free embeddings are not all zero here
    table = np.where(pick[:, None, None], iso_items[None], item_emb[None])  # [b, items, d]
    rows = np.arange(len(items))
    u = user_emb[users]
    if loss == "bpr":
        neg = np.asarray(draw_per_row(neg_key, g, batch["users"], 1, cfg, False))[:, 0]
        diff = np.sum(u * (table[rows, items] - table[rows, neg]), -1)
        per_row = np.logaddexp(0.0, -diff)
    else:
        neg = np.asarray(draw_items(neg_key, (8,), g, "uniform", False))
        pos_logit = np.sum(u * table[rows, items], -1) / 0.5
        neg_logits = np.einsum("bd,bkd->bk", u, table[:, neg]) / 0.5
        neg_logits = np.where(neg[None, :] == items[:, None], -np.inf, neg_logits)
        all_logits = np.c_[pos_logit, neg_logits]
        top = all_logits.max(1, keepdims=True)
        per_row = (np.log(np.exp(all_logits - top).sum(1)) + top[:, 0]) - pos_logit
    expected = np.mean(per_row[real])
    assert float(total) == pytest.approx(expected, rel=1e-5)


def test_cold_item_dropout_refuses_directau():
    with pytest.raises(ValueError, match="cold_item_dropout does not combine with loss=directau"):
        TrainConfig(loss="directau", cold_item_dropout=0.3)


def test_reg_form_norm_reaches_the_step(cold):
    """``reg_form=norm`` puts RecBole's EmbLoss of the batch's layer-0 rows in the step."""
    ds, sp, g = cold
    batch = {k: jnp.asarray(v[0]) for k, v in epoch_batches(sp.train, 128, 0, 1).items()}
    model = build_model(ModelConfig(name="lightgcn", dim=8), ds.num_users, ds.num_items)
    params = model.init(jax.random.key(0), g)
    kw = dict(loss="softmax", shared_negatives=True, num_negatives=4, reg_weight=0.5)
    ids = params["params"]["id"]
    rows = (ids["user"]["embedding"][batch["users"]], ids["item"]["embedding"][batch["items"]])
    for form, fn in (("norm", losses.norm_reg), ("squared", losses.l2_reg)):
        _, parts = compute_loss(model, TrainConfig(reg_form=form, **kw), params, g, batch,
                                None, jax.random.key(1))
        assert float(parts["reg"]) == pytest.approx(0.5 * float(fn(batch["mask"], *rows)),
                                                    rel=1e-5), form


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


def tiny_graph():
    """4 users x 6 items; item 5 has no train edge (cold)."""
    users = np.array([0, 0, 1, 1, 2, 3, 3, 3])
    items = np.array([0, 1, 1, 2, 3, 0, 2, 4])
    return build_graph(make_interactions(users, items, num_users=4, num_items=6))


def loss_inputs(g, cfg, users, items, mask, item_emb, u, key=0, warm=False):
    users, items = jnp.asarray(users), jnp.asarray(items)
    return LossInputs(cfg, hyperparameters(cfg), g, users, items, jnp.zeros(len(users)),
                      jnp.asarray(mask), jnp.asarray(u), jnp.asarray(item_emb)[items],
                      jnp.asarray(item_emb), 0.0, jax.random.key(key), warm)


def full_softmax_reference(g, users, items, mask, u, item_emb, t, warm):
    pos_table = np.asarray(g.positives)
    warm_items = np.asarray(g.degree)[g.num_users:] > 0
    rows = []
    for b in np.nonzero(mask)[0]:
        logits = u[b] @ item_emb.T / t
        keep = ~pos_table[users[b]]
        if warm:
            keep &= warm_items
        keep[items[b]] = False
        target = logits[items[b]]
        rows.append(np.log(np.exp(target) + np.exp(logits[keep]).sum()) - target)
    return np.mean(rows)


@pytest.mark.parametrize("warm", [False, True])
def test_full_softmax_against_numpy_and_padding(warm):
    g = tiny_graph()
    item_emb = rng.normal(size=(6, 4)).astype(np.float32)
    users, items = np.array([0, 1, 3, 2]), np.array([1, 2, 4, 3])
    u = rng.normal(size=(4, 4)).astype(np.float32)
    mask = np.array([1, 1, 1, 1], bool)
    cfg = TrainConfig(loss="full_softmax", temperature=0.5)
    obj = get_objective("full_softmax")
    parts, neg = obj.loss(loss_inputs(g, cfg, users, items, mask, item_emb, u, warm=warm))
    assert neg is None and obj.negatives(cfg) == "none"
    expected = full_softmax_reference(g, users, items, mask, u, item_emb, 0.5, warm)
    assert float(parts["softmax"]) == pytest.approx(expected, rel=1e-5)
    # Two padded rows (any ids, any embeddings) change nothing.
    pad_u = np.concatenate([u, rng.normal(size=(2, 4)).astype(np.float32) * 50])
    padded = loss_inputs(g, cfg, np.r_[users, 0, 3], np.r_[items, 5, 0],
                         np.r_[mask, False, False], item_emb, pad_u, warm=warm)
    assert float(obj.loss(padded)[0]["softmax"]) == pytest.approx(expected, rel=1e-5)


def test_full_softmax_without_dense_positives_table_agrees():
    """The CSR membership path (no dense table) masks the same positives."""
    g = tiny_graph()
    csr = dataclasses.replace(g, positives=None)
    item_emb = rng.normal(size=(6, 4)).astype(np.float32)
    u = rng.normal(size=(3, 4)).astype(np.float32)
    cfg = TrainConfig(loss="full_softmax")
    args = ([0, 3, 1], [0, 2, 1], [True, True, True], item_emb, u)
    obj = get_objective("full_softmax")
    a = float(obj.loss(loss_inputs(g, cfg, *args))[0]["softmax"])
    b = float(obj.loss(loss_inputs(csr, cfg, *args))[0]["softmax"])
    assert a == pytest.approx(b, rel=1e-6)


def test_popularity_sampler_frequencies_match_train_degrees():
    g = tiny_graph()
    degree = np.array([2, 2, 2, 1, 1, 0], np.float32)  # train users per item
    np.testing.assert_array_equal(np.asarray(item_popularity(g)), degree)
    draws = np.asarray(draw_items(jax.random.key(0), (40000,), g, "popularity"))
    freq = np.bincount(draws, minlength=6) / len(draws)
    np.testing.assert_allclose(freq, degree / degree.sum(), atol=0.01)
    assert freq[5] == 0  # an item without train edges is never drawn
    log_q = np.asarray(sampling_log_prob(g, "popularity"))
    np.testing.assert_allclose(log_q[:5], np.log(degree[:5] / degree.sum()), rtol=1e-6)
    assert np.isfinite(log_q).all()  # a padded row's (cold) positive stays finite


def logq_reference(u, pos, negs, t, log_kq):
    """Sampled softmax with log-Q: the target uncorrected, each drawn negative's logit minus
    log(k Q(item))."""
    target = u @ pos / t
    others = negs @ u / t - log_kq
    return np.log(np.exp(target) + np.exp(others).sum()) - target


@pytest.mark.parametrize("sampler", ["uniform", "popularity"])
def test_logq_correction_against_numpy(sampler):
    g = tiny_graph()
    item_emb = rng.normal(size=(6, 4)).astype(np.float32)
    users, items = np.array([0, 1, 2, 3]), np.array([0, 1, 3, 4])
    u = rng.normal(size=(4, 4)).astype(np.float32)
    mask = np.array([1, 1, 1, 0], bool)
    kw = dict(loss="softmax", num_negatives=8, shared_negatives=True, reject_positives=False,
              temperature=0.3, negative_sampler=sampler)
    obj = get_objective("softmax")

    def value(**extra):
        cfg = TrainConfig(**kw, **extra)
        return float(obj.loss(loss_inputs(g, cfg, users, items, mask, item_emb, u))[0]["softmax"])

    # The same draws as the objective's (same key), corrected by hand.
    neg_ids = np.asarray(draw_items(jax.random.key(0), (8,), g, sampler))
    pop = np.array([2, 2, 2, 1, 1, 0], np.float64)
    q = pop / pop.sum() if sampler == "popularity" else np.full(6, 1 / 6)
    log_kq = np.log(8 * q[neg_ids])
    expected = []
    for b in np.nonzero(mask)[0]:
        keep = neg_ids != items[b]  # draws of the row's own positive are dropped
        expected.append(logq_reference(u[b], item_emb[items[b]], item_emb[neg_ids[keep]], 0.3,
                                       log_kq[keep]))
    corrected = value(logq_correction=True)
    assert corrected == pytest.approx(np.mean(expected), rel=1e-5)
    assert corrected != pytest.approx(value(), rel=1e-3)  # the correction does something


def test_popularity_negatives_reject_positives_and_train(cold):
    ds, sp, g = cold
    batch = {k: jnp.asarray(v[0]) for k, v in epoch_batches(sp.train, 128, 0, 1).items()}
    cfg = TrainConfig(negative_sampler="popularity", num_negatives=16)
    negs = sample_items(jax.random.key(0), g, batch["users"], 16, cfg, False)
    hit = np.asarray(is_train_positive(g, batch["users"][:, None], negs))
    assert hit.mean() < 0.01
    assert not np.isin(np.asarray(negs), sp.cold_item_ids).any()
    model = build_model(ModelConfig(name="mf", dim=8), ds.num_users, ds.num_items)
    params = model.init(jax.random.key(0), g)
    for loss, extra in (("bpr", {}), ("softmax", {"logq_correction": True}),
                        ("softmax", {"logq_correction": True, "shared_negatives": True,
                                     "in_batch_negatives": True}),
                        ("full_softmax", {})):
        cfg = TrainConfig(loss=loss, negative_sampler="popularity", num_negatives=8, **extra)
        def total(p, cfg=cfg):
            return compute_loss(model, cfg, p, g, batch, None, jax.random.key(1),
                                warm_negatives=True)[0]

        value, grads = jax.value_and_grad(total)(params)
        assert np.isfinite(float(value)), (loss, extra)
        cold_rows = np.asarray(grads["params"]["id"]["item"]["embedding"])[sp.cold_item_ids]
        assert not cold_rows.any(), (loss, extra)  # warm-only: cold items get no gradient


def test_text_edges_do_not_make_cold_items_warm(cold):
    """Semantic item-item edges give held-out items a degree; they must still never be drawn
    as negatives (warm = has train interactions)."""
    _, sp, _ = cold
    cold_ids = sp.cold_item_ids
    warm_ids = np.setdiff1d(np.arange(sp.train.num_items), cold_ids)
    edges = np.stack([cold_ids, warm_ids[: len(cold_ids)]], axis=1)
    g = build_graph(sp.train, item_edges=edges)
    assert np.all(np.asarray(g.degree)[sp.train.num_users + cold_ids] > 0)
    draws = np.asarray(uniform_items(jax.random.key(0), (20000,), g, warm_only=True))
    assert not np.isin(draws, cold_ids).any()
    log_q = np.asarray(sampling_log_prob(g, "uniform", warm_only=True))
    assert np.all(log_q[cold_ids] == 0) and np.allclose(log_q[warm_ids], -np.log(len(warm_ids)))
