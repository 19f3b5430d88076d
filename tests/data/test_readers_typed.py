"""The Arrow fast path (``typed=True``) reads typed columns and gives every bad input the same
clear error as the plain reader: file, line, column, what was expected."""

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recjax.config.schema import CleanConfig, CsvConfig, DataConfig
from recjax.data.clean import clean
from recjax.data.columns import ColumnTable
from recjax.data.datasets import load, read_directory
from recjax.data.readers import (
    DataFormatError,
    read_atomic,
    read_delimited,
    read_movielens_1m,
    read_movielens_100k,
)
from recjax.types import RawDataset


def write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


def test_typed_columns(tmp_path):
    f = write(tmp_path / "x.inter", "user_id:token\titem_id:token\trating:float\t"
                                    "timestamp:float\tnote:token_seq\n"
                                    "1\t10\t4\t100\ta b\n\n2\t11\t4.5\t101\tc\n1\t11\t3\t99\t\n")
    t = read_atomic(f, typed=True)
    assert isinstance(t, ColumnTable)
    assert t.data.schema.field("user_id").type == pa.dictionary(pa.int32(), pa.string())
    assert t.data.schema.field("rating").type == pa.float64()
    assert t.data["rating"].to_pylist() == [4.0, 4.5, 3.0]
    assert t.data["user_id"].to_pylist() == ["1", "2", "1"]
    assert t.types["note"] == "token_seq"
    assert list(t.lines) == [2, 4, 5]  # blank line skipped, numbering kept


@pytest.mark.parametrize("header, message", [
    ("user_id\titem_id:token\n", "'user_id' is not 'name:type'"),
    ("user_id:token\titem_id:tokn\n", "type 'tokn'"),
    ("user_id:token\tuser_id:token\n", "appears twice"),
])
def test_typed_bad_header(tmp_path, header, message):
    f = write(tmp_path / "x.inter", header + "1\t2\n")
    with pytest.raises(DataFormatError, match=message) as e:
        read_atomic(f, typed=True)
    assert str(f) in str(e.value)


def test_typed_ragged_row_names_line(tmp_path):
    f = write(tmp_path / "x.inter", "user_id:token\titem_id:token\n1\t2\n3\n4\t5\t6\n")
    with pytest.raises(DataFormatError, match=r"line 3: expected 2 fields, found 1 \(2 ragged"):
        read_atomic(f, typed=True)


def test_typed_non_utf8_names_line(tmp_path):
    f = tmp_path / "x.inter"
    f.write_bytes(b"user_id:token\titem_id:token\n1\tok\n2\tCaf\xe9\n")
    with pytest.raises(DataFormatError, match=r"x.inter, line 3: bytes b'.xe9' are not valid"):
        read_atomic(f, typed=True)
    f.write_bytes(b"user_id:token\titem_\xe9:token\n1\tok\n")
    with pytest.raises(DataFormatError, match=r"x.inter, line 1: bytes b'.xe9' are not valid"):
        read_atomic(f, typed=True)


