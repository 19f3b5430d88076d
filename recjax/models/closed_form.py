"""Non-iterative baselines in the model interface: ``pop``, ``itemknn`` and ``ease``.

They fit the dot-product scoring of every other model exactly: with ``X`` the binary train
matrix ``[num_users, num_items]`` read from the graph, ItemKNN and EASE score ``X @ B``, so
``user_emb = X`` and ``item_emb = B^T``; popularity scores ``1 * count``. Their one parameter
table is computed in a single solve from the train graph (:func:`solve`) instead of by epochs
of gradient steps; everything after that — checkpoints, evaluation, ``recjax-eval``,
``recjax-recommend`` (a new user with liked items is a new row of ``X``) — is shared.
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from recjax.graph import RecGraph
from recjax.models import closed_form_math as cfm
from recjax.models.recommender import Head
from recjax.models.registry import register_model
from recjax.models.towers import Features


def history_matrix(graph: RecGraph) -> jnp.ndarray:
    """The binary train matrix ``X [num_users, num_items]`` of ``graph`` (its user -> item
    edges), from the dense positives table when the graph keeps one."""
    if graph.positives is not None:
        return graph.positives.astype(jnp.float32)
    u = graph.num_users
    to_user = graph.receivers < u
    rows = jnp.where(to_user, graph.receivers, u)  # other edges land in a dropped row
    cols = jnp.clip(graph.senders - u, 0, graph.num_items - 1)
    x = jnp.zeros((u + 1, graph.num_items), jnp.float32).at[rows, cols].set(1.0)
    return x[:u]


class ClosedForm(nn.Module):
    """A closed-form scorer: ``kind`` is ``pop``, ``itemknn`` or ``ease``. Its parameter is
    ``params/item`` (``[num_items, 1]`` counts, or ``B^T [num_items, num_items]``)."""

    cfg: object
    num_users: int
    num_items: int
    kind: str = "ease"
    closed_form = True
    use_text = False
    use_id = False

    def setup(self):
        width = 1 if self.kind == "pop" else self.num_items
        self.item = self.param("item", nn.initializers.zeros, (self.num_items, width))
        self.head = Head()

    def _users(self, graph: RecGraph):
        if self.kind == "pop":
            return jnp.ones((graph.num_users, 1), jnp.float32)
        return history_matrix(graph)

    def __call__(self, graph: RecGraph, features: Features | None = None, train: bool = False,
                 views: bool = False):
        self.head()
        out = (self._users(graph), self.item)
        return (*out, None) if views else out

    def inputs_of(self, features: Features):
        return (jnp.zeros((self.num_users, 1), jnp.float32),
                jnp.zeros((self.num_items, 1), jnp.float32))

    def propagate(self, graph: RecGraph, users, items, train: bool = False):
        """Embeddings over any graph (e.g. with a new user's liked items as its edges)."""
        if graph.num_items != self.num_items:
            raise ValueError(f"{self.kind} cannot score items it was not fitted on (a new item "
                             f"has no column in its item-item weights)")
        return self._users(graph), self.item

    def isolated(self, graph: RecGraph, features: Features | None = None, train: bool = False):
        return jnp.zeros_like(self._users(graph)), self.item

    def new_node_inputs(self, text):
        return jnp.zeros((text.shape[0], 1), jnp.float32)

    def offset(self):
        return self.head()


def solve(model: ClosedForm, graph: RecGraph) -> dict:
    """The fitted parameters of ``model`` from the train graph (one solve)."""
    cfg = model.cfg
    x = history_matrix(graph)
    if model.kind == "pop":
        item = cfm.popularity(x)[:, None]
    else:
        cfm.check_fits(model.num_items, "EASE" if model.kind == "ease" else "ItemKNN")
        if model.kind == "ease":
            weights = cfm.ease_weights(x, cfg.ease_l2)
        else:
            weights = cfm.itemknn_weights(x, cfg.knn_neighbors, cfg.knn_shrink)
        item = weights.T
    return {"params": {"item": jnp.asarray(item, jnp.float32),
                       "head": {"bias": jnp.zeros((), jnp.float32)}}}


def _builder(kind: str):
    def build(cfg, num_users, num_items):
        return ClosedForm(cfg, num_users, num_items, kind)

    return build


register_model("pop", "popularity: the train interaction count of each item",
               closed_form=True, defaults={"backbone": "none"})(_builder("pop"))
register_model("itemknn", "item-based kNN: cosine similarity, knn_neighbors per item, "
               "knn_shrink (RecBole's ItemKNN)", closed_form=True,
               defaults={"backbone": "none"})(_builder("itemknn"))
register_model("ease", "EASE (Steck, 2019): closed-form item-item weights with L2 ease_l2 "
               "and a zero diagonal", closed_form=True,
               defaults={"backbone": "none"})(_builder("ease"))

__all__ = ["ClosedForm", "history_matrix", "solve"]
