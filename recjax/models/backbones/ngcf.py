"""NGCF (Wang et al., 2019; RecBole's BiGNN layer):
``h_{k+1} = norm(drop(LeakyReLU(W1 (h + A h) + W2 (A h * h))))``, layers concatenated."""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from recjax.models.backbones.base import Backbone, register_backbone


@register_backbone("ngcf")
class NGCF(Backbone):
    defaults = {"num_layers": 3, "combine": "concat", "dropout": 0.1}

    def layers(self, graph, h, train, isolated, noise_eps=0.0):
        data = self.edge_weights(graph, graph.norm)
        dim, outputs = self.cfg.dim, [h]
        for k in range(self.cfg.num_layers):
            x = h.astype(self.dtype)
            side = self.propagate(graph, data, x, isolated)
            h = (nn.Dense(dim, dtype=self.dtype, name=f"W1_{k}")(x + side)
                 + nn.Dense(dim, dtype=self.dtype, name=f"W2_{k}")(side * x))
            h = nn.Dropout(self.cfg.dropout, deterministic=not train)(nn.leaky_relu(h, 0.2))
            h = h / jnp.maximum(jnp.linalg.norm(h, axis=-1, keepdims=True), 1e-12)
            outputs.append(self.perturb(h.astype(jnp.float32), noise_eps))
        return outputs
