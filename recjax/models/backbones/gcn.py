"""GCN with self-loops (Kipf & Welling, 2017): ``h_{k+1} = act(Â h_k W_k)``,
``Â = D̃^-1/2 (A + I) D̃^-1/2`` with ``D̃ = degree + 1``; ReLU and dropout between layers."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from recjax.graph import RecGraph, propagate
from recjax.models.backbones.base import Backbone, register_backbone


@register_backbone("gcn")
class GCN(Backbone):
    defaults = {"num_layers": 2, "combine": "mean", "dropout": 0.0}

    def layers(self, graph, h, train, isolated, noise_eps=0.0):
        outputs = [h]
        for k in range(self.cfg.num_layers):
            h = GCNLayer(self.cfg.dim, self.cfg.propagation, self.cfg.relation_weights,
                         self.dtype, name=f"gcn_{k}")(graph, h.astype(self.dtype), isolated)
            if k < self.cfg.num_layers - 1:
                h = nn.Dropout(self.cfg.dropout, deterministic=not train)(nn.relu(h))
            outputs.append(self.perturb(h.astype(jnp.float32), noise_eps))
        return outputs


class GCNLayer(nn.Module):
    """``Â h W``. Edge weights are recomputed from the degrees, so padded edges (see
    :func:`recjax.train.parallel.pad_edges`) must carry no message: they point at a receiver
    outside the graph, which the sums drop."""

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
