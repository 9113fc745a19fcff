"""The README's Python snippet runs as written."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from .conftest import ROOT


@pytest.mark.usefixtures("official_weights")
def test_readme_python_snippet_runs(tmp_path):
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Use the networks from Python", 1)[1]
    snippet = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    check = "\nassert middle.shape == (1, 3, 272, 640) and len(thirds) == 2\nprint('ok')\n"
    script = tmp_path / "snippet.py"
    script.write_text(snippet + check)
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
