"""Text features: tokenizer, Flax BERT, weight loading, templates, batched cached encoding.

``from recjax.text import encode_texts`` is the public entry point. It is resolved on first
use (PEP 562), so ``import recjax.text`` or ``recjax.text.templates`` stays free of JAX and
Flax, and the submodules can import each other without a cycle through this package.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from recjax.text.encode import EncodeStats, TextEncoder, encode_texts, load_encoder

__all__ = ["EncodeStats", "TextEncoder", "encode_texts", "load_encoder"]
_LAZY = dict.fromkeys(__all__, "recjax.text.encode")


def __getattr__(name: str):
    # Unknown names must raise AttributeError: ``from recjax.text import cache`` asks here
    # first and falls back to importing the submodule.
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
