"""Cold catalogue items (``CleanConfig.keep_cold_items``): items of the item side file with
no surviving interaction stay in the catalogue after the interacting ones, and are counted."""

import numpy as np

from recjax.config.schema import CleanConfig
from recjax.data.clean import clean
from recjax.types import RawDataset
from tests.data.test_clean import step, table


def raw_shop():
    # Items 10, 2, 7 have interactions; 5 and 30 are listed in the catalogue only; 9 has one
    # interaction (removed by an item k-core of 2).
    inter = table(user_id=["u1", "u1", "u2", "u2", "u3", "u3", "u1"],
                  item_id=["10", "2", "2", "7", "10", "7", "9"])
    items = table(source="t.item", item_id=["2", "5", "7", "9", "10", "30", ""],
                  title=["two", "five", "seven", "nine", "ten", "thirty", "no id"])
    return RawDataset("shop", inter, items)


def test_off_drops_catalogue_only_items_as_before():
    for cfg in (CleanConfig(), CleanConfig(keep_cold_items=False)):
        ds = clean(raw_shop(), cfg)
        assert list(ds.id_maps.item_raw) == ["2", "7", "9", "10"]
        assert not any(s.name == "cold items" for s in ds.report)
        assert step(ds, "side-info").details["item rows without interactions"] == 3


def test_on_keeps_and_counts_them_after_the_interacting_items():
    off = clean(raw_shop(), CleanConfig())
    on = clean(raw_shop(), CleanConfig(keep_cold_items=True))
    # Interacting items keep their dense ids (and rows are unchanged); cold ones come after,
    # sorted numerically among themselves; the row with a missing id is not an item.
    assert list(on.id_maps.item_raw) == ["2", "7", "9", "10", "5", "30"]
    np.testing.assert_array_equal(on.interactions.item_ids, off.interactions.item_ids)
    np.testing.assert_array_equal(on.interactions.user_ids, off.interactions.user_ids)
    assert on.num_items == on.interactions.num_items == 6
    assert not np.isin(on.interactions.item_ids, [4, 5]).any()
    assert list(on.item_features["title"]) == ["two", "seven", "nine", "ten", "five", "thirty"]
    s = step(on, "cold items")
    assert s.details == {"kept catalogue items without interactions as cold items": 2}
    assert s.removed == 0
    assert step(on, "remap").details["items"] == 6
    assert [x.name for x in on.report][-3:] == ["side-info", "cold items", "remap"]


def test_items_k_core_removed_are_not_brought_back():
    cfg = CleanConfig(item_core=2, keep_cold_items=True)
    ds = clean(raw_shop(), cfg)
    # 9's only row fails the core: it was interacted with, so it is not a new product and
    # stays removed; the never-bought 5 and 30 are kept.
    assert list(ds.id_maps.item_raw) == ["2", "7", "10", "5", "30"]
    assert step(ds, "k-core").removed == 1
    assert step(ds, "cold items").details[
        "kept catalogue items without interactions as cold items"] == 2
    assert list(clean(raw_shop(), CleanConfig(item_core=2)).id_maps.item_raw) == ["2", "7", "10"]


def test_without_an_item_side_file_nothing_is_added():
    raw = raw_shop()
    ds = clean(RawDataset("shop", raw.interactions), CleanConfig(keep_cold_items=True))
    assert list(ds.id_maps.item_raw) == ["2", "7", "9", "10"]
    assert step(ds, "cold items").details[
        "kept catalogue items without interactions as cold items"] == 0


def test_cleaned_data_cache_keys_and_keeps_them(tmp_path, data_cache):
    from recjax.config.schema import DataConfig
    from recjax.data.datasets import load

    raw = raw_shop()
    d = tmp_path / "shop"
    d.mkdir()
    x, items = raw.interactions, raw.items
    (d / "shop.inter").write_text("user_id:token\titem_id:token\n" + "".join(
        f"{u}\t{i}\n" for u, i in zip(x.column("user_id"), x.column("item_id"), strict=True)))
    (d / "shop.item").write_text("item_id:token\ttitle:token_seq\n" + "".join(
        f"{i}\t{t}\n" for i, t in zip(items.column("item_id"), items.column("title"),
                                       strict=True) if i))
    on, off = (DataConfig(name="shop", path=str(d), clean=CleanConfig(keep_cold_items=k))
               for k in (True, False))
    for _ in range(2):  # built, then read back from the cache
        ds, sp = load(on)
        assert list(ds.id_maps.item_raw) == ["2", "7", "9", "10", "5", "30"]
        assert step(ds, "cold items").details[
            "kept catalogue items without interactions as cold items"] == 2
        assert sp.train.num_items == 6
        assert load(off)[0].num_items == 4
    assert len(list(data_cache.iterdir())) >= 2


def test_out_of_core_cleaning_keeps_them_too(tmp_path):
    from recjax.data import staging
    from recjax.data.datasets import read_directory
    from tests.experiments.test_keep_cold_items import write_shop

    d = write_shop(tmp_path / "shop")
    cfg = CleanConfig(keep_cold_items=True)
    big = staging.clean_out_of_core(d, "shop", cfg)
    small = clean(read_directory(d, "shop"), cfg)
    assert list(big.id_maps.item_raw) == list(small.id_maps.item_raw)
    assert list(big.id_maps.item_raw)[-2:] == ["90", "91"]
    assert step(big, "cold items").details == step(small, "cold items").details
