"""The registry of named models: ``MODELS[name]`` builds a model from a ``ModelConfig``.

Every registered backbone (:data:`recjax.models.backbones.BACKBONES`) is also a model of its
own name (ID embeddings -> that backbone), so a new backbone needs no entry here. Models
declare what they read: ``uses_text`` (the text tower needs LM vectors) and ``closed_form``
(fitted in one solve from the train graph instead of by epochs of gradient steps).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from recjax.config.schema import ModelConfig
from recjax.models.backbones import BACKBONES


@dataclass(frozen=True)
class ModelSpec:
    """How to build one named model, and what it needs."""

    build: Callable  # (cfg: ModelConfig, num_users, num_items) -> module
    description: str = ""
    uses_text: bool = False
    closed_form: bool = False
    defaults: dict = dataclasses.field(default_factory=dict)


MODELS: dict[str, ModelSpec] = {}


def register_model(name: str, description: str = "", uses_text: bool = False,
                   closed_form: bool = False, defaults: dict | None = None):
    """Decorator over a builder ``(cfg, num_users, num_items) -> module``."""

    def add(build):
        if name in MODELS:
            raise ValueError(f"model {name!r} is registered twice")
        MODELS[name] = ModelSpec(build, description, uses_text, closed_form, defaults or {})
        return build

    return add


def model_spec(name: str) -> ModelSpec:
    if name in MODELS:
        return MODELS[name]
    if name in BACKBONES and name != "none":
        from recjax.models.recommender import Recommender

        def build(cfg, num_users, num_items):
            return Recommender(cfg, num_users, num_items, use_id=True, use_text=False,
                               backbone=name)

        return ModelSpec(build, BACKBONES[name].__doc__ or "")
    raise KeyError(f"unknown model {name!r}; valid models: {model_names()}")


def model_names() -> list[str]:
    """Every buildable model: the registered ones and each backbone except ``none`` (which
    is ``mf``)."""
    return sorted(set(MODELS) | (set(BACKBONES) - {"none"}))


def backbone_of(cfg: ModelConfig) -> str:
    """The backbone a config propagates with: the model's own (``lightgcn`` ...), ``none``
    for MF and closed-form models, ``cfg.backbone`` for text models."""
    spec = model_spec(cfg.name)
    if cfg.name in BACKBONES:
        return cfg.name
    return spec.defaults.get("backbone", cfg.backbone)


def resolve_config(cfg: ModelConfig) -> ModelConfig:
    """``cfg`` with every ``None`` field set to the model's (then its backbone's) default."""
    spec = model_spec(cfg.name)
    backbone = backbone_of(cfg)
    if backbone not in BACKBONES:
        raise KeyError(f"unknown backbone {backbone!r}; valid backbones: {sorted(BACKBONES)}")
    defaults = {**BACKBONES[backbone].defaults, **spec.defaults, "backbone": backbone}
    fills = {f.name: defaults[f.name] for f in dataclasses.fields(cfg)
             if getattr(cfg, f.name) is None and f.name in defaults}
    if cfg.align_weight and not spec.uses_text:
        raise ValueError(f"model.align_weight aligns text with behaviour; model {cfg.name!r} "
                         f"reads no text (use text_gnn)")
    return dataclasses.replace(cfg, backbone=backbone, **fills)


def build_model(cfg: ModelConfig, num_users: int, num_items: int):
    """The model named ``cfg.name`` with its defaults filled; an unknown name lists the
    valid ones."""
    return model_spec(cfg.name).build(resolve_config(cfg), num_users, num_items)


def uses_text(model) -> bool:
    return bool(getattr(model, "use_text", False))


def is_closed_form(model) -> bool:
    return bool(getattr(model, "closed_form", False))
