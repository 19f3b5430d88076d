"""No propagation: the layer-0 inputs are the embeddings (matrix factorisation)."""

from __future__ import annotations

from recjax.models.backbones.base import Backbone, register_backbone


@register_backbone("none")
class NoPropagation(Backbone):
    defaults = {"num_layers": 0, "combine": "last", "dropout": 0.0}

    def embed(self, graph, h, train, isolated, noise_eps=0.0):
        return h

    def layers(self, graph, h, train, isolated, noise_eps=0.0):
        return [h]
