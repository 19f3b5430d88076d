import jax
import jax.numpy as jnp
import numpy as np
import pytest

from recjax.config.schema import ModelConfig
from recjax.graph import build_graph
from recjax.models import MODELS, Features, build_model, model_names
from tests.conftest import make_interactions
from tests.graph.test_graph import dense_norm_adj

rng = np.random.default_rng(0)
PAIRS = np.unique(rng.integers(0, [6, 8], size=(25, 2)), axis=0)
INTER = make_interactions(PAIRS[:, 0], PAIRS[:, 1], ratings=rng.integers(1, 6, len(PAIRS)),
                          num_users=6, num_items=8)
G = build_graph(INTER)
A = dense_norm_adj(G)


def init(name, features=None, graph=G, **kw):
    cfg = ModelConfig(name=name, dim=8, num_layers=2, heads=2, **kw)
    model = build_model(cfg, 6, 8)
    params = model.init(jax.random.key(0), graph, features)
    return model, params


def ego(params):
    ids = params["params"]["id"]
    return np.concatenate([ids["user"]["embedding"], ids["item"]["embedding"]])


def leaky(x, slope=0.2):
    return np.where(x > 0, x, slope * x)


@pytest.mark.parametrize("method", ["sparse", "segment"])
def test_lightgcn_equals_dense_layer_mean(method):
    model, params = init("lightgcn", propagation=method)
    u, i = model.apply(params, G)
    e0 = ego(params)
    expected = (e0 + A @ e0 + A @ A @ e0) / 3
    np.testing.assert_allclose(np.concatenate([u, i]), expected, atol=1e-5)


def test_lightgcn_learned_layer_weights_start_as_mean_and_move():
    model, params = init("lightgcn", combine="learned")
    u0, _ = init("lightgcn")[0].apply(init("lightgcn")[1], G)
    u, _ = model.apply(params, G)
    np.testing.assert_allclose(u, u0, atol=1e-6)  # zeros logits = uniform weights
    p = jax.tree_util.tree_map(lambda x: x, params)
    p["params"]["graph"]["layer_logits"] = jnp.array([10.0, -10.0, -10.0])
    u_first, _ = model.apply(p, G)
    np.testing.assert_allclose(u_first, ego(params)[:6], atol=1e-4)


@pytest.mark.parametrize("method", ["sparse", "segment"])
def test_ngcf_matches_numpy(method):
    model, params = init("ngcf", propagation=method)
    gp = params["params"]["graph"]
    h = ego(params)
    outs = [h]
    for k in range(2):
        w1, w2 = gp[f"W1_{k}"], gp[f"W2_{k}"]
        side = A @ h
        h = leaky((h + side) @ w1["kernel"] + w1["bias"] + (side * h) @ w2["kernel"]
                  + w2["bias"])
        h = h / np.linalg.norm(h, axis=1, keepdims=True)
        outs.append(h)
    u, i = model.apply(params, G)
    np.testing.assert_allclose(np.concatenate([u, i]), np.concatenate(outs, 1), atol=1e-5)


@pytest.mark.parametrize("method", ["sparse", "segment"])
def test_gcn_matches_numpy(method):
    model, params = init("gcn", propagation=method)
    gp = params["params"]["graph"]
    n = G.num_nodes
    a = np.zeros((n, n))
    a[np.asarray(G.receivers), np.asarray(G.senders)] = 1
    a_hat = a + np.eye(n)
    d = a_hat.sum(1)
    a_hat = a_hat / np.sqrt(d[:, None] * d[None, :])
    h = ego(params)
    outs = [h]
    for k in range(2):
        w = gp[f"gcn_{k}"]["W"]
        h = a_hat @ (h @ w["kernel"] + w["bias"])
        if k == 0:
            h = np.maximum(h, 0)
        outs.append(h)
    u, i = model.apply(params, G)
    np.testing.assert_allclose(np.concatenate([u, i]), np.mean(outs, 0), atol=1e-5)


