"""Griffe extension: render the package's reST-flavoured numpydoc docstrings as Markdown.

bayesmeta's docstrings are numpydoc, written for Sphinx: ``:class:`~bayesmeta.table.EffectTable```
roles, ``:math:`...``` and ``.. math::`` blocks, and reST simple tables. mkdocstrings renders
docstrings as Markdown, so before rendering this extension rewrites

- cross-reference roles to *optional* autorefs: a link when the target is documented on the
  site, plain code otherwise (never a strict-mode warning for, e.g., ``xarray.DataTree``);
- ``:math:`x``` to ``$x$`` and ``.. math::`` blocks to ``$$ ... $$`` (pymdownx.arithmatex);
- reST simple tables (``=====  =====`` rules) to Markdown tables.

The docstrings themselves are left untouched in the package (and stay Sphinx-compatible).
Loaded by ``mkdocs.yml`` (``extensions: - docs/griffe_rst.py:RstToMarkdown``).
"""

from __future__ import annotations

import html
import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(class|func|meth|mod|attr|data|obj|exc):`([^`]+)`")
_MATH_ROLE = re.compile(r":math:`([^`]+)`")
_RULE = re.compile(r"^\s*=+(\s+=+)+\s*$")


def _role(match: re.Match[str], here: str) -> str:
    """One cross-reference role -> an optional autoref (or code when it cannot resolve)."""
    target = match.group(2).strip()
    explicit = re.fullmatch(r"(.*?)\s*<(.+)>", target)  # :func:`title <target>`
    if explicit:
        title, target = explicit.group(1), explicit.group(2)
    else:
        title = target.split(".")[-1] if target.startswith("~") else target
    target = target.lstrip("~.")
    if match.group(1) in ("func", "meth"):
        title = title if title.endswith(")") else title + "()"
    code = f"<code>{html.escape(title.lstrip('~'))}</code>"
    if not target.startswith("bayesmeta"):
        # a relative name (``BaseModel.fit``, ``escalc``): try the current module first
        target = f"{here}.{target}"
    return f'<autoref identifier="{html.escape(target)}" optional>{code}</autoref>'


def _math_blocks(lines: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.strip() == ".. math::":
            indent = len(line) - len(line.lstrip())
            body: list[str] = []
            i += 1
            while i < len(lines) and (
                not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent
            ):
                body.append(lines[i].strip())
                i += 1
            while body and not body[-1]:
                body.pop()
            while body and not body[0]:
                body.pop(0)
            pad = " " * indent
            out += [f"{pad}$$", *(f"{pad}{b}" for b in body if b), f"{pad}$$", ""]
            continue
        out.append(line)
        i += 1
    return out


def _spans(rule: str) -> list[int]:
    """Start columns of the ``=`` runs of a simple-table rule."""
    return [m.start() for m in re.finditer(r"=+", rule)]


def _cells(line: str, starts: list[int]) -> list[str]:
    bounds = [*starts[1:], None]
    return [line[a:b].strip() for a, b in zip(starts, bounds, strict=True)]


def _table(block: list[str], indent: str) -> list[str]:
    """A reST simple table (rules of ``=``) as a Markdown table."""
    starts = _spans(block[0])
    rule_at = [i for i, line in enumerate(block) if _RULE.match(line)]
    header: list[str] = [""] * len(starts)
    body_from = 1
    if len(rule_at) >= 3:  # header between the first two rules
        head = [_cells(x, starts) for x in block[1 : rule_at[1]]]
        header = [" ".join(c).strip() for c in zip(*head, strict=True)]
        body_from = rule_at[1] + 1
    rows: list[list[str]] = []
    for line in block[body_from:]:
        if _RULE.match(line):
            continue
        cells = _cells(line, starts)
        if rows and not cells[0]:  # continuation line: append to the row above
            rows[-1] = [f"{a} {b}".strip() for a, b in zip(rows[-1], cells, strict=True)]
        else:
            rows.append(cells)
    out = [f"{indent}| " + " | ".join(header) + " |", f"{indent}|" + "---|" * len(starts)]
    out += [f"{indent}| " + " | ".join(r) + " |" for r in rows]
    return ["", *out, ""]


def _simple_tables(lines: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(lines):
        if _RULE.match(lines[i]):
            indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
            block = [lines[i]]
            rules = 1
            i += 1
            while i < len(lines) and rules < 3 and lines[i].strip():
                block.append(lines[i])
                rules += bool(_RULE.match(lines[i]))
                i += 1
            out += _table([b[len(indent) :] for b in block], indent)
            continue
        out.append(lines[i])
        i += 1
    return out


def to_markdown(text: str, here: str = "bayesmeta") -> str:
    """Rewrite one docstring (see the module docstring); ``here`` is the enclosing module."""
    lines = _simple_tables(_math_blocks(text.splitlines()))
    text = "\n".join(lines)
    text = _MATH_ROLE.sub(lambda m: f"${m.group(1)}$", text)
    return _ROLE.sub(lambda m: _role(m, here), text)


class RstToMarkdown(griffe.Extension):
    """Rewrite every docstring of the loaded package before mkdocstrings renders it."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            module = obj if obj.is_module else obj.module
            obj.docstring.value = to_markdown(obj.docstring.value, module.path)
