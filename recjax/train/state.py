"""The training state: a pytree of step, parameters, optimiser state and PRNG key."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct


@struct.dataclass
class TrainState:
    """Everything a step reads and writes. ``key`` is a typed PRNG key; each step derives its
    randomness as ``fold_in(key, step)``, so a resumed run draws what it would have drawn."""

    step: jnp.ndarray
    params: Any
    opt_state: Any
    key: jax.Array

    @classmethod
    def create(cls, params, tx: optax.GradientTransformation, key: jax.Array) -> TrainState:
        return cls(jnp.zeros((), jnp.int32), params, tx.init(params), key)