def test_typed_missing_file_and_column(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.inter: no such file"):
        read_atomic(tmp_path / "nope.inter", typed=True)
    d = tmp_path / "toy"
    d.mkdir()
    write(d / "toy.inter", "user_id:token\tmovie:token\n1\t2\n")
    with pytest.raises(DataFormatError, match=r"missing column\(s\) \['item_id'\]"):
        read_directory(d)


def test_invalid_row_raise_names_the_line_on_the_fast_path(tmp_path):
    d = tmp_path / "toy"
    d.mkdir()
    write(d / "toy.inter", "user_id:token\titem_id:token\trating:float\n"
                           "1\ta\t4\n\n2\tb\t5\n3\tc\tfive\n")
    raw = read_directory(d)
    assert isinstance(raw.interactions, ColumnTable)
    with pytest.raises(ValueError, match=r"toy.inter, line 5: rating not a number \(1 invalid"):
        clean(raw, CleanConfig(on_invalid="raise"))
    ds = clean(raw)
    assert ds.report[0].details == {"rating not a number": 1} and len(ds.interactions) == 2


def test_whitespace_only_lines_fall_back_and_are_skipped(tmp_path):
    f = write(tmp_path / "x.inter", "user_id:token\titem_id:token\n1\t2\n \t \n3\t4\n")
    t = read_atomic(f, typed=True)
    assert len(t) == 2 and list(t.lines) == [2, 4]


def test_typed_csv_quotes_mapping_and_errors(tmp_path):
    f = write(tmp_path / "log.csv", 'uid,iid,stars,when,kind\n'
                                    'a,"x,1",4.5,100,click\n'
                                    '\n'
                                    'b,y,3,101,purchase\n')
    t = read_delimited(f, {"user_id": "uid", "item_id": "iid", "rating": "stars",
                           "timestamp": "when", "behavior": "kind"}, typed=True)
    assert isinstance(t, ColumnTable)
    assert t.data["item_id"].to_pylist() == ["x,1", "y"]
    assert t.data["rating"].to_pylist() == [4.5, 3.0]
    assert list(t.lines) == [2, 4]
    with pytest.raises(DataFormatError, match=r"\['userId'\].*not in the header"):
        read_delimited(f, {"user_id": "userId", "item_id": "iid"}, typed=True)
    bad = write(tmp_path / "bad.csv", "u,i\na,b\nc\n")
    with pytest.raises(DataFormatError, match=r"bad.csv, line 3: expected 2 fields, found 1"):
        read_delimited(bad, typed=True)
    empty = write(tmp_path / "empty.csv", "")
    with pytest.raises(DataFormatError, match="the file is empty"):
        read_delimited(empty, typed=True)


def test_typed_csv_equals_plain(tmp_path):
    write(tmp_path / "interactions.csv", "user_id,item_id,rating,when\n"
                                         " u1 ,m1,4.5,3\nu2,m1,NA,2\nu1,m1,2,1\nu3,m2,5,0\n")
    cfg = DataConfig(name="c", path=str(tmp_path), format="csv", csv=CsvConfig(
        columns={"user_id": "user_id", "item_id": "item_id", "rating": "rating",
                 "timestamp": "when"}))
    typed, _ = load(cfg)
    plain = clean(read_directory(tmp_path, "c", "csv", cfg.csv, typed=False))
    np.testing.assert_array_equal(typed.interactions.ratings, plain.interactions.ratings)
    np.testing.assert_array_equal(typed.interactions.user_ids, plain.interactions.user_ids)
    assert list(typed.id_maps.user_raw) == ["u1", "u3"]  # u2's rating is missing
    assert typed.report[0].details == {"rating not a number": 1}
    assert typed.report[1].removed == 1  # (u1, m1) twice: the earlier one (t=1) is kept
    assert float(typed.interactions.ratings[0]) == 2.0


def test_movielens_typed_readers(tmp_path):
    write(tmp_path / "ratings.dat", "1::1193::5::978300760\n2::10::3.5::978300761\n")
    write(tmp_path / "movies.dat", "1193::One Flew (1975)::Drama\n10::X: Y (1995)::Action\n",
          encoding="latin-1")
    write(tmp_path / "users.dat", "1::F::1::10::48067\n2::M::25::12::10001\n")
    raw = read_movielens_1m(tmp_path, typed=True)
    assert isinstance(raw.interactions, ColumnTable)
    assert raw.interactions.data.column_names == ["user_id", "item_id", "rating", "timestamp"]
    assert raw.interactions.data["rating"].to_pylist() == [5.0, 3.5]
    assert raw.items.columns["title"][1] == "X: Y"
    # An id with a ":" cannot be split on ":"; the plain reader reads that file.
    write(tmp_path / "ratings.dat", "1::1193::5::978300760\n2::1:0::3::978300761\n")
    assert list(read_movielens_1m(tmp_path, typed=True).interactions.columns["item_id"]) == [
        "1193", "1:0"]
    write(tmp_path / "ratings.dat", "1::1193::5::978300760\n2::10::3\n")
    with pytest.raises(DataFormatError, match=r"ratings.dat, line 2: expected 4 fields, found 3"):
        read_movielens_1m(tmp_path, typed=True)
    d = tmp_path / "k"
    d.mkdir()
    write(d / "u.data", "196\t242\t3\t881250949\n186\t302\t3\n")
    write(d / "u.item", "242|Kolya (1996)|24-Jan-1997||x|" + "|".join(["0"] * 19) + "\n",
          encoding="latin-1")
    write(d / "u.user", "196|49|M|writer|55105\n")
    with pytest.raises(DataFormatError, match=r"u.data, line 2: expected 4 fields, found 3"):
        read_movielens_100k(d, typed=True)


def test_raw_tables_of_strings_still_clean(tmp_path):
    """``clean`` takes plain string tables (built by hand, by synthetic_raw) too."""
    from recjax.types import RawTable

    cols = {"user_id": np.array(["1", "2"], object), "item_id": np.array(["a", "a"], object)}
    ds = clean(RawDataset("t", RawTable("t", cols, {"user_id": "token", "item_id": "token"},
                                        np.array([2, 3]))))
    assert ds.num_users == 2 and ds.num_items == 1


def test_typed_interactions_keep_only_what_cleaning_uses(tmp_path):
    d = tmp_path / "rev"
    d.mkdir()
    write(d / "rev.inter", "user_id:token\titem_id:token\treview:token_seq\trating:float\n"
                           "1\ta\tA long review text\t5\n")
    inter = read_directory(d).interactions
    assert inter.data.column_names == ["user_id", "item_id", "rating"]
    assert "review" in read_directory(d, typed=False).interactions.columns


def cells(table):
    """Columns as stripped strings (what cleaning sees) and the line numbers."""
    out = {}
    for name, col in table.columns.items():
        values = col.tolist() if isinstance(col, np.ndarray) else col.to_pylist()
        out[name] = [str(v).strip() for v in values]
    return out, list(table.lines)


def read_both(reader, path):
    results = []
    for typed in (False, True):
        try:
            results.append(cells(reader(path, typed=typed)))
        except DataFormatError as e:
            results.append(str(e))
    return results


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(["a", "1", ",", '"', " ", "\n", "\r\n", "é", "\t", "2.5"]),
                max_size=30))
