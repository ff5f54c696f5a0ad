"""Print the README's fresh-machine command lines, so that `.ci/run` runs what the README says.

python tools/readme_commands.py 1   # the first line: install and build the book
python tools/readme_commands.py 2   # the second: the tests
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
MARKER = "<!-- fresh-machine:"


def commands(text: str | None = None) -> list[str]:
    """The lines of the bash block that follows the fresh-machine marker in the README."""
    text = README.read_text() if text is None else text
    if MARKER not in text:
        raise ValueError(f"{README} has no {MARKER!r} marker before its fresh-machine block")
    block = re.search(r"```bash\n(.*?)```", text[text.index(MARKER) :], re.S)
    if block is None:
        raise ValueError(f"no ```bash block follows {MARKER!r} in {README}")
    return [line for line in block.group(1).splitlines() if line.strip()]


if __name__ == "__main__":
    lines = commands()
    if len(sys.argv) != 2 or sys.argv[1] not in [str(i + 1) for i in range(len(lines))]:
        sys.exit(f"usage: python tools/readme_commands.py N (N = 1 .. {len(lines)})")
    print(lines[int(sys.argv[1]) - 1])
