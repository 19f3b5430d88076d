"""Out-of-core cleaning for interaction logs larger than memory.

:func:`clean_out_of_core` gives the :class:`~recjax.types.Dataset` that
``clean(read_directory(directory), cfg)`` gives (tested equal, report included) without ever
holding the raw rows of the whole file:

1. *stream*: the file is read block by block (Arrow's streaming CSV reader). Each block's ids
   become int32 codes into one growing table of distinct strings, its numbers are parsed, its
   invalid rows are counted and dropped, and the rest is appended as numbers (with each row's
   position in the file) to one of several Parquet staging files, chosen by user, so every
   (user, item, behaviour) key lands in a single file;
2. *dedup and filter*: one staging file at a time, with the in-memory steps of
   :mod:`recjax.data.clean`;
3. *k-core*: rounds of degree counts over the staging files (only the user and item columns
   are read) until nothing changes, as :func:`~recjax.data.clean.k_core_mask` does;
4. the surviving rows are put back in file order and finished (side information, dense ids)
   by the same code as the in-memory path.

Memory: one block, the distinct ids, one staging file's rows at a time, and finally the
cleaned interactions themselves (which training needs in memory anyway). Supported layouts:
RecBole atomic files and GroupLens ``ratings.csv`` (ml-20m, ml-25m); side tables are small and
read in memory.
"""

from __future__ import annotations

import csv
import math
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from recjax.config.schema import CleanConfig
from recjax.data import columns as arrow
from recjax.data import readers
from recjax.data.clean import (
    _dedup,
    _filter_values,
    _Rows,
    check_nonempty,
    finish,
    invalid_error,
    numeric_markers,
    parse_rows,
)
from recjax.data.readers import DataFormatError
from recjax.types import CleaningStep, Dataset, RawDataset

# RecBole's ml-100k-style item columns, renamed as datasets.read_atomic_renamed does.
_ATOMIC_RENAME = {"movie_title": "title", "release_year": "year", "class": "genres"}
_STAGED = ("users", "items", "behaviors", "ratings", "timestamps", "origin")


@dataclass(frozen=True)
class LogLayout:
    """Where the interactions are and how a row splits into fields."""

    path: Path
    fields: tuple[str, ...]  # every field of a row, as named for Arrow
    canonical: Mapping[str, str]  # canonical column -> field
    types: Mapping[str, str]  # canonical column -> field type
    delimiter: str
    first_line: int  # the line of the first data row (1 + header lines)
    items: object = None  # side tables (RawTable or None)
    users: object = None


def interactions_file(directory: str | Path, name: str | None = None) -> Path | None:
    """The file :func:`log_layout` would stream, or None when the layout is not supported."""
    d = Path(directory)
    inter = d / f"{name or d.name}.inter"
    if inter.is_file():
        return inter
    found = sorted(d.glob("*.inter"))
    if len(found) == 1:
        return found[0]
    if (d / "ratings.csv").is_file() and (d / "movies.csv").is_file():
        return d / "ratings.csv"
    return None


