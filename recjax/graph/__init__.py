"""The user-item graph and message passing over it. This package is the only place that
imports jraph (see :mod:`recjax.graph.jraph_compat`)."""

from recjax.graph.build import (
    RecGraph,
    build_graph,
    item_item_edges,
    item_nodes,
    text_knn_edges,
)
from recjax.graph.ops import PROPAGATIONS, propagate, receiver_max

__all__ = ["PROPAGATIONS", "RecGraph", "build_graph", "item_item_edges", "item_nodes",
           "propagate", "receiver_max", "text_knn_edges"]
