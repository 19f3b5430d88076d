"""The registries (backbones, models), SimGCL/XSimGCL views, closed-form models, GAT guards."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from recjax.config.schema import ModelConfig
from recjax.graph import build_graph
from recjax.models import build_model, model_names, resolve_config
from recjax.models.backbones import BACKBONES, register_backbone
from recjax.models.backbones.lightgcn import LightGCN
from recjax.models.closed_form import history_matrix, solve
from recjax.models.closed_form_math import ease_weights, itemknn_weights
from tests.models.test_models import INTER, A, G, ego


def init(name, **kw):
    model = build_model(ModelConfig(name=name, dim=8, **kw), 6, 8)
    return model, model.init(jax.random.key(0), G)


def test_model_defaults_come_from_the_backbone():
    c = resolve_config(ModelConfig(name="ngcf"))
    assert (c.num_layers, c.combine, c.dropout, c.backbone) == (3, "concat", 0.1, "ngcf")
    c = resolve_config(ModelConfig(name="xsimgcl"))
    assert (c.num_layers, c.noise_eps, c.cl_temperature, c.cl_layer) == (2, 0.2, 0.15, 1)
    c = resolve_config(ModelConfig(name="text_gnn", backbone="gat", num_layers=1))
    assert (c.num_layers, c.backbone, c.combine) == (1, "gat", "mean")  # explicit value wins
    assert resolve_config(ModelConfig(name="mf")).backbone == "none"


def test_a_new_backbone_is_one_class():
    """A backbone registered from anywhere is a model of its own and a text_gnn backbone."""

    @register_backbone("twohop")
    class TwoHop(LightGCN):
        """LightGCN that keeps only the output of the last layer."""

        defaults = {"num_layers": 2, "combine": "last", "dropout": 0.0}

    try:
        assert "twohop" in model_names()
        model = build_model(ModelConfig(name="twohop", dim=8), 6, 8)
        params = model.init(jax.random.key(0), G)
        u, i = model.apply(params, G)
        np.testing.assert_allclose(np.concatenate([u, i]), A @ A @ ego(params), atol=1e-5)
        text = build_model(ModelConfig(name="text_gnn", backbone="twohop", dim=8), 6, 8)
        assert text.backbone == "twohop"
        with pytest.raises(ValueError, match="registered twice"):
            register_backbone("twohop")(TwoHop)
    finally:
        BACKBONES.pop("twohop")


def test_simgcl_clean_pass_is_the_mean_of_propagated_layers():
    model, params = init("simgcl")
    u, i = model.apply(params, G)
    e0 = ego(params)
    np.testing.assert_allclose(np.concatenate([u, i]), (A @ e0 + A @ A @ e0) / 2, atol=1e-5)


def test_simgcl_views_are_perturbed_by_eps_in_the_sign_orthant():
    model, params = init("simgcl", num_layers=1, noise_eps=0.1)
    u, i, views = model.apply(params, G, train=True, views=True,
                              rngs={"noise": jax.random.key(3)})
    clean = np.concatenate([u, i])
    v1, v2 = (np.concatenate(v) for v in views)
    for v in (v1, v2):
        delta = v - clean
        np.testing.assert_allclose(np.linalg.norm(delta, axis=1), 0.1, rtol=1e-4)
        assert np.all(delta * np.sign(clean) >= -1e-7)  # noise along sign(x): |x| grows
    assert not np.allclose(v1, v2)  # two independent draws
    zero, _ = init("simgcl", num_layers=1, noise_eps=0.0)
    _, _, same = zero.apply(params, G, train=True, views=True,
                            rngs={"noise": jax.random.key(3)})
    np.testing.assert_allclose(np.concatenate(same[0]), clean, atol=1e-6)


def test_xsimgcl_view_is_the_perturbed_cl_layer():
    model, params = init("xsimgcl", num_layers=2, noise_eps=0.2, cl_layer=1)
    u, i, views = model.apply(params, G, train=True, views=True,
                              rngs={"noise": jax.random.key(4)})
    final, layer1 = (np.concatenate(v) for v in views)
    np.testing.assert_allclose(final, np.concatenate([u, i]), atol=1e-6)  # same pass
    e0 = ego(params)
    # layer 1 = A e0 + noise of norm eps; the final = mean(h1, A h1 + noise2)
    np.testing.assert_allclose(np.linalg.norm(layer1 - A @ e0, axis=1), 0.2, rtol=1e-4)
    h2 = 2 * final - layer1
    np.testing.assert_allclose(np.linalg.norm(h2 - A @ layer1, axis=1), 0.2, rtol=1e-4)
    cu, ci = model.apply(params, G)  # evaluation: clean
    np.testing.assert_allclose(np.concatenate([cu, ci]), (A @ e0 + A @ A @ e0) / 2, atol=1e-5)


@pytest.mark.parametrize("dense_limit", [None, 0])
def test_history_matrix_from_the_graph(dense_limit):
    kw = {} if dense_limit is None else {"dense_limit": dense_limit}
    g = build_graph(INTER, **kw)
    x = np.zeros((6, 8), np.float32)
    x[INTER.user_ids, INTER.item_ids] = 1
    np.testing.assert_array_equal(np.asarray(history_matrix(g)), x)


@pytest.mark.parametrize("name", ["ease", "itemknn", "pop"])
def test_closed_form_models_score_x_times_b(name):
    model = build_model(ModelConfig(name=name, ease_l2=5.0, knn_neighbors=3, knn_shrink=1.0),
                        6, 8)
    params = solve(model, G)
    u, i = model.apply(params, G)
    scores = np.asarray(u @ i.T)
    x = np.zeros((6, 8), np.float32)
    x[INTER.user_ids, INTER.item_ids] = 1
    if name == "pop":
        expected = np.broadcast_to(x.sum(0), (6, 8))
    else:
        b = ease_weights(x, 5.0) if name == "ease" else itemknn_weights(x, 3, 1.0)
        expected = x @ np.asarray(b)
    np.testing.assert_allclose(scores, expected, rtol=1e-4, atol=1e-5)
    like = model.init(jax.random.key(0), G)  # checkpoints restore into this structure
    assert jax.tree_util.tree_structure(like) == jax.tree_util.tree_structure(params)


def test_gat_never_divides_zero_by_zero():
    """A node whose self-loop logit sits far below its neighbours' bound kept e_self = 0 and
    edge weights 0 before the shift was clamped: 0/0 = NaN."""
    model, params = init("gat", num_layers=1, heads=1)
    p = jax.tree_util.tree_map(lambda x: x, params)
    gat = p["params"]["graph"]["gat_0"]
    gat["a_src"] = jnp.full_like(gat["a_src"], 400.0)
    gat["a_dst"] = jnp.full_like(gat["a_dst"], -400.0)
    u, i = model.apply(p, G)
    assert np.all(np.isfinite(np.asarray(u))) and np.all(np.isfinite(np.asarray(i)))


def test_bad_backbone_and_temperature_are_refused():
    from recjax.config.schema import TrainConfig

    with pytest.raises(ValueError, match="temperature=0.0 must be > 0"):
        TrainConfig(temperature=0.0)
    with pytest.raises(ValueError, match="cl_temperature"):
        ModelConfig(cl_temperature=-1.0)
    with pytest.raises(KeyError, match="unknown model 'ease2'"):
        build_model(ModelConfig(name="ease2"), 6, 8)