def log_layout(directory: str | Path, name: str | None = None) -> LogLayout:
    """The layout of the dataset in ``directory`` for out-of-core reading."""
    d = Path(directory)
    name = name or d.name
    inter = d / f"{name}.inter"
    if not inter.is_file():
        found = sorted(d.glob("*.inter"))
        inter = found[0] if len(found) == 1 else None
    if inter is not None:
        header = readers._first_line(inter)
        if header is None:
            readers._read_text(inter)  # raises the error naming the bad bytes
        rename = {"user_id": "user_id", "item_id": "item_id", **_ATOMIC_RENAME}
        names, types = readers._atomic_header(header, inter, rename)
        side = {}
        for kind, key in (("item", "item_id"), ("user", "user_id")):
            path = inter.with_suffix(f".{kind}")
            side[kind] = readers.read_atomic(path, rename) if path.is_file() else None
            if side[kind] is not None:
                readers.require_columns(side[kind], [key])
        used = [n for n in ("user_id", "item_id", "rating", "timestamp", "behavior")
                if n in names]
        layout = LogLayout(inter, tuple(names), {n: n for n in used},
                           {n: types[n] for n in used}, "\t", 2, side["item"], side["user"])
        if not {"user_id", "item_id"} <= set(names):
            raise DataFormatError(f"{inter}: missing column(s) "
                                  f"{[c for c in ('user_id', 'item_id') if c not in names]}; "
                                  f"the file has {names}")
        return layout
    ratings = d / "ratings.csv"
    if ratings.is_file() and (d / "movies.csv").is_file():
        with open(ratings, encoding="utf-8", newline="") as f:
            header = [h.strip() for h in next(csv.reader(f), [])]
        mapping = {"user_id": "userId", "item_id": "movieId", "rating": "rating",
                   "timestamp": "timestamp"}
        readers._delimited_columns(ratings, header, mapping)
        movies = readers.read_delimited(d / "movies.csv", {
            "item_id": "movieId", "title": "title", "genres": "genres"}, delimiter=",")
        items = readers._movie_table(movies.source, movies.columns, movies.lines)
        return LogLayout(ratings, tuple(header), mapping, readers._RATING_TYPES, ",", 2, items)
    raise FileNotFoundError(
        f"{d}: out-of-core cleaning reads RecBole atomic files (<name>.inter) or GroupLens "
        f"ratings.csv + movies.csv (ml-20m, ml-25m); found {sorted(p.name for p in d.iterdir())}"
        f". Read other layouts in memory.")


class _Codes:
    """One table of distinct strings (ids, behaviours) shared by every block."""

    def __init__(self):
        self.index: dict[str, int] = {}

    def of(self, codes: np.ndarray, words: np.ndarray) -> np.ndarray:
        index = self.index
        lut = np.fromiter((index.setdefault(w, len(index)) for w in words.tolist()),
                          dtype=np.int32, count=len(words))
        return lut[codes]

    def words(self) -> np.ndarray:
        out = np.empty(len(self.index), dtype=object)
        out[:] = list(self.index)
        return out


def clean_out_of_core(directory: str | Path, name: str | None = None,
                      cfg: CleanConfig = CleanConfig(), workdir: str | Path | None = None,
                      block_bytes: int = 32 << 20, bucket_bytes: int = 128 << 20) -> Dataset:
    """Clean the interactions in ``directory`` without reading them into memory at once.

    The staging files go into a fresh directory under ``workdir`` (default
    :func:`staging_root`), removed at the end; ``block_bytes`` of the file are parsed at a
    time; one staging file gets about ``bucket_bytes`` of the file's rows.
    """
    layout = log_layout(directory, name)
    name = name or Path(directory).name
    root = Path(tempfile.mkdtemp(prefix="recjax-staging-",
                                 dir=_mkdir(workdir) if workdir else staging_root()))
    try:
        return _clean(layout, name, cfg, root, block_bytes, bucket_bytes)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def staging_root() -> Path | None:
    """Where staging files go: ``$RECJAX_STAGING_DIR``, else ``$RECJAX_DATA/staging`` next to
    the cleaned-data cache, on disk: the system temporary directory is often in memory
    (tmpfs), which would hold the very rows out-of-core cleaning keeps out of memory. ``None``
    (the system default) when that directory cannot be made."""
    from recjax.data.registry import data_dir

    path = Path(os.environ.get("RECJAX_STAGING_DIR") or data_dir() / "staging").expanduser()
    try:
        return _mkdir(path)
    except OSError:
        return None


def _mkdir(path) -> Path:
    Path(path).mkdir(parents=True, exist_ok=True)
    return Path(path)


