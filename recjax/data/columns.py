"""Typed columns read by Apache Arrow: the fast path of the interaction readers.

An interaction log of millions of rows is read straight into typed columns: ids
dictionary-encoded (int32 codes into the distinct strings), numeric fields float64, so no
Python string is made per cell. This is the one module that calls the Arrow CSV reader.

The fast path never judges a file itself. Whenever Arrow finds something it would have to
guess about (a ragged row, bytes that are not UTF-8), :func:`read_typed` returns ``None`` and
the caller reads the file with the plain Python reader of :mod:`recjax.data.readers`, which
either reads it (e.g. whitespace-only lines, which it skips) or raises the precise error
naming file, line and column. The whole file is checked to be UTF-8 first, unread columns
included, as the plain reader decodes every byte. A numeric column with a cell that is not a
number is read as strings instead, so that cleaning counts the bad cells exactly as it does
for any raw table; a parsed number's spelling in the file, which cleaning needs only to match
a numeric ``na_values`` marker (``"-1"`` is missing, ``"-1.0"`` is not), is read back on
demand (:meth:`ColumnTable.column_text`).

Why Arrow and not Polars: both read typed columns of a multi-million-row log in a second or
two on two cores (``benchmarks/data_scale.py --compare-engines`` measures the two on one
file), but Arrow reports ragged rows through a callback instead of failing, streams a file
block by block (:func:`iter_typed_blocks`, for logs larger than memory), writes the Parquet
cache, and hands its buffers to numpy without copies, which keeps cleaning in plain numpy like
the rest of ``recjax.data``.
"""

from __future__ import annotations

import codecs
import csv
import mmap
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

_DICT = pa.dictionary(pa.int32(), pa.string())
# Arrow's default block is 1 MiB; larger blocks cut per-block overhead on big logs.
BLOCK_BYTES = 16 << 20


@dataclass(frozen=True, eq=False)
class ColumnTable:
    """A table read into typed Arrow columns, with the interface of
    :class:`~recjax.types.RawTable` (``source``, ``types``, ``column``, ``lines``, ``len``).

    Token columns are dictionary-encoded strings as they appear in the file (not yet
    stripped); ``float`` columns are float64 when every cell parsed, else strings. ``lines``
    (the 1-based line of every row) is only needed by error messages, so it is computed on
    first use by ``line_finder`` (a rescan of the file) instead of being stored; likewise
    ``text_finder(name)`` rereads a parsed column's cells as the strings in the file.
    ``file_columns`` names every column of the file (error messages list them), also those
    not read.
    """

    source: str
    data: pa.Table
    types: Mapping[str, str]
    line_finder: Callable[[], np.ndarray] = field(repr=False, default=None)
    text_finder: Callable[[str], pa.ChunkedArray] = field(repr=False, default=None)
    file_columns: tuple[str, ...] = ()

    def __len__(self) -> int:
        return self.data.num_rows

    @property
    def columns(self) -> dict[str, pa.ChunkedArray]:
        return {name: self.data[name] for name in self.data.column_names}

    def column(self, name: str) -> pa.ChunkedArray:
        if name not in self.data.column_names:
            raise KeyError(f"{self.source}: no column {name!r}; columns are "
                           f"{self.data.column_names}")
        return self.data[name]

    def column_text(self, name: str) -> pa.ChunkedArray:
        """The cells of column ``name`` as strings: as in the file where a ``text_finder``
        can reread them, else (a table not read from delimited text, e.g. JSON numbers) the
        numbers as Arrow formats them, which is what the plain readers of those files keep."""
        col = self.column(name)
        if pa.types.is_string(col.type) or pa.types.is_dictionary(col.type):
            return col
        if self.text_finder is None:
            return pc.cast(col, pa.string())
        text = self.text_finder(name)
        if len(text) != len(self):  # pragma: no cover - the reread follows the reader's rules
            raise RuntimeError(f"{self.source}: reread {len(text)} rows, read {len(self)}")
        return text

    @cached_property
    def lines(self) -> np.ndarray:
        if self.line_finder is None:
            return np.arange(1, len(self) + 1, dtype=np.int64)
        lines = self.line_finder()
        if len(lines) != len(self):  # pragma: no cover - the rescan follows the reader's rules
            raise RuntimeError(f"{self.source}: rescan found {len(lines)} rows, read {len(self)}")
        return lines


