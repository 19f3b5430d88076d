"""Every ```python block of README.md runs, read from the README itself so the two cannot
drift apart."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def python_blocks(text: str) -> list[tuple[int, str]]:
    """(first line number, code) of each fenced ```python block."""
    return [(text.count("\n", 0, m.start(1)) + 1, m.group(1)) for m in FENCE.finditer(text)]


BLOCKS = python_blocks(README.read_text())


def test_python_blocks_are_found():
    doc = "text\n```python\nx = 1\n```\n```bash\nls\n```\n```python\ny = 2\n```\n"
    assert python_blocks(doc) == [(3, "x = 1\n"), (9, "y = 2\n")]
    assert BLOCKS, "README.md has no ```python block; did the fence style change?"


@pytest.mark.parametrize("line, code", BLOCKS, ids=[f"README.md:{n}" for n, _ in BLOCKS])
def test_readme_snippet_runs(line, code, tmp_path):
    # A fresh interpreter per snippet, as a reader would paste it; from a scratch directory.
    script = tmp_path / f"readme_line{line}.py"
    script.write_text(code)
    proc = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, f"README.md snippet at line {line} failed:\n{proc.stderr[-4000:]}"