def _clean(layout: LogLayout, name: str, cfg: CleanConfig, root: Path, block_bytes: int,
           bucket_bytes: int) -> Dataset:
    source = str(layout.path)
    n_buckets = max(1, math.ceil(layout.path.stat().st_size / bucket_bytes))
    if not arrow.is_utf8(layout.path):
        _diagnose(layout)  # names the line of the bad bytes
    # A numeric na_values marker ("-1") matches by spelling, which parsed numbers have lost:
    # then the numbers are streamed as strings and parsed by cleaning.
    typed = not numeric_markers(cfg.na_values)
    try:
        try:
            staged = _stream(layout, cfg, root, n_buckets, block_bytes, typed=typed)
        except pa.ArrowInvalid as e:
            if "conversion error to double" not in str(e):
                raise
            # A cell that is not a number: read the numbers as strings, as cleaning counts them.
            staged = _stream(layout, cfg, root, n_buckets, block_bytes, typed=False)
    except pa.ArrowInvalid as e:
        _diagnose(layout)
        raise DataFormatError(f"{source}: {e}") from None
    buckets, codes, n_raw, invalid = staged
    details = {k: v for k, v in invalid["counts"].items() if v}
    n_invalid = sum(invalid["per_row"])
    if n_invalid and cfg.on_invalid == "raise":
        reason = next(k for k, v in invalid["counts"].items() if v)
        line = _line_of_row(layout, invalid["first"][reason])
        raise invalid_error(source, line, reason, n_invalid, details)
    report = [CleaningStep("invalid", n_raw, n_raw - n_invalid, details=details)]
    words = {k: c.words() for k, c in codes.items()}

    def bucket_rows(path: Path, cols=_STAGED) -> _Rows:
        t = pq.read_table(path, columns=list(cols))
        arrays = {c: t[c].to_numpy() for c in cols}
        return _Rows(arrays.get("users"), arrays.get("items"), arrays.get("ratings"),
                     arrays.get("timestamps"), arrays.get("behaviors"), words["user"],
                     words["item"], words["behavior"], arrays.get("origin"))

    check_nonempty(n_raw - n_invalid, name, source, report)
    steps = [[f"duplicates ({cfg.dedup})", 0, 0, {}], ["filter", 0, 0, {}]]
    for path in buckets:
        rows = bucket_rows(path)
        for k, fn in enumerate((lambda r: _dedup(r, cfg.dedup),
                                lambda r: _filter_values(r, cfg))):
            rows, step = fn(rows)
            steps[k][1] += step.rows_before
            steps[k][2] += step.rows_after
            for key, v in step.details.items():
                steps[k][3][key] = steps[k][3].get(key, 0) + v
        _write(path, rows)
    for step_name, before, after, det in steps:
        report.append(CleaningStep(step_name, before, after, details=det))
        check_nonempty(after, name, source, report)

    keep, rounds = _k_core(buckets, len(words["user"]), len(words["item"]), cfg)
    n_kept = sum(int(k.sum()) for k in keep)
    core = f"k-core (user>={cfg.user_core}, item>={cfg.item_core})"
    before = report[-1].rows_after
    report.append(CleaningStep(core, before, n_kept,
                               details={} if rounds is None else {"rounds": rounds}))
    check_nonempty(n_kept, name, source, report)
    rows = _in_file_order(buckets, keep, n_raw, n_kept, bucket_rows, words)
    return finish(RawDataset(name, _Source(source), layout.items, layout.users), rows, cfg,
                  report)


@dataclass(frozen=True)
class _Source:
    source: str


