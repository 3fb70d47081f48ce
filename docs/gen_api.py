"""MkDocs hook: one API reference page per public module, generated at build time.

Every module of ``bayesmeta/`` whose name does not start with an underscore gets a page
``api/<dotted.name>.md`` holding ``::: bayesmeta.<name>`` (mkdocstrings renders its numpydoc
docstrings), and the pages are put under the "API reference" entry of ``nav``. New modules appear
without editing ``mkdocs.yml``; a module that is removed disappears. ``api/index.md`` lists the
names exported by ``bayesmeta.__all__`` with links to where each is documented.

Guide pages may embed a module's docstring with a marker line ``<!-- module-docstring:
bayesmeta.checks -->``: while that module exists the marker becomes a mkdocstrings block showing
the module docstring only; before it exists, a note saying so (so the strict build does not
depend on the order in which colleagues' modules land).
"""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "bayesmeta"
API = "api"
NAV_TITLE = "API reference"
_MARKER = re.compile(r"^<!-- module-docstring: (bayesmeta(?:\.\w+)+) -->$", re.M)

#: Package pages that only re-export: their docstring is shown, their members are documented
#: on the submodules' pages (rendering them twice would duplicate every anchor).
REEXPORTS_ONLY = {"bayesmeta", "bayesmeta.models"}


def public_modules() -> list[str]:
    """Dotted names of the package's public modules, the package first, in a stable order."""
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if any(p.startswith("_") for p in parts) or "__main__" in parts:
            continue
        names.append(".".join(parts))
    return sorted(set(names), key=lambda n: (n != "bayesmeta", n.split(".")))


def module_exists(name: str) -> bool:
    """Whether ``bayesmeta.x.y`` is a module file or package in the source tree."""
    rel = Path(*name.split("."))
    return (ROOT / rel).with_suffix(".py").is_file() or (ROOT / rel / "__init__.py").is_file()


def _page(name: str) -> str:
    if name in REEXPORTS_ONLY:
        body = f"::: {name}\n    options:\n      members: false\n      show_root_heading: true\n"
        if name == "bayesmeta":
            body += "\n" + _exports_table()
        else:
            body += "\n" + _submodule_list(name)
        return body
    return f"::: {name}\n    options:\n      show_root_heading: true\n"


def _exports_table() -> str:
    pkg = importlib.import_module("bayesmeta")
    rows = ["| name | documented in |", "|---|---|"]
    for name in pkg.__all__:
        obj = getattr(pkg, name)
        if name == "__version__":
            rows.append(f"| `__version__` | `{obj}` |")
            continue
        if inspect.ismodule(obj):
            rows.append(f"| [`{name}`][{obj.__name__}] | [`{obj.__name__}`][{obj.__name__}] |")
            continue
        home = obj.__module__
        rows.append(f"| [`{name}`][{home}.{name}] | [`{home}`][{home}] |")
    return "Everything importable from the top level:\n\n" + "\n".join(rows) + "\n"


def _submodule_list(name: str) -> str:
    subs = [m for m in public_modules() if m.startswith(name + ".")]
    return "Submodules:\n\n" + "\n".join(f"- [`{m}`][{m}]" for m in subs) + "\n"


def on_config(config: Any, **kwargs: Any) -> Any:
    entries = [{m: f"{API}/{m}.md"} for m in public_modules()]
    for item in config.nav or []:
        if isinstance(item, dict) and NAV_TITLE in item:
            item[NAV_TITLE] = entries
            break
    return config


def on_files(files: Files, config: Any, **kwargs: Any) -> Files:
    for name in public_modules():
        files.append(File.generated(config, f"{API}/{name}.md", content=_page(name)))
    return files


def _embed(match: re.Match[str]) -> str:
    name = match.group(1)
    if module_exists(name):
        return (
            f"::: {name}\n    options:\n      members: false\n      show_root_heading: false\n"
            "      show_root_toc_entry: false\n"
        )
    return (
        f'!!! note "`{name}` is not in this build"\n'
        f"    The module is being written; its documentation appears here once it lands.\n"
    )


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    return _MARKER.sub(_embed, markdown)
