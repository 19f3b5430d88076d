"""Cold catalogue items end to end: a text model keeps the items of the item file that nobody
interacted with (``data.clean.keep_cold_items``, on by default for text models), trains
without giving them an ID row or a negative draw, evaluates with them in the catalogue, and
serves them by their text to known and new users."""

import dataclasses

import jax
import numpy as np
import pytest

from recjax.config.schema import (
    CleanConfig,
    DataConfig,
    EvalConfig,
    ExperimentConfig,
    ModelConfig,
    SplitConfig,
    TextConfig,
    TrainConfig,
)
from recjax.experiment import cold_metrics, prepare
from recjax.recommend import Serving
from recjax.train.loop import fit, warm_negatives
from recjax.train.negatives import sample_items
from tests.text.tiny_checkpoint import write_tiny_checkpoint

# Two topics whose titles share words; users of a topic buy most of its items. Items 90 and
# 91 are in the catalogue only (nobody bought them), one per topic.
TOPICS = {"a": "travel photography book", "b": "cat music film"}
COLD = {"90": "travel photography reading", "91": "the cat music film"}


def write_shop(d):
    d.mkdir(parents=True, exist_ok=True)
    rows, items = [], []
    for t, (topic, words) in enumerate(TOPICS.items()):
        topic_items = [str(10 * (t + 1) + j) for j in range(8)]
        items += [(i, f"{words} {j}" if j % 2 else words) for j, i in enumerate(topic_items)]
        for u in range(12):
            user = f"{topic}{u}"
            for k in range(6):
                rows.append((user, topic_items[(u + k) % 8], 4 + k % 2, 100 * u + k))
    items += list(COLD.items())
    (d / "shop.inter").write_text("user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
                                  + "".join(f"{u}\t{i}\t{r}\t{s}\n" for u, i, r, s in rows))
    (d / "shop.item").write_text("item_id:token\ttitle:token_seq\n"
                                 + "".join(f"{i}\t{t}\n" for i, t in items))
    return d


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    root = tmp_path_factory.mktemp("shop")
    return write_shop(root / "shop"), write_tiny_checkpoint(root / "ckpt")


def config(paths, model="text_gnn", keep=None, loss="bpr", epochs=12, **train):
    data_dir, ckpt = paths
    return ExperimentConfig(
        data=DataConfig(name="shop", path=str(data_dir), format="atomic",
                        clean=CleanConfig(keep_cold_items=keep), split=SplitConfig(seed=1)),
        text=TextConfig(checkpoint=str(ckpt), cache=False, item_template="{title}"),
        model=ModelConfig(name=model, dim=16, num_layers=2),
        train=TrainConfig(loss=loss, batch_size=64, epochs=epochs, learning_rate=0.02,
                          patience=100, **train),
        eval=EvalConfig(ks=(5, 10)))


@pytest.fixture(scope="module")
def trained(paths):
    cfg = config(paths)
    p = prepare(cfg, progress=False)
    r = fit(p.model, p.graph, p.features, p.split, cfg.train, cfg.eval, progress=False)
    return p, r


def cold_dense_ids(p):
    return p.dataset.id_maps.item_index(list(COLD))


def test_text_model_keeps_them_by_default_as_cold_items(trained):
    p, r = trained
    ds, sp = p.dataset, p.split
    cold = cold_dense_ids(p)
    assert p.cfg.data.clean.keep_cold_items is True  # resolved before loading
    assert ds.num_items == 18 and list(cold) == [16, 17]  # after the 16 bought items
    assert next(s for s in ds.report if s.name == "cold items").details == {
        "kept catalogue items without interactions as cold items": 2}
    np.testing.assert_array_equal(sp.cold_item_ids, cold)
    for part in (sp.train, sp.valid, sp.test):
        assert not np.isin(part.item_ids, cold).any()
    assert p.graph.num_items == 18
    # Evaluation ranks the whole catalogue, and a warm split gets no empty cold test.
    assert np.isfinite(r.test["ndcg@10"]) and cold_metrics(p, r.params) == {}