def _stream(layout: LogLayout, cfg: CleanConfig, root: Path, n_buckets: int, block_bytes: int,
            typed: bool):
    """Pass 1: blocks -> numbers -> valid rows into ``n_buckets`` staging files."""
    fields = [layout.canonical[c] for c in layout.canonical]
    floats = [layout.canonical[c] for c in readers.typed_kinds(layout.canonical, layout.types)[0]
              ] if typed else []
    codes = {"user": _Codes(), "item": _Codes(), "behavior": _Codes()}
    if "behavior" not in layout.canonical:
        codes["behavior"].index["interaction"] = 0
    invalid = {"counts": {}, "first": {}, "per_row": []}
    paths = [root / f"bucket-{b:04d}.parquet" for b in range(n_buckets)]
    writers = [None] * n_buckets
    offset = 0
    quoted = arrow._contains(layout.path, b'"') if layout.delimiter == "," else False
    blocks = arrow.iter_typed_blocks(layout.path, list(layout.fields), layout.delimiter,
                                     layout.first_line - 1, floats=floats, quoted=quoted,
                                     include=fields, block_bytes=block_bytes)
    try:
        for batch in blocks:
            table = pa.Table.from_batches([batch]).select(fields).rename_columns(
                list(layout.canonical))
            block = arrow.ColumnTable(str(layout.path), table, layout.types)
            if _blank_rows(table).any():
                table = table.filter(pa.array(~_blank_rows(table)))
                block = arrow.ColumnTable(str(layout.path), table, layout.types)
            rows, reasons = parse_rows(block, cfg)
            bad = np.zeros(len(rows), dtype=bool)
            for reason, mask in reasons.items():
                n_bad = int(mask.sum())
                invalid["counts"][reason] = invalid["counts"].get(reason, 0) + n_bad
                if n_bad and reason not in invalid["first"]:
                    invalid["first"][reason] = offset + int(np.argmax(mask))
                bad |= mask
            invalid["per_row"].append(int(bad.sum()))
            origin = offset + np.arange(len(rows), dtype=np.int64)
            if "timestamp" not in layout.canonical:
                rows = _replace_times(rows, origin)
            staged = {"users": codes["user"].of(rows.users, rows.user_words),
                      "items": codes["item"].of(rows.items, rows.item_words),
                      "behaviors": codes["behavior"].of(rows.behaviors, rows.behavior_words),
                      "ratings": rows.ratings, "timestamps": rows.timestamps, "origin": origin}
            good = ~bad
            staged = {k: v[good] for k, v in staged.items()}
            bucket = staged["users"] % n_buckets
            for b in range(n_buckets):
                sel = bucket == b
                if not sel.any():
                    continue
                piece = pa.table({k: v[sel] for k, v in staged.items()})
                if writers[b] is None:
                    writers[b] = pq.ParquetWriter(paths[b], piece.schema)
                writers[b].write_table(piece)
            offset += len(rows)
    except ValueError as e:
        if isinstance(e, pa.ArrowInvalid):
            raise
        _diagnose(layout)
        raise DataFormatError(str(e)) from None
    finally:
        for w in writers:
            if w is not None:
                w.close()
    buckets = [p for p in paths if p.is_file()]
    return buckets, codes, offset, invalid


def _replace_times(rows: _Rows, origin: np.ndarray) -> _Rows:
    import dataclasses

    return dataclasses.replace(rows, timestamps=origin.astype(np.float64))


def _blank_rows(table: pa.Table) -> np.ndarray:
    """Rows whose every cell is whitespace (blank lines to the plain reader)."""
    blank = np.ones(table.num_rows, dtype=bool)
    for col in table.columns:
        if not (pa.types.is_string(col.type) or pa.types.is_dictionary(col.type)):
            return np.zeros(table.num_rows, dtype=bool)
        codes, words = arrow.encode_strings(col)
        blank &= np.array([not w.strip() for w in words], dtype=bool)[codes] if len(
            words) else np.zeros(table.num_rows, dtype=bool)
        if not blank.any():
            break
    return blank


def _write(path: Path, rows: _Rows) -> None:
    table = pa.table({"users": rows.users, "items": rows.items, "behaviors": rows.behaviors,
                      "ratings": rows.ratings, "timestamps": rows.timestamps,
                      "origin": rows.origin})
    pq.write_table(table, path)


