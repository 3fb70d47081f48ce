"""Result of a Bayesian fit: posterior DataTree, model spec, table and frequentist fits.

:class:`Result` is what :meth:`bayesmeta.models.BaseModel.fit` returns. It holds

* ``idata``: the :class:`xarray.DataTree` of the fit (groups ``posterior``,
  ``log_likelihood``, ``posterior_predictive``, ``observed_data``, ``constant_data`` with the
  standard errors, a meta-regression's moderator matrix ``X`` and a binomial fit's arm totals
  ``n``, ``sample_stats`` for NUTS and, when sampled, ``prior`` and ``prior_predictive``; the
  model's name and spec version in its attrs), so that every check reads the fit alone,
* ``spec``: the model's JSON-able spec, ``sampling``: how it was fitted (``engine``
  ``"exact"`` or ``"nuts"`` and why, draws, chains, seed; for NUTS the ``sampler`` nutpie or
  pymc, tune and target_accept; for the exact engine the quadrature's accuracy check),
* ``table``: the :class:`~bayesmeta.table.EffectTable`,
* ``frequentist``: per outcome, metafor-style fits (DerSimonian-Laird, REML, REML with
  Knapp-Hartung) from :func:`bayesmeta.frequentist.rma`.

Summaries default to 95% equal-tailed intervals (ArviZ 1 defaults to 89%; we always pass
``ci_prob``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd

from bayesmeta import _dims as D
from bayesmeta._registry import EXACT, META_REGRESSION, NUTS, SPEC_VERSION
from bayesmeta._stats import typical_variance
from bayesmeta.errors import (
    ConvergenceWarning,
    FitError,
    ModelSpecError,
    NotEstimableWarning,
    ResultFileError,
)
from bayesmeta.frequentist import FrequentistResult, rma
from bayesmeta.table import EffectTable

if TYPE_CHECKING:
    import xarray as xr

__all__ = [
    "CI_KINDS",
    "Diagnostics",
    "ExactDiagnostics",
    "NutsDiagnostics",
    "Result",
    "stack_draws",
]

#: Kinds of Bayesian interval: equal-tailed or highest density.
CI_KINDS: tuple[str, ...] = ("eti", "hdi")
_FORMAT = "bayesmeta.Result"
#: 2: ``sampling`` records ``engine`` (and NUTS's ``sampler``) and a meta-regression's
#: ``constant_data`` holds ``X`` whichever the engine; files of format 1 are upgraded on load.
_FORMAT_VERSION = 2
_ATTR_KEYS = ("bayesmeta_format", "bayesmeta_format_version", "spec", "table", "sampling")

# thresholds of the NUTS convergence checks (Vehtari et al. 2021; Betancourt 2016)
RHAT_MAX = 1.01
ESS_PER_CHAIN_MIN = 100
BFMI_MIN = 0.3


# ------------------------------------------------------------------------------------------------
# numpy helpers


def _check_ci(ci_prob: float, ci_kind: str) -> None:
    if not 0 < float(ci_prob) < 1:
        raise ModelSpecError(f"ci_prob must be in (0, 1), got {ci_prob!r}")
    if ci_kind not in CI_KINDS:
        raise ModelSpecError(f"ci_kind must be one of {CI_KINDS}, got {ci_kind!r}")


def interval(draws: np.ndarray, ci_prob: float = 0.95, ci_kind: str = "eti") -> tuple[float, float]:
    """Equal-tailed or highest-density interval of 1-d draws.

    Examples
    --------
    >>> x = np.linspace(0, 1, 1001)
    >>> [round(v, 3) for v in interval(x, 0.9)]
    [0.05, 0.95]
    """
    _check_ci(ci_prob, ci_kind)
    x = np.sort(np.asarray(draws, dtype=float).ravel())
    if ci_kind == "eti":
        lo, hi = np.quantile(x, [(1 - ci_prob) / 2, (1 + ci_prob) / 2])
        return float(lo), float(hi)
    n = x.size
    m = max(1, math.floor(ci_prob * n))
    widths = x[m:] - x[: n - m]
    i = int(np.argmin(widths))
    return float(x[i]), float(x[i + m])


def stack_draws(da: Any) -> np.ndarray:
    """Return a variable's draws as an array ``(chains * draws, ...)``, chains concatenated.

    Parameters
    ----------
    da
        A posterior or predictive :class:`xarray.DataArray` with dims ``chain`` and ``draw``.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> da = xr.DataArray(np.zeros((2, 5, 3)), dims=("chain", "draw", "study"))
    >>> stack_draws(da.transpose("study", "draw", "chain")).shape
    (10, 3)
    """
    rest = [d for d in da.dims if d not in (D.CHAIN, D.DRAW)]
    arr = np.asarray(da.transpose(D.CHAIN, D.DRAW, *rest).values, dtype=float)
    return arr.reshape(-1, *arr.shape[2:])


# ------------------------------------------------------------------------------------------------
# diagnostics


@dataclass(frozen=True)
class NutsDiagnostics:
    """Sampler diagnostics of a NUTS fit.

    Attributes
    ----------
    divergences
        Number of divergent transitions after tuning.
    draws
        Total number of posterior draws (chains x draws).
    chains
        Number of chains.
    max_rhat
        Largest rank-normalised split R-hat over all posterior variables.
    min_ess_bulk, min_ess_tail
        Smallest bulk and tail effective sample sizes.
    min_bfmi
        Smallest estimated Bayesian fraction of missing information over chains (E-BFMI).
    problems
        One message per failed check, saying what to do.
    sampler
        The NUTS implementation (``"nutpie"`` or ``"pymc"``).

    Examples
    --------
    >>> diag = NutsDiagnostics(0, 4000, 4, 1.002, 1500.0, 1400.0, 0.9)
    >>> diag.ok, diag.engine
    (True, 'nuts')
    >>> sorted(diag.to_dict())  # doctest: +NORMALIZE_WHITESPACE
    ['chains', 'divergences', 'draws', 'engine', 'max_rhat', 'min_bfmi', 'min_ess_bulk',
     'min_ess_tail', 'problems', 'sampler']
    """

    divergences: int
    draws: int
    chains: int
    max_rhat: float
    min_ess_bulk: float
    min_ess_tail: float
    min_bfmi: float
    problems: list[str] = field(default_factory=list)
    sampler: str | None = None
    engine: str = field(default=NUTS, init=False)

    @property
    def ok(self) -> bool:
        """Whether every check passed."""
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of the numbers and messages."""
        return {
            "engine": self.engine,
            "sampler": self.sampler,
            "divergences": self.divergences,
            "draws": self.draws,
            "chains": self.chains,
            "max_rhat": self.max_rhat,
            "min_ess_bulk": self.min_ess_bulk,
            "min_ess_tail": self.min_ess_tail,
            "min_bfmi": self.min_bfmi,
            "problems": list(self.problems),
        }