def _options(names: Sequence[str], delimiter: str, skip_rows: int, quoted: bool,
             column_types: Mapping[str, pa.DataType], include: Sequence[str] | None, bad: list,
             block_bytes: int = BLOCK_BYTES):
    def on_bad_row(row):
        if row.text.strip():  # whitespace-only lines are blank lines, as for the plain reader
            bad.append(row.actual_columns)
        return "skip"

    return dict(
        read_options=pacsv.ReadOptions(skip_rows=skip_rows, column_names=list(names),
                                       block_size=block_bytes),
        parse_options=pacsv.ParseOptions(
            delimiter=delimiter, quote_char='"' if quoted else False, double_quote=quoted,
            newlines_in_values=quoted, ignore_empty_lines=True, invalid_row_handler=on_bad_row),
        convert_options=pacsv.ConvertOptions(
            column_types=dict(column_types), include_columns=list(include or names),
            null_values=[], strings_can_be_null=False, quoted_strings_can_be_null=False))


def _column_types(names, floats, tokens):
    return {n: pa.float64() if n in floats else _DICT if n in tokens else pa.string()
            for n in names}


def read_typed(path: str | os.PathLike, names: Sequence[str], delimiter: str, skip_rows: int,
               floats: Sequence[str] = (), tokens: Sequence[str] = (), quoted: bool = False,
               include: Sequence[str] | None = None) -> pa.Table | None:
    """Read a delimited UTF-8 file into typed columns, or ``None`` when the file needs the
    plain reader (ragged rows, invalid UTF-8 anywhere in the file, blank-looking rows: see the
    module docstring).

    ``names`` name every field of a row; ``floats`` become float64 (or strings when a cell
    is not a number), ``tokens`` dictionary-encoded strings, the rest plain strings;
    ``include`` selects the columns kept (default all).
    """
    # Arrow checks the UTF-8 of the columns it converts only, and a bad byte in a ragged row
    # reaches the row callback undecodable; the plain reader rejects any bad byte.
    if not is_utf8(path):
        return None
    if quoted and not _contains(path, b'"'):
        quoted = False  # no quotes: Arrow can split the file into blocks at any newline
    bad: list = []
    try:
        try:
            table = pacsv.read_csv(path, **_options(
                names, delimiter, skip_rows, quoted, _column_types(names, floats, tokens),
                include, bad))
        except pa.ArrowInvalid as e:
            if "conversion error" not in str(e) or bad:
                return None
            bad.clear()
            table = pacsv.read_csv(path, **_options(
                names, delimiter, skip_rows, quoted, _column_types(names, (), tokens),
                include, bad))
    except pa.ArrowInvalid:
        return None
    if bad:
        return None
    table = table.unify_dictionaries().combine_chunks()
    return None if _has_blank_rows(table) else table


def read_strings(path: str | os.PathLike, names: Sequence[str], delimiter: str, skip_rows: int,
                 name: str, quoted: bool = False) -> pa.ChunkedArray:
    """Column ``name`` of a file :func:`read_typed` read, as the strings in the file (same
    rows: the file is parsed with the same options)."""
    if quoted and not _contains(path, b'"'):
        quoted = False
    bad: list = []
    table = pacsv.read_csv(path, **_options(names, delimiter, skip_rows, quoted,
                                            _column_types(names, (), ()), [name], bad))
    return table[name]


def text_finder(path: str | os.PathLike, names: Sequence[str], delimiter: str, skip_rows: int,
                fields: Mapping[str, str] | None = None, quoted: bool = False
                ) -> Callable[[str], pa.ChunkedArray]:
    """A :attr:`ColumnTable.text_finder` for a file read by :func:`read_typed`; ``fields``
    maps the table's column names to the file's field names where they differ."""
    def find(column: str) -> pa.ChunkedArray:
        return read_strings(path, names, delimiter, skip_rows, (fields or {}).get(column, column),
                            quoted)

    return find


