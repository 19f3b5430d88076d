"""One recommender module composed of towers, and the gradient-trained models it registers.

``Recommender.apply(params, graph, features, train) -> (user_emb, item_emb)``; a score is the
dot product ``user_emb[u] . item_emb[i]``. Parameter paths are stable: ``id/...`` (ID
embeddings), ``text/...`` (text projection), ``fusion/...``, ``graph/...`` (the backbone),
``head/...`` (the classification offset), so freezing or per-part learning rates are regex
rules over paths. An end-to-end text tower (``model.text_tower`` top_k / lora) adds
``text/encoder/layer_<i>/...`` (BERT's top layers, Hugging Face names, LoRA's ``lora_a`` /
``lora_b`` beside the frozen ``kernel``) and ``text/pool/query``, and with
``text_refresh_rows`` a ``text_bank`` collection (every text's latest vector, written by the
train step, never by the optimiser: :attr:`Recommender.frozen_patterns`). Build its variables
with :func:`init_variables`, which loads the pretrained weights.

Text-behaviour alignment (``align_weight > 0``, text_gnn with ID embeddings; RLMRec's
contrastive variant): in training the model's views are ``((users, items), (user_text,
item_text))``, each node's final embedding against its projected text, and the train step
adds their InfoNCE at ``cl_weight``/``cl_temperature``, which the text_gnn builder sets from
``align_weight`` (see :func:`with_alignment`).
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp

from recjax.config.schema import ModelConfig
from recjax.graph import RecGraph
from recjax.models.backbones import BACKBONES
from recjax.models.registry import register_model
from recjax.models.towers import EncoderSettings, Features, Fusion, IdTower, TextTower


class Recommender(nn.Module):
    """Layer-0 inputs (ID embeddings and/or projected text) -> a registered backbone.

    ``cfg`` is resolved (see :func:`recjax.models.registry.resolve_config`); ``use_id`` and
    ``use_text`` say which towers make the layer-0 inputs; ``backbone`` names the graph
    encoder in :data:`recjax.models.backbones.BACKBONES`.
    """

    cfg: ModelConfig
    num_users: int
    num_items: int
    use_id: bool = True
    use_text: bool = False
    backbone: str = "lightgcn"
    closed_form = False

    def setup(self):
        c = self.cfg
        if not (self.use_id or self.use_text):
            raise ValueError("a Recommender needs ID embeddings, text, or both")
        if self.use_id:
            self.id = IdTower(self.num_users, self.num_items, c.dim, c.init_std, c.init)
        if self.use_text:
            self.text = TextTower(c.dim, c.text_hidden, encoder_settings(c))
            if self.use_id:
                self.fusion = Fusion(c.fusion, c.dim)
        self.graph = BACKBONES[self.backbone](c, jnp.dtype(c.compute_dtype))
        self.head = Head()

    def inputs_of(self, features: Features):
        """Layer-0 user and item inputs ``([num_users, dim], [num_items, dim])``."""
        users = items = None
        if self.use_id:
            users, items = self.id()
        if self.use_text:
            features = self.encode_text(features)
            check_features(features, self.num_users, self.num_items, not self.use_id)
            t_items = self.text(features.item_text)
            t_users = self.text(features.user_text) if features.user_text is not None else None
            if users is None:
                users, items = t_users, t_items
            else:
                items = self.fusion(items, t_items)
                if t_users is not None:
                    users = self.fusion(users, t_users)
        return users, items

    def __call__(self, graph: RecGraph, features: Features | None = None, train: bool = False,
                 views: bool = False):
        """``(user_emb, item_emb)``; with ``views=True`` (training) also two contrastive
        views ``((users_1, items_1), (users_2, items_2))``: the backbone's, the final
        embeddings and the projected text when aligning (:attr:`aligns`), or None."""
        if (graph.num_users, graph.num_items) != (self.num_users, self.num_items):
            raise ValueError(f"the graph has {graph.num_users} users and {graph.num_items} "
                             f"items, the model {self.num_users} and {self.num_items}")
        features = features or Features()
        users, items = self.inputs_of(features)
        self.head()  # created with the rest at init; used by the classification loss
        h0 = jnp.concatenate([users, items], axis=0)
        if not views:
            return self._split(self.graph(graph, h0, train))
        h, pair = self.graph(graph, h0, train, views=True)
        user_emb, item_emb = self._split(h)
        if self.aligns:
            if pair is not None:
                raise ValueError(f"backbone {self.backbone!r} has contrastive views of its own; "
                                 f"model.align_weight would replace them (set it to 0)")
            if user_emb.shape[-1] != self.cfg.dim:
                raise ValueError(f"model.align_weight needs final embeddings of size model.dim="
                                 f"{self.cfg.dim}; combine={self.cfg.combine!r} makes "
                                 f"{user_emb.shape[-1]}")
            return user_emb, item_emb, ((user_emb, item_emb), self.text_views(graph, features))
        if pair is not None:
            pair = tuple(self._split(v) for v in pair)
        return user_emb, item_emb, pair

    @property
    def aligns(self) -> bool:
        """Whether training aligns final embeddings with projected text (``align_weight``)."""
        return self.use_id and self.use_text and bool(self.cfg.align_weight)

    def text_views(self, graph: RecGraph, features: Features):
        """The text view ``([num_users, dim], [num_items, dim])``: each node's projected LM
        vector. A user without text of their own (no ``user_text``) gets the mean projected
        text of their train items, the profile their history describes."""
        features = self.encode_text(features)
        t_items = self.text(features.item_text)
        if features.user_text is not None:
            t_users = self.text(features.user_text)
        else:
            # Edges item -> user; item-item edges (receivers >= num_users) are dropped.
            to_user = (graph.receivers < graph.num_users) & (graph.senders >= graph.num_users)
            rows = jnp.clip(graph.senders - graph.num_users, 0, self.num_items - 1)
            sums = jax.ops.segment_sum(jnp.where(to_user[:, None], t_items[rows], 0.0),
                                       jnp.where(to_user, graph.receivers, 0),
                                       num_segments=self.num_users)
            counts = jax.ops.segment_sum(to_user.astype(jnp.float32),
                                         jnp.where(to_user, graph.receivers, 0),
                                         num_segments=self.num_users)
            t_users = sums / jnp.maximum(counts, 1.0)[:, None]
        return t_users, t_items

    def _split(self, h):
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
        if self.use_text:
            features = self.encode_text(features)

        def inputs(text, n):
            if text is None:
                return jnp.zeros((n, self.cfg.dim), jnp.float32)
            return self.new_node_inputs(text)

        users = inputs(features.user_text, self.num_users)
        items = inputs(features.item_text, self.num_items)
        h = self.graph(graph, jnp.concatenate([users, items], axis=0), train, isolated=True)
        return self._split(h)

    def new_node_inputs(self, text):
        """Layer-0 inputs ``[n, dim]`` of nodes the model never saw: their projected text
        (fused with an all-zero ID embedding, the only ID an unseen node can have), or zeros
        for models without text (``text`` may then be an ``[n, 0]`` array)."""
        if not self.use_text:
            return jnp.zeros((text.shape[0], self.cfg.dim), jnp.float32)
        t = self.text(text)
        return self.fusion(jnp.zeros_like(t), t) if self.use_id else t

    def encode_text(self, features: Features, train: bool = False,
                    write_bank: bool = False) -> Features:
        """``features`` with LM vectors: as given, or encoded by an end-to-end text tower from
        ``features.text_tokens`` (every text with the current weights; in training with
        ``text_refresh_rows`` only a random subset, the rest from the bank, see
        :class:`recjax.models.towers.TextTower`). ``write_bank`` stores the result in the
        bank (``mutable=["text_bank"]``)."""
        tokens = features.text_tokens
        if tokens is None or features.item_text is not None:
            return features
        if (tokens.num_items, tokens.num_users) not in ((self.num_items, self.num_users),
                                                        (self.num_items, 0)):
            raise ValueError(f"token states hold {tokens.num_items} item and "
                             f"{tokens.num_users} user texts; the model has {self.num_items} "
                             f"items and {self.num_users} users")
        vectors = self.text(None, tokens, train, write_bank)
        users = vectors[tokens.num_items:] if tokens.num_users else None
        return Features(vectors[: tokens.num_items], users)

    def text_vectors(self, tokens):
        """LM vectors ``[n, text_dim]`` of any token states (e.g. new texts at serving) through
        the end-to-end text tower's current weights, every text encoded."""
        return self.text(None, tokens)

    @property
    def frozen_patterns(self) -> tuple[str, ...]:
        """Regexes over variable paths that the optimiser must leave alone: the text bank
        (written by the step, not learned) and, with LoRA, the adapted BERT's own weights."""
        if not self.use_text or self.cfg.text_tower == "frozen":
            return ()
        patterns = (r"^text_bank/",)
        if self.cfg.text_tower == "lora":
            patterns += (r"^params/text/encoder/(?!.*/lora_[ab]$)",)
        return patterns

    def offset(self):
        """The learned logit offset of the rating-classification mode (``head/bias``)."""
        return self.head()


