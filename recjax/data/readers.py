"""Readers for interaction logs and side information.

Every reader returns :class:`~recjax.types.RawTable` / :class:`~recjax.types.RawDataset` with
canonical column names and every cell kept as the string in the file. Parsing numbers is the
job of cleaning, which counts and reports what it cannot parse instead of coercing it.

With ``typed=True`` the interaction file is read instead by Arrow into typed columns
(:class:`~recjax.data.columns.ColumnTable`: ids dictionary-encoded, numbers float64), which is
what :func:`recjax.data.datasets.read_raw` does: a 25 M-row log then never exists as Python
strings. Files the fast path cannot vouch for (ragged rows, bad bytes) fall back to the plain
reader below, so every error message is the same whichever path was asked for.

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

from recjax.data import columns as arrow
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


def _atomic_header(header: str, path, rename) -> tuple[list[str], dict[str, str]]:
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
    return names, types


def _first_line(path) -> str | None:
    """The first line of a UTF-8 file, or None when it is not valid UTF-8 (the plain reader
    then names the bad bytes)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    with open(path, "rb") as f:
        first = f.readline()
    try:
        return first.decode("utf-8").rstrip("\n")
    except UnicodeDecodeError:
        return None


# The interaction columns cleaning uses; the typed path of an interaction file reads only
# these (an .inter file may also hold e.g. review texts, which would cost memory for nothing).
INTERACTION_COLUMNS = ("user_id", "item_id", "rating", "timestamp", "behavior")
# Columns that are names, not quantities: the typed path reads them as strings whatever type a
# header declares ("user_id:float" keeps "7" and "7.0" apart, as the plain reader does).
TOKEN_COLUMNS = ("user_id", "item_id", "behavior")


