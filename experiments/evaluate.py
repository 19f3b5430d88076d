"""``recjax-eval run_dir=<run>``: evaluate a run's best parameters on valid and test."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from experiments.apps import register_apps
from experiments.config import CONF_DIR, clean_errors

register_apps()


@hydra.main(config_path=CONF_DIR, config_name="evaluate", version_base="1.3")
@clean_errors("recjax-eval")
def main(cfg: DictConfig) -> None:
    from recjax.experiment import load_run
    from recjax.tables import format_table
    from recjax.train.loop import make_evaluator

    prepared, params = load_run(cfg.run_dir)
    c = prepared.cfg
    user_emb, item_emb = prepared.model.apply(params, prepared.graph, prepared.features)
    offset = prepared.model.apply(params, method=prepared.model.offset)
    evaluator = make_evaluator(prepared.split, c.train, c.eval)
    results = {part: evaluator(user_emb, item_emb, part, offset) for part in cfg.parts}
    names = sorted(next(iter(results.values())))
    rows = [(k, *(results[p].get(k, float("nan")) for p in cfg.parts)) for k in names]
    print(f"{c.model.name} on {c.data.name} ({cfg.run_dir})")
    print(format_table(rows, ["metric", *cfg.parts]))


if __name__ == "__main__":
    main()
