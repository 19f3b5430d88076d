"""The shortcuts taken for speed at scale give the results of the plain algorithms."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from recjax.data import clean as C
from recjax.data import split as S


@pytest.mark.parametrize("seed", range(5))
def test_sort_with_rows_packed_and_argsort_paths(seed):
    rng = np.random.default_rng(seed)
    keys = rng.integers(0, 50, 1000)
    want = np.argsort(keys, kind="stable")
    k, rows = C._sort_with_rows(keys)  # packed: 50 * 1000 fits easily
    np.testing.assert_array_equal(rows, want)
    np.testing.assert_array_equal(k, keys[want])
    big = keys.astype(np.int64) * (2**62 // 50)  # key * n overflows: argsort path
    k, rows = C._sort_with_rows(big)
    np.testing.assert_array_equal(rows, want)


@pytest.mark.parametrize("seed", range(5))
def test_user_then_key_order_equals_lexsort(seed):
    rng = np.random.default_rng(seed)
    users = rng.integers(0, 30, 2000).astype(np.int32)
    perm = rng.permutation(2000)
    want = np.lexsort((np.arange(2000), perm, users))
    np.testing.assert_array_equal(S._order_by_user_then_key(users, perm), want)
    ties = rng.integers(0, 5, 2000)  # not a permutation: the lexsort itself
    np.testing.assert_array_equal(S._order_by_user_then_key(users, ties),
                                  np.lexsort((np.arange(2000), ties, users)))
    assert not S._is_permutation(np.r_[perm[:-1], perm[0]])


def test_data_scale_benchmark_runs_both_paths(tmp_path):
    """benchmarks/data_scale.py end to end at a tiny size: both paths clean the same rows."""
    script = Path(__file__).parents[2] / "benchmarks" / "data_scale.py"
    proc = subprocess.run([sys.executable, str(script), "--rows", "3000", "--epoch-rows", "0",
                           "--out-of-core-from", "0", "--workdir", str(tmp_path),
                           "--out", str(tmp_path / "out.json")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads((tmp_path / "out.json").read_text())
    memory, staged = results["pipeline"]
    assert (memory["mode"], staged["mode"]) == ("in-memory", "out-of-core")
    for key in ("rows", "users", "items", "duplicates_removed"):
        assert memory[key] == staged[key]
    assert memory["raw_rows"] == 3000 and memory["rows"] < 3000
    assert "| 3,000" in proc.stdout
