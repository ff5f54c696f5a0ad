"""Results as tables: a chapter displays rows as a Markdown table, which the book renders as an
HTML table (and Jupyter as a table too), never as printed fixed-width text."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["markdown_table", "table"]


def _cell(value, floatfmt: str) -> str:
    text = format(value, floatfmt) if isinstance(value, float) else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(rows: Sequence[Mapping[str, object]], *, floatfmt: str = ".2f") -> str:
    """rows: dicts with the same keys (the header, in the first row's order); floats are written
    with ``floatfmt``. Returns the Markdown text of the table."""
    if not rows:
        raise ValueError("rows must hold at least one row")
    header = list(rows[0])
    for i, row in enumerate(rows):
        if list(row) != header:
            raise ValueError(f"rows[{i}] must have the keys {header}; got {list(row)}")
    lines = ["| " + " | ".join(_cell(h, floatfmt) for h in header) + " |"]
    lines.append("|" + "|".join("---" for _ in header) + "|")
    lines += ["| " + " | ".join(_cell(r[h], floatfmt) for h in header) + " |" for r in rows]
    return "\n".join(lines)


def table(rows: Sequence[Mapping[str, object]], *, floatfmt: str = ".2f"):
    """:func:`markdown_table` as an ``IPython.display.Markdown`` to display."""
    from IPython.display import Markdown

    return Markdown(markdown_table(rows, floatfmt=floatfmt))
