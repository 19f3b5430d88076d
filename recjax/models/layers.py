"""Graph encoders: ``h0 [num_nodes, dim] -> node embeddings``, K layers then a combination.

Backbones (all message passing goes through :func:`recjax.graph.propagate`, so each runs on
the fast sparse path or on jraph segment ops):

* ``lightgcn``: ``h_{k+1} = A h_k`` with ``A = D^-1/2 A D^-1/2`` (He et al., 2020).
* ``ngcf``: ``h_{k+1} = norm(drop(LeakyReLU(W1 (h + A h) + W2 (A h * h))))`` (Wang et al.,
  2019; RecBole's BiGNN layer).
* ``gcn``: ``h_{k+1} = act(Â h_k W_k)`` with self-loops, ``Â = D̃^-1/2 (A + I) D̃^-1/2``.
* ``gat``: multi-head attention over incoming edges plus a self-loop (Veličković et al.).
* ``none``: no propagation (matrix factorisation).

With ``relation_weights``, each edge type gets a learned weight ``exp(beta_r)`` on its
messages (GAT: a per-type, per-head logit bias): relation-aware message passing.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from recjax.graph import RecGraph, propagate, receiver_max


def combine_layers(outputs: list, mode: str, module: nn.Module):
    if mode == "mean":
        return jnp.mean(jnp.stack(outputs), axis=0)
    if mode == "learned":
        logits = module.param("layer_logits", nn.initializers.zeros, (len(outputs),))
        weights = jax.nn.softmax(logits)
        return jnp.tensordot(weights, jnp.stack(outputs), axes=1)
    if mode == "concat":
        return jnp.concatenate(outputs, axis=-1)
    if mode == "last":
        return outputs[-1]
    raise ValueError(f"combine {mode!r} is unknown")


class GraphEncoder(nn.Module):
    backbone: str
    num_layers: int
    dim: int
    combine: str = "mean"
    propagation: str = "sparse"
    dropout: float = 0.0
    heads: int = 2
    relation_weights: bool = False
    dtype: jnp.dtype = jnp.float32

    def edge_weights(self, graph: RecGraph, norm):
        if not self.relation_weights:
            return norm
        beta = self.param("relation_logits", nn.initializers.zeros, (graph.num_relations,))
        return norm * jnp.exp(beta)[graph.relation]

    @nn.compact
    def __call__(self, graph: RecGraph, h, train: bool = False, isolated: bool = False):
        """``isolated=True`` embeds every node as if it had no edges (what a brand-new user
        or item is): messages are zero, the layers' own transforms still apply."""
        if self.backbone == "none" or self.num_layers == 0:
            return h
        # Mixed precision: messages and layer maths in self.dtype, every layer's output (and
        # the combination of layers) kept in float32.
        h = h.astype(jnp.float32)
        outputs = [h]
        if self.backbone in ("lightgcn", "ngcf"):
            data = self.edge_weights(graph, graph.norm)
        for k in range(self.num_layers):
            last = k == self.num_layers - 1
            x = h.astype(self.dtype)
            if self.backbone == "lightgcn":
                h = _propagate(graph, data, x, self.propagation, isolated)
            elif self.backbone == "ngcf":
                side = _propagate(graph, data, x, self.propagation, isolated)
                h = (nn.Dense(self.dim, dtype=self.dtype, name=f"W1_{k}")(x + side)
                     + nn.Dense(self.dim, dtype=self.dtype, name=f"W2_{k}")(side * x))
                h = nn.Dropout(self.dropout, deterministic=not train)(nn.leaky_relu(h, 0.2))
                h = h / jnp.maximum(jnp.linalg.norm(h, axis=-1, keepdims=True), 1e-12)
            elif self.backbone == "gcn":
                h = GCNLayer(self.dim, self.propagation, self.relation_weights, self.dtype,
                             name=f"gcn_{k}")(graph, x, isolated)
                if not last:
                    h = nn.Dropout(self.dropout, deterministic=not train)(nn.relu(h))
            elif self.backbone == "gat":
                h = GATLayer(self.dim, self.heads, self.propagation, self.relation_weights,
                             self.dtype, name=f"gat_{k}")(graph, x, isolated)
                if not last:
                    h = nn.Dropout(self.dropout, deterministic=not train)(nn.elu(h))
            else:
                raise ValueError(f"backbone {self.backbone!r} is unknown")
            h = h.astype(jnp.float32)
            outputs.append(h)
        return combine_layers(outputs, self.combine, self)


