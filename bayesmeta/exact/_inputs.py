"""Checks of the exact engine's inputs: data, design matrix, priors, propriety of the posterior.

Every check here runs before any quadrature, so a bad model fails at once with a message naming
the cause and the fix.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from bayesmeta.errors import DataError, ModelSpecError
from bayesmeta.exact._rule import FloatArray, _Spec
from bayesmeta.priors import Flat, Normal, Prior, prior_from_spec

#: Names a coefficient may not take: they are rows of the summary already.
_RESERVED = ("tau", "tau2", "theta_new")


def _check_kind(ci_prob: float, ci_kind: str) -> None:
    if ci_kind not in ("eti", "hdi"):
        raise ModelSpecError(f"ci_kind must be 'eti' or 'hdi', got {ci_kind!r}")
    if not (0 < ci_prob < 1):
        raise ModelSpecError(f"ci_prob must be in (0, 1), got {ci_prob!r}")


@functools.lru_cache(maxsize=256)
def _parse(spec: str) -> Prior:
    """``prior_from_spec`` of a string, remembered (priors are immutable)."""
    return prior_from_spec(spec)


def _as_prior(p: Any, target: str, arg: str) -> Prior:
    """Return a prior for ``tau`` (support within [0, inf)) or a coefficient (Normal or Flat)."""
    prior = _parse(p) if isinstance(p, str) else prior_from_spec(p)
    if target == "tau":
        ok = not isinstance(prior, (Normal, Flat)) and prior.support[0] >= 0
        want = "a tau prior (half_normal, half_cauchy, ...)"
    else:
        ok = isinstance(prior, (Normal, Flat))
        want = "normal or flat"
    if not ok:
        raise ModelSpecError(f"{arg}={prior} is not valid here; {arg} must be {want}")
    return prior


def _validate_vectors(yi: Any, sei: Any) -> tuple[FloatArray, FloatArray]:
    try:
        y = np.asarray(yi, dtype=float)
        s = np.asarray(sei, dtype=float)
    except (TypeError, ValueError) as e:
        raise DataError(f"yi and sei must be numeric: {e}") from None
    if y.ndim != 1 or s.ndim != 1:
        raise DataError(f"yi and sei must be 1-D, got shapes {y.shape} and {s.shape}")
    if y.size == 0:
        raise DataError("yi is empty: at least one study is needed", column="yi")
    if y.size != s.size:
        raise DataError(f"yi has {y.size} values but sei has {s.size}", column="sei")
    bad = np.flatnonzero(~np.isfinite(y))
    if bad.size:
        raise DataError(
            f"yi must be finite; row(s) {', '.join(str(i + 1) for i in bad)} (1-based) are not",
            rows=bad.tolist(),
            column="yi",
        )
    bad = np.flatnonzero(~(np.isfinite(s) & (s > 0)))
    if bad.size:
        raise DataError(
            f"sei must be finite and > 0; row(s) {', '.join(str(i + 1) for i in bad)} "
            "(1-based) are not",
            rows=bad.tolist(),
            column="sei",
        )
    return y, s


def _labels(labels: Sequence[Any] | None, k: int) -> tuple[str, ...]:
    if labels is None:
        return tuple(str(i + 1) for i in range(k))
    labs = tuple(str(v) for v in labels)
    if len(labs) != k:
        raise DataError(f"labels has {len(labs)} entries but yi has {k}", column="labels")
    if len(set(labs)) != len(labs):
        raise DataError("labels must be unique", column="labels")
    return labs


def _design(X: Any, k: int, moderators: Sequence[str] | None) -> tuple[FloatArray, tuple[str, ...]]:
    """Return the design matrix as a (k, p) float array and its column names.

    Names come from ``moderators``, else a DataFrame's columns, else ``"intercept"`` for a column
    of ones and ``"x1"``, ``"x2"``, ... for the others.
    """
    cols = [str(c) for c in X.columns] if isinstance(X, pd.DataFrame) else None
    try:
        Xa = np.asarray(X, dtype=float)
    except (TypeError, ValueError) as e:
        raise DataError(f"X must be numeric: {e}", column="X") from None
    if Xa.ndim == 1:
        Xa = Xa[:, None]
    if Xa.ndim != 2 or Xa.shape[0] != k or Xa.shape[1] == 0:
        raise DataError(f"X must have shape (k, p) with k = {k} rows, got {Xa.shape}", column="X")
    bad = np.flatnonzero(~np.isfinite(Xa).all(axis=1))
    if bad.size:
        raise DataError(
            f"X must be finite; row(s) {', '.join(str(i + 1) for i in bad)} (1-based) are not",
            rows=bad.tolist(),
            column="X",
        )
    p = Xa.shape[1]
    if moderators is not None:
        names = tuple(str(m) for m in moderators)
    elif cols is not None:
        names = tuple(cols)
    else:
        ones = np.flatnonzero(np.all(Xa == 1, axis=0))
        first = int(ones[0]) if ones.size else -1
        names = tuple("intercept" if j == first else f"x{j + 1}" for j in range(p))
    if len(names) != p:
        raise ModelSpecError(f"moderators has {len(names)} names but X has {p} columns")
    if len(set(names)) != p or set(names) & set(_RESERVED):
        raise ModelSpecError(
            f"coefficient names must be unique and not {', '.join(_RESERVED)}; got {names}"
        )
    return Xa, names


def _coef_priors(
    names: tuple[str, ...], X: FloatArray, mu_prior: Any, beta_prior: Any
) -> tuple[Prior, ...]:
    """Return one Normal or Flat prior per column.

    ``beta_prior`` is one prior, a list, or a dict by name (flat where missing); ``mu_prior``
    (if given) goes on the intercept (a column of ones).
    """
    p = len(names)
    if beta_prior is None:
        raw: list[Any] = [Flat()] * p
    elif isinstance(beta_prior, Mapping) and not {"family"} <= set(beta_prior):
        unknown = set(beta_prior) - set(names)
        if unknown:
            raise ModelSpecError(f"beta_prior names {sorted(unknown)} are not columns {names}")
        raw = [beta_prior.get(n, Flat()) for n in names]
    elif isinstance(beta_prior, (list, tuple)):
        if len(beta_prior) != p:
            raise ModelSpecError(f"beta_prior has {len(beta_prior)} priors but X has {p} columns")
        raw = list(beta_prior)
    else:
        raw = [beta_prior] * p
    priors = [_as_prior(q, "mu", "beta_prior") for q in raw]
    if mu_prior is not None:
        ones = np.flatnonzero(np.all(X == 1, axis=0))
        if ones.size == 0:
            raise ModelSpecError(
                "mu_prior applies to the intercept, but X has no column of ones; give the "
                "priors with beta_prior"
            )
        for j in ones:
            priors[j] = _as_prior(mu_prior, "mu", "mu_prior")
    return tuple(priors)


def _check_identified(X: FloatArray, spec: _Spec, names: tuple[str, ...]) -> None:
    """Flat-prior columns must be linearly independent, else P(tau) is singular for every tau."""
    flat = np.flatnonzero(spec.lam0 == 0)
    if flat.size and np.linalg.matrix_rank(X[:, flat]) < flat.size:
        cols = ", ".join(names[j] for j in flat)
        raise ModelSpecError(
            f"the posterior is improper: the columns with flat priors ({cols}) are linearly "
            f"dependent over the k = {X.shape[0]} studies, so the data cannot separate their "
            "coefficients. Drop a column or give the coefficients normal priors (beta_prior)."
        )


def _check_proper(spec: _Spec, k: NDArray[np.int64], where: str = "") -> None:
    """Check the tau integral converges: the tau prior tail times tau**-(k - p_flat) must be."""
    ok = spec.moment_exists(0, k)
    if np.all(ok):
        return
    kk = int(np.asarray(k)[~ok][0])
    if spec.coef is None:
        raise ModelSpecError(
            f"the posterior is improper{where}: tau_prior={spec.tau_prior} with "
            f"mu_prior={spec.mu_prior} and k={kk} studies; a flat tau prior needs k >= 3 with a "
            "flat mu prior (k >= 2 with a normal one). Use a proper tau prior, e.g. "
            "half_normal(0.5), or a normal prior on mu."
        )
    raise ModelSpecError(
        f"the posterior is improper{where}: with k={kk} studies and {spec.p_flat} coefficient(s) "
        f"with flat priors the likelihood of tau decays like tau^-{kk - spec.p_flat}, too slowly "
        f"for tau_prior={spec.tau_prior}. Use a proper tau prior, e.g. half_normal(0.5), or "
        "normal priors on the coefficients (beta_prior)."
    )
