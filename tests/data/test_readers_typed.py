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


# A numeric na_values marker is matched by its exact text on every path, as the plain reader
# (and the code before the Arrow reader) does: "-1" is missing, "-1.0" is a rating of -1.
NUMERIC_NA = CleanConfig(na_values=("", "-1"))
NA_HEADER = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"


def _clean_all_paths(tmp_path, body, cfg):
    """``{path: (raw ratings kept, invalid details)}`` of the plain, typed and out-of-core
    paths (the typed path checked to be the fast one when every rating is a number)."""
    from recjax.data.staging import clean_out_of_core

    d = tmp_path / "na"
    d.mkdir(exist_ok=True)
    write(d / "na.inter", NA_HEADER + body)
    out = {}
    for typed in (False, True):
        raw = read_directory(d, typed=typed)
        ds = clean(raw, cfg)
        out["typed" if typed else "plain"] = (ds.interactions.ratings.tolist(),
                                              ds.report[0].details)
    ds = clean_out_of_core(d, "na", cfg, block_bytes=64)
    out["out-of-core"] = (ds.interactions.ratings.tolist(), ds.report[0].details)
    return out


@pytest.mark.parametrize("rows, kept, details", [
    # every rating a number: the typed path holds parsed floats
    ("1\ta\t-1.0\t1\n2\tb\t3\t2\n3\tc\t-1\t3\n4\td\t -1 \t4\n",
     [-1.0, 3.0], {"rating not a number": 2}),
    # one unrelated bad rating ("x") turns the column into strings: same fates for the others
    ("1\ta\t-1.0\t1\n2\tb\t3\t2\n3\tc\t-1\t3\n4\td\t -1 \t4\n5\te\tx\t5\n",
     [-1.0, 3.0], {"rating not a number": 3}),
    # the marker in the timestamp column too
    ("1\ta\t4\t-1.0\n2\tb\t3\t-1\n", [4.0], {"timestamp not a number": 1}),
])
def test_numeric_na_marker_matches_its_exact_text_on_every_path(tmp_path, rows, kept, details):
    results = _clean_all_paths(tmp_path, rows, NUMERIC_NA)
    for path, result in results.items():
        assert result == (kept, details), path


def test_numeric_na_marker_fast_path_is_the_typed_one(tmp_path):
    d = tmp_path / "na"
    d.mkdir()
    write(d / "na.inter", NA_HEADER + "1\ta\t-1.0\t1\n2\tb\t-1\t2\n")
    raw = read_directory(d)
    assert raw.interactions.data.schema.field("rating").type == pa.float64()
    ds = clean(raw, NUMERIC_NA)
    assert ds.interactions.ratings.tolist() == [-1.0]


def test_numeric_na_marker_in_csv_and_movielens_layouts(tmp_path):
    write(tmp_path / "log.csv", "u,i,r\na,x,-1.0\nb,y,-1\nc,z,2\n")
    cfg = DataConfig(name="c", path=str(tmp_path), format="csv", clean=NUMERIC_NA,
                     csv=CsvConfig(interactions="log.csv", columns={
                         "user_id": "u", "item_id": "i", "rating": "r"}))
    typed = clean(read_directory(tmp_path, "c", "csv", cfg.csv), NUMERIC_NA)
    plain = clean(read_directory(tmp_path, "c", "csv", cfg.csv, typed=False), NUMERIC_NA)
    assert typed.interactions.ratings.tolist() == plain.interactions.ratings.tolist() == [
        -1.0, 2.0]
    m = tmp_path / "ml"
    m.mkdir()
    write(m / "ratings.dat", "1::10::-1.0::5\n2::10::-1::6\n")
    write(m / "movies.dat", "10::X (1995)::Drama\n")
    write(m / "users.dat", "1::F::1::10::48067\n2::M::25::12::10001\n")
    for typed in (False, True):
        ds = clean(read_movielens_1m(m, typed=typed), NUMERIC_NA)
        assert ds.interactions.ratings.tolist() == [-1.0], typed


