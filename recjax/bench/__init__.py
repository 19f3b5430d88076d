"""Benchmark suites: models × split seeds × training seeds, and the leaderboard they make.

A suite (``conf/bench/suite/*.yaml``) lists entries, each an experiment with overrides and a
display name, some marked as baselines. :func:`expand` turns it into one :class:`Job` per run,
each with its own directory ``<out>/<entry>/split<seed>/train<seed>/``; a directory holding
``metrics.json`` is a finished run and is never trained again, which is how a half-finished
suite resumes. :func:`load_runs` reads the directories back, :func:`leaderboard` aggregates
them (pure) and :func:`write_leaderboard` writes ``leaderboard.{md,csv,png}``.

Rows are ordered by the mean *validation* metric, and the best baseline is chosen on
validation too: the test metric is shown, never used to choose. Each model is compared with
the best baseline by a paired t-test over the split seeds both have (per split seed, the mean
over training seeds), since the split is what the two runs share.
"""

from recjax.bench.leaderboard import (
    Row,
    leaderboard,
    load_runs,
    read_run,
    seconds_per_epoch,
    verdict,
    write_leaderboard,
)
from recjax.bench.stats import betainc, mean_std, paired_t_test, t_two_sided_p
from recjax.bench.suite import (
    BENCH_FILE,
    Job,
    Suite,
    SuiteEntry,
    drop_unfinished_solve,
    expand,
    git_commit,
    is_finished,
    run_job,
)

__all__ = ["BENCH_FILE", "Job", "Row", "Suite", "SuiteEntry", "betainc", "drop_unfinished_solve",
           "expand", "git_commit", "is_finished", "leaderboard", "load_runs", "mean_std",
           "paired_t_test", "read_run", "run_job", "seconds_per_epoch", "t_two_sided_p",
           "verdict", "write_leaderboard"]
