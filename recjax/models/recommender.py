"""One recommender module composed of towers, and the registry of named models.

``Recommender.apply(params, graph, features, train) -> (user_emb, item_emb)``; a score is the
dot product ``user_emb[u] . item_emb[i]``. Parameter paths are stable: ``id/...`` (ID
embeddings), ``text/...`` (text projection), ``fusion/...``, ``graph/...`` (propagation
layers), ``head/...`` (the classification offset), so freezing or per-part learning rates are
regex rules over paths.
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from recjax.config.schema import ModelConfig
from recjax.graph import RecGraph
from recjax.models.layers import GraphEncoder
from recjax.models.towers import Features, Fusion, IdTower, TextTower


class Recommender(nn.Module):
    """Layer-0 inputs (``inputs``: ``id``, ``text`` or ``id+text``) -> graph encoder."""

    cfg: ModelConfig
    num_users: int
    num_items: int
    inputs: str = "id"
    backbone: str = "lightgcn"
    combine: str = "mean"

    def setup(self):
        c = self.cfg
        if "id" in self.inputs.split("+"):
            self.id = IdTower(self.num_users, self.num_items, c.dim, c.init_std)
        if "text" in self.inputs.split("+"):
            self.text = TextTower(c.dim, c.text_hidden)
            if self.inputs == "id+text":
                self.fusion = Fusion(c.fusion, c.dim)
        self.graph = GraphEncoder(self.backbone, c.num_layers, c.dim, self.combine,
                                  c.propagation, c.dropout, c.heads, c.relation_weights,
                                  jnp.dtype(c.compute_dtype))
        self.head = Head()

    def inputs_of(self, features: Features):
        """Layer-0 user and item inputs ``([num_users, dim], [num_items, dim])``."""
        users = items = None
        if "id" in self.inputs.split("+"):
            users, items = self.id()
        if "text" in self.inputs.split("+"):
            check_features(features, self.num_users, self.num_items, self.inputs == "text")
            t_items = self.text(features.item_text)
            t_users = self.text(features.user_text) if features.user_text is not None else None
            if users is None:
                users, items = t_users, t_items
            else:
                items = self.fusion(items, t_items)
                if t_users is not None:
                    users = self.fusion(users, t_users)
        return users, items

    def __call__(self, graph: RecGraph, features: Features | None = None, train: bool = False):
        if (graph.num_users, graph.num_items) != (self.num_users, self.num_items):
            raise ValueError(f"the graph has {graph.num_users} users and {graph.num_items} "
                             f"items, the model {self.num_users} and {self.num_items}")
        users, items = self.inputs_of(features or Features())
        h = self.graph(graph, jnp.concatenate([users, items], axis=0), train)
        self.head()  # created with the rest at init; used by the classification loss
        return h[: self.num_users], h[self.num_users:]

    def propagate(self, graph: RecGraph, users, items, train: bool = False):
        """Run the graph encoder on given layer-0 inputs over any graph (e.g. the train graph
        plus new nodes): ``(user_emb, item_emb)``."""
        h = self.graph(graph, jnp.concatenate([users, items], axis=0), train)
        return h[: graph.num_users], h[graph.num_users:]

    def isolated(self, graph: RecGraph, features: Features | None = None, train: bool = False):
        """Every node embedded as a brand-new one: no edges and no ID embedding of its own
        (:meth:`new_node_inputs`, i.e. its text, or zeros without text). Training on these
        for a random share of rows (``TrainConfig.cold_user_dropout`` / ``cold_item_dropout``)
        teaches the towers to stand on their own, exactly as serving uses them."""
        features = features or Features()

        def inputs(text, n):
            if text is None:
                return jnp.zeros((n, self.cfg.dim), jnp.float32)
            return self.new_node_inputs(text)

        users = inputs(features.user_text, self.num_users)
        items = inputs(features.item_text, self.num_items)
        h = self.graph(graph, jnp.concatenate([users, items], axis=0), train, isolated=True)
        return h[: self.num_users], h[self.num_users:]

    def new_node_inputs(self, text):
        """Layer-0 inputs ``[n, dim]`` of nodes the model never saw: their projected text
        (fused with an all-zero ID embedding, the only ID an unseen node can have), or zeros
        for models without text (``text`` may then be an ``[n, 0]`` array)."""
        if "text" not in self.inputs.split("+"):
            return jnp.zeros((text.shape[0], self.cfg.dim), jnp.float32)
        t = self.text(text)
        return self.fusion(jnp.zeros_like(t), t) if self.inputs == "id+text" else t

    def offset(self):
        """The learned logit offset of the rating-classification mode (``head/bias``)."""
        return self.head()


class Head(nn.Module):
    """Scores are ``user_emb . item_emb``; classification adds this learned offset."""

    @nn.compact
    def __call__(self):
        return self.param("bias", nn.initializers.zeros, ())


def check_features(features: Features, num_users: int, num_items: int, need_users: bool):
    if features.item_text is None:
        raise ValueError("this model uses text: pass Features(item_text=[num_items, dim])")
    if features.item_text.shape[0] != num_items:
        raise ValueError(f"item text features have {features.item_text.shape[0]} rows, "
                         f"expected num_items = {num_items}")
    if features.user_text is None:
        if need_users:
            raise ValueError("an inductive (text-only) model needs user text features too")
    elif features.user_text.shape[0] != num_users:
        raise ValueError(f"user text features have {features.user_text.shape[0]} rows, "
                         f"expected num_users = {num_users}")


def _mf(cfg, u, i):
    return Recommender(cfg, u, i, "id", "none", cfg.combine or "last")


def _gnn(backbone: str, combine: str):
    def build(cfg, u, i):
        return Recommender(cfg, u, i, "id", backbone, cfg.combine or combine)

    return build


def _text_gnn(cfg, u, i):
    inputs = "text" if cfg.inductive else "id+text"
    return Recommender(cfg, u, i, inputs, cfg.backbone, cfg.combine or "mean")


MODELS = {
    "mf": _mf,
    "lightgcn": _gnn("lightgcn", "mean"),
    "ngcf": _gnn("ngcf", "concat"),
    "gcn": _gnn("gcn", "mean"),
    "gat": _gnn("gat", "mean"),
    "text_gnn": _text_gnn,
}


def build_model(cfg: ModelConfig, num_users: int, num_items: int) -> Recommender:
    """The model named ``cfg.name``; an unknown name lists the valid ones."""
    if cfg.name not in MODELS:
        raise KeyError(f"unknown model {cfg.name!r}; valid models: {sorted(MODELS)}")
    return MODELS[cfg.name](cfg, num_users, num_items)


def uses_text(model: Recommender) -> bool:
    return "text" in model.inputs.split("+")
