"""Text-behaviour alignment (RLMRec's contrastive variant): text_gnn's views are the final
embeddings against the projected text, the step adds their InfoNCE only when it is on, and
its gradient reaches the text tower."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from recjax.config.schema import ModelConfig, TrainConfig
from recjax.graph import build_graph
from recjax.models import Features, build_model, resolve_config
from recjax.train.optim import make_optimizer
from recjax.train.state import TrainState
from recjax.train.step import compute_loss, contrastive_loss, make_train_step
from tests.conftest import make_interactions
from tests.graph.test_graph import dense_norm_adj

rng = np.random.default_rng(0)
PAIRS = np.unique(rng.integers(0, [6, 8], size=(25, 2)), axis=0)
G = build_graph(make_interactions(PAIRS[:, 0], PAIRS[:, 1], num_users=6, num_items=8))
A = dense_norm_adj(G)
ITEM_TEXT = jnp.asarray(rng.normal(size=(8, 3)), jnp.float32)
USER_TEXT = jnp.asarray(rng.normal(size=(6, 3)), jnp.float32)
BATCH = {"users": jnp.asarray(PAIRS[:8, 0]), "items": jnp.asarray(PAIRS[:8, 1]),
         "labels": jnp.ones(8), "mask": jnp.asarray([True] * 7 + [False])}


def build(features, **kw):
    cfg = ModelConfig(name="text_gnn", dim=4, num_layers=2, **kw)
    model = build_model(cfg, 6, 8)
    return model, model.init(jax.random.key(0), G, features)


def project(params, text):
    out = params["params"]["text"]["out"]
    return np.asarray(text) @ np.asarray(out["kernel"]) + np.asarray(out["bias"])


@pytest.mark.parametrize("with_user_text", [True, False])
def test_views_are_final_embeddings_and_projected_text(with_user_text):
    features = Features(ITEM_TEXT, USER_TEXT if with_user_text else None)
    model, params = build(features, align_weight=0.5)
    user_emb, item_emb, ((u1, i1), (u2, i2)) = model.apply(
        params, G, features, train=True, views=True, rngs={"dropout": jax.random.key(1)})
    ids = params["params"]["id"]
    t_items = project(params, ITEM_TEXT)
    if with_user_text:
        t_users = project(params, USER_TEXT)
        e0 = np.concatenate([ids["user"]["embedding"] + t_users,
                             ids["item"]["embedding"] + t_items])
    else:  # a user without text: the mean projected text of their train items
        pos = np.asarray(G.positives, np.float32)
        t_users = pos @ t_items / np.maximum(pos.sum(1, keepdims=True), 1)
        e0 = np.concatenate([ids["user"]["embedding"], ids["item"]["embedding"] + t_items])
    final = (e0 + A @ e0 + A @ A @ e0) / 3
    np.testing.assert_allclose(np.concatenate([u1, i1]), final, atol=1e-5)
    np.testing.assert_allclose(np.concatenate([user_emb, item_emb]), final, atol=1e-5)
    np.testing.assert_allclose(u2, t_users, atol=1e-5)
    np.testing.assert_allclose(i2, t_items, atol=1e-5)


def test_align_weight_resolves_and_sets_the_step_weight():
    assert resolve_config(ModelConfig(name="text_gnn")).align_weight == 0.0
    assert resolve_config(ModelConfig(name="lightgcn")).align_weight is None
    model, _ = build(Features(ITEM_TEXT), align_weight=0.5)
    assert (model.cfg.cl_weight, model.cfg.cl_temperature) == (0.5, 0.2)
    model, _ = build(Features(ITEM_TEXT), align_weight=0.5, cl_temperature=0.1)
    assert (model.cfg.cl_weight, model.cfg.cl_temperature) == (0.5, 0.1)


def test_step_adds_alignment_only_when_on_and_it_trains_the_text_tower():
    features = Features(ITEM_TEXT, USER_TEXT)
    for weight, has_cl in ((None, False), (0.0, False), (0.5, True)):
        model, params = build(features, align_weight=weight)
        total, parts = compute_loss(model, TrainConfig(), params, G, BATCH, features,
                                    jax.random.key(1))
        assert ("cl" in parts) == has_cl, weight
        assert float(total) == pytest.approx(float(sum(parts.values())), rel=1e-6)
    _, _, views = model.apply(params, G, features, train=True, views=True)
    expected = 0.5 * contrastive_loss(views, BATCH["users"], BATCH["items"], BATCH["mask"], 0.2)
    assert float(parts["cl"]) == pytest.approx(float(expected), rel=1e-5)

    def cl_term(p):
        return compute_loss(model, TrainConfig(), p, G, BATCH, features, jax.random.key(1))[1][
            "cl"]

    grads = jax.grad(cl_term)(params)["params"]
    assert np.abs(np.asarray(grads["text"]["out"]["kernel"])).sum() > 0
    assert np.abs(np.asarray(grads["id"]["item"]["embedding"])).sum() > 0


def test_alignment_fails_clearly_where_it_cannot_apply():
    with pytest.raises(ValueError, match="contrastive views of its own"):
        build_model(ModelConfig(name="text_gnn", backbone="simgcl", align_weight=0.1), 6, 8)
    with pytest.raises(ValueError, match="no ID embeddings"):
        build_model(ModelConfig(name="text_gnn", inductive=True, align_weight=0.1), 6, 8)
    model, params = build(Features(ITEM_TEXT), backbone="ngcf", align_weight=0.1)
    with pytest.raises(ValueError, match="size model.dim=4"):
        model.apply(params, G, Features(ITEM_TEXT), train=True, views=True,
                    rngs={"dropout": jax.random.key(1)})


@pytest.mark.parametrize("loss,extra", [("full_softmax", {}),
                                        ("softmax", {"negative_sampler": "popularity",
                                                     "logq_correction": True,
                                                     "num_negatives": 4})])
def test_jitted_steps_with_alignment_trace_once_and_lower_the_loss(loss, extra):
    features = Features(ITEM_TEXT, USER_TEXT)
    model, params = build(features, align_weight=0.5)
    cfg = TrainConfig(loss=loss, learning_rate=0.05, **extra)
    tx = make_optimizer(cfg, 100)
    chex.clear_trace_counter()  # counters are per function code, shared by the parameters
    state = TrainState.create(params, tx, jax.random.key(1))
    step = chex.assert_max_traces(make_train_step(model, cfg, tx).__wrapped__, n=1)
    step = jax.jit(step, donate_argnums=0)
    losses = []
    for _ in range(30):
        state, m = step(state, G, BATCH, features)
        losses.append(float(m["loss"]))
        assert "cl" in m and np.isfinite(losses[-1])
    assert losses[-1] < 0.8 * losses[0]
