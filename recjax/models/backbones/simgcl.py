"""SimGCL (Yu et al., SIGIR 2022) and XSimGCL (Yu et al., TKDE 2023): LightGCN whose
propagated layers get a small random perturbation, with contrastive views for an InfoNCE
term between them (the train step adds ``cl_weight * InfoNCE``; see
:func:`recjax.train.losses.info_nce`).

* SimGCL: the ranking loss uses the clean embeddings; two independently perturbed passes
  are the views (layers ``h1..hK`` averaged, without the layer-0 input, as in the authors'
  code and RecBole-GNN).
* XSimGCL: one perturbed pass gives both the ranking embeddings (its final mean) and the
  second view (the output of layer ``cl_layer``); evaluation uses the clean pass.
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from recjax.models.backbones.base import combine_layers, register_backbone
from recjax.models.backbones.lightgcn import LightGCN


@register_backbone("simgcl")
class SimGCL(LightGCN):
    defaults = {"num_layers": 2, "combine": "propagated_mean", "dropout": 0.0,
                "noise_eps": 0.1, "cl_weight": 0.2, "cl_temperature": 0.2}

    @nn.compact
    def __call__(self, graph, h, train=False, isolated=False, views=False):
        if self.cfg.relation_weights or self.cfg.combine == "learned":
            # Three passes in one call would each create the same parameters.
            raise ValueError("simgcl does not support relation_weights or combine=learned "
                             "(use xsimgcl, which makes one pass)")
        out = self.embed(graph, h, train, isolated)
        if not views:
            return out
        eps = self.cfg.noise_eps
        return out, (self.embed(graph, h, train, isolated, eps),
                     self.embed(graph, h, train, isolated, eps))


@register_backbone("xsimgcl")
class XSimGCL(LightGCN):
    defaults = {"num_layers": 2, "combine": "propagated_mean", "dropout": 0.0,
                "noise_eps": 0.2, "cl_weight": 0.2, "cl_temperature": 0.15, "cl_layer": 1}

    @nn.compact
    def __call__(self, graph, h, train=False, isolated=False, views=False):
        if not views:
            return self.embed(graph, h, train, isolated)
        if not 1 <= self.cfg.cl_layer <= self.cfg.num_layers:
            raise ValueError(f"model.cl_layer={self.cfg.cl_layer} must be in [1, num_layers="
                             f"{self.cfg.num_layers}]")
        outputs = self.layers(graph, h.astype(jnp.float32), train, isolated,
                              self.cfg.noise_eps)
        out = combine_layers(outputs, self.cfg.combine, self)
        return out, (out, outputs[self.cfg.cl_layer])
