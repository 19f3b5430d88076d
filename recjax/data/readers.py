"""Readers for interaction logs and side information.

Every reader returns :class:`~recjax.types.RawTable` / :class:`~recjax.types.RawDataset` with
canonical column names and every cell kept as the string in the file. Parsing numbers is the
job of cleaning, which counts and reports what it cannot parse instead of coercing it.

Canonical columns:
  interactions: ``user_id``, ``item_id`` and optionally ``rating``, ``timestamp``, ``behavior``
  items: ``item_id`` plus e.g. ``title``, ``year``, ``genres``, ``description``
  users: ``user_id`` plus e.g. ``age``, ``gender``, ``occupation``, ``zip_code``, ``text``

Errors are :class:`DataFormatError` and name the file, the line and what was expected.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from recjax.types import FIELD_TYPES, RawDataset, RawTable


class DataFormatError(ValueError):
    """A data file does not have the expected format; the message names file and line."""


def _read_text(path: str | os.PathLike, encoding: str = "utf-8") -> str:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    data = path.read_bytes()
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise DataFormatError(
            f"{path}, line {line}: bytes {data[e.start:e.end]!r} are not valid {encoding}; "
            f"re-encode the file as {encoding} or pass encoding=... to the reader") from None


def _split_rows(text: str, sep: str, path, n_fields: int | None, first_line: int):
    """Split lines on ``sep``; every row must have the same number of fields."""
    rows, lines = [], []
    for n, line in enumerate(text.splitlines(), start=first_line):
        if not line.strip():
            continue
        rows.append(line.split(sep))
        lines.append(n)
    _check_ragged(rows, lines, path, n_fields)
    return rows, np.asarray(lines, dtype=np.int64)


def _check_ragged(rows, lines, path, n_fields):
    if not rows:
        return
    expected = n_fields if n_fields is not None else len(rows[0])
    bad = [i for i, r in enumerate(rows) if len(r) != expected]
    if bad:
        i = bad[0]
        raise DataFormatError(
            f"{path}, line {lines[i]}: expected {expected} fields, found {len(rows[i])} "
            f"({len(bad)} ragged row(s) in the file)")


def _columns(rows, names: Sequence[str]) -> dict[str, np.ndarray]:
    if not rows:
        return {name: np.zeros(0, dtype=object) for name in names}
    cols = list(zip(*rows, strict=True))
    out = {}
    for name, col in zip(names, cols, strict=True):
        arr = np.empty(len(col), dtype=object)
        arr[:] = [c.strip() for c in col]
        out[name] = arr
    return out


def read_atomic(path: str | os.PathLike, rename: Mapping[str, str] | None = None) -> RawTable:
    """Read a RecBole atomic file (``.inter``, ``.item``, ``.user``): tab separated, with a
    typed header ``name:type`` where type is one of token, token_seq, float, float_seq.

    ``rename`` maps file column names to canonical names (e.g. ``movie_title -> title``).
    """
    text = _read_text(path)
    header, _, body = text.partition("\n")
    names, types = [], {}
    for k, cell in enumerate(header.rstrip("\r").split("\t")):
        name, colon, kind = cell.strip().partition(":")
        if not colon or not name:
            raise DataFormatError(
                f"{path}, line 1, column {k + 1}: header field {cell!r} is not 'name:type'")
        if kind not in FIELD_TYPES:
            raise DataFormatError(
                f"{path}, line 1: column {name!r} has type {kind!r}; expected one of "
                f"{', '.join(FIELD_TYPES)}")
        name = (rename or {}).get(name, name)
        if name in types:
            raise DataFormatError(f"{path}, line 1: column {name!r} appears twice")
        names.append(name)
        types[name] = kind
    rows, lines = _split_rows(body, "\t", path, len(names), first_line=2)
    return RawTable(str(path), _columns(rows, names), types, lines)


def require_columns(table: RawTable, required: Sequence[str]) -> None:
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise DataFormatError(
            f"{table.source}: missing column(s) {missing}; the file has {list(table.columns)}")


def read_atomic_dataset(directory: str | os.PathLike, name: str | None = None,
                        rename: Mapping[str, str] | None = None) -> RawDataset:
    """Read ``<name>.inter`` and, where present, ``<name>.item`` / ``<name>.user``."""
    directory = Path(directory)
    name = name or directory.name
    rename = {"user_id": "user_id", "item_id": "item_id", **(rename or {})}
    inter = read_atomic(directory / f"{name}.inter", rename)
    require_columns(inter, ["user_id", "item_id"])
    items = users = None
    if (directory / f"{name}.item").is_file():
        items = read_atomic(directory / f"{name}.item", rename)
        require_columns(items, ["item_id"])
    if (directory / f"{name}.user").is_file():
        users = read_atomic(directory / f"{name}.user", rename)
        require_columns(users, ["user_id"])
    return RawDataset(name, inter, items, users)


ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller", "War", "Western")

ML1M_OCCUPATIONS = (
    "other", "academic/educator", "artist", "clerical/admin", "college/grad student",
    "customer service", "doctor/health care", "executive/managerial", "farmer", "homemaker",
    "K-12 student", "lawyer", "programmer", "retired", "sales/marketing", "scientist",
    "self-employed", "technician/engineer", "tradesman/craftsman", "unemployed", "writer")


def _split_title_year(titles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """'Toy Story (1995)' -> ('Toy Story', '1995'); titles without a year keep year ''."""
    out_t, out_y = np.empty(len(titles), object), np.empty(len(titles), object)
    for i, t in enumerate(titles):
        t = t.strip()
        if t.endswith(")") and len(t) >= 6 and t[-6] == "(" and t[-5:-1].isdigit():
            out_t[i], out_y[i] = t[:-6].strip(), t[-5:-1]
        else:
            out_t[i], out_y[i] = t, ""
    return out_t, out_y


def _token_seq(values: list[list[str]]) -> np.ndarray:
    arr = np.empty(len(values), object)
    arr[:] = [" ".join(v) for v in values]
    return arr


def read_movielens_100k(directory: str | os.PathLike) -> RawDataset:
    """Read the original GroupLens ml-100k files ``u.data``, ``u.item``, ``u.user``."""
    d = Path(directory)
    rows, lines = _split_rows(_read_text(d / "u.data"), "\t", d / "u.data", 4, 1)
    inter = RawTable(str(d / "u.data"),
                     _columns(rows, ["user_id", "item_id", "rating", "timestamp"]),
                     {"user_id": "token", "item_id": "token", "rating": "float",
                      "timestamp": "float"}, lines)
    # u.item is ISO-8859-1 (accented titles), as GroupLens documents.
    rows, lines = _split_rows(_read_text(d / "u.item", "latin-1"), "|", d / "u.item", 24, 1)
    cols = _columns(rows, ["item_id", "title", "release_date", "video_date", "url",
                           *[f"g{k}" for k in range(19)]])
    title, year = _split_title_year(cols["title"])
    dates = cols["release_date"]
    year = np.array([y or (dt[-4:] if dt else "") for y, dt in zip(year, dates, strict=True)],
                    dtype=object)
    genres = _token_seq([[g for g, flag in zip(ML100K_GENRES, flags, strict=True) if flag == "1"]
                         for flags in zip(*[cols[f"g{k}"] for k in range(19)], strict=True)])
    items = RawTable(str(d / "u.item"),
                     {"item_id": cols["item_id"], "title": title, "year": year, "genres": genres},
                     {"item_id": "token", "title": "token_seq", "year": "token",
                      "genres": "token_seq"}, lines)
    rows, lines = _split_rows(_read_text(d / "u.user"), "|", d / "u.user", 5, 1)
    users = RawTable(str(d / "u.user"),
                     _columns(rows, ["user_id", "age", "gender", "occupation", "zip_code"]),
                     {"user_id": "token", "age": "token", "gender": "token",
                      "occupation": "token", "zip_code": "token"}, lines)
    return RawDataset("ml-100k", inter, items, users)


def read_movielens_1m(directory: str | os.PathLike) -> RawDataset:
    """Read the original GroupLens ml-1m files ``ratings.dat``, ``movies.dat``, ``users.dat``
    (``::`` separated; movies.dat is ISO-8859-1)."""
    d = Path(directory)
    rows, lines = _split_rows(_read_text(d / "ratings.dat"), "::", d / "ratings.dat", 4, 1)
    inter = RawTable(str(d / "ratings.dat"),
                     _columns(rows, ["user_id", "item_id", "rating", "timestamp"]),
                     {"user_id": "token", "item_id": "token", "rating": "float",
                      "timestamp": "float"}, lines)
    rows, lines = _split_rows(_read_text(d / "movies.dat", "latin-1"), "::", d / "movies.dat", 3,
                              1)
    cols = _columns(rows, ["item_id", "title", "genres"])
    title, year = _split_title_year(cols["title"])
    genres = _token_seq([g.split("|") for g in cols["genres"]])
    items = RawTable(str(d / "movies.dat"),
                     {"item_id": cols["item_id"], "title": title, "year": year, "genres": genres},
                     {"item_id": "token", "title": "token_seq", "year": "token",
                      "genres": "token_seq"}, lines)
    rows, lines = _split_rows(_read_text(d / "users.dat"), "::", d / "users.dat", 5, 1)
    cols = _columns(rows, ["user_id", "gender", "age", "occupation", "zip_code"])
    occ = cols["occupation"].copy()
    for i, code in enumerate(occ):
        if code.isdigit() and int(code) < len(ML1M_OCCUPATIONS):
            occ[i] = ML1M_OCCUPATIONS[int(code)]
    cols["occupation"] = occ
    users = RawTable(str(d / "users.dat"), cols, dict.fromkeys(cols, "token"), lines)
    return RawDataset("ml-1m", inter, items, users)


def read_delimited(path: str | os.PathLike, columns: Mapping[str, str] | None = None,
                   types: Mapping[str, str] | None = None, delimiter: str | None = None,
                   encoding: str = "utf-8") -> RawTable:
    """Read a CSV/TSV file with a header row and a column mapping.

    Args:
      path: the file; ``.tsv``/``.tab`` files default to tab, everything else to comma.
      columns: canonical name -> column name in the file's header, e.g.
        ``{"user_id": "userId", "item_id": "movieId", "rating": "rating"}``; ``None`` keeps
        every column under its header name.
      types: canonical name -> field type (default "token"; rating/timestamp "float").
      delimiter: overrides the guess from the file extension.

    Quoted fields (commas inside quotes, embedded newlines) follow the CSV standard.
    """
    path = Path(path)
    if delimiter is None:
        delimiter = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
    text = _read_text(path, encoding)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise DataFormatError(f"{path}: the file is empty (no header row)") from None
    header = [h.strip() for h in header]
    if columns is None:
        twice = sorted({h for h in header if header.count(h) > 1})
        if twice:
            raise DataFormatError(f"{path}, line 1: column(s) {twice} appear more than once in "
                                  "the header; map the columns to read by name")
        columns = {h: h for h in header}
    missing = {canon: src for canon, src in columns.items() if src not in header}
    if missing:
        raise DataFormatError(
            f"{path}, line 1: column(s) {sorted(missing.values())} (for "
            f"{sorted(missing)}) not in the header {header}")
    rows, lines = [], []
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue
        rows.append(row)
        lines.append(reader.line_num)
    _check_ragged(rows, lines, path, len(header))
    all_cols = _columns(rows, header)
    out = {canon: all_cols[src] for canon, src in columns.items()}
    default = {"rating": "float", "timestamp": "float"}
    kinds = {c: (types or {}).get(c, default.get(c, "token")) for c in out}
    return RawTable(str(path), out, kinds, np.asarray(lines, dtype=np.int64))


def read_csv_dataset(interactions: str | os.PathLike, columns: Mapping[str, str] | None = None,
                     items: str | os.PathLike | None = None,
                     item_columns: Mapping[str, str] | None = None,
                     users: str | os.PathLike | None = None,
                     user_columns: Mapping[str, str] | None = None,
                     types: Mapping[str, str] | None = None, delimiter: str | None = None,
                     name: str | None = None) -> RawDataset:
    """A :class:`RawDataset` from generic CSV/TSV files with column mappings.

    ``columns`` must map at least ``user_id`` and ``item_id``; ``item_columns`` at least
    ``item_id`` and ``user_columns`` at least ``user_id``. A mapping left ``None`` reads every
    column of its file under its header name, which must then include those ids. ``types``
    applies to the columns of all three files.
    """
    for need, mapping, what, file in (("user_id", columns, "columns", interactions),
                                      ("item_id", columns, "columns", interactions),
                                      ("item_id", item_columns, "item_columns", items),
                                      ("user_id", user_columns, "user_columns", users)):
        if file is not None and mapping is not None and need not in mapping:
            raise ValueError(f"{what} must map {need!r} to a column of {file}; got {mapping}")
    inter = read_delimited(interactions, columns, types, delimiter)
    require_columns(inter, ["user_id", "item_id"])
    item_t = user_t = None
    if items is not None:
        item_t = read_delimited(items, item_columns, types, delimiter)
        require_columns(item_t, ["item_id"])
    if users is not None:
        user_t = read_delimited(users, user_columns, types, delimiter)
        require_columns(user_t, ["user_id"])
    tables = [t for t in (inter, item_t, user_t) if t is not None]
    unused = sorted(set(types or {}) - {c for t in tables for c in t.columns})
    if unused:
        raise ValueError(f"types names column(s) {unused} that none of "
                         f"{[t.source for t in tables]} has")
    return RawDataset(name or Path(interactions).stem, inter, item_t, user_t)