@pytest.mark.parametrize("declared", ["user_id:float", "item_id:float", "behavior:float"])
def test_ids_declared_float_are_read_as_tokens(tmp_path, declared):
    """A header may call an id column float; the ids stay the strings of the file ("7" and
    "7.0" are two users), as on the plain path, instead of crashing cleaning."""
    from recjax.data.staging import clean_out_of_core

    d = tmp_path / "f"
    d.mkdir()
    header = ["user_id:token", "item_id:token", "rating:float", "behavior:token"]
    header = [declared if h.split(":")[0] == declared.split(":")[0] else h for h in header]
    write(d / "f.inter", "\t".join(header) + "\n7\t1\t4\t2\n7.0\t1\t5\t2\n8\t2\t3\t2.0\n")
    raw = read_directory(d)
    name = declared.split(":")[0]
    assert pa.types.is_dictionary(raw.interactions.data.schema.field(name).type)
    typed = clean(raw)
    plain = clean(read_directory(d, typed=False))
    staged = clean_out_of_core(d, "f")
    for ds in (typed, staged):
        assert list(ds.id_maps.user_raw) == list(plain.id_maps.user_raw)
        assert list(ds.id_maps.item_raw) == list(plain.id_maps.item_raw)
        assert ds.id_maps.behaviors == plain.id_maps.behaviors
        np.testing.assert_array_equal(ds.interactions.user_ids, plain.interactions.user_ids)
    assert len(plain.id_maps.user_raw) == 3


def test_csv_ids_declared_float_are_read_as_tokens(tmp_path):
    write(tmp_path / "log.csv", "u,i\n7,1\n7.0,1\n")
    csv_cfg = CsvConfig(interactions="log.csv", columns={"user_id": "u", "item_id": "i"},
                        types={"user_id": "float"})
    ds = clean(read_directory(tmp_path, "c", "csv", csv_cfg))
    assert list(ds.id_maps.user_raw) == ["7", "7.0"]


@pytest.mark.parametrize("on_invalid", ["drop", "raise"])
def test_bad_bytes_in_an_unread_column_give_the_plain_error(tmp_path, on_invalid):
    """The typed path reads only the interaction columns, but the file must still be UTF-8:
    the error names file, line and bytes as the plain reader's does (with on_invalid=raise no
    bare UnicodeDecodeError escapes from the line lookup)."""
    d = tmp_path / "x"
    d.mkdir()
    (d / "x.inter").write_bytes(b"user_id:token\titem_id:token\trating:float\tnote:token\n"
                                b"1\t1\t3\tok\n1\t\t3\tCaf\xe9\n")
    expected = (f"{d / 'x.inter'}, line 3: bytes b'\\xe9' are not valid utf-8; re-encode the "
                f"file as utf-8 or pass encoding=... to the reader")
    for typed in (False, True):
        with pytest.raises(DataFormatError) as e:
            clean(read_directory(d, typed=typed), CleanConfig(on_invalid=on_invalid))
        assert str(e.value) == expected, typed
    from recjax.data.staging import clean_out_of_core

    with pytest.raises(DataFormatError) as e:
        clean_out_of_core(d, "x", CleanConfig(on_invalid=on_invalid))
    assert str(e.value) == expected


@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")
def test_bad_bytes_in_a_ragged_row_fall_back_quietly(tmp_path):
    """Arrow would hand the row callback undecodable text (an exception it can only print)."""
    f = tmp_path / "x.inter"
    f.write_bytes(b"user_id:token\titem_id:token\n1\t2\n\xe9\n")
    with pytest.raises(DataFormatError, match=r"line 3: bytes b'.xe9' are not valid"):
        read_atomic(f, typed=True)


@pytest.mark.parametrize("header, missing, has", [
    ("user_id:token\titemId:token\trating:float", "['item_id']",
     "['user_id', 'itemId', 'rating']"),
    ("\ufeffuser_id:token\titem_id:token\treview:token_seq", "['user_id']",
     "['\\ufeffuser_id', 'item_id', 'review']"),
])
def test_missing_column_lists_every_column_of_the_file(tmp_path, header, missing, has):
    """The typed path keeps only the interaction columns, but the message lists the header's
    every name, where the misspelt or BOM-prefixed one shows."""
    d = tmp_path / "toy"
    d.mkdir()
    write(d / "toy.inter", header + "\n1\t2\t3\n")
    for typed in (False, True):
        with pytest.raises(DataFormatError) as e:
            read_directory(d, typed=typed)
        assert str(e.value) == f"{d / 'toy.inter'}: missing column(s) {missing}; the file " \
                               f"has {has}", typed
