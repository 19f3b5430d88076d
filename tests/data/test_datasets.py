"""``data.format`` and ``data.csv``: every format loads from a DataConfig, and a wrong or
unknown format says what is wrong."""

from pathlib import Path

import numpy as np
import pytest

from recjax.config.schema import CleanConfig, CsvConfig, DataConfig, SplitConfig
from recjax.data.clean import clean
from recjax.data.datasets import PROJECT_ROOT, load, read_directory, resolve_path
from recjax.data.readers import DataFormatError, read_csv_dataset

MULTILINGUAL = PROJECT_ROOT / "experiments" / "multilingual"


def write(path: Path, text: str, encoding="utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def assert_same_dataset(a, b):
    assert a.name == b.name
    for f in ("user_ids", "item_ids", "ratings", "timestamps", "behaviors"):
        np.testing.assert_array_equal(getattr(a.interactions, f), getattr(b.interactions, f))
    np.testing.assert_array_equal(a.id_maps.user_raw, b.id_maps.user_raw)
    np.testing.assert_array_equal(a.id_maps.item_raw, b.id_maps.item_raw)
    for fa, fb in ((a.item_features, b.item_features), (a.user_features, b.user_features)):
        assert set(fa) == set(fb)
        for k in fa:
            np.testing.assert_array_equal(fa[k], fb[k])


@pytest.fixture
def csv_dir(tmp_path):
    """Headers unlike the canonical names, a TSV-free ';' delimiter and a quoted field."""
    d = tmp_path / "mydata"
    d.mkdir()
    write(d / "ratings.csv", "userId;movieId;stars;when\n"
                             "u1;m1;4.5;100\nu1;m2;3;101\nu2;m1;5;102\nu3;m3;2;103\n")
    write(d / "movies.csv", 'movieId;name;blurb;year\n'
                            'm1;Solaris;"A planet; a mind";1972\n'
                            'm2;Stalker;The Zone;1979\nm3;Mirror;;1975\n')
    write(d / "people.csv", "uid;about\nu1;likes space\nu2;likes films\n")
    return d


def csv_config(d: Path, **kw) -> DataConfig:
    csv = CsvConfig(interactions="ratings.csv", items="movies.csv", users="people.csv",
                    columns={"user_id": "userId", "item_id": "movieId", "rating": "stars",
                             "timestamp": "when"},
                    item_columns={"item_id": "movieId", "title": "name",
                                  "description": "blurb", "year": "year"},
                    user_columns={"user_id": "uid", "text": "about"},
                    delimiter=";", **kw)
    return DataConfig(name="mydata", path=str(d), format="csv", csv=csv,
                      split=SplitConfig(ratios=(1.0, 0.0, 0.0)))


def test_csv_dataset_loads_from_config(csv_dir):
    cfg = csv_config(csv_dir)
    dataset, split = load(cfg)
    assert dataset.name == "mydata"
    assert list(dataset.id_maps.user_raw) == ["u1", "u2", "u3"]
    assert list(dataset.id_maps.item_raw) == ["m1", "m2", "m3"]
    inter = dataset.interactions
    rows = zip(inter.user_ids.tolist(), inter.item_ids.tolist(), inter.ratings.tolist(),
               inter.timestamps.tolist(), strict=True)
    assert sorted(rows) == [(0, 0, 4.5, 100.0), (0, 1, 3.0, 101.0), (1, 0, 5.0, 102.0),
                            (2, 2, 2.0, 103.0)]
    assert list(dataset.item_features["title"]) == ["Solaris", "Stalker", "Mirror"]
    assert dataset.item_features["description"][0] == "A planet; a mind"
    np.testing.assert_array_equal(dataset.item_features["year"], [1972.0, 1979.0, 1975.0])
    assert list(dataset.user_features["text"][:2]) == ["likes space", "likes films"]
    assert len(split.train.user_ids) == 4

    csv = cfg.csv
    direct = clean(read_csv_dataset(csv_dir / "ratings.csv", csv.columns,
                                    items=csv_dir / "movies.csv", item_columns=csv.item_columns,
                                    users=csv_dir / "people.csv", user_columns=csv.user_columns,
                                    delimiter=";", name="mydata"), cfg.clean)
    assert_same_dataset(dataset, direct)


def test_csv_without_mappings_reads_every_column_by_its_header(tmp_path):
    write(tmp_path / "interactions.csv", "user_id,item_id,rating,kind\na,x,5,buy\nb,y,4,buy\n")
    cfg = DataConfig(name="plain", path=str(tmp_path), format="csv",
                     csv=CsvConfig(types={"kind": "token_seq"}))
    dataset, _ = load(cfg)
    assert list(dataset.id_maps.item_raw) == ["x", "y"]
    np.testing.assert_array_equal(dataset.interactions.ratings, [5.0, 4.0])


def test_multilingual_config_matches_the_hand_built_dataset():
    """The shipped example, through DataConfig, equals what run.py used to build by hand."""
    from experiments.multilingual.run import config

    cfg = config().data
    dataset, split = load(cfg)
    raw = read_csv_dataset(
        MULTILINGUAL / "interactions.csv",
        {"user_id": "user_id", "item_id": "item_id", "rating": "rating"},
        items=MULTILINGUAL / "items.csv",
        item_columns={"item_id": "item_id", "title": "title", "description": "description",
                      "kind": "kind"},
        users=MULTILINGUAL / "users.csv", user_columns={"user_id": "user_id", "text": "text"},
        name="multilingual")
    assert_same_dataset(dataset, clean(raw, CleanConfig(na_values=("",))))
    assert dataset.num_items == 34 and dataset.num_users == 10
    assert len(split.train.user_ids) == len(dataset.interactions.user_ids)


def test_multilingual_yaml_composes_to_the_example_config(tmp_path, monkeypatch):
    """conf/data/multilingual.yaml through Hydra equals run.py's data config and, its relative
    path resolved against the checkout, loads from any working directory."""
    from hydra import compose, initialize_config_dir

    from experiments.config import CONF_DIR, register, to_experiment
    from experiments.multilingual.run import config

    register()
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        data = to_experiment(compose("config", overrides=["data=multilingual"])).data
    expected = config().data
    assert data.path == "experiments/multilingual"
    assert DataConfig(**{**vars(data), "path": expected.path}) == expected
    monkeypatch.chdir(tmp_path)
    assert resolve_path(data.path) == MULTILINGUAL
    assert load(data)[0].num_items == 34


def test_relative_path_prefers_the_working_directory(tmp_path, monkeypatch):
    local = tmp_path / "experiments" / "multilingual"
    local.mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert resolve_path("experiments/multilingual") == Path("experiments/multilingual")
    with pytest.raises(FileNotFoundError, match="nowhere: no such directory .looked in"):
        read_directory("nowhere")


def write_atomic(d: Path, name: str) -> Path:
    d.mkdir(exist_ok=True)
    write(d / f"{name}.inter", "user_id:token\titem_id:token\trating:float\n1\t10\t4\n2\t11\t5\n")
    write(d / f"{name}.item", "item_id:token\tmovie_title:token_seq\n10\tAlpha\n11\tBeta\n")
    return d


def write_movielens_1m(d: Path) -> Path:
    d.mkdir(exist_ok=True)
    write(d / "ratings.dat", "1::10::5::978300760\n2::11::3::978300761\n")
    write(d / "movies.dat", "10::Alpha (1990)::Drama\n11::Beta (1991)::Comedy|Drama\n",
          encoding="latin-1")
    write(d / "users.dat", "1::F::1::10::48067\n2::M::25::12::10001\n")
    return d


def test_atomic_format(tmp_path):
    d = write_atomic(tmp_path / "toy", "toy")
    for fmt in ("atomic", "auto"):
        dataset, _ = load(DataConfig(name="toy", path=str(d), format=fmt))
        assert list(dataset.id_maps.item_raw) == ["10", "11"]
        assert list(dataset.item_features["title"]) == ["Alpha", "Beta"]  # movie_title renamed


def test_movielens_format(tmp_path):
    d = write_movielens_1m(tmp_path / "ml")
    dataset, _ = load(DataConfig(name="ml-mini", path=str(d), format="movielens"))
    assert dataset.name == "ml-mini"
    np.testing.assert_array_equal(dataset.interactions.ratings, [5.0, 3.0])
    assert dataset.item_features["genres"][1] == ("Comedy", "Drama")
    assert list(dataset.user_features["occupation"]) == ["K-12 student", "programmer"]


@pytest.mark.parametrize("fmt, files, message", [
    ("movielens", "atomic", r"data.format=movielens expects u.data \(ml-100k\) or ratings.dat "
                            r".*they look like atomic files: set data.format=atomic"),
    ("atomic", "movielens", r"data.format=atomic expects d.inter .*'ratings.dat'.*"
                            r"set data.format=movielens"),
])
def test_wrong_format_for_the_directory(tmp_path, fmt, files, message):
    d = tmp_path / "d"
    write_atomic(d, "d") if files == "atomic" else write_movielens_1m(d)
    with pytest.raises(FileNotFoundError, match=message):
        load(DataConfig(name="d", path=str(d), format=fmt))


def test_csv_format_on_a_directory_without_the_file(tmp_path):
    d = write_atomic(tmp_path / "toy", "toy")
    with pytest.raises(FileNotFoundError,
                       match=r"interactions.csv: no such file \(data.csv.interactions=.*toy.inter"):
        load(DataConfig(name="toy", path=str(d), format="csv"))


def test_csv_errors_name_the_file_and_column(csv_dir):
    cfg = csv_config(csv_dir)
    bad = DataConfig(name="mydata", path=str(csv_dir), format="csv",
                     csv=CsvConfig(**{**vars(cfg.csv), "item_columns": {
                         "item_id": "movieId", "title": "Title"}}))
    with pytest.raises(DataFormatError, match=r"movies.csv, line 1: column\(s\) \['Title'\] "
                                              r"\(for \['title'\]\) not in the header"):
        load(bad)
    unmapped = DataConfig(name="mydata", path=str(csv_dir), format="csv",
                          csv=CsvConfig(interactions="ratings.csv", delimiter=";"))
    with pytest.raises(DataFormatError,
                       match=r"ratings.csv: missing column\(s\) \['user_id', 'item_id'\]; "
                             r"the file has \['userId'"):
        load(unmapped)
    with pytest.raises(ValueError, match=r"types names column\(s\) \['genre'\]"):
        load(csv_config(csv_dir, types={"genre": "token_seq"}))


def test_unknown_format_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"data.format='parquet' is unknown; valid: "
                                         r"\('auto', 'atomic', 'movielens', 'csv'\)"):
        DataConfig(format="parquet")
    with pytest.raises(ValueError, match=r"data format 'xls' is unknown; valid: \('auto'"):
        read_directory(".", fmt="xls")


@pytest.mark.parametrize("kwargs, message", [
    ({"format": "csv"}, "data.format=csv needs data.path"),
    ({"path": "x", "csv": CsvConfig(items="items.csv")},
     "data.csv describes CSV files but data.format='auto'"),
    ({"name": "synthetic", "format": "atomic"}, "data.name=synthetic generates its data"),
])
def test_inconsistent_data_configs(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DataConfig(**kwargs)


@pytest.mark.parametrize("kwargs, message", [
    ({"columns": {"user_id": "u"}}, r"data.csv.columns must map \['item_id'\]"),
    ({"item_columns": {"item_id": "i"}}, "data.csv.item_columns is set but data.csv.items"),
    ({"users": "u.csv", "user_columns": {"text": "bio"}}, r"must map \['user_id'\]"),
    ({"columns": {"user_id": 1, "item_id": "i"}}, "must map names to names"),
    ({"types": {"rating": "int"}}, r"field types must be one of \('token'"),
    ({"delimiter": "::"}, "must be one character"),
])
def test_invalid_csv_configs(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CsvConfig(**kwargs)