@pytest.mark.parametrize("loss", ["bpr", "full_softmax"])
def test_their_id_rows_stay_zero_and_they_are_never_negatives(paths, trained, loss):
    if loss == "bpr":
        p, r = trained
        cfg = p.cfg
    else:
        cfg = config(paths, loss=loss, epochs=3)
        p = prepare(cfg, progress=False)
        r = fit(p.model, p.graph, p.features, p.split, cfg.train, cfg.eval, progress=False)
    cold = cold_dense_ids(p)
    table = np.asarray(r.params["params"]["id"]["item"]["embedding"])
    assert np.all(table[cold] == 0.0)
    assert np.abs(table[np.setdiff1d(np.arange(len(table)), cold)]).min(axis=1).max() > 0
    assert warm_negatives(cfg.train, p.split)
    users = np.arange(p.dataset.num_users, dtype=np.int32)
    draws = sample_items(jax.random.key(0), p.graph, users, 200, cfg.train,
                         warm_negatives(cfg.train, p.split))
    assert not np.isin(np.asarray(draws), cold).any()


def test_known_and_new_users_are_served_them_by_their_text(trained):
    p, r = trained
    serving = Serving(p, r.params)
    cold_a, cold_b = cold_dense_ids(p)
    # A cold item's embedding is its text's: exactly a new item built from that text.
    users0, items0 = p.model.apply(r.params, p.features, method=p.model.inputs_of)
    text_only = p.model.apply(r.params, jax.numpy.asarray(p.item_text[[cold_a]]),
                              method=p.model.new_node_inputs)
    np.testing.assert_allclose(items0[cold_a], text_only[0], atol=1e-6)
    # Known users of the travel topic get the travel cold item (and rank it above the other).
    hits = 0
    for raw in [f"a{u}" for u in range(12)]:
        u = p.dataset.id_maps.user_index(raw)
        recs = [x.item for x in serving.for_user(raw, 4)]
        hits += "90" in recs
        assert serving.user_emb[u] @ serving.item_emb[cold_a] > (
            serving.user_emb[u] @ serving.item_emb[cold_b])
    assert hits >= 6
    # A new user described by text gets it too (model score fused with the lexical match).
    assert "90" in [x.item for x in serving.for_text("i like reading about travel", 3)]


def test_off_drops_them(paths):
    p = prepare(config(paths, keep=False, epochs=1), progress=False)
    assert p.dataset.num_items == 16 and len(p.split.cold_item_ids) == 0
    assert not any(s.name == "cold items" for s in p.dataset.report)


def test_id_only_model_is_off_by_default_and_refuses_it_on(paths):
    p = prepare(config(paths, model="lightgcn", epochs=1), progress=False)
    assert p.cfg.data.clean.keep_cold_items is False and p.dataset.num_items == 16
    with pytest.raises(ValueError, match="only a model with a text tower can rank"):
        prepare(config(paths, model="lightgcn", keep=True, epochs=1), progress=False)


def test_combinations_that_would_train_them_are_refused(paths):
    with pytest.raises(ValueError, match="train.negatives=all would draw cold catalogue"):
        prepare(config(paths, negatives="all"), progress=False)
    cfg = dataclasses.replace(config(paths), model=ModelConfig(
        name="text_gnn", dim=16, num_layers=2, semantic_neighbors=2))
    with pytest.raises(ValueError, match="semantic_neighbors=2 is not supported with cold"):
        prepare(cfg, progress=False)


def test_a_cold_user_split_with_catalogue_items_evaluates_users(paths):
    """Cold catalogue items sit in cold_item_ids for training; in a cold-user split the cold
    test must still tell users apart (not rank the catalogue items alone, which gave NaN)."""
    cfg = config(paths, epochs=2)
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(
        cfg.data, split=SplitConfig(method="cold_user", cold_fraction=0.25, seed=1)))
    p = prepare(cfg, progress=False)
    assert len(p.split.cold_user_ids) and set(cold_dense_ids(p)) <= set(p.split.cold_item_ids)
    r = fit(p.model, p.graph, p.features, p.split, cfg.train, cfg.eval, progress=False)
    out = cold_metrics(p, r.params, (5,))
    assert np.isfinite(out["test_cold"]["ndcg@5"]) and np.isfinite(out["test_warm"]["ndcg@5"])
