"""Compile a frozen PyMC model for nutpie with light C callbacks.

``nutpie.compile_pymc_model(model, freeze_model=True)`` compiles PyTensor's log density (with
gradient) and expansion functions with numba (served from PyTensor's disk cache) and wraps each
in a numba C callback. Those two callbacks are compiled in every process; their array copies
``out[...] = grad`` make numba compile its shape-mismatch error message (integer-to-text
formatting), about 1.5 s of CPU the first time in a process, more than the rest of the callback.

:func:`compile_frozen` builds the same nutpie model from the same PyTensor functions, with
callbacks that copy element by element: the same return codes (0 ok, 3 non-finite gradient, 4
non-finite log density, 1 or -2 an error, -1 a wrong dimension), hence the same draws for a seed
(``tests/test_review_nuts.py`` checks that they are identical). It uses nutpie's internal
helpers (``nutpie.compile_pymc``, written against nutpie 0.16) and returns None when they are
missing or have another signature, or when the model still has shared variables after freezing;
the caller then compiles with nutpie's public function.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pymc as pm

__all__ = ["compile_frozen"]


def _callbacks(n_dim: int, n_expanded: int, logp_inner: Any, expand_inner: Any) -> tuple[Any, Any]:
    """Return the log-density and expansion C callbacks around PyTensor's numba functions."""
    import numba
    from numba import types

    logp_sig = types.int64(
        types.uint64, types.CPointer(types.double), types.CPointer(types.double),
        types.CPointer(types.double), types.voidptr,
    )  # fmt: skip
    expand_sig = types.int64(
        types.uint64, types.uint64, types.CPointer(types.double), types.CPointer(types.double),
        types.voidptr,
    )  # fmt: skip

    def logp(dim, x_, out_, logp_, user_data_):
        if dim != n_dim:
            return -1
        try:
            x = numba.carray(x_, (n_dim,))
            out = numba.carray(out_, (n_dim,))
            value, grad = logp_inner(x)
            logp_[0] = value
            finite = True
            for i in range(n_dim):
                out[i] = grad[i]
                finite = finite and np.isfinite(grad[i])
            if not finite:
                return 3
            if not np.isfinite(value):
                return 4
        except Exception:  # numba: any error becomes a return code, as in nutpie
            return 1
        return 0

    def expand(dim, expanded, x_, out_, user_data_):
        if dim != n_dim or expanded != n_expanded:
            return -1
        try:
            x = numba.carray(x_, (n_dim,))
            out = numba.carray(out_, (n_expanded,))
            (values,) = expand_inner(x)
            for i in range(n_expanded):
                out[i] = values[i]
        except Exception:
            return -2
        return 0

    return numba.cfunc(logp_sig)(logp), numba.cfunc(expand_sig)(expand)


def compile_frozen(model: pm.Model) -> Any:
    """Return nutpie's compiled ``model`` with dims and data frozen, or None (see above).

    The same as ``nutpie.compile_pymc_model(model, backend="numba", freeze_model=True)``
    (initial points from PyMC's support points with jitter, every variable stored), compiled
    faster.
    """
    try:
        from nutpie import compile_pymc as ncp

        make_functions, prepare = ncp._make_functions, ncp._prepare_dims_and_coords
        lock, user_data = ncp._wrap_with_lock, ncp.make_user_data
        compiled_cls = ncp.CompiledPyMCModel
    except (ImportError, AttributeError):  # another nutpie: its public compiler
        return None
    try:
        return _compile(model, make_functions, prepare, lock, user_data, compiled_cls)
    except (TypeError, AttributeError):  # nutpie's internals changed: its public compiler
        return None


def _compile(model: pm.Model, make_functions: Any, prepare: Any, lock: Any, user_data: Any,
             compiled_cls: Any) -> Any:  # fmt: skip
    """:func:`compile_frozen` with nutpie's internal helpers given."""
    from pymc.initial_point import make_initial_point_fn
    from pymc.model.transform.optimization import freeze_dims_and_data

    model = freeze_dims_and_data(model)
    point = make_initial_point_fn(
        model=model,
        overrides=None,
        default_strategy="support_point",
        jitter_rvs=set(model.free_RVs),
        return_transformed=True,
    )
    n_dim, n_expanded, logp_fn, expand_fn, initial_fn, shape_info, reparameterized = make_functions(
        model,
        mode="NUMBA",
        compute_grad=True,
        join_expanded=True,
        pymc_initial_point_fn=lock(point),
        var_names=None,
    )
    if logp_fn.get_shared() or expand_fn.get_shared():
        return None
    logp_c, expand_c = _callbacks(n_dim, n_expanded, logp_fn.vm.jit_fn, expand_fn.vm.jit_fn)
    dims, coords = prepare(model, shape_info, reparameterized)
    return compiled_cls(
        _n_dim=n_dim,
        dims=dims,
        _coords=coords,
        _shapes={name: tuple(shape) for name, _, shape in zip(*shape_info, strict=True)},
        compiled_logp_func=logp_c,
        compiled_expand_func=expand_c,
        initial_point_func=initial_fn,
        shared_data={},
        shared_var_keys={},
        user_data=user_data({}, {}),
        n_expanded=n_expanded,
        shape_info=shape_info,
        logp_func=logp_fn,
        expand_func=expand_fn,
        reparameterized_names=reparameterized,
    )
