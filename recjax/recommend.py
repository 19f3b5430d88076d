"""Top-K recommendations from a trained run, for known users and for new users and items.

The scoring path is evaluation's (:func:`recjax.eval.ranking.top_k`): dot products of the
model's embeddings with seen items masked. New nodes are embedded inductively: their layer-0
input is the model's text projection of their text (zero for ID-only models), and a new user
who names liked items is added to the train graph with those edges, so the same graph encoder
propagates their neighbourhood into them.

A new user's text is also matched word for word against the item texts (BM25 over words and
CJK bigrams, :mod:`recjax.text.lexical`) and the two scores fused, ``z(model) + w *
bm25 / max(bm25)`` (the best match adds ``lexical_weight`` w standard deviations of the
model's scores, default 4; 0 turns it off): a dense encoder that cannot read the
user's language still misses nothing the texts share verbatim. Known users and the model's
own metrics never use this channel.

A run with an end-to-end text tower (``model.text_tower`` ``top_k`` or ``lora``) encodes new
texts with its fine-tuned encoder: the pretrained lower layers, then the checkpoint's top
layers and pooling; the text similarities in the reasons use the same fine-tuned vectors.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from recjax.eval.ranking import top_k
from recjax.experiment import Prepared, load_run
from recjax.graph import build_graph, item_item_edges
from recjax.models import Features, uses_text
from recjax.tables import format_table
from recjax.types import Interactions


@dataclass(frozen=True)
class Recommendation:
    item: str
    title: str
    score: float
    reason: str


def _unit(x):
    x = np.asarray(x, np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


# Chosen on the shipped bilingual example only (benchmarks/bilingual_check.py: most top-3 hits,
# then the lowest mean rank); checked on two catalogues written apart from it.
LEXICAL_WEIGHT = 4.0
LEXICAL_K1 = 0.5


class Serving:
    """A trained model ready to recommend: embeddings computed once, ids and titles mapped.

    ``lexical_weight`` / ``lexical_k1``: the BM25 channel fused into :meth:`for_text` (see the
    module docstring)."""

    def __init__(self, prepared: Prepared, params, lexical_weight: float = LEXICAL_WEIGHT,
                 lexical_k1: float = LEXICAL_K1):
        if lexical_weight < 0:
            raise ValueError(f"lexical_weight must be >= 0, got {lexical_weight}")
        self.p, self.params = prepared, params
        self.lexical_weight, self.lexical_k1 = float(lexical_weight), float(lexical_k1)
        self._bm25 = None
        m = prepared.model
        self.user_emb, self.item_emb = jax.jit(
            lambda prm: m.apply(prm, prepared.graph, prepared.features))(params)
        sp = prepared.split
        self.seen = [sp.train, sp.valid, sp.test]
        ds = prepared.dataset
        self.ids = ds.id_maps
        titles = ds.item_features.get("title")
        self.titles = ([str(t) or f"item {r}" for t, r in zip(titles, self.ids.item_raw)]
                       if titles is not None else [f"item {r}" for r in self.ids.item_raw])
        self._item_unit = _unit(self.item_emb)
        self._tokens = getattr(prepared.features, "text_tokens", None)
        self.item_text = prepared.item_text
        if self._tokens is not None:
            vectors = m.apply(params, self._tokens, method=m.text_vectors)
            self.item_text = np.asarray(vectors[: self._tokens.num_items])

    @classmethod
    def from_prepared(cls, prepared: Prepared, params, **lexical) -> Serving:
        return cls(prepared, params, **lexical)

    @classmethod
    def from_run(cls, run_dir: str | Path, progress: bool | None = None,
                 **lexical) -> Serving:
        return cls(*load_run(run_dir, progress), **lexical)

    def lexical_scores(self, text: str) -> np.ndarray:
        """BM25 of ``text`` against every item's text (the run's item template)."""
        if self._bm25 is None:
            from recjax.text.features import item_texts
            from recjax.text.lexical import BM25

            self._bm25 = BM25(item_texts(self.p.dataset, self.p.cfg.text), k1=self.lexical_k1)
        return self._bm25.scores(text)

    @property
    def num_items(self) -> int:
        return self.ids.num_items

    def _check_k(self, k: int) -> None:
        if not 1 <= k <= self.num_items:
            raise ValueError(f"k={k} must be between 1 and the catalogue size "
                             f"({self.num_items} items)")

    def _history(self, user: int) -> np.ndarray:
        return self.p.split.train.item_ids[self.p.split.train.user_ids == user]

    def _because(self, item: int, liked: np.ndarray) -> str:
        if len(liked) == 0:
            return ""
        sims = self._item_unit[liked] @ self._item_unit[item]
        j = int(liked[int(np.argmax(sims))])
        return f"like {self.titles[j]} (cos {float(sims.max()):.2f})"

    def for_user(self, user: str, k: int = 10) -> list[Recommendation]:
        """Top ``k`` for a known user (raw id); every item the user has rated is excluded."""
        self._check_k(k)
        u = self.ids.user_index(str(user))
        items, scores = top_k(self.user_emb, self.item_emb, np.array([u]), self.seen, k)
        liked = self._history(u)
        return [Recommendation(str(self.ids.item_raw[i]), self.titles[i], float(s),
                               self._because(int(i), liked))
                for i, s in zip(items[0], scores[0], strict=True)]

    def _encode(self, texts: list[str]) -> np.ndarray:
        """LM vectors of new texts: the frozen encoder's, or the fine-tuned one's."""
        if self._tokens is not None:
            from recjax.text.tokens import new_token_states

            t, m = self.p.cfg.text, self.p.model
            states = new_token_states(self._tokens, texts, t.checkpoint, t.max_length,
                                      t.pack_widths)
            return np.asarray(m.apply(self.params, states, method=m.text_vectors))
        from recjax.text.features import encode

        return encode(texts, self.p.cfg.text, cache=False)

    def _new_inputs(self, texts: list[str] | None, n: int):
        m = self.p.model
        if uses_text(m):
            vecs = jnp.asarray(self._encode(texts))
        else:
            vecs = jnp.zeros((n, 0), jnp.float32)
        return m.apply(self.params, vecs, method=m.new_node_inputs)

    def embed_new_user(self, text: str | None = None, liked: Sequence[str] = ()) -> np.ndarray:
        """The embedding of a user the model never saw, from text and/or liked items."""
        text = (text or "").strip()
        if not text and not liked:
            raise ValueError("a new user needs a text (e.g. 'I like travel and photography') "
                             "or liked items")
        m = self.p.model
        if text and not uses_text(m) and not liked:
            raise ValueError(f"model {self.p.cfg.model.name!r} has no text tower: it cannot "
                             f"embed a user from text alone; give liked items or use a "
                             f"text_gnn run")
        liked_ids = self.ids.item_index([str(x) for x in liked]) if liked else np.zeros(0, int)
        h_new = self._new_inputs([text] if uses_text(m) else None, 1)
        train = self.p.split.train
        n_users = train.num_users + 1
        extra = Interactions(np.full(len(liked_ids), n_users - 1, np.int32),
                             np.asarray(liked_ids, np.int32),
                             np.full(len(liked_ids), 5.0, np.float32),
                             np.full(len(liked_ids), train.timestamps.max(initial=0) + 1.0),
                             np.zeros(len(liked_ids), np.int32), n_users, train.num_items)
        grown = Interactions.concat([Interactions(*(getattr(train, f) for f in (
            "user_ids", "item_ids", "ratings", "timestamps", "behaviors")), n_users,
            train.num_items), extra])
        graph = build_graph(grown, self.p.cfg.model.relation, dense_limit=0,
                            item_edges=item_item_edges(self.p.graph))
        users0, items0 = m.apply(self.params, self.p.features or Features(), method=m.inputs_of)
        users0 = jnp.concatenate([users0, h_new], axis=0)
        user_emb, _ = m.apply(self.params, graph, users0, items0, method=m.propagate)
        return np.asarray(user_emb[-1])

    def for_text(self, text: str | None = None, k: int = 10, liked: Sequence[str] = ()
                 ) -> list[Recommendation]:
        """Top ``k`` for a new user described by ``text`` and/or ``liked`` raw item ids.

        ``score``: the model's dot product, or, when ``text`` is given to a text model and
        the lexical channel is on, the fused score (``recjax.text.lexical.fuse``)."""
        self._check_k(k)
        vec = self.embed_new_user(text, liked)
        liked_ids = self.ids.item_index([str(x) for x in liked]) if liked else np.zeros(0, int)
        scores = np.asarray(self.item_emb) @ vec
        scores[liked_ids] = -np.inf
        shared = None
        if text and text.strip() and self.lexical_weight > 0 and uses_text(self.p.model):
            from recjax.text.lexical import fuse

            lexical = self.lexical_scores(text)
            scores = fuse(scores, lexical, self.lexical_weight)
            shared = lexical > 0
        order = np.argsort(-scores, kind="stable")[:k]
        text_sims = None
        if text and self.item_text is not None:
            text_sims = _unit(self.item_text) @ _unit(self._encode([text]))[0]
        recs = []
        for i in order:
            reason = self._because(int(i), np.asarray(liked_ids))
            if not reason and text_sims is not None:
                reason = f"close to your text (cos {float(text_sims[i]):.2f})"
                if shared is not None and shared[i]:
                    reason += "; shares words with it"
            recs.append(Recommendation(str(self.ids.item_raw[i]), self.titles[i],
                                       float(scores[i]), reason))
        return recs

    def for_new_item(self, text: str, k: int = 10) -> tuple[list[tuple[str, float]],
                                                            list[Recommendation]]:
        """For an item described by ``text``: the ``k`` users to show it to, and the ``k``
        known items closest to it in the text encoder's space."""
        text = (text or "").strip()
        if not text:
            raise ValueError("a new item needs a non-empty text")
        m = self.p.model
        if not uses_text(m):
            raise ValueError(f"model {self.p.cfg.model.name!r} has no text tower: a new item "
                             f"can only be embedded from text by a text_gnn run")
        self._check_k(k)
        h_new = self._new_inputs([text], 1)
        train = self.p.split.train
        grown = Interactions(train.user_ids, train.item_ids, train.ratings, train.timestamps,
                             train.behaviors, train.num_users, train.num_items + 1)
        graph = build_graph(grown, self.p.cfg.model.relation, dense_limit=0,
                            item_edges=item_item_edges(self.p.graph))
        users0, items0 = m.apply(self.params, self.p.features or Features(), method=m.inputs_of)
        _, item_emb = m.apply(self.params, graph, users0, jnp.concatenate([items0, h_new]),
                              method=m.propagate)
        scores = np.asarray(self.user_emb) @ np.asarray(item_emb[-1])
        top_users = np.argsort(-scores, kind="stable")[: min(k, len(scores))]
        users = [(str(self.ids.user_raw[u]), float(scores[u])) for u in top_users]
        sims = _unit(self.item_text) @ _unit(self._encode([text]))[0]
        close = np.argsort(-sims, kind="stable")[:k]
        items = [Recommendation(str(self.ids.item_raw[i]), self.titles[i], float(sims[i]),
                                "text similarity") for i in close]
        return users, items

    def all_users(self, k: int, path: str | Path) -> int:
        """Top ``k`` for every known user into ``path`` (``.csv`` or ``.jsonl``); rows written."""
        self._check_k(k)
        path = Path(path)
        users = np.arange(self.ids.num_users)
        items, scores = top_k(self.user_emb, self.item_emb, users, self.seen, k)
        rows = [{"user": str(self.ids.user_raw[u]), "rank": r + 1,
                 "item": str(self.ids.item_raw[items[u, r]]), "title": self.titles[items[u, r]],
                 "score": float(scores[u, r])} for u in users for r in range(k)]
        tmp = path.with_name(path.name + ".tmp")
        if path.suffix == ".jsonl":
            tmp.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
        elif path.suffix == ".csv":
            with open(tmp, "w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=list(rows[0]))
                w.writeheader()
                w.writerows(rows)
        else:
            raise ValueError(f"{path}: write .csv or .jsonl")
        tmp.replace(path)
        return len(rows)

    @staticmethod
    def format(recs: Sequence[Recommendation]) -> str:
        rows = [(n + 1, r.item, r.title[:60], f"{r.score:.3f}", r.reason[:70])
                for n, r in enumerate(recs)]
        return format_table(rows, ["rank", "item", "title", "score", "why"])