def test_typed_csv_reads_what_the_plain_reader_reads(tmp_path, pieces):
    """Quotes, embedded newlines, CRLF, blank and ragged lines: the Arrow path reads every cell
    and line number as the csv module does, or leaves the file to it."""
    f = write(tmp_path / "x.csv", "user_id,item_id,rating\n" + "".join(pieces))
    plain, typed = read_both(read_delimited, f)
    if isinstance(plain, str) or isinstance(typed, str):
        assert plain == typed
        return
    assert typed[1] == plain[1]
    for name in ("user_id", "item_id"):
        assert typed[0][name] == plain[0][name]
    # Ratings: the typed path holds parsed numbers when every cell is one ("1" -> 1.0).
    if all(_is_number(x) for x in plain[0]["rating"]):
        assert [float(x) for x in typed[0]["rating"]] == [float(x) for x in plain[0]["rating"]]
    else:
        assert typed[0]["rating"] == plain[0]["rating"]


def _is_number(x):
    try:
        float(x)
        return True
    except ValueError:
        return False


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(["a", "1", '"', " ", "\n", "\r\n", "é", "\t", "\t\t"]),
                max_size=30))
def test_typed_atomic_reads_what_the_plain_reader_reads(tmp_path, pieces):
    f = write(tmp_path / "x.inter", "user_id:token\titem_id:token\n" + "".join(pieces))
    plain, typed = read_both(read_atomic, f)
    assert plain == typed