def _k_core(buckets, n_users: int, n_items: int, cfg: CleanConfig):
    """Per staging file, the rows kept by the k-core at its fixed point (``rounds`` None when
    the step is off), computed round by round like :func:`~recjax.data.clean.k_core_mask`;
    each round reads the user and item columns one staging file at a time."""
    keep = [np.ones(pq.read_metadata(p).num_rows, dtype=bool) for p in buckets]
    if cfg.user_core <= 1 and cfg.item_core <= 1:
        return keep, None

    def pairs():
        for path, k in zip(buckets, keep, strict=True):
            t = pq.read_table(path, columns=["users", "items"])
            yield t["users"].to_numpy(), t["items"].to_numpy(), k

    rounds = 0
    while True:
        u_deg = np.zeros(n_users, dtype=np.int64)
        i_deg = np.zeros(n_items, dtype=np.int64)
        for users, items, k in pairs():
            u_deg += np.bincount(users[k], minlength=n_users)
            i_deg += np.bincount(items[k], minlength=n_items)
        changed = False
        for users, items, k in pairs():
            bad = k & ((u_deg[users] < cfg.user_core) | (i_deg[items] < cfg.item_core))
            if bad.any():
                k &= ~bad
                changed = True
        if not changed:
            return keep, rounds
        rounds += 1


def _in_file_order(buckets, keep, n_raw: int, n_kept: int, bucket_rows, words) -> _Rows:
    """The kept rows of every staging file, in file order (by each row's position)."""
    kept_at = np.zeros(n_raw, dtype=bool)
    origins = []
    for path, k in zip(buckets, keep, strict=True):
        o = pq.read_table(path, columns=["origin"])["origin"].to_numpy()[k]
        kept_at[o] = True
        origins.append(o)
    rank = np.cumsum(kept_at, dtype=np.int64 if n_kept >= 2**31 else np.int32) - 1
    del kept_at
    out = {"users": np.empty(n_kept, np.int32), "items": np.empty(n_kept, np.int32),
           "behaviors": np.empty(n_kept, np.int32), "ratings": np.empty(n_kept),
           "timestamps": np.empty(n_kept)}
    for path, k, o in zip(buckets, keep, origins, strict=True):
        rows = bucket_rows(path, cols=tuple(out))
        at = rank[o]
        for f in out:
            out[f][at] = getattr(rows, f)[k]
    return _Rows(out["users"], out["items"], out["ratings"], out["timestamps"],
                 out["behaviors"], words["user"], words["item"], words["behavior"])


def _diagnose(layout: LogLayout) -> None:
    """Stream the file to raise the error the plain reader would (bad bytes, ragged rows)."""
    path, n_fields = layout.path, len(layout.fields)
    bad, first = 0, None
    with open(path, "rb") as f:
        for n, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise DataFormatError(
                    f"{path}, line {n}: bytes {raw[e.start:e.end]!r} are not valid utf-8; "
                    f"re-encode the file as utf-8 or pass encoding=... to the reader") from None
            if n < layout.first_line or not line.strip() or layout.delimiter == ",":
                continue
            found = len(line.rstrip("\r\n").split(layout.delimiter))
            if found != n_fields:
                bad += 1
                first = first or (n, found)
    if layout.delimiter == ",":
        with open(path, encoding="utf-8", newline="") as f:
            reader = csv.reader(f)
            for row in reader:
                if reader.line_num < layout.first_line or not any(c.strip() for c in row):
                    continue
                if len(row) != n_fields:
                    bad += 1
                    first = first or (reader.line_num, len(row))
    if first:
        raise DataFormatError(f"{path}, line {first[0]}: expected {n_fields} fields, found "
                              f"{first[1]} ({bad} ragged row(s) in the file)")


def _line_of_row(layout: LogLayout, row: int) -> int:
    """The line of the ``row``-th data row (0-based), streaming the file."""
    k = -1
    with open(layout.path, encoding="utf-8", newline="") as f:
        if layout.delimiter == ",":
            reader = csv.reader(f)
            for cells in reader:
                if reader.line_num >= layout.first_line and any(c.strip() for c in cells):
                    k += 1
                    if k == row:
                        return reader.line_num
        else:
            for n, line in enumerate(f, start=1):
                if n >= layout.first_line and line.strip():
                    k += 1
                    if k == row:
                        return n
    raise RuntimeError(f"{layout.path}: row {row} not found")  # pragma: no cover
