"""A lexical channel beside the dense text vectors: Okapi BM25 over words and CJK bigrams.

A dense encoder only knows the languages it was trained on (all-MiniLM-L6-v2 saw almost no
Chinese), while a query and an item description often share exact words: "我喜欢阅读、旅行和
摄影" and a book described as "一本关于旅行的摄影艺术书籍" share 旅行 and 摄影 verbatim.
BM25 scores that overlap in any script, needs no training and no download, and is fused with
the model's scores by :func:`fuse`.

Terms (:func:`terms`): text is NFKC-normalised and lower-cased; runs of CJK characters
(Han, kana, hangul) give their character bigrams (a one-character run gives itself), other
runs of letters and digits give the word, and words of six or more letters also a prefix term
``word[:5] + "*"`` (a poor man's stemmer: travel / travelling / traveller, photography /
photographer). A short English stop list is dropped.

Scores (:class:`BM25`): ``sum_t idf(t) * tf(t, d) * (k1 + 1) / (tf(t, d) + k1 * (1 - b + b *
|d| / avgdl))`` over the query's distinct terms, with ``idf(t) = ln(1 + (N - n_t + 0.5) /
(n_t + 0.5))`` (Lucene's non-negative form). Postings are numpy arrays, so a query costs
time proportional to the postings of its terms, not to the catalogue.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence

import numpy as np

CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]+")
# A run is all CJK or all other letters/digits, split at script boundaries ("2024年旅行" is
# "2024" and "年旅行").
RUN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]+"
                 r"|[^\W_\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]+")
STOP = frozenset("""a an and are as at be but by for from has have i i'm in is it its like
love me my of on or our so that the their this to too very was we with you your""".split())
PREFIX = 5


def terms(text: str) -> list[str]:
    """The BM25 terms of ``text`` (see the module docstring), in order, with repeats."""
    out: list[str] = []
    for run in RUN.findall(unicodedata.normalize("NFKC", text or "").lower()):
        if CJK.fullmatch(run):
            out.extend([run] if len(run) == 1 else [run[i:i + 2] for i in range(len(run) - 1)])
        elif run not in STOP:
            out.append(run)
            if len(run) > PREFIX and not run.isdigit():
                out.append(run[:PREFIX] + "*")
    return out


class BM25:
    """Okapi BM25 over a fixed list of documents (e.g. the catalogue's item texts)."""

    def __init__(self, docs: Sequence[str], k1: float = 1.2, b: float = 0.75):
        if k1 < 0 or not 0 <= b <= 1:
            raise ValueError(f"BM25 needs k1 >= 0 and 0 <= b <= 1, got k1={k1}, b={b}")
        self.k1, self.b, self.num_docs = float(k1), float(b), len(docs)
        counts = [Counter(terms(d)) for d in docs]
        lengths = np.array([sum(c.values()) for c in counts], np.float64)
        self.avgdl = float(lengths.mean()) if len(docs) and lengths.mean() > 0 else 1.0
        postings: dict[str, list[tuple[int, int]]] = {}
        for d, c in enumerate(counts):
            for t, n in c.items():
                postings.setdefault(t, []).append((d, n))
        norm = k1 * (1 - b + b * lengths / self.avgdl)
        self._postings = {}
        for t, rows in postings.items():
            ids = np.fromiter((d for d, _ in rows), np.int64, len(rows))
            tf = np.fromiter((n for _, n in rows), np.float64, len(rows))
            idf = np.log1p((self.num_docs - len(rows) + 0.5) / (len(rows) + 0.5))
            self._postings[t] = (ids, idf * tf * (k1 + 1) / (tf + norm[ids]))

    def scores(self, query: str) -> np.ndarray:
        """BM25 of ``query`` against every document, float64 ``[num_docs]`` (0 = no term in
        common)."""
        out = np.zeros(self.num_docs, np.float64)
        for t in set(terms(query)):
            if t in self._postings:
                ids, contrib = self._postings[t]
                out[ids] += contrib
        return out


def fuse(dense: np.ndarray, lexical: np.ndarray, weight: float) -> np.ndarray:
    """``z(dense) + weight * lexical / max(lexical)``: the model's scores standardised over the
    candidates (finite entries only), plus the lexical score scaled so that the best match
    adds ``weight`` standard deviations of the model's scores, whatever the catalogue size
    (a z-score of a sparse lexical channel grows like sqrt(#items) and would let one weak
    match outrank everything on a large catalogue). ``-inf`` stays ``-inf`` (excluded items
    stay excluded); no lexical match leaves the model's order as it is."""
    if weight < 0:
        raise ValueError(f"lexical weight must be >= 0, got {weight}")
    dense = np.asarray(dense, np.float64)
    lexical = np.asarray(lexical, np.float64)
    if dense.shape != lexical.shape:
        raise ValueError(f"dense scores {dense.shape} and lexical scores {lexical.shape} "
                         f"must have the same shape")
    if np.isnan(dense).any() or not np.isfinite(lexical).all():
        raise ValueError("scores to fuse must not be NaN (and lexical scores finite)")
    finite = np.isfinite(dense)
    v = dense[finite]
    sd = v.std() if v.size else 0.0
    z = np.where(finite, (dense - v.mean()) / sd, 0.0) if sd > 0 else np.zeros_like(dense)
    top = lexical[finite].max(initial=0.0)
    lex = lexical / top if top > 0 else np.zeros_like(lexical)
    return np.where(finite, z + weight * lex, -np.inf)
