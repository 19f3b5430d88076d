"""``recjax-recommend run_dir=<run> user=196 k=10`` (or ``text="..."``, ``liked=[...]``,
``item_text="..."``, ``batch=out.csv``): recommendations from a trained run."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from experiments.apps import register_apps
from experiments.config import CONF_DIR, clean_errors

register_apps()


@hydra.main(config_path=CONF_DIR, config_name="recommend", version_base="1.3")
@clean_errors("recjax-recommend")
def main(cfg: DictConfig) -> None:
    modes = [m for m in ("user", "text", "item_text", "batch") if cfg.get(m)]
    if cfg.liked and "text" not in modes:
        modes.append("text")
    if len(modes) != 1:
        raise ValueError("say what to recommend for with exactly one of user=<id>, "
                         "text=\"...\" (optionally with liked=[ids]), item_text=\"...\", "
                         "batch=<file.csv|file.jsonl>")
    from recjax.recommend import Serving

    serving = Serving.from_run(cfg.run_dir)
    mode = modes[0]
    if mode == "user":
        recs = serving.for_user(cfg.user, cfg.k)
        print(f"top {cfg.k} for user {cfg.user}:")
        print(Serving.format(recs))
    elif mode == "text":
        recs = serving.for_text(cfg.text, cfg.k, list(cfg.liked))
        print(f"top {cfg.k} for a new user: {cfg.text or ''!r}"
              + (f", liked {list(cfg.liked)}" if cfg.liked else ""))
        print(Serving.format(recs))
    elif mode == "item_text":
        users, items = serving.for_new_item(cfg.item_text, cfg.k)
        print(f"a new item: {cfg.item_text!r}\nshow it to users: "
              + ", ".join(f"{u} ({s:.2f})" for u, s in users))
        print("closest known items:")
        print(Serving.format(items))
    else:
        n = serving.all_users(cfg.k, cfg.batch)
        print(f"wrote {n:,} recommendations ({cfg.k} per user) to {cfg.batch}")


if __name__ == "__main__":
    main()
