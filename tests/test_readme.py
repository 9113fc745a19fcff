"""The code in the README and the docs runs as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from vsrife.samples import sample_path

from .conftest import ROOT


def first_python_block(markdown: Path, after: str = "") -> str:
    text = markdown.read_text()
    return re.search(r"```python\n(.*?)```", text.split(after, 1)[1] if after else text, re.S).group(1)


@pytest.mark.usefixtures("official_weights")
def test_python_page_snippet_runs(tmp_path):
    snippet = first_python_block(ROOT / "docs" / "python.md")
    check = "\nassert middle.shape == (1, 3, 272, 640) and len(thirds) == 2\nprint('ok')\n"
    script = tmp_path / "snippet.py"
    script.write_text(snippet + check)
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


@pytest.mark.usefixtures("official_weights")
def test_readme_first_script_runs_in_vspipe(tmp_path):
    """The README's first script, on a real clip in place of movie.mkv: 24 -> 60 fps is a 5/2 factor."""
    snippet = first_python_block(ROOT / "README.md", "## A first script")
    assert '"movie.mkv"' in snippet
    script = tmp_path / "interpolate.vpy"
    script.write_text(snippet.replace('"movie.mkv"', repr(str(sample_path("bikes.mp4")))))
    vspipe = Path(sys.executable).with_name("vspipe")
    result = subprocess.run([str(vspipe), "--info", str(script), "-"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "FPS: 125/2" in result.stdout  # bikes.mp4 is 25 fps
