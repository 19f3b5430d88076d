import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from recjax.config.schema import EvalConfig, ModelConfig, SplitConfig, SyntheticConfig, TrainConfig
from recjax.data.clean import clean
from recjax.data.split import split
from recjax.data.synthetic import synthetic_raw
from recjax.graph import build_graph
from recjax.models import Features, build_model
from recjax.train import losses
from recjax.train.loop import epoch_batches, fit
from recjax.train.negatives import is_train_positive, sample_negatives
from recjax.train.optim import make_optimizer
from recjax.train.state import TrainState
from recjax.train.step import compute_loss, make_train_step


@pytest.fixture(scope="module")
def tiny():
    ds = clean(synthetic_raw(SyntheticConfig(num_users=60, num_items=80, num_interactions=2400,
                                             seed=1)))
    sp = split(ds.interactions, SplitConfig(seed=1))
    return ds, sp, build_graph(sp.train)


def test_bpr_and_reg_by_hand():
    u = jnp.array([[1.0, 0.0], [0.0, 2.0]])
    pos = jnp.array([[2.0, 0.0], [0.0, 1.0]])
    neg = jnp.array([[0.0, 1.0], [1.0, 0.0]])
    mask = jnp.array([True, False])
    # Row 0: u.pos - u.neg = 2 -> -log sigmoid(2); row 1 is padding.
    assert float(losses.bpr_loss(u, pos, neg, mask)) == pytest.approx(np.log1p(np.exp(-2.0)))
    assert float(losses.l2_reg(mask, u, pos)) == pytest.approx(0.5 * (1 + 4))


def test_norm_reg_is_recboles_emb_loss_against_numpy():
    """RecBole's EmbLoss (require_pow False): sum of each table's Frobenius norm over the real
    rows, divided by their count; its gradient E/||E|| (padding rows get none, a zero table
    none rather than NaN)."""
    rng = np.random.default_rng(0)
    u, pos = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    mask = np.array([1, 1, 1, 0], bool)
    ref = (np.linalg.norm(u[:3]) + np.linalg.norm(pos[:3])) / 3
    assert float(losses.norm_reg(mask, u, pos)) == pytest.approx(ref, rel=1e-6)
    g = np.asarray(jax.grad(lambda e: losses.norm_reg(mask, e, pos))(jnp.asarray(u)))
    np.testing.assert_allclose(g[:3], u[:3] / np.linalg.norm(u[:3]) / 3, rtol=1e-5)
    assert not g[3].any()
    g0 = np.asarray(jax.grad(lambda e: losses.norm_reg(mask, e))(jnp.zeros((4, 3))))
    assert np.isfinite(g0).all() and not g0.any()
    # and it is not the squared form
    assert float(losses.norm_reg(mask, u)) != pytest.approx(float(losses.l2_reg(mask, u)))


def test_softmax_loss_against_numpy_and_padding():
    rng = np.random.default_rng(0)
    u, pos = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    negs = rng.normal(size=(4, 5, 3))
    mask = np.array([1, 1, 1, 0], bool)
    logits = np.c_[(u * pos).sum(1), np.einsum("bd,bkd->bk", u, negs)] / 0.5
    ref = np.mean((np.log(np.exp(logits).sum(1)) - logits[:, 0])[:3])
    got = losses.softmax_loss(jnp.asarray(u), jnp.asarray(pos), jnp.asarray(negs), mask, 0.5)
    assert float(got) == pytest.approx(ref, rel=1e-5)
    # Changing a padded row changes nothing.
    u2 = u.copy()
    u2[3] = 100.0
    got2 = losses.softmax_loss(jnp.asarray(u2), jnp.asarray(pos), jnp.asarray(negs), mask, 0.5)
    assert float(got2) == pytest.approx(float(got))
    # Shared negatives [k, dim] equal per-row negatives repeated.
    shared = losses.softmax_loss(jnp.asarray(u), jnp.asarray(pos), jnp.asarray(negs[0]), mask,
                                 0.5)
    rep = losses.softmax_loss(jnp.asarray(u), jnp.asarray(pos),
                              jnp.asarray(np.repeat(negs[:1], 4, 0)), mask, 0.5)
    assert float(shared) == pytest.approx(float(rep), rel=1e-6)


def test_negatives_avoid_positives_both_lookups(tiny):
    _, sp, g = tiny
    g_search = build_graph(sp.train, dense_limit=0)
    assert g_search.positives is None
    users = jnp.asarray(np.repeat(np.arange(60), 20))
    items = jnp.asarray(np.tile(np.arange(20), 60))
    np.testing.assert_array_equal(np.asarray(is_train_positive(g, users, items)),
                                  np.asarray(is_train_positive(g_search, users, items)))
    for graph in (g, g_search):
        neg = np.asarray(sample_negatives(jax.random.key(0), graph, users, 8, reject=True,
                                          tries=8))
        pos = np.asarray(g.positives)
        assert not pos[np.repeat(np.asarray(users), 8), neg.reshape(-1)].any()
    plain = np.asarray(sample_negatives(jax.random.key(0), g, users, 8))
    assert plain.min() >= 0 and plain.max() < 80 and len(np.unique(plain)) > 70


