"""List public objects without a docstring or without a numpydoc Examples section.

Public = every class and function in a public module's ``__all__`` (and ``bayesmeta.__all__``),
plus the public methods and properties of those classes. Run from the repository root:
``.venv/bin/python docs/check_docstrings.py``. Informational (exit code 0); ruff's D rules are
the enforcing check once enabled in pyproject.toml.
"""

import importlib
import inspect
import pkgutil

import bayesmeta

mods = ["bayesmeta"] + [
    m.name
    for m in pkgutil.walk_packages(bayesmeta.__path__, "bayesmeta.")
    if not any(p.startswith("_") for p in m.name.split("."))
]
seen = {}
for mn in mods:
    try:
        mod = importlib.import_module(mn)
    except Exception as e:
        print("IMPORT FAIL", mn, e)
        continue
    if not (mod.__doc__ or "").strip():
        print("MODULE no docstring:", mn)
    for name in getattr(mod, "__all__", []):
        obj = getattr(mod, name, None)
        if obj is None or inspect.ismodule(obj) or name == "__version__":
            continue
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue  # constants: documented by #: comments
        home = f"{obj.__module__}.{obj.__qualname__}"
        if home in seen:
            continue
        seen[home] = obj
no_doc, no_ex, meth_no_doc, meth_no_ex = [], [], [], []
for home, obj in sorted(seen.items()):
    doc = inspect.getdoc(obj) or ""
    if not doc.strip():
        no_doc.append(home)
    elif "Examples\n--------" not in doc:
        no_ex.append(home)
    if inspect.isclass(obj) and not issubclass(obj, BaseException):
        for n, m in vars(obj).items():
            if n.startswith("_"):
                continue
            f = m.fget if isinstance(m, property) else getattr(m, "__func__", m)
            if not callable(f) and not isinstance(m, property):
                continue
            if not (inspect.isfunction(f) or isinstance(m, property)):
                continue
            d = inspect.getdoc(f) or ""
            if not d.strip():
                meth_no_doc.append(f"{home}.{n}")
            elif "Examples\n--------" not in d and not isinstance(m, property):
                meth_no_ex.append(f"{home}.{n}")
print("public objects:", len(seen))
print("\nNO DOCSTRING:", *no_doc, sep="\n  ")
print("\nNO EXAMPLES SECTION:", *no_ex, sep="\n  ")
print("\nPUBLIC METHODS/PROPERTIES WITHOUT DOCSTRING:", *meth_no_doc, sep="\n  ")
print(f"\nPUBLIC METHODS WITHOUT EXAMPLES: {len(meth_no_ex)}")
print(*meth_no_ex, sep="\n  ")
