"""The backbone interface, the registry and what backbones share (layer combination,
relation weights, message passing that skips isolated nodes)."""

from __future__ import annotations

from typing import Any, ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp

from recjax.config.schema import ModelConfig
from recjax.graph import RecGraph, propagate

BACKBONES: dict[str, type[Backbone]] = {}

COMBINES = ("mean", "learned", "concat", "last", "propagated_mean")


def register_backbone(name: str):
    """Class decorator: ``@register_backbone("lightgcn")`` makes the class the backbone (and
    the ID-only model) of that name."""

    def add(cls):
        if name in BACKBONES:
            raise ValueError(f"backbone {name!r} is registered twice")
        BACKBONES[name] = cls
        cls.registered_name = name
        return cls

    return add


def combine_layers(outputs: list, mode: str, module: nn.Module):
    """``[h0, ..., hK]`` -> one embedding: ``mean`` (LightGCN), ``learned`` (softmax-weighted
    layers), ``concat`` (NGCF), ``last``, or ``propagated_mean`` (``h1..hK`` without the
    layer-0 input, as SimGCL/XSimGCL do)."""
    if mode == "mean":
        return jnp.mean(jnp.stack(outputs), axis=0)
    if mode == "learned":
        logits = module.param("layer_logits", nn.initializers.zeros, (len(outputs),))
        return jnp.tensordot(jax.nn.softmax(logits), jnp.stack(outputs), axes=1)
    if mode == "concat":
        return jnp.concatenate(outputs, axis=-1)
    if mode == "last":
        return outputs[-1]
    if mode == "propagated_mean":
        return jnp.mean(jnp.stack(outputs[1:] or outputs), axis=0)
    raise ValueError(f"combine {mode!r} is unknown; valid: {COMBINES}")


class Backbone(nn.Module):
    """``(graph, h0) -> embeddings [num_nodes, out_dim]``.

    Subclasses implement :meth:`layers` and may change ``defaults`` (the values a
    ``ModelConfig`` field left at ``None`` takes for this backbone). ``cfg`` is the resolved
    config (no ``None`` left in the fields a backbone reads). ``isolated=True`` embeds every
    node as if it had no edges (a brand-new user or item): messages are zero, the layers'
    own transforms still apply.

    Contrastive backbones (SimGCL, XSimGCL) also return two views of every node when called
    with ``views=True`` in training; others return ``None`` there.
    """

    cfg: ModelConfig
    dtype: Any = jnp.float32
    defaults: ClassVar[dict] = {"num_layers": 3, "combine": "mean", "dropout": 0.0}
    registered_name: ClassVar[str] = ""

    @nn.compact
    def __call__(self, graph: RecGraph, h, train: bool = False, isolated: bool = False,
                 views: bool = False):
        out = self.embed(graph, h, train, isolated)
        return (out, None) if views else out

    def embed(self, graph: RecGraph, h, train: bool, isolated: bool, noise_eps: float = 0.0):
        """Layers then their combination. ``noise_eps > 0`` adds SimGCL's noise to every
        propagated layer (a random direction of length ``eps`` in the sign orthant of the
        embedding, drawn from the ``noise`` RNG stream)."""
        # Mixed precision: messages and layer maths in self.dtype, every layer's output (and
        # the combination of layers) kept in float32.
        h = h.astype(jnp.float32)
        if self.cfg.num_layers == 0:
            return h
        outputs = self.layers(graph, h, train, isolated, noise_eps)
        return combine_layers(outputs, self.cfg.combine, self)

    def layers(self, graph: RecGraph, h, train: bool, isolated: bool,
               noise_eps: float = 0.0) -> list:
        raise NotImplementedError

    def edge_weights(self, graph: RecGraph, norm):
        """``norm`` times a learned ``exp(beta_relation)`` per edge type when
        ``relation_weights`` is on (relation-aware message passing)."""
        if not self.cfg.relation_weights:
            return norm
        beta = self.param("relation_logits", nn.initializers.zeros, (graph.num_relations,))
        return norm * jnp.exp(beta)[graph.relation]

    def propagate(self, graph: RecGraph, data, x, isolated: bool):
        return jnp.zeros_like(x) if isolated else propagate(graph, data, x,
                                                             self.cfg.propagation)

    def perturb(self, x, eps: float):
        """SimGCL's uniform noise: ``x + sign(x) * normalize(U(0, 1)) * eps``."""
        if not eps:
            return x
        noise = jax.random.uniform(self.make_rng("noise"), x.shape, jnp.float32)
        noise = noise / jnp.maximum(jnp.linalg.norm(noise, axis=-1, keepdims=True), 1e-12)
        return x + jnp.sign(x) * noise * eps
