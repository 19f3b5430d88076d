"""GAT (Veličković et al., 2018): multi-head attention over incoming edges plus a self-loop,
heads concatenated; ELU and dropout between layers."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from recjax.graph import RecGraph, propagate, receiver_max
from recjax.models.backbones.base import Backbone, register_backbone

# The softmax shift never exceeds a node's own self-loop logit by more than this, so the
# self-loop term exp(self - shift) >= exp(-SHIFT_SLACK) stays a normal float32 and the
# denominator cannot be 0 (0/0 gave NaN when the per-node bound sat far above every logit).
SHIFT_SLACK = 60.0


@register_backbone("gat")
class GAT(Backbone):
    defaults = {"num_layers": 2, "combine": "mean", "dropout": 0.0}

    def layers(self, graph, h, train, isolated, noise_eps=0.0):
        outputs = [h]
        for k in range(self.cfg.num_layers):
            h = GATLayer(self.cfg.dim, self.cfg.heads, self.cfg.propagation,
                         self.cfg.relation_weights, self.dtype,
                         name=f"gat_{k}")(graph, h.astype(self.dtype), isolated)
            if k < self.cfg.num_layers - 1:
                h = nn.Dropout(self.cfg.dropout, deterministic=not train)(nn.elu(h))
            outputs.append(self.perturb(h.astype(jnp.float32), noise_eps))
        return outputs


class GATLayer(nn.Module):
    """``alpha_e = softmax over r's edges and self of LeakyReLU(a_src . z_s + a_dst . z_r)``.

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
        self_logits = nn.leaky_relu(s_src + s_dst, 0.2)
        if isolated:  # only the self-loop: softmax weight 1
            return z.reshape(n, self.dim)
        logits = s_src[graph.senders] + s_dst[graph.receivers]
        bias_max = 0.0
        if self.relation_weights:
            bias = self.param("relation_bias", nn.initializers.zeros,
                              (graph.num_relations, self.heads))
            logits = logits + bias[graph.relation]
            bias_max = jnp.maximum(bias.max(axis=0), 0.0)
        logits = nn.leaky_relu(logits, 0.2)
        bound = nn.leaky_relu(s_dst + s_src.max(axis=0) + bias_max, 0.2)
        shift = receiver_max(graph, logits, self.propagation, upper_bound=bound)
        shift = jnp.clip(shift, self_logits, self_logits + SHIFT_SLACK)
        shift = jax.lax.stop_gradient(shift)
        e = jnp.exp(logits - shift[graph.receivers])
        e_self = jnp.exp(self_logits - shift)
        num = propagate(graph, e, z, self.propagation) + e_self[..., None] * z
        ones = jnp.ones((n, self.heads, 1), z.dtype)
        den = propagate(graph, e, ones, self.propagation) + e_self[..., None]
        return (num / den).reshape(n, self.dim)