@dataclass(frozen=True)
class ExactDiagnostics:
    """Accuracy check of an exact fit: the quadrature of the tau marginal, per outcome.

    There is no Markov chain, so no R-hat, divergences or step size: the draws are independent
    and their accuracy is that of the quadrature they come from.

    Attributes
    ----------
    draws, chains
        Total number of independent draws and their layout in chains.
    method
        The quadrature (adaptive Gauss-Legendre over tau, see :mod:`bayesmeta.exact`).
    checks
        Per outcome, the rule's own numbers: ``converged`` (two successive refinements agreed
        to ``rtol`` on the normalising constant and key moments), ``max_change`` (their largest
        relative change), ``rtol``, ``panels`` and ``nodes``.
    problems
        One message per failed check, saying what to do.

    Examples
    --------
    >>> import pandas as pd
    >>> from bayesmeta import EffectTable, RandomEffects
    >>> tab = EffectTable(pd.DataFrame({"study": list("abcd"), "yi": [0.1, 0.3, 0.2, 0.5],
    ...                                 "vi": [0.01, 0.02, 0.015, 0.03]}), measure="SMD")
    >>> diag = RandomEffects(tab).fit(200, random_seed=1).diagnostics()
    >>> diag.engine, diag.draws, diag.ok
    ('exact', 800, True)
    >>> diag.checks["overall"]["converged"], diag.checks["overall"]["max_change"] < 1e-7
    (True, True)
    """

    draws: int
    chains: int
    method: str | None
    checks: dict[str, dict[str, Any]]
    problems: list[str] = field(default_factory=list)
    engine: str = field(default=EXACT, init=False)

    @property
    def ok(self) -> bool:
        """Whether every check passed."""
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of the numbers and messages.

        Examples
        --------
        >>> ExactDiagnostics(800, 4, "quadrature", {"overall": {"converged": True}}).to_dict()
        ... # doctest: +NORMALIZE_WHITESPACE
        {'engine': 'exact', 'draws': 800, 'chains': 4, 'method': 'quadrature',
         'checks': {'overall': {'converged': True}}, 'problems': []}
        """
        return {
            "engine": self.engine,
            "draws": self.draws,
            "chains": self.chains,
            "method": self.method,
            "checks": {o: dict(c) for o, c in self.checks.items()},
            "problems": list(self.problems),
        }


#: The diagnostics of a fit: what applies to the engine that produced it.
Diagnostics = NutsDiagnostics | ExactDiagnostics


def _columns(post: Any) -> np.ndarray:
    """Every variable of a posterior as columns of one ``(chain, draw, column)`` array."""
    chains, ndraw = int(post.sizes[D.CHAIN]), int(post.sizes[D.DRAW])
    cols = [np.zeros((chains, ndraw, 0))]
    for name in post.data_vars:
        da = post[name]
        rest = [d for d in da.dims if d not in (D.CHAIN, D.DRAW)]
        arr = np.asarray(da.transpose(D.CHAIN, D.DRAW, *rest).values, dtype=float)
        cols.append(arr.reshape(chains, ndraw, -1))
    return np.concatenate(cols, axis=2)


def _extreme(values: np.ndarray, reduce: Any) -> float:
    """``reduce`` (np.nanmin or np.nanmax) of the finite values; NaN when there are none."""
    return float(reduce(values)) if np.isfinite(values).any() else math.nan


def compute_diagnostics(
    idata: xr.DataTree, parameterization: str | None = None, sampler: str | None = None
) -> NutsDiagnostics:
    """Divergences, R-hat, ESS and E-BFMI of a NUTS posterior, with advice for each failed check.

    See :func:`compute_diagnostics_many`, which this calls with one tree.
    """
    return compute_diagnostics_many([idata], [parameterization], [sampler])[0]


def compute_diagnostics_many(
    trees: Sequence[xr.DataTree],
    parameterizations: Sequence[str | None],
    samplers: Sequence[str | None],
) -> list[NutsDiagnostics]:
    """:func:`compute_diagnostics` of several NUTS posteriors, one ArviZ call per statistic.

    R-hat (rank-normalised, split) and bulk and tail ESS are computed element by element, so
    the variables of all trees with the same numbers of chains and draws are stacked as columns
    of one array and each statistic is one ArviZ call on it (for a review's fits from one joint
    run: one call instead of one per fit and variable); each tree then takes the extremes of its
    own columns. E-BFMI is computed once per distinct ``sample_stats`` energy (the fits of one
    joint run share it).
    """
    import arviz as az
    import xarray as xr

    cols = [_columns(t["posterior"]) for t in trees]
    groups: dict[tuple[int, int], list[int]] = {}
    for i, c in enumerate(cols):
        groups.setdefault(c.shape[:2], []).append(i)
    rhat: list[np.ndarray] = [np.empty(0)] * len(trees)
    bulk, tail = list(rhat), list(rhat)
    with warnings.catch_warnings():
        # R-hat / ESS of a handful of draws warn about themselves; we report them below.
        warnings.simplefilter("ignore", RuntimeWarning)
        for members in groups.values():
            stacked = np.concatenate([cols[i] for i in members], axis=2)
            ds = xr.Dataset({"x": ((D.CHAIN, D.DRAW, "column"), stacked)})
            r = np.asarray(az.rhat(ds)["x"].values, dtype=float)
            b = np.asarray(az.ess(ds, method="bulk")["x"].values, dtype=float)
            t = np.asarray(az.ess(ds, method="tail")["x"].values, dtype=float)
            edges = np.cumsum([0, *(cols[i].shape[2] for i in members)])
            for i, lo, hi in zip(members, edges[:-1], edges[1:], strict=True):
                rhat[i], bulk[i], tail[i] = r[lo:hi], b[lo:hi], t[lo:hi]
        bfmi: dict[bytes, float] = {}
        out = []
        for i, tree in enumerate(trees):
            stats: Any = tree["sample_stats"] if "sample_stats" in tree.children else {}
            div = int(np.asarray(stats["diverging"].values).sum()) if "diverging" in stats else 0
            min_bfmi = math.nan
            if "energy" in stats:
                energy = np.ascontiguousarray(stats["energy"].values)
                key = energy.tobytes()
                if key not in bfmi:
                    vals = np.asarray(az.bfmi(tree)["energy"].values, dtype=float)
                    bfmi[key] = _extreme(vals, np.nanmin)
                min_bfmi = bfmi[key]
            chains, ndraw = cols[i].shape[:2]
            max_rhat = _extreme(rhat[i], np.nanmax)
            min_bulk, min_tail = _extreme(bulk[i], np.nanmin), _extreme(tail[i], np.nanmin)
            problems = _nuts_problems(
                div, chains, ndraw, max_rhat, min(min_bulk, min_tail), min_bfmi,
                parameterizations[i],
            )  # fmt: skip
            diag = NutsDiagnostics(
                divergences=div, draws=chains * ndraw, chains=chains, max_rhat=max_rhat,
                min_ess_bulk=min_bulk, min_ess_tail=min_tail, min_bfmi=min_bfmi,
                problems=problems, sampler=samplers[i],
            )  # fmt: skip
            out.append(diag)
    return out


def _nuts_problems(
    divergences: int,
    chains: int,
    ndraw: int,
    max_rhat: float,
    min_ess: float,
    min_bfmi: float,
    parameterization: str | None,
) -> list[str]:
    problems = []
    if divergences:
        other = "noncentered" if parameterization == "centered" else "centered"
        problems.append(
            f"{divergences} divergent transition(s) in {chains * ndraw} draws: the posterior "
            "may be biased (usually too narrow). In this order: keep target_accept at its "
            "default 0.99 (or raise it to 0.999); for a normal-normal model compare with "
            f"fit(engine='exact'), which does not use MCMC; try parameterization='{other}'; "
            "with few studies use a tighter tau prior; more tuning (tune=2000)"
        )
    if max_rhat > RHAT_MAX:
        problems.append(
            f"max R-hat {max_rhat:.3f} > {RHAT_MAX}: the chains disagree. Run more tuning and "
            "draws (e.g. tune=2000, draws=2000); if it persists, reparameterise or revisit priors"
        )
    ess_min = ESS_PER_CHAIN_MIN * chains
    if min_ess < ess_min:
        problems.append(
            f"smallest effective sample size {min_ess:.0f} < {ess_min} "
            f"({ESS_PER_CHAIN_MIN} per chain): intervals are imprecise. Draw more "
            "(draws=2000 or more) or raise target_accept"
        )
    if min_bfmi < BFMI_MIN:
        problems.append(
            f"E-BFMI {min_bfmi:.2f} < {BFMI_MIN}: the sampler explores the energy distribution "
            "poorly (often heavy tails or funnel geometry). Reparameterise "
            "(parameterization='noncentered') or use a lighter-tailed prior on tau"
        )
    return problems


def exact_diagnostics(sampling: dict[str, Any], draws: int, chains: int) -> ExactDiagnostics:
    """Read the exact engine's accuracy check from ``Result.sampling["quadrature"]``.

    Examples
    --------
    >>> q = {"method": "quadrature", "outcomes": {"a": {"converged": False, "max_change": 0.01}}}
    >>> diag = exact_diagnostics({"quadrature": q}, 100, 4)
    >>> diag.ok, diag.problems[0][:38]
    (False, 'a: the quadrature over tau did not con')
    """
    quad = dict(sampling.get("quadrature") or {})
    checks = {str(o): dict(c) for o, c in dict(quad.get("outcomes") or {}).items()}
    problems = []
    if not checks:
        problems.append(
            "no accuracy check of the quadrature was recorded (a file from an older bayesmeta); "
            "refit to check it"
        )
    for o, c in checks.items():
        if c.get("converged") is False:
            problems.append(
                f"{o}: the quadrature over tau did not converge (largest relative change between "
                f"refinements {c.get('max_change')}, rtol {c.get('rtol')}): the tau posterior is "
                "extremely concentrated or heavy-tailed; check the priors, or compare with "
                "engine='nuts'"
            )
    return ExactDiagnostics(
        draws=draws * chains,
        chains=chains,
        method=quad.get("method"),
        checks=checks,
        problems=problems,
    )


# ------------------------------------------------------------------------------------------------
# table (de)serialisation


def _table_to_json(table: EffectTable) -> str:
    df = table.data
    payload = {
        "columns": [str(c) for c in df.columns],
        "dtypes": [str(t) for t in df.dtypes],
        "index": [_py(v) for v in df.index],
        "data": {str(c): [_py(v) for v in df[c]] for c in df.columns},
        "moderators": list(table.moderators),
        "source": table.source,
        "line_offset": table._offset,
    }
    return json.dumps(payload)


def _py(v: Any) -> Any:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, np.generic):
        return v.item()
    if v is pd.NA:
        return None
    return v


def _table_from_json(text: str) -> EffectTable:
    payload = json.loads(text)
    cols = payload["columns"]
    df = pd.DataFrame({c: payload["data"][c] for c in cols}, columns=cols)
    for c, t in zip(cols, payload["dtypes"], strict=True):
        if str(df[c].dtype) != t:
            df[c] = df[c].astype(t)
    df.index = pd.Index(payload["index"])
    table = object.__new__(EffectTable)
    table.source = payload.get("source")
    table._offset = int(payload.get("line_offset", 1))
    table.moderators = list(payload.get("moderators", []))
    table.data = df
    return table


# ------------------------------------------------------------------------------------------------
# Result


class Result:
    """A fitted Bayesian meta-analysis.

    Parameters
    ----------
    idata
        The :class:`xarray.DataTree` of the fit.
    spec
        The model spec (:meth:`BaseModel.spec`).
    table
        The effect table the model was fitted to.
    sampling
        How the posterior was drawn: ``engine`` (``"exact"`` or ``"nuts"``), ``engine_reason``,
        ``draws``, ``chains``, ``random_seed``; for NUTS ``sampler`` (``"nutpie"`` or
        ``"pymc"``), ``tune`` and ``target_accept``; for the exact engine ``quadrature`` (its
        accuracy check, read by :meth:`diagnostics`).

    Examples
    --------
    >>> import pandas as pd
    >>> from bayesmeta import EffectTable, RandomEffects
    >>> tab = EffectTable(pd.DataFrame({"study": list("abcd"), "yi": [0.1, 0.3, 0.2, 0.5],
    ...                                 "vi": [0.01, 0.02, 0.015, 0.03]}), measure="SMD")
    >>> res = RandomEffects(tab).fit(200, random_seed=1)
    >>> res  # doctest: +NORMALIZE_WHITESPACE
    Result(model='random_effects', k=4, outcomes=['overall'], chains=4, draws=200,
           engine='exact')
    >>> res.outcomes, res.engine, res.sampler
    (['overall'], 'exact', None)
    >>> round(float(res.summary().loc["mu", "median"]), 2)
    0.24
    """

    def __init__(
        self,
        idata: xr.DataTree,
        *,
        spec: dict[str, Any],
        table: EffectTable,
        sampling: dict[str, Any] | None = None,
    ) -> None:
        self.idata = idata
        self.spec = spec
        self.table = table
        self.sampling: dict[str, Any] = dict(sampling or {})
        # (digest of what the NUTS diagnostics read, the diagnostics): see diagnostics()
        self._diagnostics_cache: tuple[bytes, NutsDiagnostics] | None = None

    def __repr__(self) -> str:
        post = self.idata["posterior"]
        return (
            f"Result(model={self.spec.get('model')!r}, k={self.table.k}, "
            f"outcomes={self.outcomes}, chains={post.sizes[D.CHAIN]}, "
            f"draws={post.sizes[D.DRAW]}, engine={self.engine!r}"
            + (f", sampler={self.sampler!r})" if self.sampler else ")")
        )

    # ------------------------------------------------------------------ access
    @property
    def posterior(self) -> xr.DataTree:
        """The ``posterior`` group."""
        return cast("xr.DataTree", self.idata["posterior"])

    @property
    def engine(self) -> str:
        """The engine that drew the posterior: ``"exact"`` (quadrature) or ``"nuts"``."""
        return str(self.sampling.get("engine", NUTS))

    @property
    def sampler(self) -> str | None:
        """The NUTS implementation (``"nutpie"`` or ``"pymc"``); None for exact fits."""
        return self.sampling.get("sampler") if self.engine == NUTS else None

    @property
    def model_name(self) -> str:
        """Name of the fitted model (``"random_effects"``, ``"binomial"``, ...)."""
        return str(self.spec.get("model"))

    @property
    def outcomes(self) -> list[str]:
        """Outcomes covered, in the order of the table."""
        return self.table.outcomes

    @property
    def moderators(self) -> list[str]:
        """Moderator names of a meta-regression (the ``moderator`` coords of ``X``), else [].

        Examples
        --------
        >>> from bayesmeta import EffectTable, MetaRegression, datasets
        >>> bcg = EffectTable.from_arms(datasets.load_bcg(), "RR", moderators=["ablat"],
        ...     columns={"study": "trial", "ai": "tpos", "bi": "tneg", "ci": "cpos", "di": "cneg"})
        >>> res = MetaRegression(bcg, mods=["ablat"]).fit(100, random_seed=1)
        >>> res.moderators, res.design().shape
        (['ablat'], (13, 1))
        """
        X = self._constant(D.X)
        return [] if X is None else [str(m) for m in X[D.MODERATOR].values]

    def _constant(self, name: str) -> Any:
        """Return a ``constant_data`` variable (a DataArray), or None."""
        if "constant_data" in self.idata.children and name in self.idata["constant_data"]:
            return self.idata["constant_data"][name]
        return None

    def design(self) -> np.ndarray | None:
        """Return the moderator matrix ``(k, p)`` the model used (centred if it was), or None.

        Read from the ``constant_data`` group, without the intercept column.
        """
        X = self._constant(D.X)
        if X is None:
            return None
        return np.asarray(X.transpose(D.STUDY, D.MODERATOR).values, dtype=float)

    def arm_totals(self) -> np.ndarray | None:
        """Return a binomial fit's arm totals ``(k, 2)`` (treatment, control), else None."""
        n = self._constant(D.N)
        if n is None:
            return None
        return np.asarray(n.transpose(D.STUDY, D.ARM).values, dtype=float)

    def _multi(self) -> bool:
        return D.OUTCOME in self.posterior[D.MU].dims

    def _resolve(self, outcome: str | None) -> str:
        if outcome is None:
            if len(self.outcomes) != 1:
                raise ModelSpecError(
                    f"the result covers outcomes {self.outcomes}; name one with outcome=..."
                )
            return self.outcomes[0]
        if outcome not in self.outcomes:
            raise ModelSpecError(f"unknown outcome {outcome!r}; the result has {self.outcomes}")
        return outcome

    def draws(self, var: str, outcome: str | None = None) -> np.ndarray:
        """Posterior draws of a scalar parameter (``mu``, ``tau``, ``theta_new``), flattened.

        For multi-outcome fits, ``outcome`` selects one outcome.

        Examples
        --------
        >>> import pandas as pd
        >>> from bayesmeta import EffectTable, RandomEffects
        >>> tab = EffectTable(pd.DataFrame({"study": list("abcd"), "yi": [0.1, 0.3, 0.2, 0.5],
        ...                                 "vi": [0.01, 0.02, 0.015, 0.03]}), measure="SMD")
        >>> res = RandomEffects(tab).fit(200, random_seed=1)
        >>> mu = res.draws("mu")
        >>> mu.shape
        (800,)
        >>> round(float(mu.mean()), 2)
        0.25
        """
        if var not in self.posterior:
            raise ModelSpecError(f"no variable {var!r} in the posterior")
        da = self.posterior[var]
        if D.OUTCOME in da.dims:
            da = da.sel({D.OUTCOME: self._resolve(outcome)})
        elif outcome is not None:
            self._resolve(outcome)
        extra = [d for d in da.dims if d not in (D.CHAIN, D.DRAW)]
        if extra:
            raise ModelSpecError(f"{var!r} has dims {extra}; it is not a scalar parameter")
        return np.asarray(da.values, dtype=float).ravel()

    # ------------------------------------------------------------------ summaries
    def summary(
        self,
        ci_prob: float = 0.95,
        ci_kind: str = "eti",
        var_names: list[str] | None = None,
    ) -> pd.DataFrame:
        """Posterior summary: mean, sd, median, interval, ESS, R-hat, MCSE per parameter.

        A tidy :class:`pandas.DataFrame` indexed by ArviZ's labels (``mu``, ``theta[A]``,
        ``mu[quality_of_life]``). The interval columns are ``ci_lb`` and ``ci_ub``;
        ``df.attrs`` records ``ci_prob`` and ``ci_kind``.

        Parameters
        ----------
        ci_prob
            Probability of the interval (default 0.95; ArviZ's own default is 0.89).
        ci_kind
            ``"eti"`` (equal-tailed) or ``"hdi"`` (highest density).
        var_names
            Variables to include; default ``mu``, ``tau``, ``beta``, ``theta_new``, ``theta``.

        Examples
        --------
        >>> import pandas as pd
        >>> from bayesmeta import EffectTable, RandomEffects
        >>> tab = EffectTable(pd.DataFrame({"study": list("abcd"), "yi": [0.1, 0.3, 0.2, 0.5],
        ...                                 "vi": [0.01, 0.02, 0.015, 0.03]}), measure="SMD")
        >>> res = RandomEffects(tab).fit(200, random_seed=1)
        >>> s = res.summary()
        >>> s.index.tolist()
        ['mu', 'tau', 'theta_new', 'theta[a]', 'theta[b]', 'theta[c]', 'theta[d]']
        >>> s.columns[:5].tolist()
        ['mean', 'sd', 'median', 'ci_lb', 'ci_ub']
        >>> s.loc["mu", ["median", "ci_lb", "ci_ub"]].round(2).tolist()
        [0.24, 0.01, 0.54]
        """
        import arviz as az

        _check_ci(ci_prob, ci_kind)
        if var_names is None:
            var_names = [
                v
                for v in (D.MU, D.TAU, D.BETA, D.THETA_NEW, D.THETA)
                if v in self.posterior.data_vars
            ]
        tag = f"{ci_kind}{round(ci_prob * 100):g}"
        parts = []
        # one variable at a time: ArviZ cannot align variables whose dims carry different
        # non-index coordinates (a multi-outcome fit's per-estimate theta beside per-outcome mu)
        for var in var_names:
            kw: dict[str, Any] = {"var_names": [var], "round_to": "none"}
            full = pd.DataFrame(az.summary(self.idata, ci_prob=ci_prob, ci_kind=ci_kind, **kw))
            med = pd.DataFrame(az.summary(self.idata, kind="stats_median", ci_prob=ci_prob, **kw))
            full = full.rename(columns={f"{tag}_lb": "ci_lb", f"{tag}_ub": "ci_ub"})
            full.insert(2, "median", med["median"].astype(float))
            parts.append(full)
        full = pd.concat(parts)
        cols = ["mean", "sd", "median", "ci_lb", "ci_ub", "ess_bulk", "ess_tail", "r_hat"]
        cols += [c for c in full.columns if c not in cols]
        out = full[cols].astype(float)
        out.attrs.update(ci_prob=ci_prob, ci_kind=ci_kind)
        return out

    def _describe(self, x: np.ndarray, ci_prob: float, ci_kind: str) -> dict[str, float]:
        lo, hi = interval(x, ci_prob, ci_kind)
        return {
            "mean": float(np.mean(x)),
            "sd": float(np.std(x, ddof=1)),
            "median": float(np.median(x)),
            "ci_lb": lo,
            "ci_ub": hi,
        }

    def _design(self, outcome: str) -> np.ndarray | None:
        """Moderator matrix (without intercept) as used by the model, or None."""
        if self.model_name != META_REGRESSION:
            return None
        return self.design()

    def heterogeneity(self, ci_prob: float = 0.95, ci_kind: str = "eti") -> pd.DataFrame:
        r"""Heterogeneity per outcome: ``tau``, ``tau2``, ``I2``, ``H2`` and the prediction.

        ``I2`` is computed draw by draw as metafor does for a point estimate,
        :math:`I^2 = 100\,\tau^2 / (\tau^2 + \tilde v)` with the typical within-study variance
        :math:`\tilde v` (:func:`bayesmeta._stats.typical_variance`), and
        :math:`H^2 = 1 + \tau^2/\tilde v`.
        ``theta_new`` is the predictive distribution of a new study's effect; its interval is
        the Bayesian prediction interval (for a meta-regression: at moderators = 0, or the means
        with ``center=True``).

        Returns
        -------
        pandas.DataFrame
            Index (``outcome``, ``quantity``); columns ``mean``, ``sd``, ``median``, ``ci_lb``,
            ``ci_ub``.

        Examples
        --------
        >>> import pandas as pd
        >>> from bayesmeta import EffectTable, RandomEffects
        >>> tab = EffectTable(pd.DataFrame({"study": list("abcd"), "yi": [0.1, 0.3, 0.2, 0.5],
        ...                                 "vi": [0.01, 0.02, 0.015, 0.03]}), measure="SMD")
        >>> res = RandomEffects(tab).fit(200, random_seed=1)
        >>> het = res.heterogeneity()
        >>> het.index.get_level_values("quantity").tolist()
        ['tau', 'tau2', 'I2', 'H2', 'theta_new']
        >>> round(float(het.loc[("overall", "tau"), "median"]), 2)
        0.14
        """
        _check_ci(ci_prob, ci_kind)
        rows = []
        for o in self.outcomes:
            tau = self.draws(D.TAU, o if self._multi() else None)
            sub = self.table.for_outcome(o) if len(self.outcomes) > 1 else self.table
            vt = typical_variance(sub.vi, self._design(o))
            tau2 = tau**2
            quantities = {
                "tau": tau,
                "tau2": tau2,
                "I2": 100 * tau2 / (tau2 + vt),
                "H2": 1 + tau2 / vt,
                D.THETA_NEW: self.draws(D.THETA_NEW, o if self._multi() else None),
            }
            for q, x in quantities.items():
                rows.append({"outcome": o, "quantity": q, **self._describe(x, ci_prob, ci_kind)})
        out = pd.DataFrame(rows).set_index(["outcome", "quantity"])
        out.attrs.update(ci_prob=ci_prob, ci_kind=ci_kind)
        return out

    def shrinkage(self, ci_prob: float = 0.95, ci_kind: str = "eti") -> pd.DataFrame:
        """Each study's observed effect ``yi`` beside the posterior of its true effect ``theta``.

        Returns
        -------
        pandas.DataFrame
            One row per table row: ``study``, ``outcome``, ``yi``, ``sei``, then ``mean``,
            ``sd``, ``median``, ``ci_lb``, ``ci_ub`` of ``theta``.

        Examples
        --------
        >>> import pandas as pd
        >>> from bayesmeta import EffectTable, RandomEffects
        >>> tab = EffectTable(pd.DataFrame({"study": list("abcd"), "yi": [0.1, 0.3, 0.2, 0.5],
        ...                                 "vi": [0.01, 0.02, 0.015, 0.03]}), measure="SMD")
        >>> res = RandomEffects(tab).fit(200, random_seed=1)
        >>> shr = res.shrinkage()
        >>> shr[["study", "yi"]].values.tolist()
        [['a', 0.1], ['b', 0.3], ['c', 0.2], ['d', 0.5]]
        >>> bool((shr["mean"].std() < shr["yi"].std()))
        True
        """
        _check_ci(ci_prob, ci_kind)
        arr = stack_draws(self.posterior[D.THETA])
        df = self.table.data
        rows = []
        for j in range(arr.shape[1]):
            rows.append(
                {
                    "study": df["study"].iloc[j],
                    "outcome": df["outcome"].iloc[j],
                    "yi": float(df["yi"].iloc[j]),
                    "sei": float(df["sei"].iloc[j]),
                    **self._describe(arr[:, j], ci_prob, ci_kind),
                }
            )
        out = pd.DataFrame(rows)
        out.attrs.update(ci_prob=ci_prob, ci_kind=ci_kind)
        return out

    def prob_benefit(self, threshold: float = 0.0, outcome: str | None = None) -> float:
        """Posterior probability that the average effect favours the intervention.

        ``P(mu > threshold)`` when higher values favour the intervention
        (``table.direction(outcome) == "higher"``), ``P(mu < threshold)`` when lower values do.
        For ratio measures ``mu`` is on the log scale, so the threshold is too (0 = no effect).
        For a meta-regression ``mu`` is the intercept (the effect at moderators = 0).

        Examples
        --------
        >>> import pandas as pd
        >>> from bayesmeta import EffectTable, RandomEffects
        >>> tab = EffectTable(pd.DataFrame({"study": list("abcd"), "yi": [0.1, 0.3, 0.2, 0.5],
        ...                                 "vi": [0.01, 0.02, 0.015, 0.03]}), measure="SMD")
        >>> res = RandomEffects(tab).fit(200, random_seed=1)
        >>> tab.direction()
        'higher'
        >>> round(res.prob_benefit(), 2)
        0.98
        >>> round(res.prob_benefit(threshold=0.2), 2)
        0.65
        """
        o = self._resolve(outcome)
        mu = self.draws(D.MU, o if self._multi() else None)
        direction = self.table.direction(o)
        if direction == "higher":
            return float(np.mean(mu > threshold))
        return float(np.mean(mu < threshold))

    # ------------------------------------------------------------------ frequentist
    @cached_property
    def frequentist(self) -> dict[str, dict[str, FrequentistResult]]:
        """Frequentist fits per outcome: DerSimonian-Laird, REML and REML with Knapp-Hartung.

        Keys ``"DL"`` (DerSimonian-Laird, z), ``"REML"`` (z) and ``"REML_KH"`` (REML with
        Knapp-Hartung), fits from :func:`bayesmeta.frequentist.rma` with the same moderators
        (centred as in the model) for meta-regressions.

        An outcome whose fit fails (e.g. fewer studies than coefficients) is left out.
        """
        out: dict[str, dict[str, FrequentistResult]] = {}
        for o in self.outcomes:
            sub = self.table.for_outcome(o) if len(self.outcomes) > 1 else self.table
            X = self._design(o)
            mods = None
            if X is not None:
                names = self.moderators
                mods = pd.DataFrame(X, columns=names)
            fits: dict[str, FrequentistResult] = {}
            for label, method, test in (
                ("DL", "DL", "z"),
                ("REML", "REML", "z"),
                ("REML_KH", "REML", "knha"),
            ):
                try:
                    with warnings.catch_warnings():
                        # k = 1: tau2 is reported as not estimable in the result itself
                        warnings.simplefilter("ignore", NotEstimableWarning)
                        fits[label] = rma(sub.yi, sub.vi, mods=mods, method=method, test=test)
                except (ValueError, ArithmeticError, FitError) as err:
                    warnings.warn(
                        f"frequentist {label} fit of outcome {o!r} failed: {err}",
                        stacklevel=2,
                    )
            out[o] = fits
        return out

    def compare(
        self,
        published: Any = None,
        ci_prob: float = 0.95,
    ) -> pd.DataFrame:
        """One tidy row per outcome: frequentist, Bayesian and (optionally) published estimates.

        Columns: ``outcome``, ``k``, ``measure``, ``direction``; ``dl_estimate``, ``dl_ci_lb``,
        ``dl_ci_ub``, ``dl_tau2``; ``reml_kh_estimate``, ``reml_kh_ci_lb``, ``reml_kh_ci_ub``,
        ``reml_tau2``; ``mu_median``, ``mu_ci_lb``, ``mu_ci_ub``; ``tau_median``, ``tau_ci_lb``,
        ``tau_ci_ub``; ``p_benefit``; ``pi_lb``, ``pi_ub`` (the Bayesian prediction interval
        from ``theta_new``); and with ``published``, ``published_estimate``,
        ``published_ci_lb``, ``published_ci_ub``. Bayesian intervals are equal-tailed.

        Parameters
        ----------
        published
            A table like ``bayesmeta.datasets.load_white2020().published`` (columns
            ``outcome``, ``estimate``, ``ci_lb``, ``ci_ub``; rows with ``subgroup == "all"`` are
            used when a ``subgroup`` column exists), or an object with a ``.published`` table.
        ci_prob
            Probability of the Bayesian intervals.

        Examples
        --------
        >>> import pandas as pd
        >>> from bayesmeta import EffectTable, RandomEffects
        >>> tab = EffectTable(pd.DataFrame({"study": list("abcd"), "yi": [0.1, 0.3, 0.2, 0.5],
        ...                                 "vi": [0.01, 0.02, 0.015, 0.03]}), measure="SMD")
        >>> res = RandomEffects(tab).fit(200, random_seed=1)
        >>> row = res.compare().iloc[0]
        >>> row["outcome"], int(row["k"]), row["measure"]
        ('overall', 4, 'SMD')
        >>> round(row["dl_estimate"], 3), round(row["mu_median"], 2)
        (np.float64(0.237), np.float64(0.24))
        """
        _check_ci(ci_prob, "eti")
        pub = _published_rows(published)
        rows = []
        for o in self.outcomes:
            sub = self.table.for_outcome(o) if len(self.outcomes) > 1 else self.table
            key = o if self._multi() else None
            mu, tau = self.draws(D.MU, key), self.draws(D.TAU, key)
            tn = self.draws(D.THETA_NEW, key)
            fits = self.frequentist.get(o, {})
            row: dict[str, Any] = {
                "outcome": o,
                "k": sub.k,
                "measure": str(sub.data["measure"].iloc[0]),
                "direction": sub.direction(),
            }
            for label, prefix in (("DL", "dl"), ("REML_KH", "reml_kh")):
                f = fits.get(label)
                row[f"{prefix}_estimate"] = float(f.beta[0]) if f else math.nan
                row[f"{prefix}_ci_lb"] = float(f.ci_lb[0]) if f else math.nan
                row[f"{prefix}_ci_ub"] = float(f.ci_ub[0]) if f else math.nan
            row["dl_tau2"] = fits["DL"].tau2 if "DL" in fits else math.nan
            row["reml_tau2"] = fits["REML"].tau2 if "REML" in fits else math.nan
            mlo, mhi = interval(mu, ci_prob)
            tlo, thi = interval(tau, ci_prob)
            plo, phi = interval(tn, ci_prob)
            row.update(
                mu_median=float(np.median(mu)),
                mu_ci_lb=mlo,
                mu_ci_ub=mhi,
                tau_median=float(np.median(tau)),
                tau_ci_lb=tlo,
                tau_ci_ub=thi,
                p_benefit=self.prob_benefit(outcome=o),
                pi_lb=plo,
                pi_ub=phi,
            )
            if pub is not None:
                match = pub[pub["outcome"] == o]
                has = len(match) > 0
                for col in ("estimate", "ci_lb", "ci_ub"):
                    row[f"published_{col}"] = float(match[col].iloc[0]) if has else math.nan
            rows.append(row)
        out = pd.DataFrame(rows)
        out.attrs.update(ci_prob=ci_prob, ci_kind="eti")
        return out

    # ------------------------------------------------------------------ diagnostics
    def diagnostics(self) -> Diagnostics:
        """Run the checks of the engine that drew the posterior; say what to do about each.

        NUTS fits: divergences, max R-hat, min bulk/tail ESS, min E-BFMI
        (:class:`NutsDiagnostics`). Exact fits: the quadrature's own accuracy check per outcome
        (:class:`ExactDiagnostics`); R-hat and divergences do not apply to independent draws.
        The same checks run at the end of :meth:`BaseModel.fit`, which raises each problem as
        a :class:`~bayesmeta.errors.ConvergenceWarning`.

        Examples
        --------
        >>> import pandas as pd
        >>> from bayesmeta import EffectTable, RandomEffects
        >>> tab = EffectTable(pd.DataFrame({"study": list("abcd"), "yi": [0.1, 0.3, 0.2, 0.5],
        ...                                 "vi": [0.01, 0.02, 0.015, 0.03]}), measure="SMD")
        >>> res = RandomEffects(tab).fit(200, random_seed=1)
        >>> res.diagnostics().ok, res.diagnostics().engine
        (True, 'exact')
        """
        if self.engine == EXACT:
            post = self.posterior
            return exact_diagnostics(
                self.sampling, int(post.sizes[D.DRAW]), int(post.sizes[D.CHAIN])
            )
        key = self._diagnostics_key()
        if self._diagnostics_cache is None or self._diagnostics_cache[0] != key:
            par = self.spec.get("options", {}).get("parameterization")
            self._diagnostics_cache = (key, compute_diagnostics(self.idata, par, self.sampler))
        diag = self._diagnostics_cache[1]
        return dataclasses.replace(diag, problems=list(diag.problems))  # callers may edit theirs

    def _diagnostics_key(self) -> bytes:
        """Digest of everything NUTS diagnostics read: the draws, sample stats and settings.

        :meth:`diagnostics` keeps its last answer under this key, so calling it again (the
        review's convergence check, the report) costs a hash of the draws instead of ArviZ's
        R-hat and ESS; any change to the posterior or the sample stats (a new ``idata``, a
        replaced group or variable, values edited in place) or to the parameterisation or
        sampler changes the key and the diagnostics are computed again.
        """
        h = hashlib.blake2b(digest_size=20)
        par = self.spec.get("options", {}).get("parameterization")
        h.update(repr((par, self.sampler)).encode())
        for group in ("posterior", "sample_stats"):
            if group not in self.idata.children:
                continue
            ds = self.idata[group].dataset
            for name in sorted(map(str, ds.data_vars)):
                var = ds.variables[name]
                arr = np.ascontiguousarray(var.values)
                h.update(repr((group, name, var.dims, arr.dtype.str, arr.shape)).encode())
                h.update(repr(arr.tolist()).encode() if arr.dtype == object else arr.data)
        return h.digest()

    def _keep_diagnostics(self, diag: NutsDiagnostics) -> None:
        """Keep diagnostics computed elsewhere from this result's own draws.

        :class:`~bayesmeta.models.joint.JointFit` computes the diagnostics of all its fits in
        one pass (:func:`compute_diagnostics_many`) and hands each result its own.
        """
        self._diagnostics_cache = (self._diagnostics_key(), diag)

    def _warn_diagnostics(self) -> Diagnostics:
        diag = self.diagnostics()
        for msg in diag.problems:
            warnings.warn(ConvergenceWarning(msg), stacklevel=4)  # the caller of fit()
        return diag

    # ------------------------------------------------------------------ files
    def to_netcdf(self, path: str | os.PathLike[str]) -> None:
        """Save to a netCDF-4 file (h5netcdf engine); :meth:`load` reads it back.

        The file holds the DataTree with the spec, the table and the sampling settings as JSON
        attributes of the root group. It is written to a temporary sibling and renamed into place;
        an existing file is replaced only if it is a bayesmeta result.

        Raises
        ------
        OutputError
            ``path`` exists and is not a bayesmeta result (``exit_code`` 2), or it cannot be
            written (a parent that is a file, no permission, disk full, ...).

        Examples
        --------
        >>> import pandas as pd
        >>> from bayesmeta import EffectTable, RandomEffects
        >>> tab = EffectTable(pd.DataFrame({"study": list("abcd"), "yi": [0.1, 0.3, 0.2, 0.5],
        ...                                 "vi": [0.01, 0.02, 0.015, 0.03]}), measure="SMD")
        >>> res = RandomEffects(tab).fit(200, random_seed=1)
        >>> import os, tempfile
        >>> with tempfile.TemporaryDirectory() as d:
        ...     res.to_netcdf(os.path.join(d, "fit.nc"))
        ...     os.path.getsize(os.path.join(d, "fit.nc")) > 0
        True
        """
        tree = self.idata.copy(deep=False)
        tree.attrs = {
            **self.idata.attrs,
            "bayesmeta_format": _FORMAT,
            "bayesmeta_format_version": _FORMAT_VERSION,
            "spec": json.dumps(self.spec),
            "table": _table_to_json(self.table),
            "sampling": json.dumps(self.sampling),
        }
        from bayesmeta._output import replace_file

        def is_result(p: Any) -> bool:
            try:
                import h5py

                with h5py.File(p, "r") as fh:
                    fmt = fh.attrs.get("bayesmeta_format")
            except Exception:
                return False
            fmt = fmt.decode() if isinstance(fmt, bytes) else fmt
            return bool(fmt == _FORMAT)

        # HDF5 is given memory, not the disk: a full disk or a file-size limit then fails in
        # Python's own write (a clear OSError), not inside HDF5 (errors in __del__, a crash)
        data = bytes(tree.to_netcdf(engine="h5netcdf"))
        replace_file(
            path,
            lambda tmp: tmp.write_bytes(data),
            may_replace=is_result,
            what="a bayesmeta result",
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Result:
        """Read a result written by :meth:`to_netcdf`.

        Raises
        ------
        ResultFileError
            The file is missing, truncated, not netCDF, not a bayesmeta result, or from a newer
            format version.

        Examples
        --------
        >>> import pandas as pd
        >>> from bayesmeta import EffectTable, RandomEffects
        >>> tab = EffectTable(pd.DataFrame({"study": list("abcd"), "yi": [0.1, 0.3, 0.2, 0.5],
        ...                                 "vi": [0.01, 0.02, 0.015, 0.03]}), measure="SMD")
        >>> res = RandomEffects(tab).fit(200, random_seed=1)
        >>> import os, tempfile
        >>> with tempfile.TemporaryDirectory() as d:
        ...     path = os.path.join(d, "fit.nc")
        ...     res.to_netcdf(path)
        ...     back = Result.load(path)
        >>> back.spec == res.spec, bool((back.draws("mu") == res.draws("mu")).all())
        (True, True)
        """
        import xarray as xr

        p = os.fspath(path)
        if not os.path.isfile(p):
            raise ResultFileError(f"{p}: no such file")
        try:
            tree = xr.open_datatree(p, engine="h5netcdf")
            try:
                tree.load()
            finally:
                tree.close()
        except Exception as exc:
            raise ResultFileError(
                f"{p}: cannot be read as a netCDF result file ({type(exc).__name__}: {exc}); "
                "it may be truncated or not written by Result.to_netcdf"
            ) from None
        attrs = dict(tree.attrs)
        if attrs.get("bayesmeta_format") != _FORMAT:
            raise ResultFileError(
                f"{p}: not a bayesmeta result (no 'bayesmeta_format' attribute); write results "
                "with Result.to_netcdf"
            )
        version = int(attrs.get("bayesmeta_format_version", -1))
        if version > _FORMAT_VERSION:
            raise ResultFileError(
                f"{p}: written by a newer bayesmeta (format {version} > {_FORMAT_VERSION}); "
                "upgrade bayesmeta"
            )
        try:
            spec = json.loads(attrs["spec"])
            table = _table_from_json(attrs["table"])
            sampling = json.loads(attrs.get("sampling", "{}"))
        except (KeyError, ValueError, TypeError) as exc:
            raise ResultFileError(f"{p}: damaged bayesmeta attributes ({exc})") from None
        spec_version = spec.get("version") if isinstance(spec, dict) else None
        if not isinstance(spec_version, int) or spec_version > SPEC_VERSION:
            raise ResultFileError(
                f"{p}: the model spec has version {spec_version!r}; this bayesmeta reads versions "
                f"up to {SPEC_VERSION}: upgrade bayesmeta to read it"
            )
        tree.attrs = {k: v for k, v in attrs.items() if k not in _ATTR_KEYS}
        if "posterior" not in tree.children:
            raise ResultFileError(f"{p}: the file has no posterior group")
        if version < 2:
            sampling = _upgrade_v1(tree, spec, table, sampling)
        return cls(tree, spec=spec, table=table, sampling=sampling)


def _upgrade_v1(
    tree: xr.DataTree, spec: dict[str, Any], table: EffectTable, sampling: dict[str, Any]
) -> dict[str, Any]:
    """Bring a format-1 file to format 2: name the engine; store a meta-regression's ``X``.

    Format 1 recorded the engine as ``sampling["nuts_sampler"]`` (``"exact"``, ``"nutpie"``
    or ``"pymc"``), and its exact meta-regression fits had no ``X`` in ``constant_data``: it is
    rebuilt from the table and the spec's ``mods`` and ``center`` options, as the model did.
    """
    import xarray as xr

    out = {k: v for k, v in sampling.items() if k != "nuts_sampler"}
    old = sampling.get("nuts_sampler")
    out["engine"] = EXACT if old == EXACT else NUTS
    if old != EXACT:
        out["sampler"] = old
    options = dict(spec.get("options") or {})
    has_x = "constant_data" in tree.children and D.X in tree["constant_data"]
    if spec.get("model") == META_REGRESSION and not has_x:
        mods = [str(m) for m in options.get("mods", [])]
        X = table.data[mods].to_numpy(dtype=float)
        if options.get("center"):
            X = X - X.mean(axis=0)
        const = tree["constant_data"].to_dataset() if "constant_data" in tree.children else None
        da = xr.DataArray(
            X, dims=(D.STUDY, D.MODERATOR), coords={D.STUDY: table.studies, D.MODERATOR: mods}
        )
        const = xr.Dataset({D.X: da}) if const is None else const.assign({D.X: da})
        tree["constant_data"] = const
    tree.attrs.setdefault("bayesmeta_model", str(spec.get("model")))
    tree.attrs.setdefault("bayesmeta_spec_version", int(spec.get("version", SPEC_VERSION)))
    return out


def _published_rows(published: Any) -> pd.DataFrame | None:
    if published is None:
        return None
    if hasattr(published, "published") and not isinstance(published, pd.DataFrame):
        published = published.published
    if not isinstance(published, pd.DataFrame):
        raise ModelSpecError(
            f"published must be a DataFrame (outcome, estimate, ci_lb, ci_ub), got "
            f"{type(published).__name__}"
        )
    missing = [c for c in ("outcome", "estimate", "ci_lb", "ci_ub") if c not in published]
    if missing:
        raise ModelSpecError(f"published lacks column(s) {missing}")
    pub = published
    if "subgroup" in pub.columns:
        pub = pub[pub["subgroup"].astype(str) == "all"]
    return pub.drop_duplicates("outcome")
