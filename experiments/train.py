"""``recjax-train experiment=ml100k_lightgcn``: train (or resume) one run per Hydra job."""

from __future__ import annotations

import os
import signal

import hydra
from omegaconf import DictConfig

from experiments.config import (
    CONF_DIR,
    clean_errors,
    configure_runtime,
    job_num,
    output_dir,
    register,
    to_experiment,
    write_hydra_outputs,
)

register()

KILL_VARIABLE = "RECJAX_KILL_AT_EPOCH"


def kill_switch():
    """Fault injection for the resume tests: with ``RECJAX_KILL_AT_EPOCH=n`` set, the process
    kills itself (SIGKILL, as a preempted job dies: nothing is flushed or closed) as soon as
    epoch n has been logged. Unset (always, outside tests), nothing happens."""
    at = os.environ.get(KILL_VARIABLE)
    if not at:
        return None

    def on_epoch(record):
        epoch = record["epoch"] if isinstance(record, dict) else record
        if epoch >= int(at):
            os.kill(os.getpid(), signal.SIGKILL)

    return on_epoch


@hydra.main(config_path=CONF_DIR, config_name="config", version_base="1.3")
@clean_errors("recjax-train")
def main(cfg: DictConfig) -> float:
    exp = to_experiment(cfg)
    configure_runtime(exp.parallel, job_num())
    if exp.parallel.distributed:
        write_hydra_outputs(cfg)  # Hydra wrote nothing; process 0 writes it now
    from recjax.experiment import train_run, train_vectorized_run, vectorized_values
    from recjax.tables import format_table

    run_dir = output_dir()
    on_epoch = kill_switch()
    if vectorized_values(exp):
        results, configs, _ = train_vectorized_run(exp, run_dir, on_epoch=on_epoch)
        keys = list(vectorized_values(exp))
        rows = [(i, *(getattr(c.train, k) for k in keys), r.best_epoch,
                 r.valid.get("ndcg@10", float("nan")), r.test.get("ndcg@10", float("nan")),
                 r.test.get("recall@20", float("nan")))
                for i, (c, r) in enumerate(zip(configs, results, strict=True))]
        print(f"\n{len(results)} configurations trained together in one program, "
              f"{results[0].timings['total']:.1f} s")
        print(format_table(rows, ["#", *keys, "best epoch", "valid ndcg@10", "test ndcg@10",
                                  "test recall@20"]))
        print(f"\nrun directory: {run_dir} (one config_<i>/ per configuration)")
        return max(r.valid.get(exp.train.select_metric, float("-inf")) for r in results)
    result, prepared = train_run(exp, run_dir, on_epoch=on_epoch)
    import jax

    if jax.process_index() != 0:  # one writer, one printer
        return float(result.valid.get(exp.train.select_metric, float("nan")))
    names = sorted(result.test, key=lambda k: (k.split("@")[0], int(k.split("@")[1]))
                   if "@" in k else (k, 0))
    rows = [(k, result.valid.get(k, float("nan")), result.test[k]) for k in names]
    print(f"\n{exp.model.name} on {exp.data.name}: best epoch {result.best_epoch} of "
          f"{len(result.history)}, {result.timings['total']:.1f} s")
    print(format_table(rows, ["metric", "valid", "test"]))
    if exp.run.show_recommendations:
        from recjax.recommend import Serving

        serving = Serving.from_prepared(prepared, result.params)
        user = prepared.dataset.id_maps.user_raw[0]
        print(f"\ntop {exp.run.show_recommendations} for user {user}:")
        print(serving.format(serving.for_user(user, exp.run.show_recommendations)))
    print(f"\nrun directory: {run_dir}")
    # The return value is what an Optuna sweep maximises.
    return float(result.valid.get(exp.train.select_metric, float("nan")))


if __name__ == "__main__":
    main()
