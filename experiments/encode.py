"""``recjax-encode [data=ml100k] [text=minilm] [out=<dir>]``: encode a dataset's item and user
texts with the configured checkpoint (vectors cached) and report counts, time, cache hits."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig, OmegaConf

from experiments.apps import register_apps
from experiments.config import CONF_DIR, clean_errors

register_apps()


@hydra.main(config_path=CONF_DIR, config_name="encode", version_base="1.3")
@clean_errors("recjax-encode")
def main(cfg: DictConfig) -> None:
    from pathlib import Path

    import numpy as np

    from recjax.config.io import from_dict
    from recjax.config.schema import DataConfig, TextConfig
    from recjax.data.datasets import load
    from recjax.tables import format_table
    from recjax.text.features import encode, item_texts, user_texts

    data = from_dict(DataConfig, OmegaConf.to_container(cfg.data, resolve=True))
    text = from_dict(TextConfig, OmegaConf.to_container(cfg.text, resolve=True))
    dataset, _ = load(data)
    rows, results = [], {}
    for part, texts, template in (("items", item_texts(dataset, text), text.item_template),
                                  ("users", user_texts(dataset, text), text.user_template)):
        vectors, stats = encode(texts, text, template, return_stats=True)
        results[part] = vectors
        rate = "-" if stats.cache_hit else f"{stats.num_texts / stats.seconds:,.0f}"
        rows.append((part, len(texts), sum(1 for t in texts if not t), vectors.shape[1],
                     "hit" if stats.cache_hit else "miss", f"{stats.seconds:.2f}", rate,
                     texts[0][:48]))
    print(f"dataset {dataset.name}, checkpoint {text.checkpoint}")
    print(format_table(rows, ["texts", "count", "empty", "dim", "cache", "seconds", "texts/s",
                              "first text"]))
    print("(seconds include loading and compiling; benchmarks/text_encode.py separates them)")
    if cfg.out:
        out = Path(cfg.out)
        out.mkdir(parents=True, exist_ok=True)
        for part, vectors in results.items():
            np.save(out / f"{part}.npy", vectors)
        print(f"saved {out / 'items.npy'} and {out / 'users.npy'}")


if __name__ == "__main__":
    main()
