"""LightGCN (He et al., 2020): ``h_{k+1} = A h_k`` with ``A = D^-1/2 A D^-1/2``, layer mean."""

from __future__ import annotations

import jax.numpy as jnp

from recjax.models.backbones.base import Backbone, register_backbone


@register_backbone("lightgcn")
class LightGCN(Backbone):
    defaults = {"num_layers": 3, "combine": "mean", "dropout": 0.0}

    def layers(self, graph, h, train, isolated, noise_eps=0.0):
        data = self.edge_weights(graph, graph.norm)
        outputs = [h]
        for _ in range(self.cfg.num_layers):
            h = self.propagate(graph, data, h.astype(self.dtype), isolated).astype(jnp.float32)
            h = self.perturb(h, noise_eps)
            outputs.append(h)
        return outputs
