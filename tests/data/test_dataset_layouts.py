"""The registered datasets researchers use (ml-10m, ml-20m, ml-25m, Amazon Reviews 2023),
each read from a small generated file of the exact published layout, and what a user sees
when a dataset cannot be downloaded."""

import gzip
import json

import numpy as np
import pytest

from recjax.config.schema import DataConfig, SplitConfig
from recjax.data import registry
from recjax.data.amazon import read_amazon_2023
from recjax.data.clean import clean
from recjax.data.columns import ColumnTable
from recjax.data.datasets import load, read_directory
from recjax.data.readers import DataFormatError
from recjax.data.registry import FetchError, fetch


def write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


def ml10m(d):
    d.mkdir(exist_ok=True)
    write(d / "ratings.dat", "1::122::5::838985046\n1::185::4.5::838983525\n"
                             "2::122::3::868245777\n2::292::0.5::868244562\n")
    write(d / "movies.dat", "122::Boomerang (1992)::Comedy|Romance\n"
                            "185::Net, The (1995)::Action|Crime|Thriller\n"
                            "292::Misérables, Les (1995)::Drama\n")
    return d


def ml25m(d):
    d.mkdir(exist_ok=True)
    write(d / "ratings.csv", "userId,movieId,rating,timestamp\n1,296,5.0,1147880044\n"
                             "1,306,3.5,1147868817\n2,296,4.0,1141415820\n3,209171,2.5,1567970430\n")
    write(d / "movies.csv", 'movieId,title,genres\n296,Pulp Fiction (1994),'
                            'Comedy|Crime|Drama|Thriller\n306,"Three Colors: Red '
                            '(Trois couleurs: Rouge) (1994)",Drama\n'
                            '209171,"Women of Devil\'s Island, The (1962)",(no genres listed)\n')
    return d


def amazon(d, category="Toy_Category", reviews=None):
    d.mkdir(exist_ok=True)
    reviews = reviews or [
        {"rating": 5.0, "title": "Great", "text": "Loved it", "images": [], "asin": "B01",
         "parent_asin": "P1", "user_id": "AE1", "timestamp": 1588687728923,
         "helpful_vote": 0, "verified_purchase": True},
        {"rating": 2.0, "title": "Meh", "text": "Broke", "images": [], "asin": "B02",
         "parent_asin": "P2", "user_id": "AE1", "timestamp": 1588687728000,
         "helpful_vote": 3, "verified_purchase": False},
        {"rating": 4.0, "title": "Good", "text": "Fine", "images": [], "asin": "B01",
         "parent_asin": "P1", "user_id": "AE2", "timestamp": 1600000000000,
         "helpful_vote": 0, "verified_purchase": True},
    ]
    meta = [
        {"main_category": "All Beauty", "title": "Rose Soap", "average_rating": 4.5,
         "rating_number": 10, "features": ["Handmade", "Vegan"],
         "description": ["A soap with roses."], "price": None, "images": [], "videos": [],
         "store": "Soapy", "categories": [], "details": {"Brand": "Soapy"},
         "parent_asin": "P1", "bought_together": None},
        {"main_category": "All Beauty", "title": "Brush", "average_rating": 3.0,
         "rating_number": 2, "features": [], "description": [], "price": "9.99",
         "images": [], "videos": [], "store": None, "categories": [], "details": {},
         "parent_asin": "P2", "bought_together": None},
    ]
    for name, rows in ((f"{category}.jsonl.gz", reviews), (f"meta_{category}.jsonl.gz", meta)):
        with gzip.open(d / name, "wt", encoding="utf-8") as f:
            f.write("".join(json.dumps(r) + "\n" for r in rows))
    return d


def test_ml10m_layout(tmp_path):
    raw = read_directory(ml10m(tmp_path / "ml-10m"))
    assert isinstance(raw.interactions, ColumnTable) and raw.users is None
    ds = clean(raw)
    assert (ds.num_users, ds.num_items, len(ds.interactions)) == (2, 3, 4)
    assert sorted(ds.interactions.ratings.tolist()) == [0.5, 3.0, 4.5, 5.0]
    assert list(ds.item_features["title"]) == ["Boomerang", "Net, The", "Misérables, Les"]
    assert ds.item_features["genres"][1] == ("Action", "Crime", "Thriller")


def test_ml25m_layout(tmp_path):
    raw = read_directory(ml25m(tmp_path / "ml-25m"))
    assert isinstance(raw.interactions, ColumnTable)
    ds = clean(raw)
    assert list(ds.id_maps.item_raw) == ["296", "306", "209171"]  # numeric order
    assert ds.item_features["title"][1] == "Three Colors: Red (Trois couleurs: Rouge)"
    assert list(ds.item_features["year"]) == [1994.0, 1994.0, 1962.0]
    assert ds.item_features["genres"][2] == ("unknown",)  # "(no genres listed)"
    np.testing.assert_array_equal(ds.interactions.timestamps[:1], [1147880044.0])


