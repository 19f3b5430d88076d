"""Text templates: item and user side information -> one text per item or user.

A template is a format string over field names with optional segments in square brackets:
a segment is dropped when any field inside it is missing, so nothing ever renders as "nan",
"unknown" or an empty "()". Examples::

    "{title}[ ({year})][. {genres}][. {description}]"
    "[{text}][ | age {age}][ | gender {gender}][ | occupation {occupation}]"

Values: strings as they are; token sequences (genres) joined with ", "; integral numbers
without a decimal point (1995.0 -> "1995"). Missing: the field is absent from the dataset, or
its value is empty, NaN, "unknown" or ("unknown",). Use ``\\[`` and ``\\]`` for literal
brackets.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Mapping

import numpy as np

ITEM_TEMPLATE = "{title}[ ({year})][. {genres}][. {description}]"
USER_TEMPLATE = "[{text}][ | age {age}][ | gender {gender}][ | occupation {occupation}]"
MISSING = ("", "unknown", "nan")

_SEGMENT = re.compile(r"(?<!\\)\[(.*?)(?<!\\)\]")


def _value(v) -> str | None:
    if v is None:
        return None
    if isinstance(v, tuple | list):
        parts = [str(x) for x in v if str(x) not in MISSING]
        return ", ".join(parts) if parts else None
    if isinstance(v, float | np.floating):
        if math.isnan(v):
            return None
        return str(int(v)) if float(v).is_integer() else f"{v:g}"
    s = str(v).strip()
    return None if s in MISSING else s


def _parse(template: str) -> list[tuple[bool, list[tuple[str, str | None]]]]:
    """Template -> [(optional, [(literal, field or None), ...]), ...], parsed once."""
    chunks, pos = [], 0
    for m in _SEGMENT.finditer(template):
        if m.start() > pos:
            chunks.append((False, template[pos:m.start()]))
        chunks.append((True, m.group(1)))
        pos = m.end()
    if pos < len(template):
        chunks.append((False, template[pos:]))
    out = []
    for optional, text in chunks:
        text = text.replace("\\[", "[").replace("\\]", "]")
        try:
            pieces = [(lit, field or None) for lit, field, _, _ in string.Formatter().parse(text)]
        except ValueError as e:
            raise ValueError(f"template {template!r} is malformed: {e}") from None
        out.append((optional, pieces))
    return out


def template_fields(template: str) -> list[str]:
    return [f for _, pieces in _parse(template) for _, f in pieces if f]


def render(template: str, features: Mapping[str, np.ndarray], n: int) -> list[str]:
    """Render ``template`` for rows ``0..n-1`` of aligned feature columns.

    Fields the dataset lacks count as missing in every row.
    """
    parsed = _parse(template)
    columns = {f: features[f] for f in template_fields(template) if f in features}
    for name, col in columns.items():
        if len(col) != n:
            raise ValueError(f"feature {name!r} has {len(col)} rows, expected {n}")
    out = []
    for i in range(n):
        values = {f: _value(col[i]) for f, col in columns.items()}
        text = []
        for optional, pieces in parsed:
            if optional and any(f and values.get(f) is None for _, f in pieces):
                continue
            text.extend(lit + ((values.get(f) or "") if f else "") for lit, f in pieces)
        # A missing leading field leaves its separator behind: "(1995)" not ". (1995)".
        out.append("".join(text).lstrip(" .|,;:").rstrip())
    return out
