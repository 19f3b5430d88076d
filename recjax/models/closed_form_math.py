"""Closed-form baselines as plain maths: EASE, ItemKNN and popularity on a dense binary matrix.

Every function takes the dense train matrix ``X [num_users, num_items]`` (float32, 1 for an
interaction) and returns item weights. They fit the recjax scoring interface exactly:

* EASE / ItemKNN: ``user_emb = X``, ``item_emb = B.T``, so ``user_emb @ item_emb.T = X @ B``.
* Pop: ``user_emb = ones [num_users, 1]``, ``item_emb = popularity(X)[:, None]``.

The item-item weights are dense ``[num_items, num_items]`` float32 matrices, so memory grows
with the square of the catalogue: :func:`check_fits` raises a readable error before a fit that
could not fit instead of an out-of-memory crash deep inside XLA.
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl

# Dense [num_items, num_items] float32 buffers alive at the peak of a fit, from XLA's memory
# analysis of the compiled functions on CPU (outputs + temporaries, without X): EASE 3.0 (the
# Cholesky factor, the identity right-hand side and P, then P and B), ItemKNN 2.1 (similarities,
# B, top-k lists). One more for headroom (GPU solver workspaces, the caller's copy of B).
COPIES = {"EASE": 4, "ItemKNN": 3}
# RecBole adds this to every cosine denominator so that an item without interactions gives 0,
# not 0 / 0.
COSINE_EPS = 1e-6


@jax.jit(static_argnames=("num_users", "num_items"))
def interaction_matrix(user_ids, item_ids, num_users: int, num_items: int):
    """Dense binary ``[num_users, num_items]`` float32 matrix, 1 where ``(user, item)`` occurs
    at least once (a repeated pair still gives 1: ``set``, not ``add``)."""
    x = jnp.zeros((num_users, num_items), jnp.float32)
    return x.at[user_ids, item_ids].set(1.0)


def _gram(x):
    # X is 0/1, so X^T X holds exact integer counts in float32 up to 2**24 co-occurrences;
    # HIGHEST keeps TPUs (bf16 passes by default) and GPUs (TF32) from rounding them.
    return jnp.matmul(x.T, x, precision=jax.lax.Precision.HIGHEST)


@jax.jit
def ease_weights(x, l2):
    """EASE (Steck, WWW 2019): ``B [num_items, num_items]`` minimising
    ``||X - X B||^2 + l2 ||B||^2`` subject to ``diag(B) = 0``.

    Closed form: ``G = X^T X + l2 I``, ``P = G^{-1}``, ``B_ij = -P_ij / P_jj`` (each column
    divided by its diagonal entry), ``B_jj = 0``; the same as RecBole's ``EASE``.

    ``P`` comes from a Cholesky factorisation (``cho_factor`` + ``cho_solve`` against the
    identity) rather than ``jnp.linalg.inv``/``solve`` (LU with pivoting): ``G`` is symmetric
    positive definite for ``l2 > 0``, so Cholesky is stable without pivoting and the
    factorisation takes half LU's flops (the whole inverse of ml-100k's 1,682 items: ~0.4-0.6 s
    against ~0.75-0.9 s for ``inv`` on two shared CPU cores). All of ``P`` is needed, so a
    solve against a few right-hand sides cannot replace the inverse. In float32 the error of
    ``B`` grows with the condition number of ``G``, ``(lambda_max(X^T X) + l2) / l2``: on
    ml-100k (lambda_max ~ 1.9e4) the largest entrywise error relative to a float64 inverse is
    ~7e-5 at ``l2 = 1`` and ~1e-5 at ``l2 = 10``, the same for LU ``inv``/``solve``. Larger
    catalogues with small ``l2`` lose digits in proportion.
    """
    num_items = x.shape[1]
    with jax.default_matmul_precision("highest"):  # blocked factorisations on TPU use matmuls
        gram = _gram(x) + l2 * jnp.eye(num_items, dtype=x.dtype)
        p = jsl.cho_solve(jsl.cho_factor(gram, lower=True), jnp.eye(num_items, dtype=x.dtype))
    b = p / -jnp.diag(p)[None, :]
    return b * (1.0 - jnp.eye(num_items, dtype=b.dtype))


@jax.jit
def item_cosine_similarity(x, shrink=0.0):
    """Symmetric ``[num_items, num_items]`` shrunk cosine similarity of item columns,
    ``sim_ij = x_i . x_j / (||x_i|| ||x_j|| + shrink + 1e-6)``, diagonal 0 (an item is not its
    own neighbour). RecBole's ``ComputeSimilarity`` with ``method="item"``, before top-k."""
    norms = jnp.sqrt(jnp.sum(x * x, axis=0))
    sim = _gram(x) / (norms[:, None] * norms[None, :] + shrink + COSINE_EPS)
    return sim * (1.0 - jnp.eye(sim.shape[0], dtype=sim.dtype))