def _propagate(graph, data, x, method, isolated):
    return jnp.zeros_like(x) if isolated else propagate(graph, data, x, method)


class GCNLayer(nn.Module):
    """``Â h W`` with ``Â = D̃^-1/2 (A + I) D̃^-1/2`` (Kipf & Welling), D̃ = degree + 1."""

    dim: int
    propagation: str = "sparse"
    relation_weights: bool = False
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, graph: RecGraph, h, isolated: bool = False):
        hw = nn.Dense(self.dim, dtype=self.dtype, name="W")(h)
        if isolated:  # no neighbours: Â is the identity
            return hw
        deg = graph.degree + 1.0
        inv = jax.lax.rsqrt(deg)
        data = inv[graph.senders] * inv[graph.receivers]
        if self.relation_weights:
            beta = self.param("relation_logits", nn.initializers.zeros, (graph.num_relations,))
            data = data * jnp.exp(beta)[graph.relation]
        return propagate(graph, data, hw, self.propagation) + hw / deg[:, None].astype(hw.dtype)


class GATLayer(nn.Module):
    """Multi-head graph attention over incoming edges and a self-loop; heads concatenated.

    ``alpha_{e} = softmax over r's edges and self of LeakyReLU(a_src . z_s + a_dst . z_r)``.
    The softmax is computed unnormalised with a per-node shift (see
    :func:`recjax.graph.receiver_max`), then divided, so it never materialises per-edge
    features beyond one scalar per edge and head.
    """

    dim: int
    heads: int = 2
    propagation: str = "sparse"
    relation_weights: bool = False
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, graph: RecGraph, h, isolated: bool = False):
        n, hd = h.shape[0], self.dim // self.heads
        z = nn.Dense(self.dim, use_bias=False, dtype=self.dtype, name="W")(h)
        z = z.reshape(n, self.heads, hd)
        init = nn.initializers.normal(1.0 / jnp.sqrt(hd))
        s_src = jnp.einsum("nhd,hd->nh", z, self.param("a_src", init, (self.heads, hd)))
        s_dst = jnp.einsum("nhd,hd->nh", z, self.param("a_dst", init, (self.heads, hd)))
        logits = s_src[graph.senders] + s_dst[graph.receivers]
        bias_max = 0.0
        if self.relation_weights:
            bias = self.param("relation_bias", nn.initializers.zeros,
                              (graph.num_relations, self.heads))
            logits = logits + bias[graph.relation]
            bias_max = jnp.maximum(bias.max(axis=0), 0.0)
        logits = nn.leaky_relu(logits, 0.2)
        self_logits = nn.leaky_relu(s_src + s_dst, 0.2)
        bound = nn.leaky_relu(s_dst + s_src.max(axis=0) + bias_max, 0.2)
        shift = receiver_max(graph, logits, self.propagation, upper_bound=bound)
        shift = jax.lax.stop_gradient(jnp.maximum(shift, self_logits))
        e = jnp.exp(logits - shift[graph.receivers])
        e_self = jnp.exp(self_logits - shift)
        num = _propagate(graph, e, z, self.propagation, isolated) + e_self[..., None] * z
        ones = jnp.ones((n, self.heads, 1), z.dtype)
        den = _propagate(graph, e, ones, self.propagation, isolated)
        out = num / (den + e_self[..., None])
        return out.reshape(n, self.dim)
