"""Shared test helpers: reference files live in models/<model>/reference.json."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"


@cache
def reference(model: str, name: str = "reference.json") -> dict[str, Any]:
    """Load a pinned reference file from models/<model>/."""
    with open(MODELS / model / name, encoding="utf-8") as fh:
        return json.load(fh)


def nan_if_none(x: Any) -> Any:
    """JSON null -> NaN, element-wise for lists."""
    if isinstance(x, list):
        return [float("nan") if v is None else v for v in x]
    return float("nan") if x is None else x


# Scripts the output tests run in subprocesses: not test modules, and they read sys.argv at import
# (pytest --doctest-modules would otherwise import them).
collect_ignore = ["output_writer.py", "output_compile_hook.py"]