def is_utf8(path: str | os.PathLike, block_bytes: int = 16 << 20) -> bool:
    """Whether the whole file is valid UTF-8. ASCII blocks (almost every block of an
    interaction log) are checked by one vectorised comparison, others decoded."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            return True
        decoder = codecs.getincrementaldecoder("utf-8")()
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            data = block = np.frombuffer(m, dtype=np.uint8)
            try:
                for start in range(0, size, block_bytes):
                    block = data[start:start + block_bytes]
                    if not decoder.getstate()[0] and int(block.max()) < 0x80:
                        continue
                    decoder.decode(block.tobytes())
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                return False
            finally:
                del data, block  # views of the map must go before it closes
    return True


def _contains(path, needle: bytes) -> bool:
    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size == 0:
            return False
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            return m.find(needle) >= 0


def _has_blank_rows(table: pa.Table) -> bool:
    """Rows whose every cell is whitespace: the plain reader skips them as blank lines, so the
    fast path must not read them as rows of empty ids."""
    blank = None
    for col in table.columns:
        if not pa.types.is_dictionary(col.type) and not pa.types.is_string(col.type):
            return False  # a parsed number is never blank
        arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
        if pa.types.is_dictionary(arr.type):
            words = arr.dictionary.to_pylist()
            is_blank = np.array([not w.strip() for w in words], dtype=bool)
            if not is_blank.any():
                return False
            mask = is_blank[arr.indices.to_numpy(zero_copy_only=False)]
        else:
            mask = pc.equal(pc.utf8_trim_whitespace(arr), "").to_numpy(zero_copy_only=False)
        blank = mask if blank is None else blank & mask
        if not blank.any():
            return False
    return bool(blank is not None and blank.any())


def iter_typed_blocks(path: str | os.PathLike, names: Sequence[str], delimiter: str,
                      skip_rows: int, floats: Sequence[str] = (), quoted: bool = False,
                      include: Sequence[str] | None = None,
                      block_bytes: int = 64 << 20) -> Iterator[pa.RecordBatch]:
    """Stream a delimited file block by block (ids as plain strings, ``floats`` float64), for
    logs too large to read at once. Raises ``ValueError`` on a ragged row or a cell that is
    not a number; the caller re-reads with the plain reader to name the line."""
    bad: list = []
    reader = pacsv.open_csv(path, **_options(
        names, delimiter, skip_rows, quoted, _column_types(names, floats, ()), include, bad,
        block_bytes))
    for batch in reader:
        if bad:
            raise ValueError(f"{path}: {len(bad)} ragged row(s)")
        yield batch
    if bad:
        raise ValueError(f"{path}: {len(bad)} ragged row(s)")


def scan_lines(path: str | os.PathLike, first_line: int, delimiter: str = "\t",
               quoted: bool = False, encoding: str = "utf-8") -> np.ndarray:
    """The 1-based line number of every data row of ``path`` (from ``first_line`` on),
    skipping blank lines as the plain readers do. Only error messages need it."""
    lines = []
    with open(path, encoding=encoding, newline="") as f:
        if quoted:
            reader = csv.reader(f, delimiter=delimiter)
            for _ in range(first_line - 1):
                next(reader, None)
            for row in reader:
                if any(cell.strip() for cell in row):
                    lines.append(reader.line_num)
        else:
            for n, line in enumerate(f, start=1):
                if n >= first_line and line.strip():
                    lines.append(n)
    return np.asarray(lines, dtype=np.int64)


def encode_strings(values) -> tuple[np.ndarray, list[str]]:
    """``(codes, words)``: int32 codes into the distinct values ``words`` (as in the file) of a
    string or dictionary column, or of an object array of ``str``."""
    if isinstance(values, np.ndarray):
        try:
            values = pa.array(values, type=pa.string())
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            values = pa.array(values.astype(str), type=pa.string())
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    if pa.types.is_dictionary(values.type) and not pa.types.is_string(values.type.value_type):
        values = values.cast(values.type.value_type)
    if not (pa.types.is_dictionary(values.type) or pa.types.is_string(values.type)):
        values = pc.cast(values, pa.string())  # hand-built numeric ids: words, not numbers
    if values.null_count:  # only hand-built tables hold None; it reads as missing
        values = pc.fill_null(values, pa.scalar("", values.type.value_type)
                              if pa.types.is_dictionary(values.type) else "")
    if not pa.types.is_dictionary(values.type):
        values = pc.dictionary_encode(values)
    codes = values.indices.to_numpy(zero_copy_only=False).astype(np.int32, copy=False)
    return codes, values.dictionary.to_pylist()


def float_values(values) -> np.ndarray | None:
    """The float64 numbers of a column Arrow already parsed, else ``None`` (a string column)."""
    if isinstance(values, np.ndarray):
        return None
    if pa.types.is_floating(values.type) or pa.types.is_integer(values.type):
        return values.to_numpy().astype(np.float64, copy=False)
    return None
