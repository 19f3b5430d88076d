import numpy as np
import pytest

from recjax.data.datasets import read_directory
from recjax.data.readers import (
    DataFormatError,
    read_atomic,
    read_csv_dataset,
    read_delimited,
    read_movielens_1m,
    read_movielens_100k,
)


def write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


def test_atomic_reader_columns_types_and_lines(tmp_path):
    f = write(tmp_path / "x.inter", "user_id:token\titem_id:token\trating:float\n"
                                    "1\t10\t4\n\n2\t11\t5\n")
    t = read_atomic(f)
    assert list(t.columns) == ["user_id", "item_id", "rating"]
    assert t.types == {"user_id": "token", "item_id": "token", "rating": "float"}
    assert list(t.columns["item_id"]) == ["10", "11"]
    assert list(t.lines) == [2, 4]  # the blank line is skipped but keeps the numbering


@pytest.mark.parametrize("header, message", [
    ("user_id\titem_id:token\n", "'user_id' is not 'name:type'"),
    ("user_id:token\titem_id:tokn\n", "type 'tokn'"),
    ("user_id:token\tuser_id:token\n", "appears twice"),
])
def test_atomic_bad_header(tmp_path, header, message):
    f = write(tmp_path / "x.inter", header + "1\t2\n")
    with pytest.raises(DataFormatError, match=message) as e:
        read_atomic(f)
    assert str(f) in str(e.value)


def test_ragged_row_names_line(tmp_path):
    f = write(tmp_path / "x.inter", "user_id:token\titem_id:token\n1\t2\n3\n4\t5\t6\n")
    with pytest.raises(DataFormatError, match=r"line 3: expected 2 fields, found 1 \(2 ragged"):
        read_atomic(f)


def test_non_utf8_names_line(tmp_path):
    f = tmp_path / "x.item"
    f.write_bytes(b"item_id:token\ttitle:token_seq\n1\tok\n2\tCaf\xe9\n")
    with pytest.raises(DataFormatError, match=r"x.item, line 3: bytes b'.xe9' are not valid"):
        read_atomic(f)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.inter: no such file"):
        read_atomic(tmp_path / "nope.inter")


def test_directory_without_dataset_files(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(FileNotFoundError, match="found no dataset files.*notes.txt"):
        read_directory(tmp_path)


def test_atomic_missing_required_column(tmp_path):
    d = tmp_path / "toy"
    d.mkdir()
    write(d / "toy.inter", "user_id:token\tmovie:token\n1\t2\n")
    with pytest.raises(DataFormatError, match=r"missing column\(s\) \['item_id'\]"):
        read_directory(d)


def test_csv_mapping_quotes_and_misnamed_column(tmp_path):
    f = write(tmp_path / "log.csv", 'uid,iid,stars,when,kind\n'
                                    'a,"x,1",4.5,100,click\n'
                                    'b,y,3,101,purchase\n')
    t = read_delimited(f, {"user_id": "uid", "item_id": "iid", "rating": "stars",
                           "timestamp": "when", "behavior": "kind"})
    assert list(t.columns["item_id"]) == ["x,1", "y"]
    assert t.types["rating"] == "float" and t.types["behavior"] == "token"
    assert list(t.lines) == [2, 3]
    with pytest.raises(DataFormatError, match=r"\['userId'\].*not in the header"):
        read_delimited(f, {"user_id": "userId", "item_id": "iid"})


def test_tsv_dataset_with_side_tables(tmp_path):
    inter = write(tmp_path / "r.tsv", "u\ti\nA\tX\nB\tY\n")
    items = write(tmp_path / "items.tsv", "id\tdesc\nX\tA travel book\nY\t\n")
    users = write(tmp_path / "users.tsv", "id\tbio\nA\tI like reading\n")
    raw = read_csv_dataset(inter, {"user_id": "u", "item_id": "i"}, items=items,
                           item_columns={"item_id": "id", "description": "desc"},
                           users=users, user_columns={"user_id": "id", "text": "bio"})
    assert list(raw.items.columns["description"]) == ["A travel book", ""]
    assert list(raw.users.columns["text"]) == ["I like reading"]
    with pytest.raises(ValueError, match="item_columns must map 'item_id'"):
        read_csv_dataset(inter, {"user_id": "u", "item_id": "i"}, items=items,
                         item_columns={"description": "desc"})


def test_movielens_100k_original_format(tmp_path):
    write(tmp_path / "u.data", "196\t242\t3\t881250949\n186\t302\t3\t891717742\n")
    flags = "|".join(["0"] * 19)
    write(tmp_path / "u.item",
          "242|Kolya (1996)|24-Jan-1997||http://x|" + "|".join(["0"] * 8 + ["1"] + ["0"] * 10)
          + "\n267|unknown||||" + flags + "\n"
          + "302|Caf\xe9 au lait (1994)|01-Jan-1994||x|" + "|".join(["0", "1"] + ["0"] * 17)
          + "\n", encoding="latin-1")
    write(tmp_path / "u.user", "196|49|M|writer|55105\n186|39|F|executive|00000\n")
    raw = read_movielens_100k(tmp_path)
    assert list(raw.items.columns["title"]) == ["Kolya", "unknown", "Café au lait"]
    assert list(raw.items.columns["year"]) == ["1996", "", "1994"]
    assert list(raw.items.columns["genres"]) == ["Drama", "", "Action"]
    assert list(raw.users.columns["occupation"]) == ["writer", "executive"]
    assert read_directory(tmp_path).name == tmp_path.name


def test_movielens_1m_format(tmp_path):
    write(tmp_path / "ratings.dat", "1::1193::5::978300760\n")
    write(tmp_path / "movies.dat", "1193::One Flew Over the Cuckoo's Nest (1975)::Drama|Comedy\n",
          encoding="latin-1")
    write(tmp_path / "users.dat", "1::F::1::10::48067\n")
    raw = read_movielens_1m(tmp_path)
    assert raw.items.columns["genres"][0] == "Drama Comedy"
    assert raw.items.columns["year"][0] == "1975"
    assert raw.users.columns["occupation"][0] == "K-12 student"
    assert np.array_equal(raw.interactions.columns["rating"], np.array(["5"], dtype=object))