@pytest.mark.parametrize("method", ["sparse", "segment"])
def test_gat_matches_numpy(method):
    model, params = init("gat", propagation=method)
    gp = jax.tree_util.tree_map(np.asarray, params["params"]["graph"])
    s, r = np.asarray(G.senders), np.asarray(G.receivers)
    h = ego(params)
    outs = [h]
    for k in range(2):
        lp = gp[f"gat_{k}"]
        z = (h @ lp["W"]["kernel"]).reshape(-1, 2, 4)
        src = np.einsum("nhd,hd->nh", z, lp["a_src"])
        dst = np.einsum("nhd,hd->nh", z, lp["a_dst"])
        out = np.zeros_like(z)
        for node in range(G.num_nodes):
            nbrs = np.r_[s[r == node], node]
            logit = leaky(src[nbrs] + dst[node])  # [len, heads]
            alpha = np.exp(logit - logit.max(0))
            alpha /= alpha.sum(0)
            out[node] = np.einsum("nh,nhd->hd", alpha, z[nbrs])
        h = out.reshape(-1, 8)
        if k == 0:
            h = np.where(h > 0, h, np.expm1(h))
        outs.append(h)
    u, i = model.apply(params, G)
    np.testing.assert_allclose(np.concatenate([u, i]), np.mean(outs, 0), atol=1e-5)


def test_relation_weights_scale_messages():
    g = build_graph(INTER, relation="rating")
    model, params = init("lightgcn", graph=g, relation_weights=True)
    base, _ = init("lightgcn")[0].apply(init("lightgcn")[1], G)
    u, _ = model.apply(params, g)
    np.testing.assert_allclose(u, base, atol=1e-6)  # exp(0) = 1: plain LightGCN
    params["params"]["graph"]["relation_logits"] = jnp.log(jnp.array([0, 0, 0, 0, 1.0]) + 1e-9)
    keep = np.asarray(g.relation) == 4
    a = np.zeros((14, 14))
    a[np.asarray(g.receivers)[keep], np.asarray(g.senders)[keep]] = np.asarray(g.norm)[keep]
    e0 = ego(params)
    u, _ = model.apply(params, g)
    np.testing.assert_allclose(u, ((e0 + a @ e0 + a @ a @ e0) / 3)[:6], atol=1e-5)


@pytest.mark.parametrize("fusion", ["add", "concat", "gate"])
def test_text_gnn_fusion_and_inductive(fusion):
    feats = Features(item_text=jnp.asarray(rng.normal(size=(8, 5)), jnp.float32),
                     user_text=jnp.asarray(rng.normal(size=(6, 5)), jnp.float32))
    model, params = init("text_gnn", feats, fusion=fusion)
    assert {"id", "text"} <= set(params["params"])  # lightgcn backbone: no graph params
    u, i = model.apply(params, G, feats)
    assert u.shape == (6, 8) and i.shape == (8, 8) and np.isfinite(u).all()
    model, params = init("text_gnn", feats, inductive=True)
    assert "id" not in params["params"]
    # Inductive: node inputs are a function of text only, so a changed text changes the
    # node, and the model has no per-node parameters at all.
    u1, i1 = model.apply(params, G, feats)
    feats2 = Features(item_text=feats.item_text.at[0].set(0.0), user_text=feats.user_text)
    _, i2 = model.apply(params, G, feats2)
    assert not np.allclose(i1[0], i2[0])


def test_bad_model_inputs():
    with pytest.raises(KeyError, match="unknown model 'lightgnc'; valid models: \\['ease', 'gat'"):
        build_model(ModelConfig(name="lightgnc"), 6, 8)
    assert model_names() == ["ease", "gat", "gcn", "itemknn", "lightgcn", "mf", "ngcf", "pop",
                             "simgcl", "text_gnn", "xsimgcl"]
    assert sorted(MODELS) == ["ease", "itemknn", "mf", "pop", "text_gnn"]
    feats = Features(item_text=jnp.zeros((7, 5)), user_text=None)
    model = build_model(ModelConfig(name="text_gnn", dim=8), 6, 8)
    with pytest.raises(ValueError, match="item text features have 7 rows, expected num_items"):
        model.init(jax.random.key(0), G, feats)
    with pytest.raises(ValueError, match="the graph has 6 users and 8 items, the model 5"):
        build_model(ModelConfig(dim=8), 5, 8).init(jax.random.key(0), G)
    with pytest.raises(KeyError, match="unknown backbone 'x'; valid backbones: \\['gat'"):
        build_model(ModelConfig(name="text_gnn", backbone="x"), 6, 8)


@pytest.mark.filterwarnings("ignore:bcsr_dot_general cpu lowering")  # bf16 falls back on CPU
@pytest.mark.parametrize("name", ["lightgcn", "ngcf", "gat"])
def test_bfloat16_compute_stays_close_to_float32(name):
    m32, params = init(name)
    m16, _ = init(name, compute_dtype="bfloat16")
    u32, i32 = m32.apply(params, G)
    u16, i16 = m16.apply(params, G)
    assert u16.dtype == jnp.float32
    scale = float(jnp.max(jnp.abs(u32)))
    assert float(jnp.max(jnp.abs(u16 - u32))) < 0.03 * scale