@jax.jit(static_argnames=("k",))
def itemknn_weights(x, k: int, shrink=0.0):
    """ItemKNN as in RecBole (``ItemKNN``, ``knn_method="item"``): ``B [num_items,
    num_items]`` with, in each column ``j``, the ``k`` source items ``i`` most similar to the
    target item ``j`` (:func:`item_cosine_similarity`) and zeros elsewhere; scores
    ``X @ B`` add, for the item ``j`` being scored, the similarities of the user's items among
    ``j``'s ``k`` neighbours.

    Matching RecBole exactly: the top-k is taken per *target* item (per column of ``B``; RecBole
    builds ``W[top_k_idx, Index]`` for each column ``Index`` and predicts ``X @ W``); the
    diagonal is zeroed before the top-k, so an item never counts itself among its neighbours;
    the denominator has RecBole's ``+ 1e-6``; ``k`` is capped at ``num_items``; zero similarities
    stay zero. One difference: among exactly tied similarities at the k-th place,
    ``lax.top_k`` keeps the lower item index, RecBole's ``argpartition`` an unspecified one.
    """
    sim = item_cosine_similarity(x, shrink)
    num_items = sim.shape[0]
    k = min(k, num_items)
    # sim is symmetric, so its row j is column j: the similarities of every source i to j.
    values, sources = jax.lax.top_k(sim, k)  # [num_items (target), k]
    targets = jnp.broadcast_to(jnp.arange(num_items)[:, None], sources.shape)
    return jnp.zeros_like(sim).at[sources, targets].set(values)


@jax.jit
def popularity(x):
    """``[num_items]`` float32 number of train users of each item (column sums of ``X``)."""
    return jnp.sum(x, axis=0)


def dense_item_memory_bytes(num_items: int, copies: int = COPIES["EASE"]) -> int:
    """Bytes of ``copies`` dense ``[num_items, num_items]`` float32 matrices."""
    return int(copies) * int(num_items) ** 2 * 4


def available_memory_bytes(device=None) -> int | None:
    """Free memory of ``device`` (default: the first local device), or None when unknown.

    Accelerators: ``bytes_limit - bytes_in_use`` from ``memory_stats()``; CPU: ``MemAvailable``
    from ``/proc/meminfo`` (Linux).
    """
    device = device if device is not None else jax.local_devices()[0]
    if device.platform != "cpu":
        try:
            stats = device.memory_stats()
        except Exception:  # some backends do not implement it
            stats = None
        if stats and "bytes_limit" in stats:
            return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))
        return None
    if not os.path.exists("/proc/meminfo"):
        return None
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024  # the value is in kB
    return None


def check_fits(
    num_items: int,
    what: str = "EASE",
    available_bytes: int | None = None,
    copies: int | None = None,
    num_users: int = 0,
) -> int:
    """Raise ``ValueError`` when fitting ``what`` (``"EASE"`` or ``"ItemKNN"``) on
    ``num_items`` items needs more memory than is free; returns the bytes needed.

    ``available_bytes`` defaults to :func:`available_memory_bytes`; when that is unknown
    nothing is checked. ``copies`` overrides the number of ``[num_items, num_items]`` matrices
    (:data:`COPIES`); ``num_users`` > 0 adds the dense ``X [num_users, num_items]``.
    """
    if copies is None:
        if what not in COPIES:
            raise ValueError(f"unknown closed-form model {what!r}; valid: {sorted(COPIES)}")
        copies = COPIES[what]
    needed = dense_item_memory_bytes(num_items, copies) + 4 * int(num_users) * int(num_items)
    if available_bytes is None:
        available_bytes = available_memory_bytes()
    if available_bytes is not None and needed > available_bytes:
        raise ValueError(
            f"{what} on {num_items:,} items needs about {_gib(needed)} ({copies} dense "
            f"{num_items:,} x {num_items:,} float32 matrices{' and X' if num_users else ''}) but "
            f"only {_gib(available_bytes)} "
            f"is available; filter rare items (k-core) or use a smaller catalogue"
        )
    return needed


def _gib(num_bytes: int) -> str:
    return f"{num_bytes / 2**30:.2f} GiB"
