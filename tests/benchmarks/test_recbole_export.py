"""The RecBole benchmark export round-trips: split -> files -> recjax's atomic reader -> split."""

import numpy as np
import pytest

from benchmarks import recbole_same_split as R
from recjax.config.schema import SplitConfig, SyntheticConfig
from recjax.data.clean import clean
from recjax.data.split import split
from recjax.data.synthetic import synthetic_raw
from recjax.types import IdMaps, Split
from tests.conftest import make_interactions


def assert_same_split(got: Split, want: Split):
    for part in R.PARTS:
        a, b = getattr(got, part), getattr(want, part)
        np.testing.assert_array_equal(a.user_ids, b.user_ids, err_msg=part)
        np.testing.assert_array_equal(a.item_ids, b.item_ids, err_msg=part)
        np.testing.assert_array_equal(a.ratings, b.ratings, err_msg=part)
        np.testing.assert_array_equal(a.timestamps, b.timestamps, err_msg=part)
        assert (a.num_users, a.num_items) == (b.num_users, b.num_items)


@pytest.mark.parametrize("ids", ["raw", "dense"])
def test_synthetic_split_round_trips(tmp_path, ids):
    dataset = clean(synthetic_raw(SyntheticConfig(num_users=40, num_items=60,
                                                  num_interactions=600)))
    sp = split(dataset.interactions, SplitConfig(seed=3))
    paths = R.export_split(sp, dataset.id_maps, tmp_path, "syn-split3", ids)
    assert {p.name for p in paths.values()} == {f"syn-split3.{p}.inter" for p in R.PARTS}
    assert_same_split(R.read_split(tmp_path, "syn-split3", dataset.id_maps, ids), sp)


def test_files_hold_raw_ids_not_positions(tmp_path):
    # Dense id 0 is raw "b": a file written with positions instead of raw ids would read back
    # as different users and items.
    id_maps = IdMaps(np.array(["b", "a", "10"], object), np.array(["x9", "x1"], object))
    inter = make_interactions([0, 1, 2, 0], [1, 0, 1, 0], ratings=[5, 3.5, 0.1, 2],
                              timestamps=[1e9, 2.5, 0.1, 7], num_users=3, num_items=2)
    sp = Split(inter.take(np.array([0, 1])), inter.take(np.array([2])), inter.take(np.array([3])))
    paths = R.export_split(sp, id_maps, tmp_path, "tiny")
    lines = paths["train"].read_text().splitlines()
    assert lines[0] == "user_id:token\titem_id:token\trating:float\ttimestamp:float"
    assert [line.split("\t")[:2] for line in lines[1:]] == [["b", "x1"], ["a", "x9"]]
    assert_same_split(R.read_split(tmp_path, "tiny", id_maps), sp)


@pytest.mark.parametrize("bad", ["NA", "null", "", " u1", 'u"1', "u\t1"])
def test_ids_recbole_would_misread_are_refused(tmp_path, bad):
    id_maps = IdMaps(np.array(["u0", bad], object), np.array(["i0"], object))
    inter = make_interactions([0, 1], [0, 0], num_users=2, num_items=1)
    sp = Split(inter, inter.take(np.array([], int)), inter.take(np.array([], int)))
    with pytest.raises(ValueError, match="ids='dense'"):
        R.export_split(sp, id_maps, tmp_path, "bad")
    R.export_split(sp, id_maps, tmp_path, "bad", ids="dense")
    assert_same_split(R.read_split(tmp_path, "bad", id_maps, ids="dense"), sp)


@pytest.mark.parametrize("model", list(R.MODELS))
def test_recbole_config_keeps_the_split(tmp_path, model):
    cfg = R.recbole_config(model, tmp_path, tmp_path / "saved", seed=2020)
    assert cfg["benchmark_filename"] == list(R.PARTS)
    assert cfg["rm_dup_inter"] is None and cfg["val_interval"] is None
    assert cfg["threshold"] is None and not cfg["filter_inter_by_user_or_item"]
    assert cfg["user_inter_num_interval"] == cfg["item_inter_num_interval"] == "[0,inf)"
    assert cfg["valid_metric"] == "NDCG@10" and cfg["topk"] == [10, 20]
    if model in R.TRADITIONAL:  # Pop would count sampled negatives as popular items
        assert cfg["train_neg_sample_args"] is None
    else:
        assert cfg["train_neg_sample_args"]["sample_num"] == 1
        assert (cfg["learning_rate"], cfg["train_batch_size"]) == (1e-3, 2048)
    # RecBole swaps data_path for its bundled example when the dataset is named "ml-100k".
    assert R.recbole_name("ml-100k", 2020) != "ml-100k"


def test_unknown_model_lists_the_valid_ones(tmp_path):
    with pytest.raises(KeyError, match="lightgcn"):
        R.recbole_config("gcn", tmp_path, tmp_path, 0)


def test_child_script_compiles():
    compile(R.CHILD.read_text(), str(R.CHILD), "exec")
