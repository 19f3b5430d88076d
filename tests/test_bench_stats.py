"""The bench's statistics (Student t, paired test) on textbook values, and the leaderboard on
synthetic run directories worked out by hand."""

import csv
import json
import math

import pytest

from recjax.bench import (
    Suite,
    SuiteEntry,
    betainc,
    expand,
    leaderboard,
    load_runs,
    paired_t_test,
    t_two_sided_p,
    write_leaderboard,
)

# Two-sided critical values from printed t tables: P(|T| >= t) = p.
T_TABLE = [(12.7062047, 1, 0.05), (2.9199856, 2, 0.10), (2.7764451, 4, 0.05),
           (2.2281389, 10, 0.05), (2.7499956, 30, 0.01), (1.9599640, 1e9, 0.05)]


@pytest.mark.parametrize("t, df, p", T_TABLE)
def test_t_p_value_matches_tables(t, df, p):
    assert t_two_sided_p(t, df) == pytest.approx(p, abs=1e-6)
    assert t_two_sided_p(-t, df) == pytest.approx(p, abs=1e-6)


def test_t_p_value_closed_forms():
    # df = 1 is Cauchy: p = 1 - 2 atan(|t|) / pi; df = 2: p = 1 - |t| / sqrt(2 + t^2).
    for t in (0.1, 1.0, 3.0, 40.0):
        assert t_two_sided_p(t, 1) == pytest.approx(1 - 2 * math.atan(t) / math.pi, abs=1e-12)
        assert t_two_sided_p(t, 2) == pytest.approx(1 - t / math.sqrt(2 + t * t), abs=1e-12)
    assert t_two_sided_p(0.0, 5) == 1.0
    assert t_two_sided_p(math.inf, 5) == 0.0


def test_betainc_special_cases():
    for x in (0.0, 0.2, 0.5, 0.9, 1.0):
        assert betainc(1, 1, x) == pytest.approx(x, abs=1e-12)
        assert betainc(3, 1, x) == pytest.approx(x**3, abs=1e-12)
        assert betainc(2.5, 4, x) == pytest.approx(1 - betainc(4, 2.5, 1 - x), abs=1e-12)


def test_paired_t_test_by_hand():
    # d = [1, 2, 3, 4]: mean 2.5, sd sqrt(5/3), t = 2.5 / (sd / 2) = sqrt(15), df 3.
    t, p = paired_t_test([1, 2, 3, 4], [0, 0, 0, 0])
    assert t == pytest.approx(math.sqrt(15), rel=1e-12)
    assert p == pytest.approx(0.030466, abs=1e-4)  # t table, df 3
    # Pairing matters: a constant offset plus noise shared by both is detected.
    t, p = paired_t_test([0.31, 0.29, 0.35, 0.30, 0.33], [0.30, 0.30, 0.31, 0.29, 0.30])
    assert t == pytest.approx(1.8353259, abs=1e-6) and p == pytest.approx(0.140357, abs=1e-4)


def test_paired_t_test_degenerate():
    assert all(math.isnan(v) for v in paired_t_test([0.3], [0.2]))
    assert paired_t_test([3.0, 4.0], [2.0, 3.0]) == (math.inf, 0.0)
    t, p = paired_t_test([0.3, 0.4], [0.3, 0.4])
    assert math.isnan(t) and p == 1.0
    with pytest.raises(ValueError):
        paired_t_test([1, 2], [1])


def test_against_scipy_when_installed():
    stats = pytest.importorskip("scipy.stats")
    import numpy as np

    rng = np.random.default_rng(0)
    for n in (2, 3, 5, 12):
        a, b = rng.normal(size=n), rng.normal(size=n) + 0.3
        ref = stats.ttest_rel(a, b)
        t, p = paired_t_test(list(a), list(b))
        assert t == pytest.approx(ref.statistic, rel=1e-10)
        assert p == pytest.approx(ref.pvalue, abs=1e-10)


SUITE = Suite(name="toy", split_seeds=(1, 2, 3), train_seeds=(0, 1), entries=(
    SuiteEntry("pop", "smoke", ("model=pop",), baseline=True),
    SuiteEntry("ease", "smoke", ("model=ease",), baseline=True),
    SuiteEntry("gnn", "smoke", ("model=lightgcn",)),
))

