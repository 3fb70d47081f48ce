"""The README's Python example runs as printed."""

from __future__ import annotations

import re

from tests.conftest import ROOT


def test_readme_example_runs(capsys):
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "README has no python example"
    namespace: dict[str, object] = {}  # the blocks build on each other, as a reader runs them
    for code in blocks:
        exec(compile(code, "README.md", "exec"), namespace)
    out = capsys.readouterr().out
    assert "0.3087602" in out  # DL tau2 on dat.bcg, as metafor
    assert "R^2 = 75.63%" in out  # REML meta-regression on ablat, as metafor
