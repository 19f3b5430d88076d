import numpy as np
import pytest

from recjax.config.schema import SyntheticConfig
from recjax.data.clean import clean
from recjax.data.synthetic import synthetic_interactions, synthetic_raw


def test_seeded_and_every_node_has_an_edge():
    a = synthetic_interactions(50, 80, 2000, seed=3)
    b = synthetic_interactions(50, 80, 2000, seed=3)
    c = synthetic_interactions(50, 80, 2000, seed=4)
    assert np.array_equal(a.interactions.item_ids, b.interactions.item_ids)
    assert not np.array_equal(a.interactions.item_ids, c.interactions.item_ids)
    x = a.interactions
    assert len(x) == 2000
    assert np.bincount(x.user_ids, minlength=50).min() >= 1
    assert np.bincount(x.item_ids, minlength=80).min() >= 1


def test_power_law_and_topical():
    d = synthetic_interactions(2000, 3000, 200_000, num_topics=8, seed=0)
    deg = np.sort(np.bincount(d.interactions.item_ids))[::-1]
    assert deg[:300].sum() / deg.sum() > 0.3  # top 10% of items: far above 10% of rows
    x = d.interactions
    match = (d.item_topic[x.item_ids] == d.user_topic[x.user_ids]).mean()
    assert match > 0.7  # affinity 0.8 plus chance


def test_raw_runs_through_cleaning():
    cfg = SyntheticConfig(num_users=40, num_items=60, num_interactions=900,
                          behaviors=("view", "purchase"))
    ds = clean(synthetic_raw(cfg))
    assert ds.num_users == 40 and ds.num_items == 60
    assert set(ds.id_maps.behaviors) == {"view", "purchase"}
    assert ds.item_features["description"][0].startswith("A ")
    assert ds.user_features["text"][0].startswith("I like")


def test_bad_sizes():
    with pytest.raises(ValueError, match="at least num_users"):
        synthetic_interactions(10, 10, 5)