def typed_kinds(names, types: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """``(floats, tokens)``: the columns of ``names`` the typed path parses as numbers and
    those it dictionary-encodes."""
    floats = [n for n in names if types.get(n) == "float" and n not in TOKEN_COLUMNS]
    tokens = [n for n in names if n not in floats and (types.get(n) == "token"
                                                       or n in TOKEN_COLUMNS)]
    return floats, tokens


def read_atomic(path: str | os.PathLike, rename: Mapping[str, str] | None = None,
                typed: bool = False, interactions: bool = False) -> RawTable:
    """Read a RecBole atomic file (``.inter``, ``.item``, ``.user``): tab separated, with a
    typed header ``name:type`` where type is one of token, token_seq, float, float_seq.

    ``rename`` maps file column names to canonical names (e.g. ``movie_title -> title``).
    ``typed=True`` reads typed Arrow columns (tokens dictionary-encoded, floats float64, the
    :data:`TOKEN_COLUMNS` always as strings); with ``interactions`` too, only the
    :data:`INTERACTION_COLUMNS` are kept.
    """
    if typed:
        header = _first_line(path)
        if header is not None:
            names, types = _atomic_header(header, path, rename)
            keep = [n for n in names if n in INTERACTION_COLUMNS] if interactions else names
            floats, tokens = typed_kinds(keep, types)
            table = arrow.read_typed(path, names, "\t", 1, floats=floats, tokens=tokens,
                                     include=keep or None)
            if table is not None:
                return arrow.ColumnTable(str(path), table, {n: types[n] for n in keep},
                                         lambda: arrow.scan_lines(path, 2),
                                         arrow.text_finder(path, names, "\t", 1),
                                         tuple(names))
    text = _read_text(path)
    header, _, body = text.partition("\n")
    names, types = _atomic_header(header, path, rename)
    rows, lines = _split_rows(body, "\t", path, len(names), first_line=2)
    return RawTable(str(path), _columns(rows, names), types, lines)


def require_columns(table: RawTable, required: Sequence[str]) -> None:
    missing = [c for c in required if c not in table.columns]
    if missing:
        # A typed table may hold only some of the file's columns; name them all, since the
        # one the user meant is often there, misspelt ("itemId", "\ufeffuser_id").
        present = list(getattr(table, "file_columns", ()) or table.columns)
        raise DataFormatError(
            f"{table.source}: missing column(s) {missing}; the file has {present}")


def read_atomic_dataset(directory: str | os.PathLike, name: str | None = None,
                        rename: Mapping[str, str] | None = None,
                        typed: bool = False) -> RawDataset:
    """Read ``<name>.inter`` and, where present, ``<name>.item`` / ``<name>.user``
    (``typed`` applies to the interactions; side tables are small and read as strings)."""
    directory = Path(directory)
    name = name or directory.name
    rename = {"user_id": "user_id", "item_id": "item_id", **(rename or {})}
    inter = read_atomic(directory / f"{name}.inter", rename, typed, interactions=True)
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


_RATING_TYPES = {"user_id": "token", "item_id": "token", "rating": "float", "timestamp": "float"}


def _read_ratings(path: Path, sep: str, typed: bool) -> RawTable | arrow.ColumnTable:
    """A headerless ``user, item, rating, timestamp`` file (u.data, ratings.dat)."""
    names = list(_RATING_TYPES)
    if typed and _first_line(path) is not None:
        # "::" is not a single character: split on ":" and keep every other field (the ids
        # and numbers of these files never contain ":"; if one does, the row is ragged and
        # the plain reader below reads it).
        fields = names if len(sep) == 1 else [
            name for k, n in enumerate(names) for name in ((n, f"_gap{k}") if k < 3 else (n,))]
        table = arrow.read_typed(path, fields, sep[0], 0, floats=["rating", "timestamp"],
                                 tokens=["user_id", "item_id"])
        if table is not None and len(sep) > 1:
            gaps = [table[c] for c in fields if c.startswith("_gap")]
            empty = all(arrow.encode_strings(g)[1] in ([""], []) for g in gaps)
            table = table.select(names) if empty else None
        if table is not None:
            return arrow.ColumnTable(str(path), table, dict(_RATING_TYPES),
                                     lambda: arrow.scan_lines(path, 1),
                                     arrow.text_finder(path, fields, sep[0], 0), tuple(names))
    rows, lines = _split_rows(_read_text(path), sep, path, 4, 1)
    return RawTable(str(path), _columns(rows, names), dict(_RATING_TYPES), lines)


def read_movielens_100k(directory: str | os.PathLike, typed: bool = False) -> RawDataset:
    """Read the original GroupLens ml-100k files ``u.data``, ``u.item``, ``u.user``."""
    d = Path(directory)
    inter = _read_ratings(d / "u.data", "\t", typed)
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


def _movies_dat(path: Path, encoding: str) -> RawTable:
    rows, lines = _split_rows(_read_text(path, encoding), "::", path, 3, 1)
    cols = _columns(rows, ["item_id", "title", "genres"])
    return _movie_table(str(path), cols, lines)


def _movie_table(source: str, cols: Mapping[str, np.ndarray], lines: np.ndarray) -> RawTable:
    """``movieId, title, genres`` -> item_id, title and year split, genres as words."""
    title, year = _split_title_year(cols["title"])
    genres = _token_seq([[] if g == "(no genres listed)" else g.split("|")
                         for g in cols["genres"]])
    return RawTable(source,
                    {"item_id": cols["item_id"], "title": title, "year": year, "genres": genres},
                    {"item_id": "token", "title": "token_seq", "year": "token",
                     "genres": "token_seq"}, lines)


def read_movielens_1m(directory: str | os.PathLike, typed: bool = False) -> RawDataset:
    """Read the original GroupLens ml-1m files ``ratings.dat``, ``movies.dat``, ``users.dat``
    (``::`` separated; movies.dat is ISO-8859-1)."""
    d = Path(directory)
    inter = _read_ratings(d / "ratings.dat", "::", typed)
    items = _movies_dat(d / "movies.dat", "latin-1")
    rows, lines = _split_rows(_read_text(d / "users.dat"), "::", d / "users.dat", 5, 1)
    cols = _columns(rows, ["user_id", "gender", "age", "occupation", "zip_code"])
    occ = cols["occupation"].copy()
    for i, code in enumerate(occ):
        if code.isdigit() and int(code) < len(ML1M_OCCUPATIONS):
            occ[i] = ML1M_OCCUPATIONS[int(code)]
    cols["occupation"] = occ
    users = RawTable(str(d / "users.dat"), cols, dict.fromkeys(cols, "token"), lines)
    return RawDataset("ml-1m", inter, items, users)


def read_movielens_10m(directory: str | os.PathLike, typed: bool = False) -> RawDataset:
    """Read GroupLens ml-10m (``ml-10M100K``): ``ratings.dat`` and ``movies.dat`` in the ml-1m
    layout, half-star ratings, no user file. movies.dat is read as UTF-8, or ISO-8859-1 when
    it is not valid UTF-8."""
    d = Path(directory)
    inter = _read_ratings(d / "ratings.dat", "::", typed)
    try:
        items = _movies_dat(d / "movies.dat", "utf-8")
    except DataFormatError:
        items = _movies_dat(d / "movies.dat", "latin-1")
    return RawDataset("ml-10m", inter, items, None)


def read_movielens_csv(directory: str | os.PathLike, typed: bool = False) -> RawDataset:
    """Read GroupLens ml-20m / ml-25m (and ml-latest): ``ratings.csv``
    (``userId,movieId,rating,timestamp``) and ``movies.csv`` (``movieId,title,genres``,
    quoted CSV, UTF-8). No user file exists."""
    d = Path(directory)
    inter = read_delimited(d / "ratings.csv", {"user_id": "userId", "item_id": "movieId",
                                               "rating": "rating", "timestamp": "timestamp"},
                           delimiter=",", typed=typed)
    movies = read_delimited(d / "movies.csv", {"item_id": "movieId", "title": "title",
                                               "genres": "genres"}, delimiter=",")
    items = _movie_table(movies.source, movies.columns, movies.lines)
    return RawDataset(d.name, inter, items, None)


def _delimited_columns(path: Path, header: list[str], columns: Mapping[str, str] | None
                       ) -> dict[str, str]:
    """Check the header against the mapping (canonical -> header name)."""
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
    return dict(columns)


_DEFAULT_KINDS = {"rating": "float", "timestamp": "float"}


def _read_delimited_typed(path: Path, columns, types, delimiter: str
                          ) -> arrow.ColumnTable | None:
    try:
        with open(path, encoding="utf-8", newline="") as f:
            header = next(csv.reader(f, delimiter=delimiter), None)
    except UnicodeDecodeError:
        return None
    if header is None:
        return None
    header = [h.strip() for h in header]
    columns = _delimited_columns(path, header, columns)
    kinds = {c: (types or {}).get(c, _DEFAULT_KINDS.get(c, "token")) for c in columns}
    if len(set(header)) != len(header) or len(set(columns.values())) != len(columns):
        return None  # Arrow needs distinct names; the plain reader handles these headers
    floats, tokens = typed_kinds(list(columns), kinds)
    table = arrow.read_typed(path, header, delimiter, 1, floats=[columns[c] for c in floats],
                             tokens=[columns[c] for c in tokens], quoted=True,
                             include=list(columns.values()))
    if table is None:
        return None
    table = table.select(list(columns.values())).rename_columns(list(columns))
    return arrow.ColumnTable(str(path), table, kinds,
                             lambda: arrow.scan_lines(path, 2, delimiter, quoted=True),
                             arrow.text_finder(path, header, delimiter, 1, columns, quoted=True),
                             tuple(header))


def read_delimited(path: str | os.PathLike, columns: Mapping[str, str] | None = None,
                   types: Mapping[str, str] | None = None, delimiter: str | None = None,
                   encoding: str = "utf-8", typed: bool = False) -> RawTable:
    """Read a CSV/TSV file with a header row and a column mapping.

    Args:
      path: the file; ``.tsv``/``.tab`` files default to tab, everything else to comma.
      columns: canonical name -> column name in the file's header, e.g.
        ``{"user_id": "userId", "item_id": "movieId", "rating": "rating"}``; ``None`` keeps
        every column under its header name.
      types: canonical name -> field type (default "token"; rating/timestamp "float").
      delimiter: overrides the guess from the file extension.
      typed: read typed Arrow columns (UTF-8 files only; see the module docstring).

    Quoted fields (commas inside quotes, embedded newlines) follow the CSV standard.
    """
    path = Path(path)
    if delimiter is None:
        delimiter = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
    if typed and encoding.lower().replace("-", "") == "utf8":
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such file")
        table = _read_delimited_typed(path, columns, types, delimiter)
        if table is not None:
            return table
    text = _read_text(path, encoding)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise DataFormatError(f"{path}: the file is empty (no header row)") from None
    header = [h.strip() for h in header]
    columns = _delimited_columns(path, header, columns)
    rows, lines = [], []
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue
        rows.append(row)
        lines.append(reader.line_num)
    _check_ragged(rows, lines, path, len(header))
    all_cols = _columns(rows, header)
    out = {canon: all_cols[src] for canon, src in columns.items()}
    kinds = {c: (types or {}).get(c, _DEFAULT_KINDS.get(c, "token")) for c in out}
    return RawTable(str(path), out, kinds, np.asarray(lines, dtype=np.int64))


def read_csv_dataset(interactions: str | os.PathLike, columns: Mapping[str, str] | None = None,
                     items: str | os.PathLike | None = None,
                     item_columns: Mapping[str, str] | None = None,
                     users: str | os.PathLike | None = None,
                     user_columns: Mapping[str, str] | None = None,
                     types: Mapping[str, str] | None = None, delimiter: str | None = None,
                     name: str | None = None, typed: bool = False) -> RawDataset:
    """A :class:`RawDataset` from generic CSV/TSV files with column mappings.

    ``columns`` must map at least ``user_id`` and ``item_id``; ``item_columns`` at least
    ``item_id`` and ``user_columns`` at least ``user_id``. A mapping left ``None`` reads every
    column of its file under its header name, which must then include those ids. ``types``
    applies to the columns of all three files; ``typed`` to the interactions file.
    """
    for need, mapping, what, file in (("user_id", columns, "columns", interactions),
                                      ("item_id", columns, "columns", interactions),
                                      ("item_id", item_columns, "item_columns", items),
                                      ("user_id", user_columns, "user_columns", users)):
        if file is not None and mapping is not None and need not in mapping:
            raise ValueError(f"{what} must map {need!r} to a column of {file}; got {mapping}")
    inter = read_delimited(interactions, columns, types, delimiter, typed=typed)
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
