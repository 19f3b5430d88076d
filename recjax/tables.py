"""Plain-text and Markdown tables for command-line output, reports and benchmarks."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence


def display_width(text: str) -> int:
    """Terminal columns: East Asian wide and full-width characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int, right: bool) -> str:
    fill = " " * max(width - display_width(text), 0)
    return fill + text if right else text + fill


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:,.4f}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def format_table(rows: Sequence[Sequence], headers: Sequence[str], markdown: bool = False) -> str:
    """Render rows as an aligned text table (or a Markdown table with ``markdown=True``).

    Floats print with four decimals, ints with thousands separators, everything else as str;
    columns whose values are all numbers are right-aligned.
    """
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([display_width(h)] + [display_width(r[i]) for r in cells])
              for i, h in enumerate(headers)]
    numeric = [bool(rows) and all(isinstance(r[i], int | float) for r in rows)
               for i in range(len(headers))]

    def line(values):
        parts = [_pad(v, widths[i], numeric[i]) for i, v in enumerate(values)]
        return ("| " + " | ".join(parts) + " |") if markdown else "  ".join(parts).rstrip()

    out = [line(headers)]
    if markdown:
        out.append("|" + "|".join(("-" * (w + 1) + ":") if numeric[i] else ("-" * (w + 2))
                                  for i, w in enumerate(widths)) + "|")
    else:
        out.append("  ".join("-" * w for w in widths))
    out.extend(line(r) for r in cells)
    return "\n".join(out)
