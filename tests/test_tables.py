import pytest

from sparselab.book.tables import markdown_table, table


def _parse(text):
    """The rows of a Markdown table back, as lists of cell texts (header first)."""
    lines = text.splitlines()
    assert set(lines[1]) <= {"|", "-"}
    return [[c.strip() for c in line.strip("|").split(" | ")] for line in lines[:1] + lines[2:]]


def test_rows_round_trip_with_float_format_and_escapes():
    rows = [
        {"model": "SDL", "PSNR (dB)": 17.256, "dead": 3},
        {"model": "a|b", "PSNR (dB)": 1.0, "dead": 0},
    ]
    parsed = _parse(markdown_table(rows, floatfmt=".1f"))
    assert parsed == [["model", "PSNR (dB)", "dead"], ["SDL", "17.3", "3"], ["a\\|b", "1.0", "0"]]
    assert table(rows).data == markdown_table(rows)


def test_validation():
    with pytest.raises(ValueError, match="rows must hold"):
        markdown_table([])
    with pytest.raises(ValueError, match=r"rows\[1\] must have the keys"):
        markdown_table([{"a": 1}, {"b": 2}])