class Head(nn.Module):
    """Scores are ``user_emb . item_emb``; classification adds this learned offset."""

    @nn.compact
    def __call__(self):
        return self.param("bias", nn.initializers.zeros, ())


def encoder_settings(cfg: ModelConfig) -> EncoderSettings | None:
    """The text tower's BERT settings (None: the tower projects frozen vectors)."""
    if cfg.text_tower == "frozen":
        return None
    return EncoderSettings(cfg.text_tower, cfg.text_layers, cfg.lora_rank, cfg.lora_alpha,
                           cfg.text_refresh_rows, cfg.text_remat)


def init_variables(model, rngs, graph: RecGraph, features: Features | None = None):
    """``model.init`` plus, for an end-to-end text tower, the pretrained weights of its BERT
    layers (from ``features.text_tokens.top_params``; LoRA adapters and the pooling keep their
    initial values) and a text bank filled with every text's vector under those weights."""
    tokens = getattr(features, "text_tokens", None)
    if tokens is None or not getattr(model, "use_text", False):
        return model.init(rngs, graph, features)
    # Compiled: run eagerly, the BERT layers of the initial pass cost seconds of dispatch.
    variables = jax.jit(model.init)(rngs, graph, features)
    from flax import traverse_util

    flat = traverse_util.flatten_dict(variables)
    for path, value in traverse_util.flatten_dict(tokens.top_params).items():
        key = ("params", "text", "encoder", *path)
        if key not in flat or flat[key].shape != value.shape:
            raise ValueError(f"pretrained weight {'/'.join(path)} {value.shape} has no "
                             f"place in the text tower")
        # A copy: the train state is donated, and these buffers are the loaded encoder's.
        flat[key] = jnp.array(value, flat[key].dtype, copy=True)
    variables = traverse_util.unflatten_dict(flat)
    if "text_bank" in variables:
        _, bank = jax.jit(lambda v: model.apply(v, features, False, True,
                                                method=model.encode_text,
                                                mutable=["text_bank"]))(variables)
        variables = {**variables, **bank}
    return variables


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