# valid, test ndcg@10 per (entry, split seed); training seeds add +-0.01 on test.
SCORES = {"pop": {1: (0.10, 0.11), 2: (0.12, 0.10), 3: (0.11, 0.12)},
          "ease": {1: (0.30, 0.31), 2: (0.32, 0.30), 3: (0.31, 0.29)},
          "gnn": {1: (0.25, 0.33), 2: (0.27, 0.35), 3: (0.26, 0.34)}}


def make_runs(root, skip=()):
    for job in expand(SUITE):
        if (job.entry, job.split_seed, job.train_seed) in skip:
            continue
        d = root / job.rel_dir
        d.mkdir(parents=True)
        valid, test = SCORES[job.entry][job.split_seed]
        test += 0.01 if job.train_seed else -0.01
        epochs = 1 if job.entry != "gnn" else 5
        (d / "metrics.json").write_text(json.dumps({
            "valid": {"ndcg@10": valid}, "test": {"ndcg@10": test, "recall@20": 2 * test}}))
        (d / "run.json").write_text(json.dumps({
            "status": "finished", "epochs": epochs, "best_epoch": min(3, epochs),
            "seeds": {"split": job.split_seed, "train": job.train_seed},
            "timings": {"first_epoch": 3.0, "train": 3.0 + 0.5 * (epochs - 1), "total": 9.0},
            "parameters": {"id": {"trainable": 100, "frozen": 0},
                           "head": {"trainable": 1, "frozen": 0},
                           "text": {"trainable": 10, "frozen": 1000}}}))
        (d / "metrics.jsonl").write_text("".join(
            json.dumps({"epoch": e, "train_seconds": 1.0, "eval_seconds": 0.5}) + "\n"
            for e in range(1, epochs + 1)))
        (d / "bench.json").write_text(json.dumps({"peak_rss_mb": 100.0 + job.split_seed,
                                                  "commit": "abc"}))


def test_expand_dirs_and_overrides():
    jobs = expand(SUITE, only=["gnn"])
    assert [j.rel_dir for j in jobs][:2] == ["gnn/split1/train0", "gnn/split1/train1"]
    assert len(jobs) == 6
    assert jobs[1].overrides == ("model=lightgcn", "data.split.seed=1", "train.seed=1")
    with pytest.raises(ValueError, match="unknown suite entries"):
        expand(SUITE, only=["nope"])


def test_leaderboard_aggregates_by_hand(tmp_path):
    make_runs(tmp_path)
    rows, best = leaderboard(load_runs(tmp_path, expand(SUITE)), SUITE)
    assert [r.entry for r in rows] == ["ease", "gnn", "pop"]  # by valid, not by test
    assert best == "ease"
    ease, gnn, pop = rows
    assert gnn.runs == gnn.expected == 6
    assert gnn.valid[0] == pytest.approx(0.26)
    assert gnn.test[0] == pytest.approx(0.34)
    # Test values 0.32, 0.34, 0.34, 0.36, 0.33, 0.35: sample std.
    assert gnn.test[1] == pytest.approx(math.sqrt(0.001 / 5))
    assert gnn.test_second[0] == pytest.approx(0.68)
    # Per split seed (mean over training seeds): gnn - ease = 0.02, 0.05, 0.05.
    assert gnn.delta_test == pytest.approx(0.04)
    assert gnn.pairs == 3
    assert gnn.p_value == pytest.approx(paired_t_test([0.33, 0.35, 0.34], [0.31, 0.30, 0.29])[1])
    assert math.isnan(ease.p_value) and ease.pairs == 3
    assert gnn.seconds_per_epoch == pytest.approx(0.5)  # compile epoch left out
    assert pop.seconds_per_epoch == pytest.approx(3.0)
    assert gnn.time_to_best == pytest.approx(4.5)  # 3 epochs x (1 + 0.5)
    assert gnn.parameters == 1111 and gnn.trainable_parameters == 111
    assert gnn.peak_rss_mb == 103.0


