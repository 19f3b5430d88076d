"""Graph encoders (backbones), one module each, registered by name in :data:`BACKBONES`.

A backbone maps layer-0 node inputs ``h0 [num_nodes, dim]`` to node embeddings: its
``layers`` method returns ``[h0, h1, ..., hK]`` and the base class combines them (see
:class:`recjax.models.backbones.base.Backbone`). To add one, write a module in this package
with a class decorated ``@register_backbone("name")`` and a ``conf/model/name.yaml`` holding
``name: name``: every module here is imported below, so nothing else changes. The new name
is then a model of its own (ID embeddings -> the backbone) and a ``backbone`` of ``text_gnn``.
"""

from __future__ import annotations

import importlib
import pkgutil

from recjax.models.backbones.base import BACKBONES, Backbone, register_backbone

# Explicit registration (the decorator) over the modules of this one package; importing them
# here is what puts their classes in BACKBONES.
for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["BACKBONES", "Backbone", "register_backbone"]