def test_amazon_2023_layout(tmp_path):
    d = amazon(tmp_path / "amz")
    raw = read_directory(d)
    assert isinstance(raw.interactions, ColumnTable)
    ds = clean(raw)
    assert list(ds.id_maps.user_raw) == ["AE1", "AE2"]
    assert list(ds.id_maps.item_raw) == ["P1", "P2"]  # parent_asin is the item
    x = ds.interactions
    assert sorted(zip(x.user_ids.tolist(), x.item_ids.tolist(), x.ratings.tolist())) == [
        (0, 0, 5.0), (0, 1, 2.0), (1, 0, 4.0)]
    assert x.timestamps.max() == 1600000000000.0  # milliseconds, exact in float64
    f = ds.item_features
    assert list(f["title"]) == ["Rose Soap", "Brush"]
    assert f["description"][0] == "A soap with roses. Handmade Vegan"
    assert list(f["store"]) == ["Soapy", "unknown"]
    with_text = read_amazon_2023(d, typed=True, user_text=True)
    assert list(with_text.users.columns["text"]) == ["Great. Loved it | Meh. Broke",
                                                     "Good. Fine"]
    plain = clean(read_amazon_2023(d, typed=False))
    np.testing.assert_array_equal(plain.interactions.item_ids, x.item_ids)
    np.testing.assert_array_equal(plain.interactions.timestamps, x.timestamps)


def test_amazon_bad_lines_are_named(tmp_path):
    d = amazon(tmp_path / "a", reviews=[{"user_id": "u", "parent_asin": "p", "rating": 5,
                                         "timestamp": 1}])
    path = d / "Toy_Category.jsonl.gz"
    with gzip.open(path, "wt") as f:
        f.write('{"user_id": "u", "parent_asin": "p", "rating": 5, "timestamp": 1}\n'
                '{"user_id": "v", "parent_asin": "p", "rating": 4,\n')
    with pytest.raises(DataFormatError, match=r"Toy_Category.jsonl.gz, line 2, column \d+: "
                                              r"not valid JSON"):
        read_directory(d)
    with gzip.open(path, "wt") as f:
        f.write('{"user_id": "u", "parent_asin": "p", "rating": 5, "timestamp": 1}\n'
                '{"user_id": "v", "parent_asin": "p", "rating": "five", "timestamp": 2}\n')
    with pytest.raises(DataFormatError, match=r"line 2: field 'rating' is \"five\"; "
                                              r"expected a number"):
        read_directory(d)


@pytest.mark.parametrize("name, files, url", [
    ("ml-10m", "{ratings.dat, movies.dat}", "ml-10m.zip"),
    ("ml-20m", "{ratings.csv, movies.csv}", "ml-20m.zip"),
    ("ml-25m", "{ratings.csv, movies.csv}", "ml-25m.zip"),
    ("amazon-2023-Video_Games", "{Video_Games.jsonl.gz, meta_Video_Games.jsonl.gz}",
     "amazon_2023/raw/review_categories/Video_Games.jsonl.gz"),
])
def test_offline_message_names_the_url_and_the_place(tmp_path, monkeypatch, name, files, url):
    monkeypatch.setenv("RECJAX_OFFLINE", "1")
    with pytest.raises(FetchError) as e:
        fetch(name, tmp_path, verbose=False)
    msg = str(e.value)
    assert url in msg and "RECJAX_OFFLINE is set" in msg
    assert f"put the files {files} into {tmp_path / name}/" in msg


def test_registered_datasets_have_origins_and_checksums():
    for name in ("ml-10m", "ml-20m", "ml-25m"):
        (source,) = registry.RESOURCES[name].sources
        assert source.url.startswith("https://files.grouplens.org/") and len(source.md5) == 32
    amazon_names = [n for n in registry.RESOURCES if n.startswith("amazon-2023-")]
    assert len(amazon_names) == len(registry.AMAZON_2023_CATEGORIES) == 34


def test_files_placed_by_hand_load_by_name(tmp_path, monkeypatch):
    monkeypatch.setenv("RECJAX_DATA", str(tmp_path))
    monkeypatch.setenv("RECJAX_OFFLINE", "1")
    ml25m(tmp_path / "ml-25m")
    amazon(tmp_path / "amazon-2023-All_Beauty", category="All_Beauty")
    for name, users in (("ml-25m", 3), ("amazon-2023-All_Beauty", 2)):
        ds, sp = load(DataConfig(name=name, split=SplitConfig(ratios=(1.0, 0.0, 0.0))))
        assert ds.num_users == users and ds.name == name
        assert len(sp.train) == len(ds.interactions)


@pytest.mark.parametrize("group, name", [("ml10m", "ml-10m"), ("ml20m", "ml-20m"),
                                         ("ml25m", "ml-25m"),
                                         ("amazon2023", "amazon-2023-All_Beauty")])
def test_data_configs_compose_to_registered_names(group, name):
    from hydra import compose, initialize_config_dir

    from experiments.config import CONF_DIR, register, to_experiment

    register()
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        data = to_experiment(compose("config", overrides=[f"data={group}"])).data
    assert data.name == name and name in registry.RESOURCES
