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
* Multi-host (TPU pods, several GPU hosts, several local CPU processes over gloo):
  :func:`initialize_distributed` before anything else touches JAX; every process then builds
  the same mesh over ``jax.devices()`` (all processes' devices), places the same initial state
  (:func:`put`: each process transfers only the shards its own devices hold), feeds only its
  own columns of every global batch (:func:`put_batches`), and brings global results back to
  host memory with :func:`fetch` (an all-gather when another process holds part of them).
  Only process 0 writes files (:func:`is_writer`); checkpoints are collective (orbax).
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


def process_index() -> int:
    return jax.process_index()


def is_writer() -> bool:
    """Whether this process writes the run's files (run.json, metrics, plots, reports): process
    0 of a multi-process run, and any single process."""
    return jax.process_index() == 0


def multiprocess() -> bool:
    return jax.process_count() > 1


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
    e.g. their Adam moments) row-sharded over ``model`` when ``shard_embeddings``. A table
    whose row count the ``model`` axis does not divide (a catalogue of 1,683 items over 2
    devices) is split along its columns instead, which spreads its memory as evenly; when
    neither divides, the error names the table and both sizes."""
    n = mesh.shape[MODEL]

    def spec(path, leaf):
        name = _path(path)
        if shard_embeddings and EMBEDDING_PATH.search(name) and leaf.ndim == 2:
            if leaf.shape[0] % n == 0:
                return NamedSharding(mesh, P(MODEL, None))
            if leaf.shape[1] % n == 0:
                return NamedSharding(mesh, P(None, MODEL))
            raise ValueError(f"cannot shard {name} {tuple(leaf.shape)} over a model axis of "
                             f"{n} devices: neither its rows nor its columns divide by {n} "
                             f"(choose parallel.model dividing model.dim)")
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


def _is_key(x) -> bool:
    return isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def _put_global(x, sharding):
    """A global array from a value every process holds whole: each process transfers only the
    shards of its own devices."""
    if _is_key(x):
        return jax.random.wrap_key_data(_put_global(jax.random.key_data(x), sharding),
                                        impl=jax.random.key_impl(x))
    host = np.asarray(fetch(x) if isinstance(x, jax.Array) else x)
    return jax.make_array_from_callback(host.shape, sharding, lambda idx: host[idx])


def put(tree, shardings):
    """``jax.device_put`` of a tree onto matching shardings (host numpy arrays welcome). In a
    multi-process run every process must pass the same values (e.g. the same seed's
    initialisation); each transfers only what its devices hold."""
    if multiprocess():
        return jax.tree_util.tree_map(_put_global, tree, shardings)
    return jax.tree_util.tree_map(lambda x, s: jax.device_put(np.asarray(x)
                                                              if not isinstance(x, jax.Array)
                                                              else x, s), tree, shardings)


def process_columns(sharding: NamedSharding, shape: tuple[int, ...], axis: int = 1
                    ) -> tuple[int, int] | None:
    """``(start, stop)`` of the slice along ``axis`` that this process's devices hold of a
    global array of ``shape`` under ``sharding``, or None when they hold several separate
    ranges (a mesh ordered by physical topology, as on some TPU slices, can interleave
    hosts)."""
    spans = sorted({(sl[axis].start or 0, shape[axis] if sl[axis].stop is None
                     else sl[axis].stop)
                    for sl in sharding.addressable_devices_indices_map(shape).values()})
    if not spans:
        raise ValueError(f"process {jax.process_index()} has no device in the mesh; a "
                         f"multi-process mesh must span every process's devices")
    start, stop = spans[0]
    for lo, hi in spans[1:]:
        if lo > stop:
            return None
        stop = max(stop, hi)
    return start, stop


def put_batches(batches: dict, sharding: NamedSharding) -> dict:
    """Epoch batches ``[steps, batch_size]`` (identical on every process: they derive from
    (seed, epoch)) as global arrays sharded over ``data``. In a multi-process run each process
    hands JAX only its own columns of every global batch
    (``jax.make_array_from_process_local_data``; when its devices hold separate ranges of
    columns, each of its devices' shards through ``jax.make_array_from_callback``)."""
    if not multiprocess():
        return put(batches, jax.tree_util.tree_map(lambda _: sharding, batches))
    out = {}
    for name, x in batches.items():
        x = np.asarray(x)
        cols = process_columns(sharding, x.shape)
        if cols is None:
            out[name] = jax.make_array_from_callback(x.shape, sharding, lambda idx, x=x: x[idx])
        else:
            lo, hi = cols
            out[name] = jax.make_array_from_process_local_data(sharding, x[:, lo:hi], x.shape)
    return out


def same_on_every_process(obj, fields: tuple[str, ...]):
    """``obj`` (a dataclass) with the named array fields replaced by process 0's values (a
    broadcast); ``obj`` itself in a single process."""
    if not multiprocess():
        return obj
    import dataclasses

    from jax.experimental import multihost_utils

    values = {f: np.asarray(multihost_utils.broadcast_one_to_all(np.asarray(getattr(obj, f))))
              for f in fields if getattr(obj, f) is not None}
    return dataclasses.replace(obj, **values) if values else obj


def assert_same_on_every_process(arrays: dict, what: str) -> None:
    """Refuse to train when the processes do not hold the same ``arrays`` (e.g. the split: a
    stale cache or another data file on one host would silently train replicas on different
    data). Compares a sha256 of each array's bytes across processes; no-op in one process."""
    if not multiprocess():
        return
    import hashlib

    from jax.experimental import multihost_utils

    digest = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(np.asarray(arrays[name]))
        digest.update(f"{name}:{a.dtype}:{a.shape}".encode())
        digest.update(a.tobytes())
    words = np.frombuffer(digest.digest()[:16], np.int32)
    multihost_utils.assert_equal(words, f"the processes of this run hold different {what}")


def fetch(x) -> np.ndarray:
    """A (possibly global) array as host numpy, whole, on every process: a local copy when
    this process can see all of it (or it is replicated), else an all-gather over
    processes (every process must call it)."""
    if not isinstance(x, jax.Array):
        return np.asarray(x)
    if x.is_fully_addressable:
        return np.asarray(x)
    if x.is_fully_replicated:
        return np.asarray(x.addressable_data(0))
    from jax.experimental import multihost_utils

    return np.asarray(multihost_utils.process_allgather(x, tiled=True))


def fetch_tree(tree):
    """:func:`fetch` on every leaf; PRNG keys stay keys."""
    def one(x):
        if _is_key(x):
            return jax.random.wrap_key_data(fetch(jax.random.key_data(x)),
                                            impl=jax.random.key_impl(x))
        return fetch(x)

    return jax.tree_util.tree_map(one, tree)


def local(tree):
    """``tree`` usable by this process alone (e.g. for evaluation on its own device): global
    arrays that span other processes are gathered to host numpy; anything else is returned
    as it is (a single-process run pays nothing)."""
    def one(x):
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            return fetch(x)
        return x

    return jax.tree_util.tree_map(one, tree)


def broadcast_from_writer(value: float) -> float:
    """Process 0's value on every process (so that decisions taken on host, such as early
    stopping, cannot diverge between processes); the value itself in a single process."""
    if not multiprocess():
        return value
    from jax.experimental import multihost_utils

    # float64 travels as two int32 words: JAX would round a float64 to float32 (no x64).
    words = np.asarray([value], np.float64).view(np.int32)
    return float(np.asarray(multihost_utils.broadcast_one_to_all(words)).view(np.float64)[0])
