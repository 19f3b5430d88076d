"""Recommendations: seen items excluded, ordering, id round trips, inductive users and items."""

import numpy as np
import pytest

from recjax.config.schema import (
    DataConfig,
    EvalConfig,
    ExperimentConfig,
    ModelConfig,
    SplitConfig,
    SyntheticConfig,
    TextConfig,
    TrainConfig,
)
from recjax.experiment import prepare
from recjax.recommend import Serving
from recjax.train.loop import fit
from tests.text.tiny_checkpoint import write_tiny_checkpoint


@pytest.fixture(scope="module")
def serving(tmp_path_factory):
    ckpt = write_tiny_checkpoint(tmp_path_factory.mktemp("ckpt"))
    cfg = ExperimentConfig(
        data=DataConfig(name="synthetic", synthetic=SyntheticConfig(
            num_users=50, num_items=70, num_interactions=1500, seed=2),
            split=SplitConfig(seed=2)),
        text=TextConfig(checkpoint=str(ckpt), cache=False,
                        item_template="{title}. {description}", user_template="{text}"),
        model=ModelConfig(name="text_gnn", dim=16, num_layers=2),
        train=TrainConfig(batch_size=256, epochs=5, learning_rate=0.01, cold_user_dropout=0.3),
        eval=EvalConfig(ks=(5, 10)))
    p = prepare(cfg, progress=False)
    r = fit(p.model, p.graph, p.features, p.split, cfg.train, cfg.eval, progress=False)
    return Serving(p, r.params)


def test_known_user_top_k_excludes_seen_and_is_ordered(serving):
    ds, sp = serving.p.dataset, serving.p.split
    for raw in ds.id_maps.user_raw[:10]:
        recs = serving.for_user(raw, 10)
        u = ds.id_maps.user_index(raw)
        seen = set()
        for part in (sp.train, sp.valid, sp.test):
            seen |= {str(ds.id_maps.item_raw[i]) for i in part.item_ids[part.user_ids == u]}
        assert len(recs) == 10 and not seen & {r.item for r in recs}
        scores = [r.score for r in recs]
        assert scores == sorted(scores, reverse=True)
        # Round trip: raw id -> dense id -> title of that dense item.
        for r in recs:
            i = ds.id_maps.item_index(r.item)
            assert r.title == str(ds.item_features["title"][i])
            np.testing.assert_allclose(r.score, float(serving.user_emb[u] @ serving.item_emb[i]),
                                       rtol=1e-5)


def test_new_user_from_text_alone_gets_a_finite_ranked_list(serving):
    recs = serving.for_text("i like travel and photography", 7)
    assert len(recs) == 7 and all(np.isfinite(r.score) for r in recs)
    assert [r.score for r in recs] == sorted((r.score for r in recs), reverse=True)
    assert all(r.reason.startswith("close to your text") for r in recs)


def test_new_user_text_is_fused_with_bm25_over_the_item_texts(serving):
    """for_text ranks by z(model) + w * BM25 / max(BM25); weight 0 is the model alone."""
    from recjax.text.features import item_texts
    from recjax.text.lexical import BM25, fuse

    text = str(serving.p.dataset.item_features["title"][3])  # shares words with item 3
    dense = np.asarray(serving.item_emb) @ serving.embed_new_user(text)
    bm25 = BM25(item_texts(serving.p.dataset, serving.p.cfg.text), k1=0.5).scores(text)
    assert bm25.max() > 0
    want = np.argsort(-fuse(dense, bm25, 4.0), kind="stable")[:10]
    recs = serving.for_text(text, 10)
    assert [r.item for r in recs] == [str(serving.ids.item_raw[i]) for i in want]
    off = Serving(serving.p, serving.params, lexical_weight=0.0).for_text(text, 10)
    assert [r.item for r in off] == [str(serving.ids.item_raw[i])
                                     for i in np.argsort(-dense, kind="stable")[:10]]
    assert [r.item for r in recs] != [r.item for r in off]
    with pytest.raises(ValueError, match="lexical_weight"):
        Serving(serving.p, serving.params, lexical_weight=-1.0)


def test_new_user_with_liked_items_excludes_them(serving):
    liked = list(serving.ids.item_raw[:3])
    recs = serving.for_text("", 10, liked=liked)
    assert not set(liked) & {r.item for r in recs}
    assert all(r.reason.startswith("like ") for r in recs)
    a = serving.embed_new_user("i like travel", liked)
    b = serving.embed_new_user("i like travel")
    assert not np.allclose(a, b)  # the neighbourhood contributes


def test_new_item_from_text(serving):
    users, items = serving.for_new_item("a book about travel and photography", 5)
    assert len(users) == 5 and len(items) == 5
    assert [s for _, s in users] == sorted((s for _, s in users), reverse=True)


def test_batch_mode_writes_every_user(serving, tmp_path):
    n = serving.all_users(3, tmp_path / "all.jsonl")
    assert n == 3 * serving.ids.num_users
    assert len((tmp_path / "all.jsonl").read_text().splitlines()) == n
    serving.all_users(2, tmp_path / "all.csv")
    assert (tmp_path / "all.csv").read_text().splitlines()[0] == "user,rank,item,title,score"


def test_bad_requests(serving, tmp_path):
    with pytest.raises(KeyError, match="unknown user id 'nobody'"):
        serving.for_user("nobody")
    with pytest.raises(ValueError, match="k=71 must be between 1 and the catalogue size"):
        serving.for_user(serving.ids.user_raw[0], 71)
    with pytest.raises(ValueError, match="a new user needs a text"):
        serving.for_text("   ")
    with pytest.raises(ValueError, match="a new item needs a non-empty text"):
        serving.for_new_item("")
    with pytest.raises(ValueError, match="write .csv or .jsonl"):
        serving.all_users(2, tmp_path / "x.txt")
    with pytest.raises(FileNotFoundError, match="is not a run directory"):
        Serving.from_run(tmp_path)


def test_ease_serves_known_and_new_users_as_x_times_b():
    """A closed-form model goes through the same serving path: a new user with liked items is
    a new row of X, scored X_new @ B."""
    from recjax.models.closed_form import history_matrix

    cfg = ExperimentConfig(
        data=DataConfig(name="synthetic", synthetic=SyntheticConfig(
            num_users=40, num_items=60, num_interactions=1200, seed=3)),
        model=ModelConfig(name="ease", ease_l2=10.0), eval=EvalConfig(ks=(5, 10)))
    p = prepare(cfg, progress=False)
    r = fit(p.model, p.graph, p.features, p.split, cfg.train, cfg.eval, progress=False)
    s = Serving(p, r.params)
    b_t = np.asarray(r.params["params"]["item"])
    ids = p.dataset.id_maps
    liked = [str(ids.item_raw[i]) for i in (1, 5, 9)]
    recs = s.for_text(liked=liked, k=5)
    x = np.zeros(p.dataset.num_items, np.float32)
    x[[1, 5, 9]] = 1
    scores = b_t @ x
    scores[[1, 5, 9]] = -np.inf
    assert [r.item for r in recs] == [str(ids.item_raw[i]) for i in np.argsort(-scores)[:5]]
    u = ids.user_raw[0]
    x_u = np.asarray(history_matrix(p.graph))[0]
    assert s.for_user(u, 3)[0].score == pytest.approx(float(np.max(
        np.where(np.isin(np.arange(len(x_u)), np.concatenate(
            [part.item_ids[part.user_ids == 0] for part in s.seen])), -np.inf, b_t @ x_u))),
        rel=1e-5)
