"""Devices: the mesh, named shardings, data-parallel and edge-sharded execution.

One mesh over all devices with a ``data`` axis and a ``model`` axis. Both axes are
``AxisType.Auto``: ``jax.make_mesh`` now defaults to Explicit axes, under which a plain
embedding gather (``table[ids]`` with ids sharded) is rejected at trace time, while Auto lets
GSPMD insert the collectives.

* Training state: replicated, except (with ``shard_embeddings``) the ID embedding tables and
  their optimiser moments, row-sharded over ``model`` for catalogues too large for one device.
* Batches: ``[steps, batch]`` sharded over ``data`` along the batch axis; the loss is a masked
  mean over the global batch, so data-parallel training computes the same numbers as one
  device (up to the order of float sums).
* Edge-sharded propagation (``ModelConfig.propagation = "edge_sharded"``, implemented in
  :func:`recjax.graph.ops.propagate_edge_sharded`): each device sums the messages of its shard
  of edges with ``segment_sum`` and a ``psum`` adds the shards, for graphs whose edges do not
  fit on one device; the graph is padded with :func:`pad_edges`.
* Multi-host (TPU pods, several GPU hosts): :func:`initialize_distributed` before anything else
  touches JAX; every process then builds the same mesh over ``jax.devices()``.
"""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from recjax.graph import RecGraph
from recjax.graph.ops import propagate_edge_sharded  # noqa: F401  (re-exported)

DATA, MODEL = "data", "model"
EMBEDDING_PATH = re.compile(r"(^|/)id/(user|item)/embedding$")


def initialize_distributed(coordinator_address: str | None = None,
                           num_processes: int | None = None,
                           process_id: int | None = None) -> None:
    """Start multi-host JAX. On TPU pods and SLURM/Open MPI clusters the arguments can be
    omitted (JAX discovers them); elsewhere give the coordinator ``host:port``, the number of
    processes and this process's index."""
    jax.distributed.initialize(coordinator_address, num_processes, process_id)


def make_mesh(data: int | None = None, model: int = 1, devices=None) -> Mesh:
    """A ``(data, model)`` mesh with Auto axes; ``data`` defaults to all devices / model."""
    devices = list(devices if devices is not None else jax.devices())
    if data is None:
        data = len(devices) // model
    if data * model > len(devices) or data < 1 or model < 1:
        raise ValueError(f"a {data} x {model} mesh needs {data * model} devices; "
                         f"{len(devices)} available")
    return jax.make_mesh((data, model), (DATA, MODEL), axis_types=(AxisType.Auto,) * 2,
                         devices=devices[: data * model])


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """For epoch batches ``[steps, batch_size]``: the batch axis over ``data``."""
    return NamedSharding(mesh, P(None, DATA))


def _path(path) -> str:
    return "/".join(str(getattr(k, "key", getattr(k, "name", k))) for k in path)


def tree_shardings(tree, mesh: Mesh, shard_embeddings: bool = False):
    """Replicated leaves, except ID embedding tables (and anything whose path ends like one,
    e.g. their Adam moments) row-sharded over ``model`` when ``shard_embeddings``."""
    def spec(path, leaf):
        if shard_embeddings and EMBEDDING_PATH.search(_path(path)) and leaf.ndim == 2:
            return NamedSharding(mesh, P(MODEL, None))
        return replicated(mesh)

    return jax.tree_util.tree_map_with_path(spec, tree)


def check_batch(batch_size: int, mesh: Mesh) -> None:
    n = mesh.shape[DATA]
    if batch_size % n:
        raise ValueError(f"batch_size {batch_size} is not divisible by the {n} devices of "
                         f"the data axis")


def pad_edges(graph: RecGraph, multiple: int) -> RecGraph:
    """Pad the edge list to a multiple of ``multiple`` so it splits evenly over devices.

    Padded edges run from node 0 to the receiver ``num_nodes``, one past the last node: every
    sum over receivers (``segment_sum``, ``segment_max``) drops out-of-range segment ids, so
    they carry no message whatever weight a backbone computes for them (GCN and GAT recompute
    edge weights from degrees and attention, so a zero ``norm`` alone would not silence
    them). Only segment-based propagation may use the result (the CSR pointer does not cover
    the padding)."""
    e = graph.num_edges
    pad = (-e) % multiple
    if not pad:
        return graph
    z = jnp.zeros(pad, jnp.int32)
    sink = jnp.full(pad, graph.num_nodes, jnp.int32)
    g = graph.graph
    edges = {"relation": jnp.concatenate([g.edges["relation"], z]),
             "norm": jnp.concatenate([g.edges["norm"], jnp.zeros(pad, g.edges["norm"].dtype)])}
    new = g._replace(senders=jnp.concatenate([g.senders, z]),
                     receivers=jnp.concatenate([g.receivers, sink]), edges=edges,
                     n_edge=jnp.asarray([e + pad], jnp.int32))
    reverse = jnp.concatenate([graph.reverse, jnp.arange(e, e + pad, dtype=jnp.int32)])
    return graph.replace(graph=new, reverse=reverse)


def put(tree, shardings):
    """``jax.device_put`` of a tree onto matching shardings (host numpy arrays welcome)."""
    return jax.tree_util.tree_map(lambda x, s: jax.device_put(np.asarray(x)
                                                              if not isinstance(x, jax.Array)
                                                              else x, s), tree, shardings)
