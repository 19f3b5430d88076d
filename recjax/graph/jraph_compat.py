"""The one module that touches jraph.

jraph 0.0.6.dev0 is unmaintained: its examples (and older helpers) call ``jax.tree_map``,
which current JAX removed. We use only the pieces below, which go through ``jax.tree_util``
and ``jax.ops`` and are tested against the pinned JAX in ``tests/graph/test_jraph_compat.py``.
If jraph breaks, this file is the only one to change.
"""

from __future__ import annotations

import jraph

GraphsTuple = jraph.GraphsTuple


def segment_sum(data, segment_ids, num_segments: int, indices_are_sorted: bool = False):
    return jraph.segment_sum(data, segment_ids, num_segments,
                             indices_are_sorted=indices_are_sorted)


def segment_max(data, segment_ids, num_segments: int, indices_are_sorted: bool = False):
    """Per-segment max; empty segments give 0 (not -inf, which would poison a softmax)."""
    return jraph.segment_max_or_constant(data, segment_ids, num_segments,
                                         indices_are_sorted=indices_are_sorted)
