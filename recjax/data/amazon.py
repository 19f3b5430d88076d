"""Amazon Reviews 2023 (McAuley Lab): reviews and item metadata as JSON Lines, read by Arrow.

Split from :mod:`recjax.data.readers` (same contracts: :class:`~recjax.types.RawDataset`
out, :class:`~recjax.data.readers.DataFormatError` naming file, line and column).
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from recjax.data import columns as arrow
from recjax.data.readers import DataFormatError
from recjax.types import RawDataset, RawTable

# Amazon Reviews 2023 (McAuley Lab): one JSON object per line, gzipped as distributed.
AMAZON_REVIEW_FIELDS = {"user_id": pa.string(), "parent_asin": pa.string(),
                        "rating": pa.float64(), "timestamp": pa.int64()}
AMAZON_META_FIELDS = {"parent_asin": pa.string(), "title": pa.string(),
                      "description": pa.list_(pa.string()), "features": pa.list_(pa.string()),
                      "main_category": pa.string(), "store": pa.string()}
_JSON_KINDS = {pa.string(): "a string", pa.float64(): "a number", pa.int64(): "an integer",
               pa.list_(pa.string()): "a list of strings"}


def amazon_files(directory: str | os.PathLike) -> tuple[Path, Path | None] | None:
    """``(reviews, meta)`` of an Amazon Reviews 2023 category in ``directory``: exactly one
    ``<Category>.jsonl[.gz]`` and, when present, ``meta_<Category>.jsonl[.gz]``."""
    d = Path(directory)
    found = [p for p in sorted(d.iterdir()) if p.is_file() and not p.name.startswith("meta_")
             and (p.name.endswith(".jsonl") or p.name.endswith(".jsonl.gz"))]
    if len(found) != 1:
        return None
    category = found[0].name.split(".jsonl")[0]
    meta = [d / f"meta_{category}{ext}" for ext in (".jsonl", ".jsonl.gz")]
    return found[0], next((m for m in meta if m.is_file()), None)


def _jsonl_stream(path: Path):
    return pa.input_stream(str(path), compression="gzip" if path.suffix == ".gz" else None)


def _read_jsonl(path: Path, fields: Mapping[str, pa.DataType]) -> pa.Table:
    """The ``fields`` of every line of a JSON Lines file, read by Arrow; on any problem the
    file is scanned line by line to name the line and the field."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        return pajson.read_json(
            _jsonl_stream(path), read_options=pajson.ReadOptions(block_size=16 << 20),
            parse_options=pajson.ParseOptions(explicit_schema=pa.schema(fields),
                                              unexpected_field_behavior="ignore"))
    except pa.ArrowInvalid as e:
        _diagnose_jsonl(path, fields)
        raise DataFormatError(f"{path}: not readable as JSON Lines ({e})") from None


