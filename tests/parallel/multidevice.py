"""Checks that need several devices; run in a fresh process with 8 CPU devices:

    XLA_FLAGS=--xla_force_host_platform_device_count=8 python -m tests.parallel.multidevice NAME

The device count is fixed when JAX starts, so these cannot share the test process.
"""

from __future__ import annotations

import sys

import jax
import jax.numpy as jnp
import numpy as np

from recjax.config.schema import EvalConfig, ModelConfig, SplitConfig, SyntheticConfig, TrainConfig
from recjax.data.clean import clean
from recjax.data.split import split
from recjax.data.synthetic import synthetic_raw
from recjax.graph import build_graph, propagate
from recjax.models import build_model
from recjax.train import parallel
from recjax.train.loop import fit

TOL = 2e-5  # float sums in another order: across devices the reduction tree differs


def data():
    ds = clean(synthetic_raw(SyntheticConfig(num_users=64, num_items=80, num_interactions=2400,
                                             seed=3)))
    sp = split(ds.interactions, SplitConfig(seed=3))
    return ds, sp, build_graph(sp.train)


def train(mesh=None, shard_embeddings=False, name="lightgcn"):
    ds, sp, g = data()
    model = build_model(ModelConfig(name=name, dim=16, num_layers=2), ds.num_users,
                        ds.num_items)
    cfg = TrainConfig(batch_size=256, epochs=3, learning_rate=0.01, reject_positives=True,
                      patience=10)
    return fit(model, g, None, sp, cfg, EvalConfig(ks=(5, 10)), progress=False, mesh=mesh,
               shard_embeddings=shard_embeddings)


def close(a, b, what):
    diffs = jax.tree_util.tree_leaves(jax.tree_util.tree_map(
        lambda x, y: float(np.max(np.abs(np.asarray(x) - np.asarray(y)))), a, b))
    assert max(diffs) < TOL, f"{what}: max |diff| {max(diffs)}"
    return max(diffs)


def check_devices():
    assert jax.device_count() == 8, jax.devices()


def check_data_parallel():
    single = train()
    multi = train(parallel.make_mesh())
    d = close(single.params, multi.params, "params")
    losses = [h["train/loss"] for h in single.history], [h["train/loss"] for h in multi.history]
    np.testing.assert_allclose(*losses, rtol=1e-5)
    assert abs(single.test["ndcg@10"] - multi.test["ndcg@10"]) < 1e-4
    print(f"data parallel over 8 devices vs 1: max |param diff| {d:.2e}")


def check_row_sharded_embeddings():
    mesh = parallel.make_mesh(data=2, model=4)
    rep = train(mesh)
    sharded = train(mesh, shard_embeddings=True)
    d = close(rep.params, sharded.params, "params")
    print(f"row-sharded vs replicated embeddings: max |param diff| {d:.2e}")
    # Rows that the model axis (4) does not divide: split along the columns; neither: an error.
    specs = parallel.tree_shardings({"id": {"item": {"embedding": jnp.zeros((6, 8))},
                                            "user": {"embedding": jnp.zeros((8, 3))}}},
                                    mesh, shard_embeddings=True)
    assert tuple(specs["id"]["item"]["embedding"].spec) == (None, parallel.MODEL)
    assert tuple(specs["id"]["user"]["embedding"].spec) == (parallel.MODEL, None)
    try:
        parallel.tree_shardings({"id": {"item": {"embedding": jnp.zeros((6, 3))}}}, mesh, True)
    except ValueError as e:
        assert "id/item/embedding (6, 3)" in str(e), e
    else:
        raise AssertionError("a (6, 3) table over 4 devices was accepted")


def check_edge_sharded_propagation():
    _, _, g = data()
    mesh = parallel.make_mesh()
    padded = parallel.pad_edges(g, 8)
    x = jax.random.normal(jax.random.key(0), (g.num_nodes, 16))
    plain = propagate(g, g.norm, x)
    sharded = parallel.propagate_edge_sharded(padded, padded.norm, x, mesh)
    d = float(jnp.max(jnp.abs(plain - sharded)))
    assert d < 1e-5, d
    grad = jax.grad(lambda x: jnp.sum(parallel.propagate_edge_sharded(
        padded, padded.norm, x, mesh) ** 2))(x)
    ref = jax.grad(lambda x: jnp.sum(propagate(g, g.norm, x) ** 2))(x)
    assert float(jnp.max(jnp.abs(grad - ref))) < 1e-4
    print(f"edge-sharded vs single-device propagation: max |diff| {d:.2e}")


def check_edge_sharded_backbones():
    """Every backbone, edge-sharded over 8 devices with padded edges, equals the plain graph
    (GCN and GAT recompute edge weights, so padding must be silenced for them too)."""
    ds, sp, _ = data()
    train = sp.train.take(np.arange(len(sp.train) - 1))  # an odd row count: 2 * rows % 8 != 0
    g = build_graph(train)
    assert g.num_edges % 8, g.num_edges
    mesh = parallel.make_mesh()
    padded = parallel.pad_edges(g, 8)
    for name in ("lightgcn", "ngcf", "gcn", "gat", "simgcl"):
        kw = {"name": name, "dim": 16, "num_layers": 2}
        plain_model = build_model(ModelConfig(**kw, propagation="segment"), ds.num_users,
                                  ds.num_items)
        sharded_model = build_model(ModelConfig(**kw, propagation="edge_sharded"),
                                    ds.num_users, ds.num_items)
        params = plain_model.init(jax.random.key(1), g)
        plain = jnp.concatenate(plain_model.apply(params, g))
        with jax.set_mesh(mesh):
            sharded = jnp.concatenate(sharded_model.apply(params, padded))
        d = float(jnp.max(jnp.abs(plain - sharded)))
        assert d < 1e-4, (name, d)
        print(f"{name}: edge-sharded ({g.num_edges} edges + {padded.num_edges - g.num_edges} "
              f"padding) vs plain: max |diff| {d:.2e}")


if __name__ == "__main__":
    globals()[f"check_{sys.argv[1]}"]()
