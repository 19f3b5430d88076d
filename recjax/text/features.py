"""Dataset -> text feature matrices: ``p = LM(x_p)`` for items and ``u = LM(x_u)`` for users."""

from __future__ import annotations

import numpy as np

from recjax.config.schema import TextConfig
from recjax.text.encode import encode_texts
from recjax.text.templates import render
from recjax.types import Dataset


def item_texts(dataset: Dataset, cfg: TextConfig = TextConfig()) -> list[str]:
    return render(cfg.item_template, dataset.item_features, dataset.num_items)


def user_texts(dataset: Dataset, cfg: TextConfig = TextConfig()) -> list[str]:
    return render(cfg.user_template, dataset.user_features, dataset.num_users)


def encode(texts: list[str], cfg: TextConfig, template: str = "", **kw) -> np.ndarray:
    """``encode_texts`` with every setting taken from ``cfg`` (``kw`` overrides, e.g.
    ``cache=False`` for one-off query texts)."""
    settings = dict(batch_tokens=cfg.batch_tokens, packing=cfg.packing,
                    pack_widths=cfg.pack_widths, pooling=cfg.pooling, normalize=cfg.normalize,
                    dtype=cfg.dtype, max_length=cfg.max_length, template=template,
                    cache=cfg.cache)
    return encode_texts(texts, cfg.checkpoint, **{**settings, **kw})


def text_features(dataset: Dataset, cfg: TextConfig = TextConfig(), progress=None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Item and user vectors, float32 ``[num_items, dim]`` and ``[num_users, dim]``, cached."""
    items = encode(item_texts(dataset, cfg), cfg, cfg.item_template, progress=progress)
    users = encode(user_texts(dataset, cfg), cfg, cfg.user_template, progress=progress)
    return items, users