def test_step_traces_once_finite_and_lowers_loss(tiny):
    _, sp, g = tiny
    model = build_model(ModelConfig(name="lightgcn", dim=16, num_layers=2), 60, 80)
    cfg = TrainConfig(batch_size=256, learning_rate=0.01, reject_positives=True)
    params = model.init(jax.random.key(0), g, Features())
    tx = make_optimizer(cfg, 100)
    state = TrainState.create(params, tx, jax.random.key(1))
    step = chex.assert_max_traces(make_train_step(model, cfg, tx).__wrapped__, n=1)
    step = jax.jit(step, donate_argnums=0)
    batches = epoch_batches(sp.train, 256, 0, 1)
    batch = {k: v[0] for k, v in batches.items()}
    first = None
    for _ in range(40):
        state, m = step(state, g, batch, Features())
        first = float(m["loss"]) if first is None else first
        assert np.isfinite(float(m["loss"]))
    assert float(m["loss"]) < 0.7 * first
    assert int(state.step) == 40


def test_padded_batch_rows_do_not_change_the_loss(tiny):
    _, sp, g = tiny
    model = build_model(ModelConfig(name="lightgcn", dim=8, num_layers=1), 60, 80)
    params = model.init(jax.random.key(0), g, Features())
    cfg = TrainConfig(reg_weight=1e-3)
    b = {k: v[0] for k, v in epoch_batches(sp.train, 16, 0, 1).items()}
    b["mask"] = np.arange(16) < 10
    b2 = dict(b, users=np.where(b["mask"], b["users"], 0),
              items=np.where(b["mask"], b["items"], 5))
    key = jax.random.key(3)
    l1, _ = compute_loss(model, cfg, params, g, b, Features(), key)
    l2, _ = compute_loss(model, cfg, params, g, b2, Features(), key)
    assert float(l1) == pytest.approx(float(l2), rel=1e-6)


def test_epoch_batches_cover_train_once():
    from tests.conftest import make_interactions

    inter = make_interactions(np.arange(10) % 3, np.arange(10))
    b = epoch_batches(inter, 4, seed=0, epoch=2)
    assert b["users"].shape == (3, 4)
    assert sorted(b["items"][b["mask"]].tolist()) == list(range(10))
    again = epoch_batches(inter, 4, seed=0, epoch=2)
    assert np.array_equal(b["items"], again["items"])


def test_fit_is_deterministic_and_early_stops(tiny, tmp_path):
    _, sp, g = tiny
    model = build_model(ModelConfig(name="lightgcn", dim=16, num_layers=2), 60, 80)
    cfg = TrainConfig(batch_size=256, learning_rate=0.01, epochs=60, patience=3)
    ev = EvalConfig(ks=(5, 10))
    a = fit(model, g, None, sp, cfg, ev, run_dir=tmp_path, progress=False)
    b = fit(model, g, None, sp, cfg, ev, progress=False)
    assert a.valid == b.valid and a.test == b.test and a.best_epoch == b.best_epoch
    chex.assert_trees_all_equal(a.params, b.params)
    assert len(a.history) < 60 and len(a.history) - a.best_epoch == 3
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == len(a.history) and "valid/ndcg@10" in lines[0]
    assert a.test["ndcg@10"] > 0.05


def test_freeze_keeps_parameters(tiny):
    _, sp, g = tiny
    model = build_model(ModelConfig(name="mf", dim=8), 60, 80)
    cfg = TrainConfig(batch_size=256, epochs=2, freeze=("id/user",), learning_rate=0.05,
                      select_metric="ndcg@5")
    r = fit(model, g, None, sp, cfg, EvalConfig(ks=(5,)), progress=False)
    init = model.init(jax.random.split(jax.random.key(cfg.seed))[0], g, Features())
    p = r.params["params"]["id"]
    np.testing.assert_array_equal(p["user"]["embedding"], init["params"]["id"]["user"]
                                  ["embedding"])
    assert not np.array_equal(p["item"]["embedding"], init["params"]["id"]["item"]["embedding"])


def test_select_metric_checked_before_training(tiny):
    _, sp, g = tiny
    model = build_model(ModelConfig(name="mf", dim=8), 60, 80)
    with pytest.raises(ValueError, match="select_metric 'ndcg@10' is not computed"):
        fit(model, g, None, sp, TrainConfig(), EvalConfig(ks=(5,)), progress=False)


def test_bce_mode_reports_classification_metrics(tiny):
    _, sp, g = tiny
    model = build_model(ModelConfig(name="mf", dim=8), 60, 80)
    cfg = TrainConfig(loss="bce", batch_size=256, epochs=3, select_metric="auc",
                      learning_rate=0.01)
    r = fit(model, g, None, sp, cfg, EvalConfig(ks=(5,)), progress=False)
    assert {"auc", "accuracy", "logloss", "ndcg@5"} <= set(r.test)
    assert 0 <= r.test["auc"] <= 1