@register_model("mf", "BPR matrix factorisation: ID embeddings, no propagation",
                defaults={"backbone": "none"})
def _mf(cfg, num_users, num_items):
    return Recommender(cfg, num_users, num_items, use_id=True, use_text=False, backbone="none")


ALIGN_TEMPERATURE = 0.2


def with_alignment(cfg: ModelConfig) -> ModelConfig:
    """``cfg`` with the train step's contrastive weight and temperature taken from
    ``align_weight`` (the step adds ``cl_weight * InfoNCE(views)`` at ``cl_temperature``; an
    unset temperature becomes :data:`ALIGN_TEMPERATURE`). Alignment needs ID embeddings, and
    a backbone with contrastive views of its own (SimGCL, XSimGCL) would have one of the two
    terms silently dropped, so both fail here."""
    if not cfg.align_weight:
        return cfg
    if cfg.inductive:
        raise ValueError("model.align_weight aligns ID-based embeddings with text; an "
                         "inductive text_gnn has no ID embeddings (set inductive=false)")
    if "cl_weight" in BACKBONES[cfg.backbone].defaults:
        raise ValueError(f"backbone {cfg.backbone!r} has contrastive views of its own; "
                         f"model.align_weight cannot be combined with it (use another "
                         f"backbone or align_weight=0)")
    return dataclasses.replace(cfg, cl_weight=cfg.align_weight,
                               cl_temperature=cfg.cl_temperature or ALIGN_TEMPERATURE)


@register_model("text_gnn", "ID embeddings fused with projected LM vectors (or text only "
                "with inductive), then any backbone", uses_text=True,
                defaults={"align_weight": 0.0})
def _text_gnn(cfg, num_users, num_items):
    return Recommender(with_alignment(cfg), num_users, num_items, use_id=not cfg.inductive,
                       use_text=True, backbone=cfg.backbone)


def drop_id_rows(params, user_ids=(), item_ids=()):
    """``params`` with the ID embedding rows of the given users/items set to zero: a held-out
    (cold) node has no ID of its own, as a new node's input is built
    (:meth:`Recommender.new_node_inputs`: zero ID, plus text where the model has it)."""
    ids = params["params"].get("id")
    if ids is None:
        return params
    ids = dict(ids)
    for kind, rows in (("user", user_ids), ("item", item_ids)):
        if len(rows):
            ids[kind] = {"embedding": ids[kind]["embedding"].at[jnp.asarray(rows)].set(0.0)}
    return {**params, "params": {**params["params"], "id": ids}}