def _diagnose_jsonl(path: Path, fields: Mapping[str, pa.DataType]) -> None:
    """Raise a DataFormatError naming the first bad line of ``path`` (if one is found)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        for n, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise DataFormatError(
                    f"{path}, line {n}: bytes {raw[e.start:e.end]!r} are not valid utf-8"
                ) from None
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataFormatError(f"{path}, line {n}, column {e.colno}: not valid JSON "
                                      f"({e.msg})") from None
            if not isinstance(obj, dict):
                raise DataFormatError(f"{path}, line {n}: expected a JSON object, found "
                                      f"{type(obj).__name__}")
            for name, kind in fields.items():
                value = obj.get(name)
                ok = (value is None or (kind == pa.string() and isinstance(value, str))
                      or (kind in (pa.float64(), pa.int64()) and isinstance(value, int | float)
                          and not isinstance(value, bool))
                      or (kind == pa.list_(pa.string()) and isinstance(value, list)
                          and all(isinstance(v, str) for v in value)))
                if not ok:
                    raise DataFormatError(
                        f"{path}, line {n}: field {name!r} is {json.dumps(value)[:60]}; "
                        f"expected {_JSON_KINDS[kind]}")


def _jsonl_lines(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        return np.asarray([n for n, raw in enumerate(f, start=1) if raw.strip()], np.int64)


def _joined(column: pa.ChunkedArray, sep: str) -> pa.ChunkedArray:
    return pc.binary_join(pc.fill_null(column, pa.scalar([], pa.list_(pa.string()))), sep)


def read_amazon_2023(directory: str | os.PathLike, typed: bool = False,
                     user_text: bool = False, user_text_chars: int = 2000) -> RawDataset:
    """Read an Amazon Reviews 2023 category: ``<Category>.jsonl[.gz]`` (reviews) and
    optionally ``meta_<Category>.jsonl[.gz]`` (item metadata), as distributed at
    https://amazon-reviews-2023.github.io.

    Interactions: ``user_id``, ``item_id`` (the review's ``parent_asin``, the benchmark's item
    id), ``rating``, ``timestamp`` (milliseconds). Items: ``title``, ``description`` (the
    description paragraphs and the feature bullets, joined: the item text), ``category``
    (``main_category``), ``store``. With ``user_text``, each user's review titles and texts,
    joined and cut at ``user_text_chars``, become the user ``text``: note that this text
    includes the reviews of interactions a split later holds out for testing.
    """
    found = amazon_files(directory)
    if found is None:
        raise FileNotFoundError(f"{directory}: expected exactly one <Category>.jsonl[.gz] file "
                                f"(and meta_<Category>.jsonl[.gz])")
    reviews, meta = found
    table = _read_jsonl(reviews, AMAZON_REVIEW_FIELDS)
    cols = {"user_id": pc.fill_null(table["user_id"], ""),
            "item_id": pc.fill_null(table["parent_asin"], ""),
            "rating": pc.fill_null(table["rating"], float("nan")),
            "timestamp": pc.fill_null(pc.cast(table["timestamp"], pa.float64()), float("nan"))}
    kinds = {"user_id": "token", "item_id": "token", "rating": "float", "timestamp": "float"}
    if typed:
        data = pa.table({k: pc.dictionary_encode(v) if kinds[k] == "token" else v
                         for k, v in cols.items()}).unify_dictionaries().combine_chunks()
        inter = arrow.ColumnTable(str(reviews), data, kinds, lambda: _jsonl_lines(reviews))
    else:
        inter = RawTable(str(reviews), {
            k: _object_strings(v if kinds[k] == "token" else pc.cast(v, pa.string()))
            for k, v in cols.items()}, kinds, _jsonl_lines(reviews))
    items = None
    if meta is not None:
        m = _read_jsonl(meta, AMAZON_META_FIELDS)
        text = pc.binary_join_element_wise(_joined(m["description"], " "),
                                           _joined(m["features"], " "), " ")
        items = RawTable(str(meta), {
            "item_id": _object_strings(m["parent_asin"]),
            "title": _object_strings(m["title"]),
            "description": _object_strings(text),
            "category": _object_strings(m["main_category"]),
            "store": _object_strings(m["store"])},
            {"item_id": "token", "title": "token_seq", "description": "token_seq",
             "category": "token", "store": "token"}, _jsonl_lines(meta))
    users = _amazon_user_text(reviews, user_text_chars) if user_text else None
    return RawDataset(reviews.name.split(".jsonl")[0], inter, items, users)


def _object_strings(column) -> np.ndarray:
    values = pc.fill_null(column, "").to_pylist()
    arr = np.empty(len(values), dtype=object)
    arr[:] = [v.strip() for v in values]
    return arr


def _amazon_user_text(reviews: Path, max_chars: int) -> RawTable:
    t = _read_jsonl(reviews, {"user_id": pa.string(), "title": pa.string(),
                              "text": pa.string()})
    codes, words = arrow.encode_strings(pc.fill_null(t["user_id"], ""))
    text = pc.binary_join_element_wise(pc.fill_null(t["title"], ""),
                                       pc.fill_null(t["text"], ""), ". ").to_pylist()
    order = np.argsort(codes, kind="stable")
    bounds = np.r_[0, np.cumsum(np.bincount(codes, minlength=len(words)))]
    joined = np.empty(len(words), dtype=object)
    for u in range(len(words)):
        parts, size = [], 0
        for r in order[bounds[u]:bounds[u + 1]]:
            if size >= max_chars:
                break
            parts.append(text[r])
            size += len(text[r]) + 3
        joined[u] = " | ".join(parts)[:max_chars].strip()
    ids = np.empty(len(words), dtype=object)
    ids[:] = [w.strip() for w in words]
    return RawTable(f"{reviews} (review texts)", {"user_id": ids, "text": joined},
                    {"user_id": "token", "text": "token_seq"},
                    np.arange(1, len(words) + 1, dtype=np.int64))