def test_leaderboard_pairs_only_shared_split_seeds(tmp_path):
    # gnn lacks split 3 entirely, and one training seed of split 1.
    make_runs(tmp_path, skip={("gnn", 3, 0), ("gnn", 3, 1), ("gnn", 1, 1)})
    runs = load_runs(tmp_path, expand(SUITE))
    rows, _ = leaderboard(runs, SUITE)
    gnn = next(r for r in rows if r.entry == "gnn")
    assert (gnn.runs, gnn.expected, gnn.pairs) == (3, 6, 2)
    # split 1: 0.32 - 0.31; split 2: 0.35 - 0.30.
    assert gnn.delta_test == pytest.approx(0.03)


def test_write_leaderboard_files(tmp_path):
    make_runs(tmp_path)
    paths = write_leaderboard(tmp_path, SUITE, load_runs(tmp_path, expand(SUITE)), "deadbeef")
    assert all(p.exists() for p in paths.values())
    md = paths["markdown"].read_text()
    assert "**ease** leads on valid ndcg@10" in md
    assert "gnn, vs the best baseline (ease): +0.0400 test ndcg@10 (mean paired difference" in md
    assert "deadbeef" in md
    with open(paths["csv"]) as f:
        rows = list(csv.DictReader(f))
    assert [r["model"] for r in rows] == ["ease", "gnn", "pop"]
    assert rows[0]["best_baseline"] == "True"


def test_suite_validation():
    with pytest.raises(ValueError, match="repeat"):
        Suite("s", (SuiteEntry("a", "smoke"), SuiteEntry("a", "smoke")), (1,))
    with pytest.raises(ValueError, match="no experiment"):
        Suite("s", (SuiteEntry("a"),), (1,))
    with pytest.raises(ValueError, match="split_seeds"):
        Suite("s", (SuiteEntry("a", "smoke"),), ())


def _row(name, baseline, test_by_split, valid=0.3):
    from recjax.bench import Row

    vals = list(test_by_split.values())
    from recjax.bench import mean_std

    return Row(entry=name, baseline=baseline, runs=len(vals), expected=len(vals),
               valid=(valid, 0.0), test=mean_std(vals), test_second=(0.0, 0.0),
               seconds_per_epoch=1.0, time_to_best=1.0, best_epoch=(1.0, 0.0), epochs=1.0,
               parameters=None, peak_rss_mb=1.0, test_by_split=test_by_split)


def _paired(model, base):
    import statistics

    shared = sorted(set(model.test_by_split) & set(base.test_by_split))
    diffs = [model.test_by_split[s] - base.test_by_split[s] for s in shared]
    model.pairs, model.delta_test = len(shared), statistics.fmean(diffs)
    model.delta_std = statistics.stdev(diffs) if len(diffs) > 1 else float("nan")
    model.p_value = paired_t_test([model.test_by_split[s] for s in shared],
                                  [base.test_by_split[s] for s in shared])[1]


@pytest.mark.parametrize("offsets, word", [
    ([0.004, 0.0041, 0.0039, 0.0042, 0.0038], "**better**"),   # small but consistent
    ([-0.03, -0.031, -0.029, -0.03, -0.032], "**worse**"),
    ([0.01, -0.012, 0.004, -0.006, 0.003], "**tie**"),          # noise around zero
])
def test_verdict_decides_on_paired_differences(offsets, word):
    from recjax.bench import verdict

    # A large between-split spread that pairing removes: the pooled std would call all a tie.
    base_scores = {2020 + i: 0.30 + 0.02 * i for i in range(5)}
    base = _row("ease", True, base_scores, valid=0.27)
    model = _row("gnn", False, {s: v + o for (s, v), o in zip(base_scores.items(), offsets)},
                 valid=0.28)
    _paired(model, base)
    text = verdict([model, base], "ease", "ndcg@10")
    assert word in text and text.count("**") == 4, text


def test_verdict_with_one_split_seed_is_undetermined():
    from recjax.bench import verdict

    base = _row("ease", True, {2020: 0.33}, valid=0.27)
    model = _row("mf", False, {2020: 0.29}, valid=0.26)
    _paired(model, base)
    text = verdict([base, model], "ease", "ndcg@10")
    assert "**undetermined**" in text and "tie" not in text
